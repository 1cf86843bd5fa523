"""Data-Juicer's unified interleaved format itself: one JSON object per sample with a ``text`` of
chunks and media tokens, first-level ``images`` / ``audios`` / ``videos`` path lists, and any other
fields (``__dj__meta__``, ``__dj__stats__``...)."""

from __future__ import annotations

from typing import Any

from .. import djcodec
from ..model import Sample, Tokens
from ..options import Option, Options
from .base import Format, default_tokens

_T = Tokens()

TOKEN_OPTIONS = (
    Option("image_special_token", _T.image, "image token in the text"),
    Option("audio_special_token", _T.audio, "audio token in the text"),
    Option("video_special_token", _T.video, "video token in the text"),
    Option("eoc_special_token", _T.eoc, "end-of-chunk token"),
)


def to_unified(record: Any, opts: Options) -> Sample:
    return djcodec.to_sample(record, default_tokens(opts))


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    return djcodec.to_record(sample, default_tokens(opts))


FORMAT = Format(
    name="dj",
    description="Data-Juicer unified interleaved samples (text with modality tokens and chunks)",
    modalities=("image", "audio", "video"),
    file_types=("jsonl", "json", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=TOKEN_OPTIONS,
    write_options=TOKEN_OPTIONS,
    example="mmloom convert data.dj.jsonl data.dj.parquet --from dj --to dj",
)
