"""The unified interleaved sample: what every format converts to and from.

A sample is Data-Juicer's interleaved record held as structure instead of a string: an ordered list
of chunks (each closed by the end-of-chunk token or not), each an ordered list of pieces: text,
media references and conversation-role markers. Next to the chunks it keeps the media path lists
exactly as the Data-Juicer record lists them (the n-th token of a modality refers to the n-th path),
every other top-level field in order, and ``carry``: what a source format needs to come back
exactly and that Data-Juicer's text cannot hold (written as the reserved ``__mmloom__`` key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

MODALITIES: tuple[str, ...] = ("image", "audio", "video")
MEDIA_KEYS: dict[str, str] = {"image": "images", "audio": "audios", "video": "videos"}
TEXT_KEY = "text"
META_KEY = "__dj__meta__"
STATS_KEY = "__dj__stats__"
CARRY_KEY = "__mmloom__"


@dataclass(slots=True)
class Tokens:
    """The special tokens a Data-Juicer text uses (defaults are Data-Juicer's)."""

    image: str = "<__dj__image>"
    audio: str = "<__dj__audio>"
    video: str = "<__dj__video>"
    eoc: str = "<|__dj__eoc|>"

    def of(self, modality: str) -> str:
        return getattr(self, modality)


_DJ = Tokens()


@lru_cache(maxsize=256)
def shared_tokens(image: str = _DJ.image, audio: str = _DJ.audio, video: str = _DJ.video, eoc: str = _DJ.eoc
                  ) -> Tokens:
    """One Tokens object per set of tokens (never changed in place), so that a sample held as text
    is known to be written with a reader's tokens by identity, without comparing them."""
    return Tokens(image=image, audio=audio, video=video, eoc=eoc)


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Media:
    """A reference to the media file at this place. ``path`` is None when the record has more
    tokens of this modality than paths in its list."""

    modality: str
    path: Any = None


@dataclass(slots=True)
class Role:
    """The start of a conversation turn: ``name`` is the speaker, ``marker`` the literal text that
    announces it in a Data-Juicer text (``[[human]]: `` for LLaVA, ``[[q]]:`` for Video-ChatGPT)."""

    name: str
    marker: str


Piece = Text | Media | Role


@dataclass(slots=True)
class Chunk:
    pieces: list[Piece] = field(default_factory=list)
    closed: bool = True  # ends with the end-of-chunk token

    def render(self, tokens: Tokens) -> str:
        return render_pieces(self.pieces, tokens)

    def media(self) -> list[Media]:
        return [p for p in self.pieces if isinstance(p, Media)]


class Sample:
    """A unified sample. It is held in one of two forms, which mean the same:

    - as chunks of pieces (what a format builds when the structure matters to it), or
    - as the Data-Juicer text it renders to, for given tokens (what a Data-Juicer record holds, and
      what a format builds directly when its record needs nothing else). The chunks are parsed from
      that text, and the media paths assigned to them, the first time ``chunks`` is read; from then on
      the chunks are the sample (a caller may edit them), and the text is rendered from them.

    A conversion that only passes the text on (dj -> dj, llava -> dj, dj -> llava for a record whose
    turns the markers delimit) so never builds a piece: that per-record work was most of a run's time.
    """

    __slots__ = ("_chunks", "_text", "_tokens", "media", "fields", "order", "carry", "has_text")

    def __init__(self, chunks: list[Chunk] | None = None, media: dict[str, list[Any]] | None = None,
                 fields: dict[str, Any] | None = None, order: list[str] | None = None,
                 carry: dict[str, Any] | None = None, has_text: bool = True):
        self._chunks: list[Chunk] | None = [] if chunks is None else chunks
        self._text: str | None = None
        self._tokens: Tokens | None = None
        # modality -> paths, exactly as the record lists them; a modality absent here has no list key.
        self.media: dict[str, list[Any]] = {} if media is None else media
        # every other top-level field, in order (id, __dj__meta__, __dj__stats__ included)
        self.fields: dict[str, Any] = {} if fields is None else fields
        # top-level key order of the Data-Juicer record, "text" and media keys included; None: default
        self.order = order
        self.carry = carry
        # False for a Data-Juicer record that has no "text" key at all (kept absent on the way back)
        self.has_text = has_text

    @classmethod
    def of_text(cls, text: str, tokens: Tokens, media: dict[str, list[Any]] | None = None,
                fields: dict[str, Any] | None = None, order: list[str] | None = None,
                carry: dict[str, Any] | None = None) -> Sample:
        """The sample whose Data-Juicer text, written with ``tokens``, is ``text``."""
        sample = cls(None, media, fields, order, carry)
        sample._chunks = None
        sample._text = text
        sample._tokens = tokens
        return sample

    @property
    def chunks(self) -> list[Chunk]:
        if self._chunks is None:
            from .djcodec import assign_paths, parse_text  # djcodec builds on this module

            self._chunks = parse_text(self._text, self._tokens)  # type: ignore[arg-type]
            self._text = self._tokens = None
            assign_paths(self)
        return self._chunks

    @chunks.setter
    def chunks(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks
        self._text = self._tokens = None

    def held_text(self, tokens: Tokens) -> str | None:
        """The text this sample is held as, if it is held as text written with these tokens."""
        held = self._tokens
        if held is not None and (held is tokens or held == tokens):
            return self._text
        return None

    @property
    def id(self) -> Any:
        return self.fields.get("id")

    @property
    def meta(self) -> Any:
        return self.fields.get(META_KEY)

    @property
    def stats(self) -> Any:
        return self.fields.get(STATS_KEY)

    def text(self, tokens: Tokens) -> str:
        held = self.held_text(tokens)
        if held is not None:
            return held
        out: list[str] = []
        append = out.append
        by_modality = {"image": tokens.image, "audio": tokens.audio, "video": tokens.video}
        eoc = tokens.eoc
        for chunk in self.chunks:
            for p in chunk.pieces:
                kind = type(p)
                if kind is Text:
                    append(p.text)  # type: ignore[union-attr]
                elif kind is Media:
                    append(by_modality[p.modality])  # type: ignore[union-attr]
                elif kind is Role:
                    append(p.marker)  # type: ignore[union-attr]
                else:  # a subclass
                    append(render_pieces([p], tokens))
            if chunk.closed:
                append(eoc)
        return "".join(out)

    def has_media_piece(self, modality: str) -> bool:
        """Whether the text holds a token of this modality (without parsing a held text that
        cannot hold one)."""
        if self._chunks is None:
            token = self._tokens.of(modality)  # type: ignore[union-attr]
            if not token or token not in self._text:  # type: ignore[operator]
                return False
        return bool(self.media_pieces(modality))

    def media_pieces(self, modality: str | None = None) -> list[Media]:
        return [
            p
            for c in self.chunks
            for p in c.pieces
            if isinstance(p, Media) and (modality is None or p.modality == modality)
        ]

    def paths_from_pieces(self) -> None:
        """Set each modality's list from the media pieces, in text order (for builders that place
        every path with a token)."""
        lists: dict[str, list[Any]] = {}
        for p in self.media_pieces():
            lists.setdefault(p.modality, []).append(p.path)
        for modality, paths in lists.items():
            self.media[modality] = paths

    def _key(self) -> tuple[Any, ...]:
        return (self.chunks, self.media, self.fields, self.order, self.carry, self.has_text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sample) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        form = f"text={self._text!r}" if self._chunks is None else f"chunks={self._chunks!r}"
        return (f"Sample({form}, media={self.media!r}, fields={self.fields!r}, order={self.order!r}, "
                f"carry={self.carry!r}, has_text={self.has_text!r})")


def render_pieces(pieces: list[Piece], tokens: Tokens) -> str:
    out = []
    for p in pieces:
        if isinstance(p, Text):
            out.append(p.text)
        elif isinstance(p, Media):
            out.append(tokens.of(p.modality))
        else:
            out.append(p.marker)
    return "".join(out)


def text_of(pieces: list[Piece]) -> str:
    """The plain text of pieces: role markers and media dropped."""
    return "".join(p.text for p in pieces if isinstance(p, Text))
