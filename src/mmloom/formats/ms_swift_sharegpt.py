"""ms-swift's sharegpt format: a JSON array of ``{"system"?, "conversation": [{"human",
"assistant"}, ...], ...}``.

Reading follows Data-Juicer's ``ms_swift_sharegpt_to_dj``: ``system`` / ``instruction`` copied to
the dialog's ``system`` / ``instruction``, the last pair becomes query and response, earlier pairs
the history; other fields copied, ``multimodal_keys`` moved to the end wrapped into lists. Writing
follows ``dj_to_ms_swift_sharegpt`` (which, unlike the other dialog tools, keeps falsy fields; a
missing response is ""). The sample is a dialog sample (see ``_dialog``); ``__mmloom__`` keeps an
empty conversation empty (Data-Juicer gives back one empty turn), per-turn extra keys, key names,
key order, overwritten fields and wrapped values.
"""

from __future__ import annotations

from typing import Any

from ..model import Sample
from ..options import Option, Options
from . import _dialog
from ._dialog import DIALOG_KEYS

NAME = "ms_swift_sharegpt"
KEY_OPTIONS = (("conversation_key", "conversation", "key of the list of turns"),
               ("human_key", "human", "key of a turn's query"),
               ("assistant_key", "assistant", "key of a turn's response"),
               ("system_key", "system", "key of the system prompt"),
               ("instruction_key", "instruction", "key of the instruction"))
DEFAULT_NAMES = [default for _, default, _ in KEY_OPTIONS]
KEYS = tuple(Option(name, default, text) for name, default, text in KEY_OPTIONS)

READ_OPTIONS = KEYS + (_dialog.MULTIMODAL_KEYS, _dialog.LOSSLESS_READ)
WRITE_OPTIONS = KEYS + (_dialog.LOSSLESS_WRITE,)


def _names(opts: Options) -> list[str]:
    return [opts[name] for name, _, _ in KEY_OPTIONS]


def to_unified(record: Any, opts: Options) -> Sample:
    rid = _dialog.check_record(record)
    ck, hk, ak, sk, ik = names = _names(opts)
    mm = _dialog.multimodal_keys(opts)
    conversation = _dialog.check_turns(record, ck, (hk, ak), (hk, ak), rid)
    dialog = {k: v for k, v in record.items() if k not in (ck, sk, ik) and k not in mm}
    lost: dict[str, Any] = {}
    plain = []  # a record's own "system" / "instruction" field where system_key / instruction_key differ
    for dj_key, source in (("system", sk), ("instruction", ik)):
        if source in record:
            lost.update(_dialog.lost_fields(record, dialog, [dj_key]))
            dialog[dj_key] = record[source]
        elif dj_key in dialog:
            plain.append(dj_key)
    lost.update(_dialog.lost_fields(record, dialog, ("query", "response", "history")))
    if conversation:
        dialog.update(query=conversation[-1][hk], response=conversation[-1][ak],
                      history=[[t[hk], t[ak]] for t in conversation[:-1]])
    else:
        dialog.update(query="", response="", history=[])
    wrapped = _dialog.wrap_media(dialog, record, mm, rid)
    carry = {"names": names if names != DEFAULT_NAMES else None, "empty": not conversation, "plain": plain,
             "turn_keys": _dialog.turn_layouts(conversation, (hk, ak)), "lost": lost, "wrapped": wrapped}
    return _dialog.finish(NAME, record, dialog, opts, carry, _exact)


def _write(dialog: dict[str, Any], names: list[str], plain: tuple[str, ...] = ()) -> dict[str, Any]:
    """Data-Juicer's dj_to_ms_swift_sharegpt (which keeps falsy fields); ``plain`` dialog fields are
    written under their own names."""
    ck, hk, ak, sk, ik = names
    history = _dialog.require_history(dialog, dialog.get("id"))
    out = _dialog.others(dialog, [k for k in DIALOG_KEYS if k not in plain])
    for dj_key, key in (("system", sk), ("instruction", ik)):
        if dj_key in dialog and dj_key not in plain:
            out[key] = dialog[dj_key]
    out[ck] = [{hk: q, ak: a} for q, a in history] + [{hk: dialog["query"], ak: dialog.get("response", "")}]
    return out


def _exact(dialog: dict[str, Any], carry: dict[str, Any]) -> dict[str, Any]:
    names = carry.get("names") or DEFAULT_NAMES
    plain = tuple(carry.get("plain", ()))
    ck = names[0]
    unchanged_empty = (dialog.get("query") == "" and dialog.get("response", "") == ""
                       and dialog.get("history") == [])
    if carry.get("empty") and unchanged_empty:
        out = _write({**dialog, "history": [], "query": ""}, names, plain)
        out[ck] = []
    else:
        out = _write(dialog, names, plain)
        out[ck] = _dialog.apply_layouts(out[ck], carry.get("turn_keys"))
    return _dialog.restore(out, carry)


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    dialog, carry = _dialog.writer_input(sample, opts, NAME)
    if carry is not None:
        return _exact(dialog, carry)
    return _write(dialog, _names(opts))


FORMAT = _dialog.dialog_format(
    NAME, "ms-swift sharegpt dialogs: JSON array of {system, conversation[{human, assistant}], ...}",
    to_unified, from_unified, READ_OPTIONS, WRITE_OPTIONS,
    "mmloom convert swift_sharegpt.json swift.dj.jsonl --from ms_swift_sharegpt --to dj")
