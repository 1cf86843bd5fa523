"""Video-ChatGPT (VideoInstruct) question-answer data: a JSON array of
``{"q": question, "a": answer, "video_id": "v_<youtube id>"}``, possibly with extra fields.

Reading follows ``video_chatgpt_to_dj``: the text ``[[q]]:<q> \\n[[a]]:<a>`` wrapped with the
video token, the extra fields kept, ``youtube_id`` added. Two Data-Juicer bugs are fixed unless
``dj_quirks`` is on: ``youtube_id`` is ``video_id`` without its ``v_`` prefix only when it has one
(Data-Juicer cuts two characters off every id), and the video path is the video's file,
``<video_folder>/<video_id><video_ext>`` (Data-Juicer writes ``<folder>/<youtube_id>``, without
the ``v_`` and without an extension, a path no file has). ``video_folder`` defaults to the input
file's folder, as Data-Juicer's does.

Writing follows ``dj_to_video_chatgpt`` (``video_id = "v_" + youtube_id``, ``videos`` as a string,
q and a stripped, the other fields after them). With ``__mmloom__`` the records come back exactly:
whitespace, ids without ``v_``, key order, no ``videos`` key.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import RecordError
from ..model import Piece, Role, Sample, Text
from ..options import Option, Options
from . import _fields, _video
from .base import Format

Q, A = "[[q]]:", "[[a]]:"
QA_GLUE = " \n"  # between the question and the answer marker
TEMPLATE = ("q", "a", "video_id")
OWN = ("video_id", "q", "a")
ADDED = ("youtube_id",)
PREFIX = "v_"

READ_OPTIONS = _video.read_options(
    Option("video_folder", None, "folder of the videos; default: the input file's folder", type=str),
    Option("video_ext", ".mp4", "file extension of the videos"),
    Option("dj_quirks", False, "reproduce video_chatgpt_to_dj exactly: cut 2 characters off every "
           "video_id and use <folder>/<youtube_id> as the video path"),
)
WRITE_OPTIONS = _video.write_options()


def youtube_id(video_id: str, quirks: bool) -> str:
    if quirks or video_id.startswith(PREFIX):
        return video_id[len(PREFIX):]
    return video_id


def _qa_pieces(q: str, a: str) -> list[Piece]:
    pieces: list[Piece] = [Role("q", Q)]
    if q:
        pieces.append(Text(q))
    pieces += [Text(QA_GLUE), Role("a", A)]
    if a:
        pieces.append(Text(a))
    return pieces


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"a Video-ChatGPT record must be a JSON object, not {type(record).__name__}")
    video_id = _fields.string_field(record, "video_id")
    q = _fields.string_field(record, "q", video_id)
    a = _fields.string_field(record, "a", video_id)
    yid = youtube_id(video_id, opts.dj_quirks)
    folder = opts.video_folder if opts.video_folder is not None else _fields.input_folder(opts)
    path = os.path.join(folder, yid if opts.dj_quirks else video_id + opts.video_ext)
    others = {k: v for k, v in record.items() if k not in OWN}
    where = _video.side(opts, f"{video_id}\0{q}\0{a}")
    sample = _video.build_sample("video_chatgpt", record, opts, _qa_pieces(q, a), where, path, others,
                                 {"youtube_id": yid}, others, TEMPLATE)
    if sample.carry is not None:
        if PREFIX + yid != video_id:
            sample.carry["video_id"] = video_id
        if QA_GLUE + A in q:
            sample.carry["q"] = len(q)  # the question holds the answer marker: where it ends
    return sample


def _split_exact(body: str, carry: dict[str, Any]) -> tuple[str, str] | None:
    if not body.startswith(Q):
        return None
    start = len(Q)
    end = start + carry["q"] if "q" in carry else body.find(QA_GLUE + A, start)
    if end < start or not body.startswith(QA_GLUE + A, end):
        return None
    return body[start:end], body[end + len(QA_GLUE + A):]


def _split_dj(text: str) -> tuple[str, str]:
    """dj_to_video_chatgpt's reading: the part after the first [[q]]:, split at [[a]]: into exactly
    two, both stripped."""
    parts = text.split(Q)
    if len(parts) < 2:
        raise RecordError(f"has no question marker {Q!r}", field="text")
    qa = parts[1].split(A)
    if len(qa) != 2:
        raise RecordError(f"must hold one question and one answer after {Q!r}, but has "
                          f"{len(qa) - 1} answer markers {A!r}", field="text")
    return qa[0].strip(), qa[1].strip()


def _youtube_id(sample: Sample) -> str:
    if "youtube_id" not in sample.fields:
        raise RecordError("is missing; the way back builds video_id from it", field="youtube_id")
    yid = sample.fields["youtube_id"]
    if not isinstance(yid, str):
        raise RecordError(f"must be a string, not {type(yid).__name__}", field="youtube_id")
    return yid


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    carry = _fields.carried(sample, "video_chatgpt", opts.lossless)
    video = _video.first_video(sample)
    yid = _youtube_id(sample)
    body, exact = _video.body_text(sample, opts, carry)
    split = _split_exact(body, carry) if carry is not None and exact else None
    q, a = split if split is not None else _split_dj(body)
    if carry is None:
        out: dict[str, Any] = {"video_id": PREFIX + yid, "videos": video, "q": q, "a": a}
        for key, value in sample.fields.items():
            if key not in ("q", "a", "youtube_id"):
                out[key] = value
        return out
    video_id = PREFIX + yid
    original = carry.get("video_id")
    if isinstance(original, str) and yid in (original, youtube_id(original, True)):
        video_id = original
    own = {"video_id": video_id, "q": q, "a": a}
    return _fields.rebuild(carry, TEMPLATE, own, sample.fields, ADDED)


FORMAT = Format(
    name="video_chatgpt",
    description="Video-ChatGPT question-answer data: a JSON array of {q, a, video_id}",
    modalities=("video",),
    file_types=("json", "jsonl", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    example="mmloom convert VideoInstruct_100K.json vcg.dj.jsonl --from video_chatgpt --to dj "
            "--opt video_folder=activitynet_videos",
)
