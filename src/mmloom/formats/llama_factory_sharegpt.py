"""LLaMA-Factory's "sharegpt" format: a JSON array of ``{"conversations": [{"from", "value"}, ...],
"images": [...], ...}`` (also ``videos`` / ``audios``, with ``<image>`` / ``<video>`` / ``<audio>``
placeholders in any turn).

Reading follows Data-Juicer's ``llama_factory_sharegpt_to_dj``: the system and instruction turns
are taken out, the last two turns become query and response (an odd count leaves the last turn an
unanswered query), earlier pairs the history; every other field is copied, ``multimodal_keys`` move
to the end wrapped into lists. Writing follows ``dj_to_llama_factory_sharegpt``. The sample is a
dialog sample (see ``_dialog``). Deliberate differences from Data-Juicer, each in the README:
- a system turn and an instruction turn are both taken out (Data-Juicer removes the wrong turn);
- a top-level ``system`` column (LLaMA-Factory's other way to give the system prompt) becomes the
  dialog's ``system`` when there is no system turn (Data-Juicer overwrites it with "");
- falsy fields (``id: 0``, ``images: []``) are kept on the way back (``drop_falsy_fields`` drops them);
- placeholders are counted against the media lists (see ``_dialog.check_placeholders``);
- a second system (or instruction) turn is an error even after an empty first one.

``__mmloom__`` keeps the literal roles (``human``/``gpt``, ``user``/``assistant``,
``function_call``...), where the system and instruction turns stood, per-turn extra keys, key
names, key order, overwritten fields and wrapped values; with it the way back gives the original
record. The ``messages`` format is the same code with other key names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from .. import djcodec
from ..errors import RecordError
from ..model import Sample
from ..options import Option, Options
from . import _dialog
from ._dialog import ASSISTANT, DIALOG_KEYS, HUMAN
from .base import Format


@dataclass(frozen=True)
class Layout:
    """The option names and defaults of a conversation-list format's three keys."""

    name: str
    conversations: tuple[str, str]  # (option name, default key)
    role: tuple[str, str]
    value: tuple[str, str]

    def keys(self, opts: Options) -> tuple[str, str, str]:
        return opts[self.conversations[0]], opts[self.role[0]], opts[self.value[0]]

    def defaults(self) -> list[str]:
        return [self.conversations[1], self.role[1], self.value[1]]


SHAREGPT = Layout("llama_factory_sharegpt", ("conversations_key", "conversations"), ("from_key", "from"),
                  ("value_key", "value"))
DEFAULT_SPECIAL_ROLES = ["system", "instruction"]


def _key_options(layout: Layout) -> tuple[Option, ...]:
    return (
        Option(layout.conversations[0], layout.conversations[1], "key of the list of turns"),
        Option(layout.role[0], layout.role[1], "key of a turn's role"),
        Option(layout.value[0], layout.value[1], "key of a turn's text"),
    )


SPECIAL_ROLE_OPTIONS = (
    Option("system_role", "system", "role of the system-prompt turn"),
    Option("instruction_role", "instruction", "role of the instruction turn"),
)


def read_options(layout: Layout) -> tuple[Option, ...]:
    return _key_options(layout) + SPECIAL_ROLE_OPTIONS + (_dialog.MULTIMODAL_KEYS, _dialog.LOSSLESS_READ)


def write_options(layout: Layout) -> tuple[Option, ...]:
    return _key_options(layout) + (
        Option("human_role", "user", "role of the query turns"),
        Option("assistant_role", "assistant", "role of the response turns"),
    ) + SPECIAL_ROLE_OPTIONS + (_dialog.DROP_FALSY, _dialog.LOSSLESS_WRITE)


# -- reading ----------------------------------------------------------------------------------------

def _special_turns(convs: list[dict[str, Any]], ck: str, fk: str, roles: list[str], rid: Any) -> list[int | None]:
    """Index of the system turn and of the instruction turn (None when absent). A second one of
    either is an error, as in Data-Juicer (which lets it pass after an empty first one)."""
    found: list[int | None] = [None, None]
    for i, turn in enumerate(convs):
        for k, role in enumerate(roles):
            if turn[fk] == role:
                if found[k] is not None:
                    raise RecordError(
                        f"is a second {role!r} turn ({ck}[{found[k]}] is the first); a Data-Juicer dialog "
                        f"holds one", field=f"{ck}[{i}].{fk}", record_id=rid)
                found[k] = i
    return found


def to_unified(record: Any, opts: Options, layout: Layout = SHAREGPT) -> Sample:
    rid = _dialog.check_record(record)
    ck, fk, vk = layout.keys(opts)
    special = [opts.system_role, opts.instruction_role]
    mm = _dialog.multimodal_keys(opts)
    convs = _dialog.check_turns(record, ck, (fk, vk), (vk,), rid)
    sys_at, ins_at = _special_turns(convs, ck, fk, special, rid)
    rest = [t[vk] for i, t in enumerate(convs) if i not in (sys_at, ins_at)]
    query, response, history = _dialog.pair_up(rest)

    dialog = {k: v for k, v in record.items() if k != ck and k not in mm}
    system = convs[sys_at][vk] if sys_at is not None else ""
    column = sys_at is None and isinstance(dialog.get("system"), str)
    if column:
        system = dialog["system"]
    lost = _dialog.lost_fields(record, dialog, [k for k in DIALOG_KEYS if not (column and k == "system")])
    dialog.update(system=system, instruction=convs[ins_at][vk] if ins_at is not None else "",
                  query=query, response=response, history=history)
    wrapped = _dialog.wrap_media(dialog, record, mm, rid)

    carry = {
        "roles": [t[fk] for t in convs],
        "names": [ck, fk, vk] if [ck, fk, vk] != layout.defaults() else None,
        "special": special if special != DEFAULT_SPECIAL_ROLES else None,
        "turn_keys": _dialog.turn_layouts(convs, (fk, vk)),
        "system_column": column,
        "lost": lost,
        "wrapped": wrapped,
    }
    return _dialog.finish(layout.name, record, dialog, opts,
                          carry, lambda d, c: _exact(d, c, layout, DEFAULT_WRITE_ROLES))


# -- writing ----------------------------------------------------------------------------------------

DEFAULT_WRITE_ROLES = {HUMAN: "user", ASSISTANT: "assistant", "system": "system", "instruction": "instruction"}


def _dj_conversation(dialog: dict[str, Any], fk: str, vk: str, roles: dict[str, Any]) -> list[dict[str, Any]]:
    """The turns as Data-Juicer rebuilds them: system, instruction, history, query, response."""
    _dialog.require_history(dialog, dialog.get("id"))
    return [{fk: roles[kind], vk: value} for kind, value in djcodec.dialog_turns(dialog)]


def from_unified(sample: Sample, opts: Options, layout: Layout = SHAREGPT) -> dict[str, Any]:
    dialog, carry = _dialog.writer_input(sample, opts, layout.name)
    roles = {HUMAN: opts.human_role, ASSISTANT: opts.assistant_role, "system": opts.system_role,
             "instruction": opts.instruction_role}
    if carry is not None:
        return _exact(dialog, carry, layout, roles)
    ck, fk, vk = layout.keys(opts)
    out = _dialog.others(dialog, DIALOG_KEYS, opts.drop_falsy_fields)
    out[ck] = _dj_conversation(dialog, fk, vk, roles)
    return out


def _exact(dialog: dict[str, Any], carry: dict[str, Any], layout: Layout, roles: dict[str, Any]) -> dict[str, Any]:
    """The original record from the dialog record and the carry. A dialog whose shape changed after
    conversion (turns added or removed) gets Data-Juicer's turns with the given roles instead."""
    ck, fk, vk = carry.get("names") or layout.defaults()
    column = bool(carry.get("system_column"))
    out = _dialog.others(dialog, DIALOG_KEYS)
    conversation = _original_turns(dialog, carry, fk, vk, column)
    if column:
        out["system"] = dialog.get("system", "")
    if conversation is None:
        # the system prompt stays a column, not a turn
        turns_of = {k: v for k, v in dialog.items() if not (column and k == "system")}
        conversation = _dj_conversation(turns_of, fk, vk, roles)
    out[ck] = conversation
    return _dialog.restore(out, carry)


def _original_turns(dialog: dict[str, Any], carry: dict[str, Any], fk: str, vk: str,
                    column: bool) -> list[dict[str, Any]] | None:
    literal = carry.get("roles", [])
    special = carry.get("special") or DEFAULT_SPECIAL_ROLES
    kinds = [("system" if r == special[0] else "instruction" if r == special[1] else None) for r in literal]
    for kind in ("system", "instruction"):
        if kind not in kinds and dialog.get(kind, "") != "" and not (column and kind == "system"):
            return None  # a system prompt or an instruction was added
    history = dialog.get("history")
    if not isinstance(history, list) or not all(isinstance(p, list) and len(p) == 2 for p in history):
        return None
    query, response = dialog.get("query", ""), dialog.get("response", "")
    n = kinds.count(None)
    if n == 0:  # no turn but the system prompt and instruction: the dialog must still be empty
        if history or query != "" or response != "":
            return None
        positional = []
    else:
        positional = [v for pair in history for v in pair] + [query] + ([response] if n % 2 == 0 else [])
        if len(positional) != n or (n % 2 and response != ""):
            return None  # turns were added or removed, or an unanswered query got a response
    values = iter(positional)
    turns = [{fk: role, vk: dialog.get(kind, "") if kind else next(values)}
             for role, kind in zip(literal, kinds, strict=True)]
    return _dialog.apply_layouts(turns, carry.get("turn_keys"))


def make_format(layout: Layout, description: str, example: str) -> Format:
    # partials of module functions, not closures: a plan must pickle for worker processes
    return _dialog.dialog_format(layout.name, description, partial(to_unified, layout=layout),
                                 partial(from_unified, layout=layout), read_options(layout),
                                 write_options(layout), example)


FORMAT = make_format(
    SHAREGPT,
    "LLaMA-Factory sharegpt dialogs: JSON array of {conversations[{from, value}], images/videos/audios, ...}",
    "mmloom convert llava_instruct_100.json lf.json --from llava --to llama_factory_sharegpt",
)
