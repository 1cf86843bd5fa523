"""LLaVA instruction data: a JSON array of ``{"id", "image", "conversations": [{"from", "value"}]}``.

Reading gives the Data-Juicer text that ``llava_to_dj`` writes (``[[role]]: `` markers, the
``<image>`` token kept as is, rounds joined by the separator, `` <|__dj__eoc|>`` at the end).
Writing follows ``dj_to_llava``. What that text cannot carry (the id's type, whitespace the way back
would strip, extra top-level and per-turn fields, key order, questions dropped by
``only_keep_caption``) travels in ``__mmloom__``; a Data-Juicer record that has it comes back equal
to the original record.
"""

from __future__ import annotations

import itertools
import random
import re
import zlib
from typing import Any

from .. import djcodec
from ..errors import RecordError, UsageError
from ..model import Chunk, Media, Piece, Role, Sample, Text, Tokens, render_pieces, shared_tokens
from ..options import Option, Options
from .base import TOKENS_OPTION, Format, chunked, default_tokens, require

IMAGE_TOKEN = "<image>"
EOC = Tokens().eoc
DEFAULT_KEYS = ("id", "image", "conversations")
# the key orders a record has when it holds nothing but (some of) the default keys, in their order
_PLAIN_KEY_ORDERS = frozenset(tuple(k for k, keep in zip(DEFAULT_KEYS, mask, strict=True) if keep)
                              for mask in itertools.product((True, False), repeat=len(DEFAULT_KEYS)))
LETTERS = re.compile(r"[A-Za-z]*\Z")
MARKER_LIKE = re.compile(r"\[\[[A-Za-z]*\]\]: ")

READ_OPTIONS = (
    Option("str_id", True, "convert ids to strings, as Data-Juicer does"),
    Option("split_chunk", False, "make every (human, gpt) round its own chunk"),
    Option("image_broadcast", False, "add the image token to the human turn of every later round (needs split_chunk)"),
    Option("image_broadcast_pos", "random", "where broadcast tokens go", choices=("random", "before", "after", "follow")),
    Option("eoc_special_token", EOC, "end-of-chunk token"),
    Option("image_special_token", IMAGE_TOKEN, "the image token in the data, kept as is in the text"),
    Option("add_eoc_at_last", True, "append ' ' + eoc at the end of the text"),
    Option("sent_separator", "\n", "glue between human and gpt text and between rounds"),
    Option("only_keep_caption", False, "pretrain mode: keep 'token + separator + answer' per round"),
    Option("lossless", True, "write __mmloom__ so the way back gives the original records exactly"),
    Option("seed", 0, "seed for the 'random' broadcast position (per record, reproducible)"),
)

WRITE_OPTIONS = (
    Option("keep_only_first_image", True, "remove a leading/trailing image token from every turn but the first"),
    Option("eoc_special_token", EOC, "end-of-chunk token"),
    Option("image_special_token", IMAGE_TOKEN, "image token"),
    Option("sent_separator", "\n", "separator used when the data was converted"),
    Option("restore_questions", False, "for only_keep_caption data: take the first human turn and id from the original file"),
    Option("original_llava_ds_path", None, "the original LLaVA file (JSON array), with restore_questions", type=str),
    Option("lossless", True, "use __mmloom__ when present to give back the original records exactly"),
)


# -- reading: LLaVA record -> sample ---------------------------------------------------------

def _check_read(opts: Options) -> Options:
    if opts.image_broadcast and not opts.split_chunk:
        raise UsageError("option image_broadcast needs split_chunk=true (as in Data-Juicer's llava_to_dj)")
    tokens = shared_tokens(image=opts.image_special_token, eoc=opts.eoc_special_token)
    opts = type(opts)(opts)
    opts[TOKENS_OPTION] = tokens
    opts["_layout"] = _layout_carry(opts, tokens)
    # the text can be written directly (see _text_sample) for the plain layout and glue that no
    # token or marker can run across
    opts["_as_text"] = (not (opts.split_chunk or opts.only_keep_caption) and djcodec.tame_tokens(tokens)
                        and all(c in " \t\n" for c in opts.sent_separator))
    return opts


def _value_pieces(value: str, token: str) -> list[Piece]:
    if not token or token not in value:
        return [Text(value)] if value else []
    pieces: list[Piece] = []
    parts = value.split(token) if token else [value]
    for i, part in enumerate(parts):
        if i:
            pieces.append(Media("image"))
        if part:
            pieces.append(Text(part))
    return pieces


_MARKERS = {"human": "[[human]]: ", "gpt": "[[gpt]]: "}


def _marker(role: str) -> str:
    marker = _MARKERS.get(role)
    return marker if marker is not None else f"[[{role}]]: "


def _valid_turns(convs: list[Any], rid: Any) -> tuple[list[tuple[str, str]], bool]:
    """(role, value) of every turn, and whether every turn is a plain ``{"from", "value"}`` in
    that order (else the carry keeps its keys)."""
    if len(convs) % 2:
        raise RecordError(
            f"has an odd number of turns ({len(convs)}); LLaVA turns come in (human, gpt) pairs",
            field="conversations", record_id=rid)
    turns = []
    plain = True
    for i, turn in enumerate(convs):
        if type(turn) is dict:  # the usual case, checked without building the field name
            role, value = turn.get("from"), turn.get("value")
            if type(role) is str and type(value) is str:
                turns.append((role, value))
                if plain and (len(turn) != 2 or next(iter(turn)) != "from"):
                    plain = False
                continue
        where = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise RecordError(f"must be an object with 'from' and 'value', not {type(turn).__name__}", field=where, record_id=rid)
        role = turn.get("from", None)
        if not isinstance(role, str):
            raise RecordError("must be a string" if "from" in turn else "is missing", field=f"{where}.from", record_id=rid)
        value = turn.get("value", None)
        if not isinstance(value, str):
            raise RecordError("must be a string" if "value" in turn else "is missing", field=f"{where}.value", record_id=rid)
        turns.append((role, value))
        plain = False
    return turns, plain


def _first_side(turns: list[tuple[str, str]], tok: str, image: Any, rid: Any) -> str:
    """Where the image token stands in the first human turn of a record with one image."""
    first = turns[0][1] if turns else ""
    if first.startswith(tok):
        return "before"
    if first.endswith(tok):
        return "after"
    raise RecordError(
        f"the image token {tok!r} must open or close the first human turn "
        f"(the record has an image, {image!r})", field="conversations[0].value", record_id=rid)


def to_unified(record: Any, opts: Options) -> Sample:
    if opts.get("_as_text"):
        sample = _text_sample(record, opts)
        if sample is not None:
            return sample
    rid = require(record, "id")
    turns, plain_turns = _valid_turns(require(record, "conversations", list, record_id=rid), rid)
    image = record.get("image", "")
    has_image = image not in ("", None)
    multi = isinstance(image, list)
    fields = {"id": str(rid) if opts.str_id else rid}
    tok, sep, eoc = opts.image_special_token, opts.sent_separator, opts.eoc_special_token
    n_rounds = len(turns) // 2
    rng = None
    if opts.image_broadcast and opts.image_broadcast_pos == "random":
        rng = random.Random(opts.seed * 1_000_003 + zlib.crc32(repr(rid).encode()))

    images = []
    first_side = ""
    sides = []
    rounds: list[list[Piece]] = []
    for r in range(n_rounds):
        (h_role, h_val), (g_role, g_val) = turns[2 * r], turns[2 * r + 1]
        h_pieces = _value_pieces(h_val, tok)
        if has_image and r == 0:
            if multi:
                images.extend(image)
            else:
                first_side = _first_side(turns, tok, image, rid)
                images.append(image)
        elif has_image and opts.image_broadcast and not multi:
            pos = opts.image_broadcast_pos
            if pos == "random":
                pos = "before" if rng.random() < 0.5 else "after"  # type: ignore[union-attr]
            elif pos == "follow":
                pos = first_side
            if pos == "before":
                h_pieces = [Media("image"), Text(sep)] + h_pieces
            else:
                h_pieces = h_pieces + [Text(sep), Media("image")]
            sides.append(pos[0])
            images.append(image)
        if opts.only_keep_caption:
            rounds.append([Media("image"), Text(sep)] + _value_pieces(g_val, tok))
        else:
            rounds.append([Role(h_role, _marker(h_role)), *h_pieces, Text(sep), Role(g_role, _marker(g_role)),
                           *_value_pieces(g_val, tok)])

    chunks = _layout(rounds, sep, opts.split_chunk, opts.add_eoc_at_last)
    sample = Sample(chunks=chunks, media={"image": images}, fields=fields, order=["id", "text", "images"])
    djcodec.assign_paths(sample)
    if opts.lossless:
        sample.carry = _carry(record, turns, plain_turns, rid, opts, sides, sample, Tokens(image=tok, eoc=eoc))
    return sample


def _text_sample(record: Any, opts: Options) -> Sample | None:
    """The sample held as its text, written directly (one pass over the turns), when parsing that
    text gives back what the general path builds, up to how adjacent text pieces are cut: every role
    reads as a marker and no value holds "[[", the end-of-chunk token or another modality's token.
    None for any other record, bad ones included: the general path reads those (and locates errors).
    """
    if type(record) is not dict or "id" not in record:
        return None
    convs = record.get("conversations")
    if type(convs) is not list or len(convs) % 2:
        return None
    sep = opts.sent_separator
    markers = _MARKERS
    parts: list[str] = []
    plain_turns = True
    extend = parts.extend
    brackets = False
    for turn in convs:
        try:
            role, value = turn["from"], turn["value"]
        except (KeyError, TypeError):  # not an object with both: the general path says what is wrong
            return None
        if type(role) is not str or type(value) is not str or type(turn) is not dict:
            return None
        if not brackets and "[" in value:  # one character is found much faster than "[["
            brackets = True
        if plain_turns and (len(turn) != 2 or next(iter(turn)) != "from"):
            plain_turns = False
        marker = markers.get(role)
        if marker is None:
            if not LETTERS.match(role):
                return None
            marker = f"[[{role}]]: "
        extend((marker, value, sep))
    tokens: Tokens = opts[TOKENS_OPTION]
    eoc = tokens.eoc
    if parts:
        parts[-1] = " " + eoc if opts.add_eoc_at_last else ""
    elif opts.add_eoc_at_last:
        parts.append(" " + eoc)
    text = "".join(parts)
    # every "[[" is a marker's (a value's "[[" would add one: the separator is whitespace), the
    # end-of-chunk token only ends the text, and no other modality's token is there
    if brackets and text.count("[[") != len(convs):
        return None
    if not _only_final_eoc(text, tokens, opts.add_eoc_at_last):
        return None
    image = record.get("image", "")
    if image == "" or image is None or not convs:
        images = []
    elif type(image) is list:
        images = list(image)
    else:
        first = convs[0]["value"]
        if not (first.startswith(tokens.image) or first.endswith(tokens.image)):
            return None
        images = [image]
    rid = record["id"]
    sample = Sample.of_text(text, tokens, {"image": images}, {"id": str(rid) if opts.str_id else rid},
                            ["id", "text", "images"])
    if opts.lossless:
        sample.carry = _carry(record, [], plain_turns, rid, opts, [], sample, tokens, plain=True)
    return sample


def _only_final_eoc(text: str, tokens: Tokens, add_eoc: bool) -> bool:
    """Whether the end-of-chunk token is in the text only at its end (when add_eoc) and the audio
    and video tokens are not there at all: first with one scan for what the three tokens share
    (the final token is set off by a space, so nothing in a value runs into it)."""
    eoc = tokens.eoc
    shared = djcodec.shared_part(eoc, tokens.audio, tokens.video)
    final = len(text) - len(eoc) if add_eoc else -1
    if shared and text.find(shared) == (final + eoc.find(shared) if add_eoc else -1):
        return True
    return text.find(eoc) == final and tokens.audio not in text and tokens.video not in text


def _layout(rounds: list[list[Piece]], sep: str, split_chunk: bool, add_eoc: bool) -> list[Chunk]:
    if split_chunk:
        return chunked(rounds, sep, add_eoc)
    pieces: list[Piece] = []
    for i, r in enumerate(rounds):
        if i:
            pieces.append(Text(sep))
        pieces.extend(r)
    if add_eoc:
        return [Chunk(pieces + [Text(" ")], closed=True)]
    return [Chunk(pieces, closed=False)] if pieces else []


def _carry(record: dict, turns: list[tuple[str, str]], plain_turns: bool, rid: Any, opts: Options,
           sides: list[str], sample: Sample, tokens: Tokens, plain: bool = False) -> dict[str, Any]:
    """``plain``: the text was written directly, so its markers are known to delimit the turns."""
    carry: dict[str, Any] = {"format": "llava"}
    layout = opts.get("_layout")
    if layout is None:
        layout = _layout_carry(opts, tokens)
    if layout:
        carry["layout"] = dict(layout)  # not shared between records
    if not isinstance(rid, str) and opts.str_id:
        carry["id"] = rid
    if "image" in record and (record["image"] in ("", None) or isinstance(record["image"], list)):
        carry["image"] = record["image"]
    if tuple(record) not in _PLAIN_KEY_ORDERS:  # else neither other keys nor another order
        keys = list(record.keys())
        if keys != [k for k in DEFAULT_KEYS if k in record]:
            carry["keys"] = keys
        extra = {k: v for k, v in record.items() if k not in DEFAULT_KEYS}
        if extra:
            carry["extra"] = extra
    if not plain_turns:
        turn_extra = {}
        for i, turn in enumerate(record["conversations"]):
            # every turn has "from" and "value" (checked when reading): two keys, "from" first, is the plain turn
            if len(turn) != 2 or next(iter(turn)) != "from":
                turn_extra[str(i)] = {"keys": list(turn.keys()),
                                      "extra": {k: v for k, v in turn.items() if k not in ("from", "value")}}
        if turn_extra:
            carry["turns"] = turn_extra
    if plain:
        return carry
    if sides:
        carry["broadcast"] = "".join(sides)
    if opts.only_keep_caption:
        carry["questions"] = [[turns[2 * r][0], turns[2 * r][1], turns[2 * r + 1][0]] for r in range(len(turns) // 2)]
    # the markers split the text back into these turns only if no value (with what reading glues
    # around it) looks like a marker, and every role is one the marker pattern reads
    ambiguous = _odd_role(turns) or (
        _has_brackets(turns) and len(MARKER_LIKE.findall(sample.text(tokens))) != len(turns))
    if opts.only_keep_caption:
        # "token + separator + answer" rounds joined by the separator: only spans split them safely
        ambiguous = len(turns) > 2
    if ambiguous:
        # the markers alone cannot split this text back into turns: keep each turn's span
        carry["spans"] = _spans(turns, sides, opts, tokens)
        if not opts.only_keep_caption:
            carry["roles"] = [r for r, _ in turns]
        carry["crc"] = zlib.crc32(sample.text(tokens).encode())
    return carry


def _layout_carry(opts: Options, tokens: Tokens) -> dict[str, Any]:
    """How the text was laid out, where that differs from the defaults."""
    layout: dict[str, Any] = {}
    if opts.sent_separator != "\n":
        layout["sep"] = opts.sent_separator
    if opts.split_chunk:
        layout["split"] = True
    if not opts.add_eoc_at_last:
        layout["eoc_last"] = False
    if opts.only_keep_caption:
        layout["caption"] = True
    if tokens.image != IMAGE_TOKEN or tokens.eoc != EOC:
        layout["tokens"] = [tokens.image, tokens.eoc]
    return layout


def _odd_role(turns: list[tuple[str, str]]) -> bool:
    """A role the marker pattern does not read back (a plain loop: this runs for every record)."""
    for role, _ in turns:
        if role not in _MARKERS and not LETTERS.match(role):
            return True
    return False


def _has_brackets(turns: list[tuple[str, str]]) -> bool:
    for _, value in turns:
        if "[[" in value:
            return True
    return False


def _spans(turns: list[tuple[str, str]], sides: list[str], opts: Options, tokens: Tokens) -> list[int]:
    """Length of each turn's value as it stands in the text (broadcast token included)."""
    sep = opts.sent_separator
    out = []
    for i, (_, value) in enumerate(turns):
        r = i // 2
        if opts.only_keep_caption:
            if i % 2:
                out.append(len(value))
            continue
        extra = len(tokens.image) + len(sep) if i % 2 == 0 and r > 0 and sides else 0
        out.append(len(value) + extra)
    return out


# -- writing: sample -> LLaVA record --------------------------------------------------------

class _Eoc:
    """Marks a chunk end in the flattened piece stream."""


def _flatten(sample: Sample) -> list[Any]:
    flat: list[Any] = []
    for c in sample.chunks:
        flat.extend(c.pieces)
        if c.closed:
            flat.append(_Eoc)
    return flat


def _render(pieces: list[Any], tokens: Tokens) -> str:
    out = []
    for p in pieces:
        if type(p) is Text:
            out.append(p.text)
        elif p is _Eoc:
            out.append(tokens.eoc)
        else:
            out.append(render_pieces([p], tokens))
    return "".join(out)


def _turns_by_markers(sample: Sample, tokens: Tokens, rid: Any, empty_text: str | None = None
                      ) -> list[tuple[str, str]]:
    """Split at ``[[role]]: `` markers, as dj_to_llava does; each turn's raw text follows.
    ``empty_text``: what reading writes for a record with no turns (accepted as the whole text)."""
    text = sample.held_text(tokens)
    if text is not None and djcodec.tame_tokens(tokens):
        head, turns = _split_text(text, tokens.eoc)
    else:
        head, turns = _split_pieces(sample, tokens)
    if not turns and empty_text is not None and head == empty_text:
        return []
    pieces = 2 * len(turns) + (1 if head else 0)
    if pieces % 4:
        raise RecordError(
            f"its text does not hold whole (human, gpt) rounds: {pieces} pieces between "
            f"[[role]]: markers (number of conversation is [{pieces}])", field="text", record_id=rid)
    return turns


def _split_pieces(sample: Sample, tokens: Tokens) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first turn marker, and each turn's role and text, from the chunks."""
    turns: list[tuple[str, list[Any]]] = []
    prefix: list[Any] = []
    for p in _flatten(sample):
        if isinstance(p, Role) and p.marker == _marker(p.name):
            turns.append((p.name, []))
        elif turns:
            turns[-1][1].append(p)
        else:
            prefix.append(p)
    return _render(prefix, tokens), [(role, _render(ps, tokens)) for role, ps in turns]


def _split_text(text: str, eoc: str) -> tuple[str, list[tuple[str, str]]]:
    """What _split_pieces gives for the chunks parsed from ``text``, found in the text itself: it
    is cut at the end-of-chunk token first and each part at role markers, as parsing does (with
    tame tokens, media tokens cannot hide or form a marker)."""
    head: list[str] = []
    turns: list[tuple[str, list[str]]] = []
    current = head
    parts = text.split(eoc)
    roles = "[[" in text
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if roles and "[[" in part:
            bits = djcodec.ROLE_SPLITTER.split(part)
            current.append(bits[0])
            for k in range(1, len(bits), 4):
                if bits[k + 2]:  # "[[role]]: " with its space starts a turn; "[[role]]:" does not
                    current = []
                    turns.append((bits[k + 1], current))
                else:
                    current.append(bits[k])
                current.append(bits[k + 3])
        else:
            current.append(part)
        if i < last:
            current.append(eoc)
    return "".join(head), [(role, "".join(t)) for role, t in turns]


def _clean(sentence: str, i: int, opts: Options, tokens: Tokens) -> str:
    """Data-Juicer's clean-up of one turn: strip, drop a trailing separator and eoc, and (from the
    second turn on, with keep_only_first_image) one leading and one trailing image token."""
    sep, eoc, tok = opts.sent_separator, tokens.eoc, tokens.image
    s = sentence.strip()
    if sep and s.endswith(sep):
        s = s[: -len(sep)].strip()
    if eoc and s.endswith(eoc):
        s = s[: -len(eoc)].strip()
    if i > 0 and opts.keep_only_first_image and tok:
        if s.startswith(tok):
            s = s[len(tok):].strip()
            if sep and s.startswith(sep):
                s = s[len(sep):].strip()
        if s.endswith(tok):
            s = s[: -len(tok)].strip()
            if sep and s.endswith(sep):
                s = s[: -len(sep)].strip()
    return s


def _prepare_write(opts: Options) -> Options:
    if opts.restore_questions:
        if not opts.original_llava_ds_path:
            raise UsageError("option restore_questions needs original_llava_ds_path (the original LLaVA file)")
        from ..io.files import detect_type
        from ..io.readers import open_reader

        path = opts.original_llava_ds_path
        import os

        if not os.path.exists(path):
            raise UsageError(f"original_llava_ds_path {path}: no such file")
        originals: dict[str, tuple[Any, Any, Any]] = {}
        for item in open_reader(path, detect_type(path)):
            rec = item.record
            if item.error or not isinstance(rec, dict) or "id" not in rec:
                raise UsageError(f"original_llava_ds_path {path}, record {item.index}: not a LLaVA record with an id")
            convs = rec.get("conversations") or []
            if len(convs) < 2:
                raise UsageError(f"original_llava_ds_path {path}, record {item.index}: fewer than 2 turns")
            originals[str(rec["id"])] = (rec["id"], convs[0], convs[1].get("from"))
        opts = type(opts)(opts)
        opts["_originals"] = originals
    return opts


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    tokens = default_tokens(opts)
    rid = sample.fields.get("id")
    carry = sample.carry if opts.lossless and sample.carry and sample.carry.get("format") == "llava" else None
    for modality in ("audio", "video"):
        # a token with no path in a record that came from LLaVA was text of a LLaVA value
        if sample.media.get(modality) or (carry is None and sample.has_media_piece(modality)):
            raise RecordError(f"has {modality} media; a LLaVA record holds text and one image",
                              field=f"{modality}s", record_id=rid)
    images = sample.media.get("image", [])
    if carry is not None:
        return _from_carry(sample, carry, tokens, opts)
    try:
        distinct = list(dict.fromkeys(images))
    except TypeError:
        raise RecordError("image paths must be strings", field="images", record_id=rid) from None
    if len(distinct) > 1:
        raise RecordError(
            f"has {len(distinct)} distinct images; a LLaVA record holds one image", field="images", record_id=rid)
    if opts.restore_questions:
        found = opts["_originals"].get(str(rid))
        if found is None:
            raise RecordError("has no record with this id in original_llava_ds_path", field="id", record_id=rid)
        rid, first, second_role = found
        conversations = [first, {"from": second_role, "value": _clean(sample.text(tokens), 1, opts, tokens)}]
    else:
        conversations = [{"from": role, "value": _clean(text, i, opts, tokens)}
                         for i, (role, text) in enumerate(_turns_by_markers(sample, tokens, rid))]
    out: dict[str, Any] = {}
    if "id" in sample.fields or opts.restore_questions:
        out["id"] = rid
    out["conversations"] = conversations
    if len(distinct) == 1:
        out["image"] = distinct[0]
    return out


def _from_carry(sample: Sample, carry: dict[str, Any], tokens: Tokens, opts: Options) -> dict[str, Any]:
    layout = carry.get("layout", {})
    sep, split, eoc_last = layout.get("sep", "\n"), layout.get("split", False), layout.get("eoc_last", True)
    if "tokens" in layout:
        written_with = Tokens(image=layout["tokens"][0], eoc=layout["tokens"][1])
        sample = djcodec.retokenize(sample, tokens, written_with)
        tokens = written_with
    rid = sample.fields.get("id")
    values: list[tuple[str, str]] | None = None
    if not (split or layout.get("caption") or "spans" in carry or "broadcast" in carry) and sep:
        held = sample.held_text(tokens)
        if held is not None and djcodec.tame_tokens(tokens):
            values = _plain_values(held, tokens.eoc, sep, eoc_last)
    if values is None:
        values = _layout_values(sample, carry, layout, sep, split, eoc_last, tokens, rid)
    if values is None:  # the text was changed after conversion: Data-Juicer's reading of it
        values = [(role, _clean(t, i, opts, tokens)) for i, (role, t) in enumerate(_turns_by_markers(sample, tokens, rid))]

    orig_id = carry.get("id", rid)
    if "id" in carry and str(carry["id"]) != rid:
        orig_id = rid  # the id was changed after conversion: keep the new one
    turn_extra = carry.get("turns")
    if turn_extra is None:
        conversations = [{"from": role, "value": value} for role, value in values]
    else:
        conversations = [_turn(role, value, turn_extra.get(str(i))) for i, (role, value) in enumerate(values)]
    images = sample.media.get("image", [])
    built: dict[str, Any] = {"id": orig_id, "conversations": conversations}
    if "image" in carry and (not images or (isinstance(carry["image"], list) and carry["image"] == images)):
        built["image"] = carry["image"]
    elif len(images) == 1:
        built["image"] = images[0]
    elif images:
        distinct = list(dict.fromkeys(images)) if all(isinstance(i, str) for i in images) else images
        built["image"] = distinct[0] if len(distinct) == 1 else distinct
    keys = carry.get("keys")
    extra = carry.get("extra")
    if keys is None and extra is None:  # the default keys in their order
        if "image" in built:
            return {"id": orig_id, "image": built["image"], "conversations": conversations}
        return built
    extra = extra or {}
    out = {}
    for key in keys or DEFAULT_KEYS:
        if key in built:
            out[key] = built.pop(key)
        elif key in extra:
            out[key] = extra[key]
    out.update(built)
    return out


def _layout_values(sample: Sample, carry: dict[str, Any], layout: dict[str, Any], sep: str, split: bool,
                   eoc_last: bool, tokens: Tokens, rid: Any) -> list[tuple[str, str]] | None:
    """Each turn's role and value, undoing the layout the carry describes; None when the text was
    changed after conversion."""
    # the whole text is needed only to check it or to cut it by spans
    text = sample.text(tokens) if "crc" in carry or "spans" in carry or layout.get("caption") else ""
    unchanged = "crc" not in carry or zlib.crc32(text.encode()) == carry["crc"]
    if layout.get("caption"):
        return _caption_values(text, carry, sep, split, eoc_last, tokens) if unchanged else None
    if "spans" in carry:
        return _values_by_spans(text, carry, sep, split, eoc_last, tokens) if unchanged else None
    raw = _turns_by_markers(sample, tokens, rid, (" " + tokens.eoc) if eoc_last else "")
    return _exact_values(raw, carry, sep, split, eoc_last, tokens)


def _turn(role: str, value: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """A turn with the keys, in the order, the original had."""
    if spec is None:
        return {"from": role, "value": value}
    turn = {}
    for key in spec["keys"]:
        if key == "from":
            turn["from"] = role
        elif key == "value":
            turn["value"] = value
        else:
            turn[key] = spec["extra"][key]
    return turn


def _strip_suffix(s: str, suffix: str) -> str:
    return s[: -len(suffix)] if suffix and s.endswith(suffix) else s


def _strip_prefix(s: str, prefix: str) -> str:
    return s[len(prefix):] if prefix and s.startswith(prefix) else s


def _unlayout(raw: str, i: int, n: int, carry: dict, sep: str, split: bool, eoc_last: bool, tokens: Tokens) -> str:
    """Undo exactly what reading added around turn i's value."""
    r, human = i // 2, i % 2 == 0
    if human:
        v = _strip_suffix(raw, sep)
        sides = carry.get("broadcast", "")
        if r > 0 and r - 1 < len(sides):
            if sides[r - 1] == "b":
                v = _strip_prefix(v, tokens.image + sep)
            else:
                v = _strip_suffix(v, sep + tokens.image)
        return v
    if i == n - 1:
        return _strip_suffix(raw, " " + tokens.eoc) if eoc_last else raw
    return _strip_suffix(raw, (" " + tokens.eoc + sep) if split else sep)


def _plain_values(text: str, eoc: str, sep: str, eoc_last: bool) -> list[tuple[str, str]] | None:
    """What _turns_by_markers and _exact_values give for a text in the plain layout (rounds and
    turns joined by the separator, no split chunks, no broadcast tokens), found with one split; None
    when the text is not plainly that (no end-of-chunk token but the last, no text before the first
    marker, whole rounds, every marker with its space), and the general path reads it."""
    if eoc_last:
        if not text.endswith(" " + eoc):
            return None
        text = text[: -len(eoc) - 1]
    if eoc in text:
        return None
    bits = djcodec.ROLE_SPLITTER.split(text)
    if bits[0] or len(bits) % 8 != 1 or "" in bits[3::4]:
        return None
    roles, segments = bits[2::4], bits[4::4]
    n = len(segments)
    cut = len(sep)
    values = [seg[:-cut] if seg.endswith(sep) else seg for seg in segments[:-1]]
    if n:
        values.append(segments[-1])
    return list(zip(roles, values, strict=True))


def _exact_values(raw: list[tuple[str, str]], carry: dict, sep: str, split: bool, eoc_last: bool,
                  tokens: Tokens) -> list[tuple[str, str]]:
    n = len(raw)
    if not split and "broadcast" not in carry and sep:
        # the usual layout, _unlayout inlined: every turn but the last is followed by the separator
        out = []
        for i, (role, t) in enumerate(raw):
            if i == n - 1:
                t = _strip_suffix(t, " " + tokens.eoc) if eoc_last else t
            elif t.endswith(sep):
                t = t[: -len(sep)]
            out.append((role, t))
        return out
    return [(role, _unlayout(t, i, n, carry, sep, split, eoc_last, tokens)) for i, (role, t) in enumerate(raw)]


def _values_by_spans(text: str, carry: dict, sep: str, split: bool, eoc_last: bool, tokens: Tokens
                     ) -> list[tuple[str, str]] | None:
    spans, roles = carry["spans"], carry.get("roles", [])
    if len(roles) != len(spans):
        return None
    out = []
    pos = 0
    n = len(spans)
    for i, length in enumerate(spans):
        role = roles[i]
        if not text.startswith(_marker(role), pos):
            return None
        start = pos + len(_marker(role))
        value = text[start:start + length]
        pos = start + length
        # skip what reading put between this value and the next marker
        if i < n - 1:
            glue = sep if i % 2 == 0 or not split else " " + tokens.eoc + sep
            if not text.startswith(glue, pos):
                return None
            pos += len(glue)
        raw = value
        if i % 2 == 0 and i > 0 and carry.get("broadcast"):
            raw = _unlayout(value + sep, i, n, carry, sep, split, eoc_last, tokens)
        out.append((role, raw))
    return out


def _caption_values(text: str, carry: dict, sep: str, split: bool, eoc_last: bool, tokens: Tokens
                    ) -> list[tuple[str, str]] | None:
    questions = carry.get("questions", [])
    if eoc_last:
        text = _strip_suffix(text, " " + tokens.eoc)
    glue = (" " + tokens.eoc + sep) if split else sep
    if not questions:
        return [] if text == "" else None
    if "spans" in carry:
        segs, pos = [], 0
        for i, length in enumerate(carry["spans"]):
            head = tokens.image + sep
            if not text.startswith(head, pos):
                return None
            start = pos + len(head)
            segs.append(text[start:start + length])
            pos = start + length + (len(glue) if i < len(carry["spans"]) - 1 else 0)
    else:
        segs = [text] if len(questions) <= 1 else text.split(glue)
        segs = [_strip_prefix(s, tokens.image + sep) for s in segs]
    if len(segs) != len(questions):
        return None
    out = []
    for (h_role, h_val, g_role), answer in zip(questions, segs, strict=True):
        out.append((h_role, h_val))
        out.append((g_role, answer))
    return out


FORMAT = Format(
    name="llava",
    description="LLaVA instruction data: JSON array of {id, image, conversations[{from, value}]}",
    modalities=("image",),
    file_types=("json", "jsonl", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    prepare_read=_check_read,
    prepare_write=_prepare_write,
    example="mmloom convert llava_v1_5_mix665k.json mix665k.dj.jsonl --from llava --to dj",
)
