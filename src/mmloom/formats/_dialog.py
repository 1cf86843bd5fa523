"""What the post-tuning dialog formats (``alpaca``, ``llama_factory_sharegpt``, ``messages``,
``ms_swift_sharegpt``) share: Data-Juicer's dialog record, the sample that holds it, and the way a
sample of any other format becomes a dialog.

How a dialog is represented. Data-Juicer's post-tuning tools do not write token text: their record
is ``{..., "system", "instruction", "query", "response", "history": [[q, a], ...]}`` with every
other field copied and media lists at top level (``images``, ``videos``, ``audios``), the tags
(``<image>``...) left where they are in the strings. A dialog sample therefore has no text
(``has_text`` is False): its ``fields`` and ``media`` are exactly that record, which
``djcodec.to_record`` writes back unchanged. Next to them, its ``chunks`` hold the same conversation
as turns (``djcodec.dialog_chunks``): ``Role`` pieces ``[[system]]: ``, ``[[instruction]]: ``,
``[[human]]: `` (a query) and ``[[gpt]]: `` (a response), the values as ``Text`` with ``Media``
pieces where the tags are, laid out as ``llava_to_dj`` lays out a conversation. Formats that read
turns (LLaVA) use the chunks; the chunks never reach the Data-Juicer record.

The other way, a sample with a text (LLaVA, Data-Juicer text with ``[[role]]: `` markers) becomes a
dialog record by its turns (``dialog_record``): each turn's text with its media as tags, without
chunk ends and stripped (Data-Juicer's reading of a turn); ``system`` / ``instruction`` turns by
name, the others paired by position as ``llama_factory_sharegpt_to_dj`` pairs them.

Placeholders. The readers count each modality's tags in the conversation against its list
(``check_placeholders``): equal counts, or no tag at all (older LLaMA-Factory data put the media
implicitly at the start of the first user turn, and the chunks do so), else a RecordError.

Exactness. Each reader can write in ``__mmloom__`` what its record loses on the way to Data-Juicer
(key order, fields the dialog fields overwrote, media wrapped into lists, and per format the turn
layout); ``restore`` applies the shared part on the way back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import djcodec
from ..djcodec import ASSISTANT, DIALOG_KEYS, HUMAN
from ..errors import RecordError, UsageError
from ..model import CARRY_KEY, MEDIA_KEYS, MODALITIES, TEXT_KEY, Role, Sample, Tokens, render_pieces
from ..options import Option, Options
from .base import Format, FromUnified, ToUnified, require

# LLaMA-Factory's and ms-swift's placeholders; Data-Juicer's dialog tools keep them as they are.
TOKENS = Tokens(image="<image>", audio="<audio>", video="<video>")

MULTIMODAL_KEYS = Option(
    "multimodal_keys", None, "keys of media fields: each moves to the end, a single value wrapped into a list",
    type=(str, list))
LOSSLESS_READ = Option("lossless", True, "write __mmloom__ so the way back gives the original records exactly")
LOSSLESS_WRITE = Option("lossless", True, "use __mmloom__ when present to give back the original records exactly")
DROP_FALSY = Option("drop_falsy_fields", False,
                    "Data-Juicer's behaviour: leave out other fields whose value is falsy (0, \"\", [], null)")


def tokens(opts: Mapping[str, Any]) -> Tokens:
    return TOKENS


def multimodal_keys(opts: Options) -> list[str]:
    keys = opts.multimodal_keys
    if keys is None:
        return []
    keys = [keys] if isinstance(keys, str) else keys
    if not all(isinstance(k, str) for k in keys):
        raise UsageError(f"option multimodal_keys takes a key or a list of keys, not {opts.multimodal_keys!r}")
    return keys


def check_record(record: Any) -> Any:
    """The record's id (for messages), after checking that it is an object."""
    if not isinstance(record, dict):
        raise RecordError(f"a record must be a JSON object, not {type(record).__name__}")
    return record.get("id")


def check_turns(record: dict[str, Any], key: str, required: tuple[str, str], texts: tuple[str, ...],
                rid: Any) -> list[dict[str, Any]]:
    """``record[key]``: a list of turn objects, each with the ``required`` keys, ``texts`` among them
    holding strings."""
    turns = require(record, key, list, record_id=rid)
    for i, turn in enumerate(turns):
        where = f"{key}[{i}]"
        if not isinstance(turn, dict):
            raise RecordError(f"must be an object with {required[0]!r} and {required[1]!r}, not "
                              f"{type(turn).__name__}", field=where, record_id=rid)
        for name in required:
            if name not in turn:
                raise RecordError("is missing", field=f"{where}.{name}", record_id=rid)
            if name in texts and not isinstance(turn[name], str):
                raise RecordError(f"must be a string, not {type(turn[name]).__name__}", field=f"{where}.{name}",
                                  record_id=rid)
    return turns


def wrap_media(dialog: dict[str, Any], record: dict[str, Any], keys: list[str], rid: Any) -> list[str]:
    """Put each multimodal key at the end of the dialog record, a single value wrapped into a list,
    as Data-Juicer does; returns the keys that were wrapped."""
    wrapped = []
    for key in keys:
        if key not in record:
            raise RecordError("is missing (it is named in multimodal_keys)", field=key, record_id=rid)
        value = record[key]
        if not isinstance(value, list):
            value = [value]
            wrapped.append(key)
        dialog.pop(key, None)
        dialog[key] = value
    return wrapped


def pair_up(values: list[Any]) -> tuple[Any, Any, list[list[Any]]]:
    """(query, response, history) of the non-system turns, as Data-Juicer pairs them: the last two
    turns are the query and the response, or with an odd count the last turn is an unanswered query;
    earlier turns pair up into the history."""
    if not values:
        return "", "", []
    if len(values) % 2 == 0:
        query, response, body = values[-2], values[-1], values[:-2]
    else:
        query, response, body = values[-1], "", values[:-1]
    return query, response, [[body[i], body[i + 1]] for i in range(0, len(body), 2)]


def _texts(dialog: Mapping[str, Any]) -> Iterable[str]:
    for key in ("system", "instruction", "query", "response"):
        if isinstance(dialog.get(key), str):
            yield dialog[key]
    history = dialog.get("history")
    for pair in history if isinstance(history, list) else ():
        for value in pair if isinstance(pair, list) else ():
            if isinstance(value, str):
                yield value


def check_placeholders(dialog: Mapping[str, Any], rid: Any) -> None:
    """Each modality's tags in the conversation must number as many as its list has paths (the same
    path may repeat), or be absent (the media are then implicit)."""
    texts = list(_texts(dialog))
    for modality in MODALITIES:
        tag, key = TOKENS.of(modality), MEDIA_KEYS[modality]
        count = sum(t.count(tag) for t in texts)
        if not count:
            continue
        paths = dialog.get(key)
        if not isinstance(paths, list):
            raise RecordError(f"the conversation has {count} {tag} placeholder(s) but the record has no "
                              f"{key!r} list of paths", field=key, record_id=rid)
        if len(paths) != count:
            raise RecordError(
                f"the conversation has {count} {tag} placeholder(s) but {key!r} lists {len(paths)} path(s): "
                f"a placeholder count that disagrees with the path list", field=key, record_id=rid)


Rebuild = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def finish(name: str, record: dict[str, Any], dialog: dict[str, Any], opts: Options, carry: dict[str, Any],
           rebuild: Rebuild) -> Sample:
    """The sample of a dialog record read from ``record``; with lossless, ``carry`` (what the format
    needs beyond the dialog record) goes along, plus the key order when the way back would not give
    it by itself."""
    rid = record.get("id")
    check_placeholders(dialog, rid)
    sample = djcodec.to_sample(dialog, TOKENS)
    sample.carry = None
    if opts.lossless:
        carry = {"format": name, **{k: v for k, v in carry.items() if v}}
        if list(rebuild(dialog, carry)) != list(record):
            carry["keys"] = list(record)
        sample.carry = carry
    return sample


def lost_fields(record: dict[str, Any], dialog: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The record's own fields among ``keys`` that the dialog fields are about to overwrite."""
    return {k: record[k] for k in keys if k in dialog}


def writer_input(sample: Sample, opts: Options, name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The dialog record of a sample, and the format's carry when it should be used."""
    carry = sample.carry
    use = opts.lossless and isinstance(carry, dict) and carry.get("format") == name
    return dialog_record(sample, TOKENS), carry if use else None


def others(dialog: Mapping[str, Any], exclude: Iterable[str], drop_falsy: bool = False) -> dict[str, Any]:
    """The fields a ``dj_to_*`` tool copies: all but the dialog fields (and with ``drop_falsy``, as
    Data-Juicer does, all but the falsy ones)."""
    skip = set(exclude)
    return {k: v for k, v in dialog.items() if k not in skip and (v or not drop_falsy)}


def restore(out: dict[str, Any], carry: Mapping[str, Any]) -> dict[str, Any]:
    """Give back fields the dialog fields overwrote, unwrap single media values, restore key order."""
    out.update(carry.get("lost", {}))
    for key in carry.get("wrapped", ()):
        value = out.get(key)
        if isinstance(value, list) and len(value) == 1:
            out[key] = value[0]
    keys = carry.get("keys")
    if keys:
        ordered = {k: out.pop(k) for k in keys if k in out}
        ordered.update(out)  # fields added after conversion go last
        out = ordered
    return out


def turn_layouts(turns: list[dict[str, Any]], known: tuple[str, ...]) -> Any:
    """The key order and extra keys of turns that have more or other keys than ``known`` in that
    order: None when none has, one layout when all turns share it, else one (or None) per turn."""
    specs: list[dict[str, Any] | None] = []
    for turn in turns:
        if list(turn) == list(known):
            specs.append(None)
            continue
        spec: dict[str, Any] = {"keys": list(turn)}
        extra = {k: v for k, v in turn.items() if k not in known}
        if extra:
            spec["extra"] = extra
        specs.append(spec)
    if not any(specs):
        return None
    return specs[0] if all(s == specs[0] for s in specs) else specs


def apply_layouts(turns: list[dict[str, Any]], layouts: Any) -> list[dict[str, Any]]:
    """Turns with the layouts ``turn_layouts`` noted (per-turn ones only if the count still matches)."""
    if isinstance(layouts, dict):
        layouts = [layouts] * len(turns)
    if not layouts or len(layouts) != len(turns):
        return turns
    out = []
    for turn, spec in zip(turns, layouts, strict=True):
        if spec:
            extra = spec.get("extra", {})
            turn = {k: turn[k] if k in turn else extra.get(k) for k in spec["keys"]} | turn
        out.append(turn)
    return out


def require_history(dialog: Mapping[str, Any], rid: Any) -> list[list[Any]]:
    """The history and the query a ``dj_to_*`` tool needs (Data-Juicer fails without them)."""
    history = require(dialog, "history", list, record_id=rid)
    for i, pair in enumerate(history):
        if not isinstance(pair, list) or len(pair) != 2:
            raise RecordError("must be a [query, response] pair", field=f"history[{i}]", record_id=rid)
    require(dialog, "query", record_id=rid)
    return history


def dialog_format(name: str, description: str, to_unified: ToUnified, from_unified: FromUnified,
                  read_options: tuple[Option, ...], write_options: tuple[Option, ...], example: str) -> Format:
    return Format(
        name=name,
        description=description,
        modalities=("image", "audio", "video"),
        file_types=("json", "jsonl", "parquet"),
        to_unified=to_unified,
        from_unified=from_unified,
        read_options=read_options,
        write_options=write_options,
        tokens=tokens,
        example=example,
    )


# -- any sample as a dialog record ----------------------------------------------------------------

def dialog_record(sample: Sample, tokens: Tokens) -> dict[str, Any]:
    """The Data-Juicer dialog record of a sample: a dialog sample's own record, or for a sample with
    a text (LLaVA, Data-Juicer text) the record with ``text`` replaced by its conversation."""
    if not sample.has_text or any(k in sample.fields for k in ("query", "response", "history")):
        return djcodec.to_record(sample, tokens, with_carry=False)
    rid = sample.fields.get("id")
    turns = _turns_of_text(sample, tokens, rid)
    by_role: dict[str, list[str]] = {"system": [], "instruction": []}
    rest = []
    for role, value in turns:
        if role in by_role:
            if by_role[role]:
                raise RecordError(f"its text has more than one [[{role}]]: turn; a dialog holds one",
                                  field=TEXT_KEY, record_id=rid)
            by_role[role].append(value)
        else:
            rest.append(value)
    record = djcodec.to_record(sample, tokens, with_carry=False)
    record.pop(TEXT_KEY, None)
    record.pop(CARRY_KEY, None)
    for role, values in by_role.items():
        if values:
            record[role] = values[0]
    record["query"], record["response"], record["history"] = pair_up(rest)
    return record


def _turns_of_text(sample: Sample, tokens: Tokens, rid: Any) -> list[tuple[str, str]]:
    turns: list[tuple[str, list[str]]] = []
    prefix: list[str] = []
    for chunk in sample.chunks:
        for piece in chunk.pieces:
            if isinstance(piece, Role):
                turns.append((piece.name, []))
            else:
                (turns[-1][1] if turns else prefix).append(render_pieces([piece], tokens))
    if not turns:
        raise RecordError("holds no conversation: its text has no [[role]]: turn markers", field=TEXT_KEY,
                          record_id=rid)
    if "".join(prefix).strip():
        raise RecordError("has text before its first [[role]]: turn marker", field=TEXT_KEY, record_id=rid)
    return [(role, "".join(parts).strip()) for role, parts in turns]


__all__ = ["ASSISTANT", "HUMAN", "DIALOG_KEYS"]
