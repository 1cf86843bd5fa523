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


@dataclass(slots=True)
class Sample:
    chunks: list[Chunk] = field(default_factory=list)
    # modality -> paths, exactly as the record lists them; a modality absent here has no list key.
    media: dict[str, list[Any]] = field(default_factory=dict)
    # every other top-level field, in order (id, __dj__meta__, __dj__stats__ included)
    fields: dict[str, Any] = field(default_factory=dict)
    # top-level key order of the Data-Juicer record, "text" and media keys included; None: default
    order: list[str] | None = None
    carry: dict[str, Any] | None = None
    # False for a Data-Juicer record that has no "text" key at all (kept absent on the way back)
    has_text: bool = True

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
        return "".join(c.render(tokens) + (tokens.eoc if c.closed else "") for c in self.chunks)

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
