"""MSR-VTT video captions: JSON Lines as Hugging Face's ``AlexZigma/msr-vtt`` has them,
``{"video_id": "video6513", "caption", "category", "url", "start time", "end time", "split", "id",
"__index_level_0__"}``, one caption per row.

Reading follows ``msrvtt_to_dj``: ``videos = [video_id + ".mp4"]``, the caption wrapped with the
video token, the other fields kept before ``videos`` and ``text``. Writing follows ``dj_to_msrvtt``
except that the ``.mp4`` reading added is taken off ``video_id`` again (``dj_quirks`` keeps it, as
Data-Juicer does). With ``__mmloom__`` the rows come back exactly (caption whitespace, key order,
fields dropped with ``keep_other_fields=false``).
"""

from __future__ import annotations

from typing import Any

from ..errors import RecordError
from ..model import Sample, Text
from ..options import Option, Options
from . import _fields, _video
from .base import Format

VIDEO_EXT = ".mp4"
TEMPLATE = ("video_id", "caption", "category", "url", "start time", "end time", "split", "id",
            "__index_level_0__")
OWN = ("video_id", "caption")

READ_OPTIONS = _video.read_options()
WRITE_OPTIONS = _video.write_options(
    Option("dj_quirks", False, "keep the '.mp4' reading added on video_id, as Data-Juicer's dj_to_msrvtt does"),
)


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"an MSR-VTT row must be a JSON object, not {type(record).__name__}")
    rid = record.get("id")
    video_id = _fields.string_field(record, "video_id", rid)
    caption = _fields.string_field(record, "caption", rid)
    others = {k: v for k, v in record.items() if k not in OWN}
    where = _video.side(opts, video_id + "\0" + caption)
    body = [Text(caption)] if caption else []
    return _video.build_sample("msrvtt", record, opts, body, where, video_id + VIDEO_EXT, others, {},
                               others, TEMPLATE)


def _video_id(path: Any, quirks: bool) -> Any:
    if not quirks and isinstance(path, str) and path.endswith(VIDEO_EXT):
        return path[: -len(VIDEO_EXT)]
    return path


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    carry = _fields.carried(sample, "msrvtt", opts.lossless)
    video_id = _video_id(_video.first_video(sample), opts.dj_quirks and carry is None)
    return _video.caption_record(sample, opts, carry, "video_id", video_id, "caption", TEMPLATE)


FORMAT = Format(
    name="msrvtt",
    description="MSR-VTT video captions: JSON Lines of {video_id, caption, category, url, ...}",
    modalities=("video",),
    file_types=("jsonl", "json", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    example="mmloom convert msrvtt_train.jsonl msrvtt.dj.jsonl --from msrvtt --to dj",
)
