"""Interleaved documents held as aligned slot lists: OBELICS and the Multimodal Textbook.

Both formats store a document as two lists read together index by index: ``images`` holds a path
or URL at an image slot and a placeholder (``null``, or ``""`` in OBELICS intermediate files) at a
text slot; the text list holds the text at a text slot and ``null`` at an image slot. Exactly one
of the two is set at each position.

The Data-Juicer side follows ``mmc4_to_dj``: one chunk per text slot, holding the image tokens of
the images that stand before it (joined by the separator) and then the text; images after the
last text form a chunk of their own. ``image, text, image, text`` thus reads
``<__dj__image> text1 <|__dj__eoc|> <__dj__image> text2 <|__dj__eoc|>``. With ``conversation``
each chunk is a LLaVA round instead: the images are the human turn, the text the gpt turn.

For the way back, the carry holds the slot template (``-1`` per image slot, the text's length per
text slot), which reads the text back exactly whatever it contains (tokens, eoc, role markers),
and one CRC per slot, which tells whether Data-Juicer changed the document and, if it did, which
of the original slots remain (so the lists aligned with the slots can be realigned).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from .. import djcodec
from ..errors import RecordError
from ..model import Chunk, Media, Piece, Role, Sample, Text, Tokens, shared_tokens
from ..options import Option, Options
from .base import chunked

try:  # the same CRC-32 as zlib's, computed with SIMD instructions
    from isal.isal_zlib import crc32
except ImportError:  # no isal wheel for this machine
    from zlib import crc32

IMAGE_SLOT = -1  # in the carried template; a text slot is its text's length
# keys a Data-Juicer record reserves; a source field of such a name travels in the carry
RESERVED = ("text", "audios", "videos", "__mmloom__")
HUMAN = Role("human", "[[human]]: ")
GPT = Role("gpt", "[[gpt]]: ")
_T = Tokens()


def layout_options(reading: bool) -> tuple[Option, ...]:
    """The Data-Juicer layout options, named and defaulted as ``mmc4_to_dj`` / ``dj_to_mmc4``'s."""
    if not reading:
        return (
            Option("eoc_special_token", _T.eoc, "end-of-chunk token"),
            Option("image_special_token", _T.image, "image token"),
            Option("sent_separator", " ", "separator used when the data was converted"),
        )
    return (
        Option("eoc_special_token", _T.eoc, "end-of-chunk token"),
        Option("image_special_token", _T.image, "image token"),
        Option("add_eoc_at_last", True, "end the text with ' ' + eoc"),
        Option("sent_separator", " ", "glue between image tokens and text, and after each eoc"),
    )


@dataclass(frozen=True)
class Layout:
    sep: str = " "
    image: str = _T.image
    eoc: str = _T.eoc
    eoc_last: bool = True
    conversation: bool = False

    @property
    def tokens(self) -> Tokens:
        return shared_tokens(image=self.image, eoc=self.eoc)

    @classmethod
    def of(cls, opts: Options) -> Layout:
        return cls(sep=opts.sent_separator, image=opts.image_special_token, eoc=opts.eoc_special_token,
                   eoc_last=opts.add_eoc_at_last, conversation=bool(opts.get("conversation", False)))

    def carried(self) -> dict[str, Any]:
        """What differs from the default layout, for the carry."""
        out: dict[str, Any] = {}
        if self.sep != " ":
            out["sep"] = self.sep
        if (self.image, self.eoc) != (_T.image, _T.eoc):
            out["tokens"] = [self.image, self.eoc]
        if not self.eoc_last:
            out["eoc_last"] = False
        if self.conversation:
            out["conversation"] = True
        return out

    @classmethod
    def from_carry(cls, layout: dict[str, Any]) -> Layout:
        image, eoc = layout.get("tokens", [_T.image, _T.eoc])
        return cls(sep=layout.get("sep", " "), image=image, eoc=eoc, eoc_last=layout.get("eoc_last", True),
                   conversation=layout.get("conversation", False))


def prepare_layout(opts: Options) -> Options:
    """The reading options with their ``Layout`` (``_layout``), made once for all the records."""
    opts = Options(opts)
    opts["_layout"] = Layout.of(opts)
    return opts


@dataclass(slots=True)
class Slot:
    """One position of the aligned lists: an image (``text`` is None) or a text."""

    image: Any = None
    text: str | None = None

    @property
    def is_image(self) -> bool:
        return self.text is None

    def crc(self) -> int:
        kind, value = ("i", self.image) if self.text is None else ("t", self.text)
        return crc32((kind + str(value)).encode("utf-8", "surrogatepass"))


# -- reading the aligned lists ---------------------------------------------------------------

def read_columns(record: dict[str, Any], text_key: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The aligned lists as they are read: (the image paths in order, the ``text_key`` list itself,
    the placeholder each text slot has in ``images``: None or ""). Slot i is an image exactly when
    the text list holds None there. Raises a RecordError naming the field for every misalignment."""
    images = _list_field(record, "images")
    texts = _list_field(record, text_key)
    if len(images) != len(texts):
        raise RecordError(f"has {len(texts)} entries but images has {len(images)}; the two lists must be "
                          "aligned, one entry per position", field=text_key)
    paths: list[Any] = []
    placeholders: list[Any] = []
    add_path, add_placeholder = paths.append, placeholders.append
    for image, text in zip(images, texts, strict=True):  # one test per position while all is well
        if text is None:
            if isinstance(image, str) and image:
                add_path(image)
                continue
        elif isinstance(text, str) and (image is None or (isinstance(image, str) and not image)):
            add_placeholder(image)  # "" stands for null at a text position (OBELICS intermediate files)
            continue
        _raise_misalignment(images, texts, text_key)
    return paths, texts, placeholders


def _raise_misalignment(images: list[Any], texts: list[Any], text_key: str) -> None:
    """The RecordError for the first position where the two lists do not hold exactly one value."""
    for i, (image, text) in enumerate(zip(images, texts, strict=True)):
        if image is not None and not isinstance(image, str):
            raise RecordError(f"must be a string or null, not {type(image).__name__}", field=f"images[{i}]")
        if text is not None and not isinstance(text, str):
            raise RecordError(f"must be a string or null, not {type(text).__name__}", field=f"{text_key}[{i}]")
        if image and text is not None:
            raise RecordError(f"and images[{i}] are both set; exactly one of the two must be null",
                              field=f"{text_key}[{i}]")
        if not image and text is None:
            raise RecordError(f"and images[{i}] are both null; exactly one of the two must be set",
                              field=f"{text_key}[{i}]")
    raise AssertionError("the lists were found misaligned but no position is")


def _list_field(record: dict[str, Any], key: str) -> list[Any]:
    if key not in record:
        raise RecordError("is missing", field=key)
    value = record[key]
    if not isinstance(value, list):
        raise RecordError(f"must be a list, not {type(value).__name__}", field=key)
    return value


def check_json_string(record: dict[str, Any], key: str, kind: type | None = None) -> Any:
    """The parsed value of a field that holds JSON text (OBELICS ``metadata``); None if absent."""
    value = record.get(key)
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise RecordError(f"is not valid JSON text ({exc})", field=key) from None
    if kind is not None and not isinstance(parsed, kind):
        raise RecordError(f"must be the JSON text of {'a list' if kind is list else 'an object'}, "
                          f"not of {type(parsed).__name__}", field=key)
    return parsed


# -- slots <-> chunks -----------------------------------------------------------------------

def groups(slots: Sequence[Slot]) -> list[tuple[list[Any], Any]]:
    """(images, text) per chunk: each text slot with the images before it; trailing images alone
    (text None)."""
    out: list[tuple[list[Any], Any]] = []
    pending: list[Any] = []
    for slot in slots:
        if slot.is_image:
            pending.append(slot.image)
        else:
            out.append((pending, slot.text))
            pending = []
    if pending:
        out.append((pending, None))
    return out


class _Hole:
    """A text of known length, standing in for it when the template is matched against a text."""

    def __init__(self, length: int):
        self.length = length

    def __bool__(self) -> bool:
        return self.length > 0


def build_chunks(slots: Sequence[Slot], layout: Layout) -> list[Chunk]:
    parts: list[list[Piece]] = []
    for images, text in groups(slots):
        pieces: list[Piece] = [HUMAN] if layout.conversation else []
        for j, path in enumerate(images):
            if j:
                pieces.append(Text(layout.sep))
            pieces.append(Media("image", path))
        if text is not None or layout.conversation:
            # a trailing image run still gets its (empty) gpt turn, so that rounds stay whole
            if images or layout.conversation:
                pieces.append(Text(layout.sep))
            if layout.conversation:
                pieces.append(GPT)
            if text:
                pieces.append(Text(text))
        parts.append(pieces)
    return chunked(parts, layout.sep, layout.eoc_last)


def column_chunks(paths: list[Any], texts: list[Any], layout: Layout) -> list[Chunk]:
    """``build_chunks`` for the lists as ``read_columns`` gives them, piece for piece the same,
    built in one pass without slot objects (this runs for every document read)."""
    if layout.conversation or not texts:
        path_iter = iter(paths)
        return build_chunks([Slot(text=t) if t is not None else Slot(image=next(path_iter)) for t in texts], layout)
    sep = layout.sep
    text_piece, chunk = Text, Chunk  # local names: looked up once
    medias = [Media("image", path) for path in paths]  # (made in one go: faster than one by one)
    chunks: list[Chunk] = []
    add_chunk = chunks.append
    pieces: list[Piece] = []  # of the chunk being built; chunks after the first open with the separator
    add = pieces.append
    n_images = 0  # in the chunk being built
    n_before = 0  # images in the chunks before it
    for text in texts:
        if text is None:
            if n_images:
                add(text_piece(sep))
            add(medias[n_before + n_images])
            n_images += 1
            continue
        if n_images:
            add(text_piece(sep))
        if text:
            add(text_piece(text))
        add(text_piece(" "))
        add_chunk(chunk(pieces, True))
        pieces = [text_piece(sep)] if sep else []
        add = pieces.append
        n_before += n_images
        n_images = 0
    if n_images:  # the images after the last text
        pieces.append(Text(" "))
        chunks.append(Chunk(pieces, True))
    if not layout.eoc_last:
        last = chunks[-1]
        last.pieces.pop()
        last.closed = False
    return chunks


def column_sample(paths: list[Any], texts: list[Any], layout: Layout, fields: dict[str, Any], order: list[str]
                  ) -> Sample:
    """The sample of the lists: held as its text, written directly, when parsing that text gives
    back the chunks ``column_chunks`` builds (up to how adjacent text is cut); else built of them."""
    text = column_text(texts, layout) if texts and not layout.conversation else None
    if text is not None:
        return Sample.of_text(text, layout.tokens, {"image": paths}, fields, order)
    # the chunks' media pieces hold the paths in list order already: no djcodec.assign_paths needed
    return Sample(chunks=column_chunks(paths, texts, layout), media={"image": paths}, fields=fields, order=order)


def column_text(texts: list[Any], layout: Layout) -> str | None:
    """What the chunks of ``column_chunks`` render to, as one string (None is an image's place),
    when its tokens are exactly those placed and no text holds "[[", else None."""
    tokens = layout.tokens
    sep, tok = layout.sep, tokens.image
    if not djcodec.tame(tokens, sep):
        return None
    close = " " + tokens.eoc
    out: list[str] = []
    add = out.append
    n_images = n_chunks = 0
    in_chunk = False  # the chunk being written holds images already
    for text in texts:
        # the separator opens every chunk but the first and stands after each image
        if in_chunk or n_chunks:
            add(sep)
        if text is None:
            add(tok)
            n_images += 1
            in_chunk = True
            continue
        if text:
            add(text)
        add(close)
        n_chunks += 1
        in_chunk = False
    if in_chunk:  # the images after the last text
        add(close)
        n_chunks += 1
    if not layout.eoc_last:
        out[-1] = ""
        n_chunks -= 1
    text = "".join(out)
    if not text:  # one empty open chunk, which a parse of "" does not give
        return None
    return text if djcodec.holds_exactly(text, tokens, n_chunks, n_images) else None


def parse_exact(text: str, images: list[Any], shape: list[int], layout: Layout) -> list[Slot] | None:
    """The slots of a text written from ``shape`` (the carried template), or None when the text
    does not fit it (Data-Juicer changed it)."""
    if sum(1 for n in shape if n == IMAGE_SLOT) != len(images):
        return None
    path_iter = iter(images)
    holes = [Slot(image=next(path_iter)) if n == IMAGE_SLOT else Slot(text=_Hole(n)) for n in shape]  # type: ignore[arg-type]
    pos = 0
    found: dict[int, str] = {}  # id of the hole -> its text (an empty text has no piece to visit)
    tokens = layout.tokens
    for chunk in build_chunks(holes, layout):
        for piece in chunk.pieces + ([None] if chunk.closed else []):
            if isinstance(piece, Text) and isinstance(piece.text, _Hole):
                found[id(piece.text)] = text[pos:pos + piece.text.length]
                pos += piece.text.length
                continue
            literal = tokens.eoc if piece is None else piece.marker if isinstance(piece, Role) else (
                tokens.image if isinstance(piece, Media) else piece.text)
            if not text.startswith(literal, pos):
                return None
            pos += len(literal)
    if pos != len(text):
        return None
    return [s if s.is_image else Slot(text=found.get(id(s.text), "")) for s in holes]


_UNUSUAL = object()  # exact_columns: a template or layout that only parse_exact reads


def exact_columns(text: str, images: list[Any], shape: list[Any], layout: Layout) -> Any:
    """``parse_exact`` without pieces, for the usual layouts and templates: the text list (None at
    the image slots) of a text written from ``shape``, None when the text does not fit it, or
    ``_UNUSUAL`` (conversation rounds, a template entry that is no length) for parse_exact to say."""
    if shape.count(IMAGE_SLOT) != len(images):
        return None
    if layout.conversation or (shape and ({*map(type, shape)} != {int} or min(shape) < IMAGE_SLOT)):
        return _UNUSUAL
    tok, sep = layout.image, layout.sep
    closing = " " + layout.eoc  # what ends a closed chunk
    between = closing + sep  # what ends a chunk and starts the next
    starts = text.startswith
    out: list[Any] = []
    add = out.append
    pos = 0
    n_images = 0  # in the chunk being read
    chunk_ended = False  # by the previous text
    for length in shape:
        if chunk_ended:
            if not starts(between, pos):
                return None
            pos += len(between)
            chunk_ended = False
        if n_images:
            if not starts(sep, pos):
                return None
            pos += len(sep)
        if length == IMAGE_SLOT:
            if not starts(tok, pos):
                return None
            pos += len(tok)
            n_images += 1
            add(None)
            continue
        add(text[pos:pos + length])
        pos += length
        n_images = 0
        chunk_ended = True
    if layout.eoc_last and (chunk_ended or n_images or not shape):  # the last chunk is closed too
        if not starts(closing, pos):
            return None
        pos += len(closing)
    return out if pos == len(text) else None


def parse_layout(text: str, images: list[Any], layout: Layout) -> list[Slot] | None:
    """The slots of a text in this layout whose text lengths are not known (Data-Juicer changed
    some): exactly the layout's separators are taken off, so the texts keep their white space.
    None when the text does not follow the layout (or a text holds a token or the eoc)."""
    tok, sep = layout.image, layout.sep
    if not tok or not layout.eoc:
        return None
    parts = text.split(layout.eoc)
    if layout.eoc_last:
        if parts[-1]:
            return None
        parts.pop()
    slots: list[Slot] = []
    for k, s in enumerate(parts):
        closed = layout.eoc_last or k < len(parts) - 1
        if (k and not s.startswith(sep)) or (closed and not s.endswith(" ")):
            return None
        s = s[len(sep) if k else 0: len(s) - 1 if closed else len(s)]
        if layout.conversation:
            if not s.startswith(HUMAN.marker):
                return None
            s = s[len(HUMAN.marker):]
        n, text_part = _images_then_text(s, tok, sep, layout.conversation)
        if text_part is not None and layout.conversation:
            if not text_part.startswith(GPT.marker):
                return None
            text_part = text_part[len(GPT.marker):]
            if not text_part and n and k == len(parts) - 1:
                text_part = None  # a trailing image run's empty gpt turn
        slots.extend(Slot(image=True) for _ in range(n))
        if text_part is not None:
            slots.append(Slot(text=text_part))
    if sum(1 for x in slots if x.is_image) != len(images):
        return None
    paths = iter(images)
    return [Slot(image=next(paths)) if x.is_image else x for x in slots]


def _images_then_text(s: str, tok: str, sep: str, conversation: bool) -> tuple[int, str | None]:
    """(number of leading image tokens, the text after them and the separator; None: no text)."""
    n = 0
    while s.startswith(tok):
        n += 1
        s = s[len(tok):]
        if not s and not conversation:
            return n, None
        if not s.startswith(sep):
            return n, None if not s else s  # not the layout's; the lenient reading will do
        s = s[len(sep):]
    return n, s


def parse_lenient(sample: Sample, sep: str, rid: Any = None) -> list[Slot]:
    """The slots of any Data-Juicer sample, read as Data-Juicer's ``dj_to_mmc4`` reads chunks:
    each image token is an image slot, the text between tokens (stripped of white space and the
    separator) a text slot; role markers end a text. Paths the text has no token for come last."""
    for modality in ("audio", "video"):
        if sample.media.get(modality):
            raise RecordError(f"has {modality} files; this format holds images and text only",
                              field=modality + "s", record_id=rid)
    slots: list[Slot] = []
    for chunk in sample.chunks:
        buf: list[str] = []
        for piece in chunk.pieces:
            if isinstance(piece, Media):
                _flush(buf, sep, slots)
                if piece.modality != "image":
                    continue
                if piece.path is None:
                    raise RecordError("has more image tokens in its text than paths in images",
                                      field="images", record_id=rid)
                slots.append(Slot(image=piece.path))
            elif isinstance(piece, Role):
                _flush(buf, sep, slots)
            else:
                buf.append(piece.text)
        _flush(buf, sep, slots)
    used = sum(1 for s in slots if s.is_image)
    slots.extend(Slot(image=p) for p in sample.media.get("image", [])[used:])
    return slots


def _flush(buf: list[str], sep: str, slots: list[Slot]) -> None:
    s = "".join(buf).strip()
    buf.clear()
    if sep and sep.strip():
        s = s.removeprefix(sep).removesuffix(sep).strip()
    if s:
        slots.append(Slot(text=s))


# -- the way back ----------------------------------------------------------------------------

@dataclass
class Restored:
    """The slots read back from a sample, and for each the index of the original slot it is
    (None: new). ``unchanged``: exactly the original slots."""

    slots: list[Slot]
    origin: list[int | None]
    unchanged: bool


def restore(sample: Sample, carry: dict[str, Any], write_tokens: Tokens, rid: Any = None) -> Restored:
    """The slots of a sample written with this carry: by the carried template while the text
    fits it, else by the layout, else as any Data-Juicer sample; then matched to the original
    slots by their CRCs."""
    layout = Layout.from_carry(carry.get("layout", {}))
    if (write_tokens.image, write_tokens.eoc) != (layout.image, layout.eoc):
        # the text was read with other tokens: give it back its own before matching
        from .. import djcodec

        text = sample.text(write_tokens)
        sample = djcodec.to_sample({"text": text, "images": sample.media.get("image", [])}, layout.tokens)
    text = sample.text(layout.tokens)
    images = sample.media.get("image", [])
    shape, crcs = carry.get("slots"), carry.get("crc")
    texts = exact_columns(text, images, shape, layout) if isinstance(shape, list) else None
    if isinstance(texts, list):
        path_iter = iter(images)
        slots = [Slot(text=t) if t is not None else Slot(image=next(path_iter)) for t in texts]
        new_crcs = column_crcs(images, texts)
    else:
        slots = parse_exact(text, images, shape, layout) if texts is _UNUSUAL else None
        if slots is None:
            slots = parse_layout(text, images, layout)
        if slots is None:
            slots = parse_lenient(sample, layout.sep, rid)
        new_crcs = [s.crc() for s in slots]
    if isinstance(crcs, list) and new_crcs == crcs:
        return Restored(slots, list(range(len(slots))), True)
    return Restored(slots, realign(crcs if isinstance(crcs, list) else [], new_crcs), False)


def realign(original: list[int], now: list[int]) -> list[int | None]:
    """For each slot now, the original slot with the same content, in order (longest matching
    runs, as difflib finds them)."""
    origin: list[int | None] = [None] * len(now)
    matcher = SequenceMatcher(None, original, now, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            origin[block.b + k] = block.a + k
    return origin


def image_ranks(restored: Restored, shape: list[int]) -> list[int | None]:
    """For each image slot now, the rank of its original among the original image slots (None:
    a new image), to realign lists that hold one entry per image."""
    rank = {j: r for r, j in enumerate(j for j, n in enumerate(shape) if n == IMAGE_SLOT)}
    return [rank.get(j) if j is not None else None
            for s, j in zip(restored.slots, restored.origin, strict=True) if s.is_image]


def images_with_placeholders(slots: Sequence[Slot], placeholder: Callable[[int], Any],
                             paths: list[Any] | None = None) -> list[Any]:
    """The ``images`` list: the image slots' paths (or ``paths``, one per image slot, in order)
    at image slots, ``placeholder(k)`` at the k-th text slot."""
    out = []
    images = iter(paths if paths is not None else [s.image for s in slots if s.is_image])
    k = 0
    for slot in slots:
        if slot.is_image:
            out.append(next(images))
        else:
            out.append(placeholder(k))
            k += 1
    return out


def placeholder_carry(placeholders: list[Any]) -> str | None:
    """None when every text position holds null, else one character per text slot: "1" where
    ``images`` holds "" (a string, so the carry keeps one type per key for Data-Juicer's loader)."""
    if placeholders.count(None) == len(placeholders):
        return None
    return "".join("0" if p is None else "1" for p in placeholders)


def placeholder_of(carried: Any, restored: Restored, shape: list[int]) -> Callable[[int], Any]:
    """The placeholder for the k-th text slot now, from the carried flags (a new text slot gets
    "" only when every original one had it)."""
    if not isinstance(carried, str) or not carried:
        return lambda k: None
    if "0" not in carried:
        return lambda k: ""
    ordinal: dict[int, int] = {}  # original slot index -> its rank among the original text slots
    for j, n in enumerate(shape):
        if n != IMAGE_SLOT:
            ordinal[j] = len(ordinal)
    now = [orig for slot, orig in zip(restored.slots, restored.origin, strict=True) if not slot.is_image]

    def pick(k: int) -> Any:
        rank = ordinal.get(now[k]) if now[k] is not None else None  # type: ignore[arg-type]
        return "" if rank is not None and rank < len(carried) and carried[rank] == "1" else None

    return pick


def realigned(value: list[Any], origin: list[int | None], fill: Callable[[int], Any]) -> list[Any]:
    """``value`` (one entry per original slot) for the slots now: the original entry where the
    slot is an original one, ``fill(i)`` where it is new."""
    return [value[j] if j is not None and j < len(value) else fill(i) for i, j in enumerate(origin)]


def realigned_json(value: Any, origin: list[int | None], n_original: int) -> Any:
    """A per-slot list, or the JSON text of one, realigned; anything else is left as it is."""
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
    if not isinstance(parsed, list) or len(parsed) != n_original:
        return value
    new = realigned(parsed, origin, lambda i: None)
    if isinstance(value, str):
        return json.dumps(new, ensure_ascii=value.isascii())
    return new


# -- what both formats do around the slots ---------------------------------------------------

def source_fields(record: dict[str, Any], text_key: str) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """(fields kept in the Data-Juicer record, its key order, fields whose names it reserves).
    ``text`` takes the place of ``text_key`` in the order, so the way back needs no key list."""
    fields: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in record.items():
        if key == "images" or key == text_key:
            continue
        if key in RESERVED:
            moved[key] = value
        else:
            fields[key] = value
    order = ["text" if k == text_key else k for k in record if k not in moved]
    return fields, order, moved


_CRC_IMAGE, _CRC_TEXT = crc32(b"i"), crc32(b"t")  # Slot.crc's kind letters, fed first


def column_crcs(paths: list[Any], texts: list[Any]) -> list[int]:
    """``Slot.crc`` of every slot of the lists as ``read_columns`` gives them (the CRC of the kind
    letter and the value is carried on from the letter's)."""
    path_iter = iter(paths)
    return [crc32(str(next(path_iter)).encode("utf-8", "surrogatepass"), _CRC_IMAGE) if t is None
            else crc32(t.encode("utf-8", "surrogatepass"), _CRC_TEXT) for t in texts]


def new_carry(name: str, paths: list[Any], texts: list[Any], placeholders: list[Any], layout: dict[str, Any],
              record: dict[str, Any], moved: dict[str, Any]) -> dict[str, Any]:
    """The carry of a document read with ``read_columns`` (``paths`` as the sample lists them)."""
    carry: dict[str, Any] = {"format": name, "slots": [IMAGE_SLOT if t is None else len(t) for t in texts],
                             "crc": column_crcs(paths, texts)}
    if layout:
        carry["layout"] = layout
    placeholder = placeholder_carry(placeholders)
    if placeholder is not None:
        carry["placeholder"] = placeholder
    if moved:
        carry["fields"] = moved
        carry["keys"] = list(record)
    return carry


def restored_values(sample: Sample, carry: dict[str, Any], restored: Restored, text_key: str,
                    paths: list[Any] | None = None) -> dict[str, Any]:
    """The sample's fields with the aligned ``images`` and ``text_key`` lists rebuilt."""
    values: dict[str, Any] = dict(sample.fields)
    placeholder = placeholder_of(carry.get("placeholder"), restored, carry.get("slots") or [])
    values["images"] = images_with_placeholders(restored.slots, placeholder, paths)
    values[text_key] = [s.text for s in restored.slots]
    values.update(carry.get("fields", {}))
    return values


def in_order(values: dict[str, Any], sample: Sample, carry: dict[str, Any], text_key: str) -> dict[str, Any]:
    """The record in its original key order (``text`` stood where ``text_key`` stands); fields a
    processing step added (stats...) come where Data-Juicer put them."""
    keys = carry.get("keys") or [text_key if k == "text" else k
                                 for k in (sample.order or ["images", "text", *sample.fields])]
    out = {k: values.pop(k) for k in keys if k in values}
    out.update(values)
    return out
