"""OBELICS (HuggingFaceM4/OBELICS): Parquet shards of web documents with the columns ``images``
(image URL at an image node, null at a text node; ``""`` in intermediate files), ``texts`` (the
paragraph at a text node, null at an image node), ``metadata`` (JSON text of a list aligned with
the nodes: a dict per image, null per text) and ``general_metadata`` (JSON text of a dict: page
``url``, ``warc_filename``, ``warc_record_offset``, ``warc_record_length``).

Reading gives one chunk per text node with the image tokens of the images before it (see
``_slots``); ``metadata`` and ``general_metadata`` stay JSON text in the Data-Juicer record, as
they are in the dataset, so that Data-Juicer's own loading cannot reshape them. Writing gives the
four columns back; Parquet output has the dataset's exact schema (``arrow_schema``), so
``datasets.load_dataset("parquet", ...)`` reads it as it reads OBELICS.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import RecordError
from ..model import Sample
from ..options import Option, Options
from . import _slots
from ._slots import Layout
from .base import Format, default_tokens

COLUMNS = ("images", "metadata", "general_metadata", "texts")  # the dataset's column order

READ_OPTIONS = (
    *_slots.layout_options(reading=True),
    Option("lossless", True, "write __mmloom__ so the way back gives the original documents exactly"),
)

WRITE_OPTIONS = (
    *_slots.layout_options(reading=False),
    Option("lossless", True, "use __mmloom__ when present to give back the original documents exactly"),
)


def arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        ("images", pa.list_(pa.string())),
        ("metadata", pa.string()),
        ("general_metadata", pa.string()),
        ("texts", pa.list_(pa.string())),
    ])


def _check_metadata(record: dict[str, Any], n_slots: int) -> None:
    for key, kind in (("metadata", list), ("general_metadata", dict)):
        value = record.get(key)
        if value is not None and not isinstance(value, str | kind):
            raise RecordError(f"must be JSON text, not {type(value).__name__}", field=key)
    metadata = _slots.check_json_string(record, "metadata", list)
    _slots.check_json_string(record, "general_metadata", dict)
    if isinstance(metadata, list) and len(metadata) != n_slots:
        raise RecordError(f"holds {len(metadata)} entries but images and texts have {n_slots}; "
                          "it must be aligned with them", field="metadata")


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"an OBELICS document must be an object, not {type(record).__name__}")
    paths, texts, placeholders = _slots.read_columns(record, "texts")
    _check_metadata(record, len(texts))
    layout: Layout = opts.get("_layout") or Layout.of(opts)
    fields, order, moved = _slots.source_fields(record, "texts")
    sample = _slots.column_sample(paths, texts, layout, fields, order)
    if opts.lossless:
        sample.carry = _slots.new_carry("obelics", paths, texts, placeholders, layout.carried(), record, moved)
    return sample


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    rid = sample.fields.get("id")
    carry = sample.carry if opts.lossless and sample.carry and sample.carry.get("format") == "obelics" else None
    if carry is None:
        return _dj_way(sample, opts, rid)
    restored = _slots.restore(sample, carry, default_tokens(opts), rid)
    values = _slots.restored_values(sample, carry, restored, "texts")
    if not restored.unchanged and "metadata" in values:
        values["metadata"] = _slots.realigned_json(values["metadata"], restored.origin, len(carry.get("slots") or []))
    return _slots.in_order(values, sample, carry, "texts")


def _dj_way(sample: Sample, opts: Options, rid: Any) -> dict[str, Any]:
    """A Data-Juicer sample of any origin: the four columns, then its other fields."""
    slots = _slots.parse_lenient(sample, opts.sent_separator, rid)
    fields = sample.fields
    metadata = _as_json_text(fields.get("metadata"), list)
    if metadata is None or len(json.loads(metadata)) != len(slots):
        metadata = json.dumps([None] * len(slots))
    out: dict[str, Any] = {
        "images": [s.image for s in slots],
        "metadata": metadata,
        "general_metadata": _as_json_text(fields.get("general_metadata"), dict) or json.dumps({}),
        "texts": [s.text for s in slots],
    }
    for key, value in fields.items():
        if key not in out:
            out[key] = value
    return out


def _as_json_text(value: Any, kind: type) -> str | None:
    """A field as the dataset stores it, JSON text of a ``kind``; None when it is not one."""
    if isinstance(value, kind):
        return json.dumps(value)
    try:
        return value if isinstance(value, str) and isinstance(json.loads(value), kind) else None
    except ValueError:
        return None


FORMAT = Format(
    name="obelics",
    description="OBELICS web documents: Parquet of {images, metadata, general_metadata, texts} with aligned "
                "image/text nodes",
    modalities=("image",),
    file_types=("parquet", "jsonl", "json"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    arrow_schema=arrow_schema,
    prepare_read=_slots.prepare_layout,
    example="mmloom convert 'obelics/data/train-*.parquet' obelics-dj/ --from obelics --to dj",
)
