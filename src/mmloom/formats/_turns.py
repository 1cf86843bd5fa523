"""Conversation turns laid out as Data-Juicer chunks, and read back from them.

Dialogue formats written by mmloom (TextBind, MIMIC-IT) share one layout: a chunk holds one or more
turns, each announced by a ``[[role]]: `` marker, turns of one chunk glued by ``inner``, chunks
glued by ``sep`` after their `` <|__dj__eoc|>``. ``read_strict`` is the exact inverse of
``lay_out``; ``read_loose`` is the tolerant reading for texts that were edited or written by someone
else (whitespace and a trailing end-of-chunk token around each value are dropped). ``is_exact``
tells whether a text can be read back exactly, so a format only carries the values it must.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import djcodec
from ..model import Chunk, Media, Piece, Role, Sample, Text, Tokens
from .base import chunked


@dataclass
class Turn:
    role: str
    pieces: list[Piece] = field(default_factory=list)  # Text and Media only

    def same_as(self, other: Turn) -> bool:
        return self.role == other.role and _signature(self.pieces) == _signature(other.pieces)


def marker(role: str) -> str:
    return f"[[{role}]]: "


def lay_out(groups: list[list[Turn]], sep: str, inner: str) -> list[Chunk]:
    """One closed chunk per group of turns; no chunk at all for no turns."""
    if not groups:
        return []
    parts: list[list[Piece]] = []
    for group in groups:
        pieces: list[Piece] = []
        for j, turn in enumerate(group):
            if j and inner:
                pieces.append(Text(inner))
            pieces.append(Role(turn.role, marker(turn.role)))
            pieces.extend(turn.pieces)
        parts.append(pieces)
    return chunked(parts, sep, add_eoc=True)


def _merged(pieces: list[Piece]) -> list[Piece]:
    """Adjacent texts joined and empty texts dropped, so equal texts compare equal."""
    out: list[Piece] = []
    for p in pieces:
        if isinstance(p, Text):
            if not p.text:
                continue
            if out and isinstance(out[-1], Text):
                out[-1] = Text(out[-1].text + p.text)
                continue
            out.append(Text(p.text))
        else:
            out.append(p)
    return out


def _signature(pieces: list[Piece]) -> list[tuple[str, str]]:
    return [("t", p.text) if isinstance(p, Text) else ("m", p.modality) if isinstance(p, Media)
            else ("r", p.marker) for p in _merged(pieces)]


def _cut_prefix(pieces: list[Piece], prefix: str) -> list[Piece] | None:
    pieces = _merged(pieces)
    if not prefix:
        return pieces
    if not pieces or not isinstance(pieces[0], Text) or not pieces[0].text.startswith(prefix):
        return None
    return [Text(pieces[0].text[len(prefix):])] + pieces[1:]


def _cut_suffix(pieces: list[Piece], suffix: str) -> list[Piece] | None:
    pieces = _merged(pieces)
    if not suffix:
        return pieces
    if not pieces or not isinstance(pieces[-1], Text) or not pieces[-1].text.endswith(suffix):
        return None
    return pieces[:-1] + [Text(pieces[-1].text[: -len(suffix)])]


def _split_turns(pieces: list[Piece]) -> tuple[list[Piece], list[Turn]]:
    """Pieces before the first marker, and the turns the ``[[role]]: `` markers open."""
    lead: list[Piece] = []
    turns: list[Turn] = []
    for p in pieces:
        if isinstance(p, Role) and p.marker == marker(p.name):
            turns.append(Turn(p.name))
        elif turns:
            turns[-1].pieces.append(p)
        else:
            lead.append(p)
    return lead, turns


def read_strict(chunks: list[Chunk], sep: str, inner: str) -> list[list[Turn]] | None:
    """The groups ``lay_out`` was given, or None when the chunks are not laid out that way."""
    groups: list[list[Turn]] = []
    for k, chunk in enumerate(chunks):
        if not chunk.closed:
            return None
        pieces = _cut_prefix(chunk.pieces, sep if k else "")
        pieces = _cut_suffix(pieces, " ") if pieces is not None else None
        if pieces is None:
            return None
        lead, turns = _split_turns(pieces)
        if _merged(lead) or not turns:
            return None
        for j in range(len(turns) - 1):
            cut = _cut_suffix(turns[j].pieces, inner)
            if cut is None:
                return None
            turns[j].pieces = cut
        for turn in turns:
            if any(isinstance(p, Role) for p in turn.pieces):
                return None
            turn.pieces = _merged(turn.pieces)
        groups.append(turns)
    return groups


def _trim(pieces: list[Piece], eoc: str) -> list[Piece]:
    """Whitespace and trailing end-of-chunk tokens off both ends, as Data-Juicer's readers strip."""
    pieces = _merged(pieces)
    while True:
        before = _signature(pieces)
        if pieces and isinstance(pieces[0], Text):
            pieces[0] = Text(pieces[0].text.lstrip())
        if pieces and isinstance(pieces[-1], Text):
            text = pieces[-1].text.rstrip()
            if eoc and text.endswith(eoc):
                text = text[: -len(eoc)]
            pieces[-1] = Text(text)
        pieces = _merged(pieces)
        if _signature(pieces) == before:
            return pieces


def read_loose(sample: Sample, tokens: Tokens) -> list[Turn]:
    """Every ``[[role]]: `` turn of the whole text, values trimmed; media before the first marker
    go to the first turn (Otter and Flamingo put ``<image>`` before the speaker)."""
    flat: list[Piece] = []
    for chunk in sample.chunks:
        flat.extend(chunk.pieces)
        if chunk.closed:
            flat.append(Text(tokens.eoc))
    lead, turns = _split_turns(flat)
    lead_media = [p for p in lead if isinstance(p, Media)]
    if turns and lead_media:
        turns[0].pieces = lead_media + turns[0].pieces
    for turn in turns:
        # a marker-like text that is not a turn marker ("[[note]]:" without the space) is text
        turn.pieces = _trim([Text(p.marker) if isinstance(p, Role) else p for p in turn.pieces], tokens.eoc)
    return turns


def is_exact(groups: list[list[Turn]], chunks: list[Chunk], tokens: Tokens, sep: str, inner: str) -> bool:
    """Whether the text of these chunks, parsed as Data-Juicer text, reads back as these groups
    (it does not when a value holds a marker, a media token or the end-of-chunk token as text)."""
    text = "".join(c.render(tokens) + (tokens.eoc if c.closed else "") for c in chunks)
    back = read_strict(djcodec.parse_text(text, tokens), sep, inner)
    if back is None or len(back) != len(groups):
        return False
    return all(len(a) == len(b) and all(x.same_as(y) for x, y in zip(a, b, strict=True))
               for a, b in zip(back, groups, strict=True))


def own_carry(sample: Sample, opts: Any, name: str) -> dict[str, Any] | None:
    """The sample's ``__mmloom__`` when it was written by format ``name`` and lossless is on."""
    carry = sample.carry
    return carry if opts.lossless and isinstance(carry, dict) and carry.get("format") == name else None


def in_tokens(sample: Sample, tokens: Tokens, carried: list[str] | None) -> tuple[Sample, Tokens]:
    """The sample read with the tokens it was written with (``carried``: [image, eoc]), when the
    way back was given other ones: its text is parsed again, so markers and media land right."""
    if not carried or tuple(carried) == (tokens.image, tokens.eoc):
        return sample, tokens
    text = sample.text(tokens)
    tokens = Tokens(image=carried[0], eoc=carried[1])
    again = Sample(chunks=djcodec.parse_text(text, tokens), media=sample.media, fields=sample.fields,
                   order=sample.order, carry=sample.carry)
    djcodec.assign_paths(again)
    return again, tokens


def text_crc(sample: Sample, tokens: Tokens) -> int:
    return zlib.crc32(sample.text(tokens).encode())


def render_value(pieces: list[Piece], media_text: Callable[[Media], str]) -> str:
    return "".join(p.text if isinstance(p, Text) else media_text(p) if isinstance(p, Media) else p.marker
                   for p in pieces)
