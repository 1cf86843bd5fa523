"""Alpaca instruction data: a JSON array of ``{"instruction", "input", "output", "system"?,
"history"?: [[q, a], ...], ...}``.

Reading follows Data-Juicer's ``alpaca_to_dj``: ``input`` becomes ``query``, ``output`` becomes
``response``, every other field is copied in place, ``multimodal_keys`` move to the end wrapped into
lists. Writing follows ``dj_to_alpaca``, except that the record's own falsy fields (``id: 0``,
``images: []``) are kept unless ``drop_falsy_fields`` is set; empty dialog fields (``system: ""``,
``instruction: ""``, ``history: []``) are left out as Data-Juicer leaves them out. The sample is a dialog sample (see
``_dialog``); ``__mmloom__`` keeps key order, key names, wrapped values, and fields named ``query`` /
``response`` that the mapping would overwrite or misread.
"""

from __future__ import annotations

from typing import Any

from ..model import Sample
from ..options import Option, Options
from . import _dialog

NAME = "alpaca"
DEFAULT_NAMES = ["input", "output"]
MAPPED = ("query", "response")  # the dialog fields of input_key and output_key
EMPTY_MEANS_NONE = ("system", "instruction", "history")

READ_OPTIONS = (
    Option("input_key", "input", "key of the query text"),
    Option("output_key", "output", "key of the response text"),
    _dialog.MULTIMODAL_KEYS,
    _dialog.LOSSLESS_READ,
)
WRITE_OPTIONS = (
    Option("input_key", "input", "key to write the query text under"),
    Option("output_key", "output", "key to write the response text under"),
    _dialog.DROP_FALSY,
    _dialog.LOSSLESS_WRITE,
)


def to_unified(record: Any, opts: Options) -> Sample:
    rid = _dialog.check_record(record)
    sources = [opts.input_key, opts.output_key]
    mm = _dialog.multimodal_keys(opts)
    dialog = {k: v for k, v in record.items() if k not in sources and k not in mm}
    lost: dict[str, Any] = {}
    plain = []  # a record's own "query" / "response" field where it has no input / output to map
    for dj_key, source in zip(MAPPED, sources, strict=True):
        if source in record:
            lost.update(_dialog.lost_fields(record, dialog, [dj_key]))
            dialog[dj_key] = record[source]
        elif dj_key in dialog:
            plain.append(dj_key)
    wrapped = _dialog.wrap_media(dialog, record, mm, rid)
    carry = {"names": sources if sources != DEFAULT_NAMES else None, "plain": plain, "lost": lost,
             "wrapped": wrapped}
    return _dialog.finish(NAME, record, dialog, opts, carry, _exact)


def _mapped(dialog: dict[str, Any], names: list[str], plain: list[str], drop_empty: bool,
            drop_falsy: bool = False) -> dict[str, Any]:
    """``dj_to_alpaca``: every field but query and response (written under the given names).
    ``drop_empty`` leaves out empty dialog fields (``system: ""``, ``history: []``: "none" in a
    Data-Juicer dialog), ``drop_falsy`` every falsy field, as Data-Juicer does."""
    out = {}
    for key, value in _dialog.others(dialog, [k for k in MAPPED if k not in plain], drop_falsy).items():
        if not (drop_empty and key in EMPTY_MEANS_NONE and not value):
            out[key] = value
    for dj_key, name in zip(MAPPED, names, strict=True):
        if dj_key in dialog and dj_key not in plain:
            out[name] = dialog[dj_key]
    return out


def _exact(dialog: dict[str, Any], carry: dict[str, Any]) -> dict[str, Any]:
    out = _mapped(dialog, carry.get("names") or DEFAULT_NAMES, carry.get("plain", []), drop_empty=False)
    return _dialog.restore(out, carry)


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    dialog, carry = _dialog.writer_input(sample, opts, NAME)
    if carry is not None:
        return _exact(dialog, carry)
    return _mapped(dialog, [opts.input_key, opts.output_key], [], True, opts.drop_falsy_fields)


FORMAT = _dialog.dialog_format(
    NAME, "Alpaca instruction data: JSON array of {instruction, input, output, system, history, ...}",
    to_unified, from_unified, READ_OPTIONS, WRITE_OPTIONS,
    "mmloom convert alpaca_data.json alpaca.dj.jsonl --from alpaca --to dj")
