"""Data-Juicer record <-> Sample. The one place that reads and writes Data-Juicer's token text.

Parsing and rendering are exact inverses for given tokens: the text is split on the end-of-chunk
token into chunks, and each chunk into text, media tokens and ``[[role]]:`` markers; rendering
writes the same characters back. Media lists are kept as the record has them, so a record whose
token count disagrees with its lists (Data-Juicer's own MMC4 output has such records) still comes
back unchanged.

A record without ``text`` that has the fields of Data-Juicer's post-tuning dialog records
(``system``, ``instruction``, ``query``, ``response``, ``history``: see ``dialog_chunks``) is kept as
those fields; its chunks hold the same conversation as turns, for the formats that read turns.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .errors import RecordError
from .model import (
    CARRY_KEY,
    MEDIA_KEYS,
    MODALITIES,
    TEXT_KEY,
    Chunk,
    Media,
    Piece,
    Role,
    Sample,
    Text,
    Tokens,
)

# A conversation-role marker as Data-Juicer's converters write it: "[[human]]: ", "[[q]]:".
ROLE_PATTERN = r"\[\[([A-Za-z]*)\]\]:( ?)"


@lru_cache(maxsize=64)
def _splitter(image: str, audio: str, video: str, roles: bool = True) -> tuple[re.Pattern[str], dict[str, str]]:
    by_token = {}
    for modality, token in zip(MODALITIES, (image, audio, video), strict=True):
        if token:
            by_token.setdefault(token, modality)
    alternatives = [re.escape(t) for t in sorted(by_token, key=len, reverse=True)]
    if roles:
        alternatives.append(ROLE_PATTERN)
    if not alternatives:
        return re.compile("(?!)"), by_token
    return re.compile("(" + "|".join(f"(?:{a})" for a in alternatives) + ")"), by_token


# The role markers alone, for splitting: a literal "[[" starts each, which the regular expression
# engine finds at memchr speed (an alternation of tokens and markers is tried at every character,
# several times slower on long texts).
ROLE_SPLITTER = re.compile(r"(\[\[([A-Za-z]*)\]\]:( ?))")


@lru_cache(maxsize=64)
def _media_splitter(image: str, audio: str, video: str) -> tuple[re.Pattern[str] | None, str, dict[str, str]]:
    """The media tokens (longest first) as one pattern, their first characters, and modality by
    token. None when a token holds "[": it could then start a role marker or run into one, and only
    the single left-to-right pattern reads that as Data-Juicer's does."""
    _, by_token = _splitter(image, audio, video)
    if any("[" in t for t in by_token):
        return None, "", by_token
    alternatives = "|".join(re.escape(t) for t in sorted(by_token, key=len, reverse=True))
    firsts = "".join(sorted({t[0] for t in by_token}))
    return (re.compile(f"({alternatives})") if alternatives else None), firsts, by_token


@lru_cache(maxsize=64)
def shared_part(*tokens: str) -> str:
    """The longest string that every token holds exactly once ("__dj__" for Data-Juicer's
    defaults), or "". A text without it holds none of the tokens, and one scan for it is cheaper
    than one for each token."""
    if not tokens or not all(tokens):
        return ""
    shortest = min(tokens, key=len)
    for size in range(len(shortest), 0, -1):
        for start in range(len(shortest) - size + 1):
            part = shortest[start:start + size]
            if all(t.count(part) == 1 for t in tokens):
                return part
    return ""


def holds_exactly(text: str, tokens: Tokens, n_eoc: int, n_image: int) -> bool:
    """Whether ``text`` holds exactly ``n_eoc`` end-of-chunk tokens, ``n_image`` image tokens, no
    audio or video token and no "[[" (so no role marker): for a text a format wrote directly,
    with every token set off by white space, that its parse gives the chunks the format built.
    One scan for what the tokens share, when they share something; else one scan each."""
    if "[" in text and "[[" in text:  # one character is found much faster than two
        return False
    shared = shared_part(tokens.eoc, tokens.image, tokens.audio, tokens.video)
    if shared and text.count(shared) == n_eoc + n_image:
        return True
    return (text.count(tokens.eoc) == n_eoc and text.count(tokens.image) == n_image
            and tokens.audio not in text and tokens.video not in text)


def tame(tokens: Tokens, sep: str) -> bool:
    """Tame tokens (see ``tame_tokens``) and a separator of white space: then no token or role
    marker can form across the edge of a text a format writes directly, and each token there is
    set off by white space."""
    return bool(sep) and not sep.strip(" \t\n") and tame_tokens(tokens)


def tame_tokens(tokens: Tokens) -> bool:
    """Tokens that are neither empty nor hold white space or brackets: none can then overlap a role
    marker, or form one across the edge of a value."""
    return _tame_strings(tokens.image, tokens.audio, tokens.video, tokens.eoc)


@lru_cache(maxsize=64)
def _tame_strings(*tokens: str) -> bool:
    return all(t and not any(c in t for c in "[] \t\n") for t in tokens)


def parse_pieces(text: str, tokens: Tokens, roles: bool = True) -> list[Piece]:
    """Text, media and (with ``roles``) ``[[role]]:`` marker pieces of a text."""
    return _pieces(text, tokens, roles and "[[" in text)


def _pieces(text: str, tokens: Tokens, roles: bool) -> list[Piece]:
    """``roles``: whether the text may hold a role marker at all (else it is not split for them)."""
    media, firsts, by_token = _media_splitter(tokens.image, tokens.audio, tokens.video)
    if media is None and by_token:
        return _parse_pieces_one_pattern(text, tokens, roles)
    # [text, marker, name, space, text, marker, name, space, text]: markers never overlap a token
    parts = ROLE_SPLITTER.split(text) if roles else [text]
    pieces: list[Piece] = []
    append = pieces.append
    for k in range(0, len(parts), 4):
        if k:
            append(Role(parts[k - 2], parts[k - 3]))
        segment = parts[k]
        if not segment:
            continue
        if media is None or (firsts not in segment if len(firsts) == 1 else not any(c in segment for c in firsts)):
            append(Text(segment))
            continue
        for j, piece in enumerate(media.split(segment)):
            if j % 2:
                append(Media(by_token[piece]))
            elif piece:
                append(Text(piece))
    return pieces


def _parse_pieces_one_pattern(text: str, tokens: Tokens, roles: bool = True) -> list[Piece]:
    pattern, by_token = _splitter(tokens.image, tokens.audio, tokens.video, roles)
    pieces: list[Piece] = []
    pos = 0
    for m in pattern.finditer(text):
        start, end = m.span()
        if start == end:
            continue
        if start > pos:
            pieces.append(Text(text[pos:start]))
        found = m.group(0)
        modality = by_token.get(found)
        if modality is not None:
            pieces.append(Media(modality))
        else:
            pieces.append(Role(m.group(2), found))
        pos = end
    if pos < len(text):
        pieces.append(Text(text[pos:]))
    return pieces


def parse_text(text: str, tokens: Tokens) -> list[Chunk]:
    parts = text.split(tokens.eoc) if tokens.eoc else [text]
    roles = "[[" in text  # looked for once: most chunks of most texts (MMC4's) have no marker
    chunks = [Chunk(_pieces(p, tokens, roles), closed=True) for p in parts[:-1]]
    if parts[-1]:
        chunks.append(Chunk(_pieces(parts[-1], tokens, roles), closed=False))
    return chunks


_MODALITY_OF_KEY = {key: modality for modality, key in MEDIA_KEYS.items()}


def to_sample(record: dict[str, Any], tokens: Tokens) -> Sample:
    """Read a Data-Juicer record."""
    if not isinstance(record, dict):
        raise RecordError(f"a Data-Juicer record must be a JSON object, not {type(record).__name__}")
    text = record.get(TEXT_KEY, None)
    media: dict[str, list[Any]] = {}
    fields: dict[str, Any] = {}
    carry = None
    for key, value in record.items():
        if key == TEXT_KEY:
            continue
        modality = _MODALITY_OF_KEY.get(key)
        if modality is not None and (isinstance(value, list) or text is not None):
            if not isinstance(value, list):
                raise RecordError(f"must be a list of paths, not {type(value).__name__}", field=key)
            media[modality] = value
        elif key == CARRY_KEY:
            carry = value if isinstance(value, dict) else None
        else:
            fields[key] = value
    if type(text) is str:
        # held as its text: parsed into chunks only if a format asks for them
        return Sample.of_text(text, tokens, media, fields, list(record), carry)
    if text is not None:
        raise RecordError(f"must be a string, not {type(text).__name__}", field=TEXT_KEY)
    # a dialog record (Data-Juicer's post-tuning tools copy a bare path as they find it: kept as
    # an ordinary field above) shows its conversation as chunks; any other text-less record has none
    sample = Sample(dialog_chunks(record, media, tokens), media, fields, list(record), carry, has_text=False)
    assign_paths(sample)
    return sample


# -- post-tuning dialog records ------------------------------------------------------------------

DIALOG_KEYS = ("system", "instruction", "query", "response", "history")
HUMAN, ASSISTANT = "human", "gpt"  # the role names of a dialog's turns, as in llava_to_dj's text
DIALOG_SEP = "\n"


def is_dialog(record: Any) -> bool:
    """A text-less record with a query, a response or a history: a post-tuning dialog."""
    return (isinstance(record, dict) and TEXT_KEY not in record
            and any(k in record for k in ("query", "response", "history")))


def dialog_turns(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """The conversation of a dialog record in the order Data-Juicer's ``dj_to_*`` tools rebuild it:
    the system prompt and the instruction (each when present and not ""), the history pairs, the
    query (when present), the response (when present and not ""). Raises TypeError / ValueError
    on a history that is not a list of ``[query, response]`` lists."""
    turns: list[tuple[str, Any]] = []
    for key in ("system", "instruction"):
        if key in record and record[key] != "":
            turns.append((key, record[key]))
    history = record.get("history", [])
    if not isinstance(history, list):
        raise TypeError("history must be a list")
    for pair in history:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError("history entries must be [query, response] pairs")
        turns.append((HUMAN, pair[0]))
        turns.append((ASSISTANT, pair[1]))
    if "query" in record:
        turns.append((HUMAN, record["query"]))
    if "response" in record and record["response"] != "":
        turns.append((ASSISTANT, record["response"]))
    return turns


def role_marker(name: str) -> str:
    return f"[[{name}]]: "


def dialog_chunks(record: dict[str, Any], media: dict[str, list[Any]], tokens: Tokens) -> list[Chunk]:
    """The conversation of a dialog record as one chunk laid out as ``llava_to_dj`` lays out a
    conversation: ``[[role]]: value`` turns joined by a newline, closed by `` <eoc>``; media tokens
    in the values become media pieces. A modality whose list has paths but whose token the values
    never use is placed at the start of the first human turn (LLaMA-Factory's older data had no
    placeholders). A record whose queries and responses are not strings in pairs gets no chunks."""
    if not is_dialog(record):
        return []
    try:
        turns = dialog_turns(record)
    except (TypeError, ValueError):
        return []
    # a system prompt or instruction that is no text (ms-swift copies what it finds) is no turn
    turns = [(role, v) for role, v in turns if isinstance(v, str) or role in (HUMAN, ASSISTANT)]
    if not turns or not all(isinstance(v, str) for _, v in turns):
        return []
    values = [parse_pieces(v, tokens, roles=False) for _, v in turns]
    used = {p.modality for ps in values for p in ps if isinstance(p, Media)}
    implicit: list[Piece] = []
    for key in record:  # in the record's order of its media lists
        modality = _modality_of(key)
        if modality is not None and modality not in used and modality in media:
            implicit.extend(Media(modality) for _ in media[modality])
    pieces: list[Piece] = []
    for i, ((role, _), value) in enumerate(zip(turns, values, strict=True)):
        if i:
            pieces.append(Text(DIALOG_SEP))
        pieces.append(Role(role, role_marker(role)))
        if implicit and role == HUMAN:
            pieces.extend(implicit)
            implicit = []
        pieces.extend(value)
    return [Chunk(pieces + [Text(" ")], closed=True)]


def _modality_of(key: str) -> str | None:
    for modality, media_key in MEDIA_KEYS.items():
        if media_key == key:
            return modality
    return None


def assign_paths(sample: Sample) -> None:
    """The n-th media piece of a modality gets the n-th path of its list (None past its end)."""
    counters = dict.fromkeys(MODALITIES, 0)
    media = sample.media
    for chunk in sample.chunks:
        for p in chunk.pieces:
            if isinstance(p, Media):
                paths = media.get(p.modality, ())
                n = counters[p.modality]
                p.path = paths[n] if n < len(paths) else None
                counters[p.modality] = n + 1


def to_record(sample: Sample, tokens: Tokens, with_carry: bool = True) -> dict[str, Any]:
    """Write a Data-Juicer record: fields in the sample's order, text, media lists, then the carry."""
    values: dict[str, Any] = dict(sample.fields)
    if sample.has_text:
        values[TEXT_KEY] = sample.text(tokens)
    for modality in MODALITIES:
        if modality in sample.media:
            values[MEDIA_KEYS[modality]] = sample.media[modality]
    if sample.order is None:
        record = values
    else:
        record = {k: values.pop(k) for k in sample.order if k in values}
        record.update(values)
    if with_carry and sample.carry:
        record[CARRY_KEY] = sample.carry
    return record


def retokenize(sample: Sample, read_with: Tokens, tokens: Tokens) -> Sample:
    """The same record parsed with other tokens (for a carry that recorded the tokens the text was
    written with, when the reader was given different ones)."""
    if (read_with.image, read_with.audio, read_with.video, read_with.eoc) == (
            tokens.image, tokens.audio, tokens.video, tokens.eoc):
        return sample
    again = to_sample(to_record(sample, read_with), tokens)
    return again
