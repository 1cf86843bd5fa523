"""Record-shape helpers shared by the audio and video formats: key order and the fields a
Data-Juicer record cannot keep, recorded in ``__mmloom__`` and put back on the way out.

The carry of these formats holds, each only when needed:
- ``keys``: the source record's key order, when it is not the format's natural order;
- ``drop``: source fields the Data-Juicer record does not hold (``keep_other_fields=false``, or a
  field whose name the Data-Juicer record uses for itself, such as ``text``);
- ``layout``: how the text was built (separator, token side, eoc, non-default tokens).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import RecordError
from ..model import Sample


def natural_order(keys: Iterable[str], template: tuple[str, ...]) -> list[str]:
    """The template's keys (in template order) first, then the others in their own order."""
    keys = list(keys)
    present = set(keys)
    return [k for k in template if k in present] + [k for k in keys if k not in template]


def record_keys_carry(record: Mapping[str, Any], template: tuple[str, ...], carry: dict[str, Any]) -> None:
    keys = list(record.keys())
    if keys != natural_order(keys, template):
        carry["keys"] = keys


def dropped_fields(others: Mapping[str, Any], keep: bool, reserved: Iterable[str]) -> dict[str, Any]:
    """The source fields the Data-Juicer record will not hold as they are."""
    if not keep:
        return dict(others)
    reserved = set(reserved)
    return {k: v for k, v in others.items() if k in reserved}


def rebuild(carry: Mapping[str, Any], template: tuple[str, ...], own: Mapping[str, Any],
            fields: Mapping[str, Any], added_by_reading: Iterable[str], keep_added: bool = True) -> dict[str, Any]:
    """The source record again: ``own`` (the values the format derives from the text and media),
    the source fields (from the carry when the Data-Juicer record could not hold them, else from
    the record's fields as processing left them), in the source's key order; fields that
    processing added come after them (unless ``keep_added`` is off: then the carry's ``keys``
    are the whole record)."""
    skip = set(added_by_reading) | set(own)
    values: dict[str, Any] = dict(own)
    values.update(carry.get("drop", {}))
    for key, value in fields.items():
        if key not in skip and key not in values:
            values[key] = value
    keys = carry.get("keys") or natural_order(values, template)
    out = {k: values[k] for k in keys if k in values}
    if keep_added:
        for key, value in values.items():
            if key not in out:
                out[key] = value
    return out


def dj_record_order(others: Mapping[str, Any] | None, added: Iterable[str]) -> list[str]:
    """Key order of a record built as Data-Juicer's tools build it: a copy of the source fields
    (when kept), then each added key set in turn (a source field of the same name keeps its place)."""
    order = list(others or {})
    for key in added:
        if key not in order:
            order.append(key)
    return order


def carried(sample: Sample, name: str, lossless: bool) -> dict[str, Any] | None:
    carry = sample.carry
    if lossless and isinstance(carry, dict) and carry.get("format") == name:
        return carry
    return None


def input_folder(opts: Mapping[str, Any]) -> str:
    """The folder of the file being read, as given (Data-Juicer resolves media against it)."""
    return os.path.dirname(opts.get("_input_path") or "")


def string_field(record: Mapping[str, Any], key: str, record_id: Any = None) -> str:
    if key not in record:
        raise RecordError("is missing", field=key, record_id=record_id)
    value = record[key]
    if not isinstance(value, str):
        raise RecordError(f"must be a string, not {type(value).__name__}", field=key, record_id=record_id)
    return value
