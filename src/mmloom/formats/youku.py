"""Youku-mPLUG video-text data: one CSV per subset, with a header row. The subset decides the
video and text columns:

| subset_type      | video column     | text column      | also needed on the way back |
|------------------|------------------|------------------|-----------------------------|
| pretrain         | video_id:FILE    | title            |                             |
| classification   | video_id:FILE    | title            | label                       |
| retrieval        | clip_name:FILE   | caption          |                             |
| captioning       | video_id:FILE    | golden_caption   |                             |

Reading follows ``youku_to_dj``: the text wrapped with the video token, ``videos = [video]``, and
with ``keep_other_fields`` a copy of the whole row (video and text columns too). Writing follows
``dj_to_youku``: the video column, the stripped text and the subset's required columns, nothing
else. With ``__mmloom__`` the rows come back exactly: every column, in order, text whitespace kept.
"""

from __future__ import annotations

from typing import Any

from ..errors import RecordError
from ..model import Sample, Text
from ..options import Option, Options
from . import _fields, _video
from .base import Format

# subset -> (video column, text column, columns the way back requires)
SUBSETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pretrain": ("video_id:FILE", "title", ()),
    "classification": ("video_id:FILE", "title", ("label",)),
    "retrieval": ("clip_name:FILE", "caption", ()),
    "captioning": ("video_id:FILE", "golden_caption", ()),
}
DEFAULT_SUBSET = "classification"


def _subset_option() -> Option:
    return Option("subset_type", DEFAULT_SUBSET, "which Youku-mPLUG subset the CSV is", choices=tuple(SUBSETS))


READ_OPTIONS = _video.read_options(_subset_option())
WRITE_OPTIONS = _video.write_options(_subset_option())


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"a Youku-mPLUG row must be an object of columns, not {type(record).__name__}")
    video_col, text_col, _ = SUBSETS[opts.subset_type]
    if video_col not in record:
        raise RecordError(f"is missing (subset_type {opts.subset_type} reads the video from it)", field=video_col)
    video = record[video_col]
    text = _fields.string_field(record, text_col, video)
    where = _video.side(opts, f"{video}\0{text}")
    body = [Text(text)] if text else []
    others = {k: v for k, v in record.items() if k not in (video_col, text_col)}
    # a row's columns are few: keep them all (template None), so the way back writes exactly these
    sample = _video.build_sample("youku", record, opts, body, where, video, record, {}, others, None)
    if sample.carry is not None and opts.subset_type != DEFAULT_SUBSET:
        sample.carry["subset"] = opts.subset_type
    return sample


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    carry = _fields.carried(sample, "youku", opts.lossless)
    subset = carry.get("subset", DEFAULT_SUBSET) if carry is not None else opts.subset_type
    video_col, text_col, required = SUBSETS[subset]
    if carry is None:
        # dj_to_youku's columns: the video, the text, then what the subset requires
        missing = [k for k in required if k not in sample.fields]
        if missing:
            raise RecordError(f"is missing; subset_type {subset} writes it (pass the subset_type the "
                              "data was read with)", field=missing[0])
    video = _video.first_video(sample)
    text, _ = _video.body_text(sample, opts, carry)
    own = {video_col: video, text_col: text}
    if carry is None:
        out = dict(own)
        for key in required:
            out[key] = sample.fields[key]
        return out
    return _fields.rebuild(carry, (video_col, text_col, *required), own, sample.fields, (), keep_added=False)


FORMAT = Format(
    name="youku",
    description="Youku-mPLUG video-text CSV (pretrain, classification, retrieval or captioning subset)",
    modalities=("video",),
    file_types=("csv", "jsonl", "json"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    example="mmloom convert youku_classification.csv youku.dj.jsonl --from youku --to dj "
            "--opt subset_type=classification",
)
