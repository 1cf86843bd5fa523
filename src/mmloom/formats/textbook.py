"""The Multimodal Textbook ("2.5 Years in Class", DAMO-NLP-SG): one JSON array of samples
``{"images": [path|null], "texts": [str|null], "text_ocr_list": [str|null], "metadata": ...,
"image_num", "text_num", "token_num"}``. ``images`` and ``texts`` are aligned, exactly one of the two
null at each position; ``text_ocr_list`` holds ASR plus OCR at the text positions.

Reading gives one chunk per text slot with the image tokens of the keyframes before it, as
``mmc4_to_dj`` lays out sentences (see ``_slots``); the Data-Juicer ``text`` is made of ``texts``
or, with ``text_field=text_ocr_list``, of ``text_ocr_list``; every other field is kept as it is.
``image_root`` replaces the authors' absolute folder in front of ``<video id>/<keyframe>``.
Keyframe names ``VIDEOID@START_END#N.jpg`` are parsed into ``__dj__meta__.keyframes``
(``parse_keyframe_name`` does it alone). Writing rebuilds the aligned lists; a sample with
``__mmloom__`` comes back exactly, and when Data-Juicer removed images or text in between, the
lists aligned with the slots are realigned and the counts recomputed.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from ..errors import RecordError
from ..model import META_KEY, Sample
from ..options import Option, Options
from . import _slots
from ._slots import Layout, Slot
from .base import Format, default_tokens

TEXT_FIELDS = ("texts", "text_ocr_list")
COUNT_FIELDS = ("image_num", "text_num", "token_num")
TOKENS_PER_IMAGE = 576  # 24 x 24 CLIP ViT-L/336 patches per image, as in LLaVA-1.5

READ_OPTIONS = (
    Option("text_field", "texts", "the list that becomes the Data-Juicer text (the other is kept as a field)",
           choices=TEXT_FIELDS),
    Option("image_root", None, "folder that replaces everything before <video id>/<keyframe> in image paths",
           type=str),
    Option("keyframe_meta", "auto", "parse keyframe names into __dj__meta__.keyframes: auto (when every "
           "image name parses), require (a name that does not parse is an error), off",
           choices=("auto", "require", "off")),
    Option("conversation", False, "write each chunk as a LLaVA round: its images as the human turn, its "
           "text as the gpt turn (for --to llava and other dialogue formats)"),
    *_slots.layout_options(reading=True),
    Option("lossless", True, "write __mmloom__ so the way back gives the original samples exactly"),
)

WRITE_OPTIONS = (
    Option("text_field", "texts", "the list that receives the Data-Juicer text", choices=TEXT_FIELDS),
    Option("tokens_per_image", TOKENS_PER_IMAGE, "image cost in the estimate token_num = text_num + "
           "tokens_per_image * image_num"),
    *_slots.layout_options(reading=False),
    Option("lossless", True, "use __mmloom__ when present to give back the original samples exactly"),
)


# -- keyframe names ----------------------------------------------------------------------------

_SECONDS = re.compile(r"\d+(?:\.\d+)?")
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Keyframe:
    """What a keyframe file name ``VIDEOID@START_END#N.jpg`` says."""

    video_id: str
    start: float  # seconds into the video where the clip starts
    end: float
    frame: int  # 1-based keyframe number within the clip

    @property
    def video_url(self) -> str:
        return f"https://www.youtube.com/watch?v={self.video_id}"

    def as_meta(self) -> dict[str, Any]:
        return {"video_id": self.video_id, "start": self.start, "end": self.end, "frame": self.frame,
                "video_url": self.video_url}


def parse_keyframe_name(path: str) -> Keyframe:
    """Parse a keyframe path or file name, e.g. ``.../-1uixJ1V-As/-1uixJ1V-As@10.0_55.0#2.jpg``.

    Splits from the right (``@``, then ``#``, then ``_``), because YouTube ids may begin with ``-``
    and contain ``_``. Raises ValueError saying what does not fit."""
    if not isinstance(path, str):
        raise ValueError(f"a keyframe name must be a string, not {type(path).__name__}")
    name = path.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot or not ext.isalnum():
        raise ValueError(f"{name!r} has no file extension (expected VIDEOID@START_END#N.jpg)")
    video_id, at, clip_frame = stem.rpartition("@")
    if not at or not _VIDEO_ID.fullmatch(video_id):
        raise ValueError(f"{name!r} does not start with a video id and '@' (expected VIDEOID@START_END#N.jpg)")
    clip, hash_, frame = clip_frame.rpartition("#")
    if not hash_ or not (frame.isascii() and frame.isdigit()) or int(frame) < 1:
        raise ValueError(f"{name!r} does not end with '#N', N a keyframe number from 1")
    start, underscore, end = clip.rpartition("_")
    if not underscore or not _SECONDS.fullmatch(start) or not _SECONDS.fullmatch(end):
        raise ValueError(f"{name!r} has no clip START_END in seconds between '@' and '#'")
    if float(start) > float(end):
        raise ValueError(f"{name!r}: the clip starts at {start} s, after its end at {end} s")
    return Keyframe(video_id, float(start), float(end), int(frame))


# The names parse_keyframe_name accepts, in their usual ASCII spelling, read in two parts around
# the last "#": the clip ``VIDEOID@START_END`` (shared by the keyframes of a clip, so read once per
# clip) and ``N.ext`` (a handful of distinct ones in a whole dataset). A name that fits both needs
# only the checks no pattern makes (frame from 1, start <= end); any other name (Unicode digits, no
# extension...) goes through parse_keyframe_name, which says why it does not parse.
_ASCII_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_FRAME_FILE = re.compile(r"([0-9]+)\.[A-Za-z0-9]+")
_VIDEO_URL = "https://www.youtube.com/watch?v="
# small caches of what recurs across a whole dataset (bounded: a miss only costs the parse)
_frame_numbers: dict[str, int | None] = {}  # "N.ext" -> N (None: not one)
_seconds: dict[str, float] = {}  # "110.0" -> 110.0
_CACHE_SIZE = 4096


def _seconds_of(text: str) -> float | None:
    if not _ASCII_SECONDS.fullmatch(text):
        return None
    value = float(text)
    if len(_seconds) < _CACHE_SIZE:
        _seconds[text] = value
    return value


def _frame_number(tail: str) -> int | None:
    """N of a file name's ``N.ext`` (N from 1), or None."""
    m = _FRAME_FILE.fullmatch(tail)
    number = int(m.group(1)) if m is not None else 0
    number = number if number >= 1 else None
    if len(_frame_numbers) < _CACHE_SIZE:
        _frame_numbers[tail] = number
    return number


def _keyframes(paths: list[str], texts: list[Any], mode: str) -> list[dict[str, Any]] | None:
    """``Keyframe.as_meta`` of every image path; None when one does not parse (``auto``)."""
    if mode == "off":
        return None
    out = []
    add = out.append
    frames, seconds = _frame_numbers, _seconds
    clip_path, clip = None, None  # the previous path up to its last "#", and its meta (frame 0) or None
    video_id, video_url = None, ""  # the last valid video id (a document's keyframes share one)
    for path in paths:
        head, hash_, tail = path.rpartition("#")
        if hash_:
            if head != clip_path:  # not the previous keyframe's clip
                clip_path, clip = head, None
                # VIDEOID@START_END after the last "/": one "@" after the id, one "_" (a second
                # leaves END no number)
                name_id, _, span = head[head.rfind("/") + 1:].rpartition("@")
                start_text, _, end_text = span.partition("_")
                start = seconds.get(start_text)
                if start is None:
                    start = _seconds_of(start_text)
                end = seconds.get(end_text)
                if end is None:
                    end = _seconds_of(end_text)
                if start is not None and end is not None and start <= end:
                    if name_id != video_id and _VIDEO_ID.fullmatch(name_id):
                        video_id, video_url = name_id, _VIDEO_URL + name_id
                    if name_id == video_id:
                        clip = {"video_id": video_id, "start": start, "end": end, "frame": 0,
                                "video_url": video_url}
            number = frames.get(tail, False)
            if number is False:
                number = _frame_number(tail)
            if clip is not None and number is not None:
                meta = clip.copy()  # keeps the key order, frame in its place
                meta["frame"] = number
                add(meta)
                continue
        try:
            add(parse_keyframe_name(path).as_meta())
        except ValueError as exc:
            if mode == "require":
                # the first path that does not parse: an earlier equal one would have failed first
                slot = [i for i, t in enumerate(texts) if t is None][paths.index(path)]
                raise RecordError(f"is not a keyframe name: {exc}", field=f"images[{slot}]") from None
            return None
    return out


# -- reading ---------------------------------------------------------------------------------

def _rooted(path: str, root: str) -> tuple[str, str]:
    """(new path, the original folder in front of <video id>/<keyframe>)."""
    parts = path.split("/")
    cut = max(len(parts) - 2, 0)
    prefix = "/".join(parts[:cut]) + ("/" if cut else "")
    return posixpath.join(root, "/".join(parts[cut:])), prefix


_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(value, ensure_ascii=False), made once


def _metadata_text(value: Any) -> str:
    """``metadata`` as json.dumps(value, ensure_ascii=False) writes it; the authors' usual list of
    nulls is written directly."""
    if type(value) is list and value.count(None) == len(value):
        return "[" + ", ".join(["null"] * len(value)) + "]"
    return _JSON_TEXT(value)


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"a textbook sample must be a JSON object, not {type(record).__name__}")
    text_key = opts.text_field
    paths, texts, placeholders = _slots.read_columns(record, text_key)
    _slots.check_json_string(record, "metadata")
    _check_valid_image(record, len(paths))
    carry: dict[str, Any] = {"format": "textbook"}
    frames = _keyframes(paths, texts, opts.keyframe_meta)
    if opts.image_root:
        paths, prefixes = _rooted_all(paths, opts.image_root)
        carry["root"] = posixpath.join(opts.image_root, "")
        if len(set(prefixes)) == 1:
            carry["prefix"] = prefixes[0]
        elif prefixes:
            carry["prefixes"] = prefixes
    layout: Layout = opts.get("_layout") or Layout.of(opts)
    fields, order, moved = _slots.source_fields(record, text_key)
    if "metadata" in fields and not isinstance(fields["metadata"], str):
        # one column type for Data-Juicer's loader (and Parquet), whether the sample had a list
        # or JSON text: the list travels as JSON text
        fields["metadata"] = _metadata_text(fields["metadata"])
        carry["as_text"] = ["metadata"]
    if frames is not None and META_KEY not in record:
        fields[META_KEY] = {"keyframes": frames}
        order.append(META_KEY)
        carry["meta"] = True
    sample = _slots.column_sample(paths, texts, layout, fields, order)
    if opts.lossless:
        layout_carry = layout.carried()
        if text_key != "texts":
            layout_carry["text_field"] = text_key
        carry.update(_slots.new_carry("textbook", paths, texts, placeholders, layout_carry, record, moved))
        sample.carry = carry
    return sample


def _rooted_all(paths: list[str], root: str) -> tuple[list[str], list[str]]:
    """(the paths under ``root``, the original folder of each), as ``_rooted`` gives them."""
    rooted = [_rooted(p, root) for p in paths]
    return [new for new, _ in rooted], [prefix for _, prefix in rooted]


def _check_valid_image(record: dict[str, Any], n_images: int) -> None:
    if "valid_image" not in record:
        return
    mask = record["valid_image"]
    if not isinstance(mask, list) or not all(isinstance(v, bool) for v in mask):
        raise RecordError("must be a list of true/false, one per image", field="valid_image")
    if len(mask) != n_images:
        raise RecordError(f"has {len(mask)} entries but the sample has {n_images} images", field="valid_image")


# -- writing ---------------------------------------------------------------------------------

_WORDS = re.compile(r"\w+|[^\w\s]")


def estimate_text_num(texts: list[str | None]) -> int:
    """An estimate of the authors' text token count: words and punctuation marks. The authors
    counted with their LLM's tokenizer, which is not available here."""
    return sum(len(_WORDS.findall(t)) for t in texts if t)


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    tokens = default_tokens(opts)
    rid = sample.fields.get("id")
    carry = sample.carry if opts.lossless and sample.carry and sample.carry.get("format") == "textbook" else None
    if carry is None:
        return _dj_way(sample, opts, rid)
    restored = _slots.restore(sample, carry, tokens, rid)
    text_key = carry.get("layout", {}).get("text_field", "texts")
    other_key = TEXT_FIELDS[1] if text_key == TEXT_FIELDS[0] else TEXT_FIELDS[0]
    shape = carry.get("slots") or []
    values = _slots.restored_values(sample, carry, restored, text_key, _unrooted(carry, restored, shape))
    if carry.get("meta"):
        _drop_keyframes(values)
    if not restored.unchanged:
        _realign_fields(values, restored, shape, other_key, opts)
    for key in carry.get("as_text", ()):
        values[key] = _parsed(values.get(key))
    return _slots.in_order(values, sample, carry, text_key)


def _parsed(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


def _unrooted(carry: dict[str, Any], restored: _slots.Restored, shape: list[int]) -> list[Any]:
    """The image paths now, with the authors' folder given back where image_root replaced it."""
    images = [s.image for s in restored.slots if s.is_image]
    root = carry.get("root")
    if not isinstance(root, str):
        return images
    if "prefixes" in carry:  # one folder per original image: found through the slot origins
        prefix = carry["prefixes"]
        prefixes = [prefix[r] if r is not None and r < len(prefix) else None
                    for r in _slots.image_ranks(restored, shape)]
    else:
        prefixes = [carry.get("prefix", "")] * len(images)
    return [p if pre is None or not isinstance(p, str) or not p.startswith(root) else pre + p[len(root):]
            for p, pre in zip(images, prefixes, strict=True)]


def _drop_keyframes(values: dict[str, Any]) -> None:
    meta = values.get(META_KEY)
    if isinstance(meta, dict) and "keyframes" in meta:
        meta = {k: v for k, v in meta.items() if k != "keyframes"}
        if meta:
            values[META_KEY] = meta
        else:
            del values[META_KEY]


def _realign_fields(values: dict[str, Any], restored: _slots.Restored, shape: list[int], other_key: str,
                    opts: Options) -> None:
    """Data-Juicer changed the slots: keep what remains of the per-slot and per-image lists and
    recompute the counts."""
    slots, origin = restored.slots, restored.origin
    n_original = len(shape)
    other = values.get(other_key)
    if isinstance(other, list) and len(other) == n_original:
        values[other_key] = _slots.realigned(other, origin, lambda i: slots[i].text)
    if "metadata" in values:
        values["metadata"] = _slots.realigned_json(values["metadata"], origin, n_original)
    if isinstance(values.get("valid_image"), list):
        mask = values["valid_image"]
        values["valid_image"] = [mask[r] if r is not None and r < len(mask) else True
                                 for r in _slots.image_ranks(restored, shape)]
    _recount(values, slots, opts, keep_text_num=_texts_unchanged(shape, restored))


def _texts_unchanged(shape: list[int], restored: _slots.Restored) -> bool:
    original_texts = {j for j, n in enumerate(shape) if n != _slots.IMAGE_SLOT}
    now = [j for s, j in zip(restored.slots, restored.origin, strict=True) if not s.is_image]
    return None not in now and set(now) == original_texts  # type: ignore[comparison-overlap]


def _recount(values: dict[str, Any], slots: list[Slot], opts: Options, keep_text_num: bool) -> None:
    n_images = sum(1 for s in slots if s.is_image)
    text_num = values.get("text_num")
    if not (keep_text_num and isinstance(text_num, int) and not isinstance(text_num, bool)):
        text_num = estimate_text_num([s.text for s in slots])
    values["image_num"] = n_images
    values["text_num"] = text_num
    values["token_num"] = text_num + opts.tokens_per_image * n_images


def _dj_way(sample: Sample, opts: Options, rid: Any) -> dict[str, Any]:
    """A Data-Juicer sample of any origin: its image tokens and texts become the aligned lists."""
    slots = _slots.parse_lenient(sample, opts.sent_separator, rid)
    text_key = opts.text_field
    other_key = TEXT_FIELDS[1] if text_key == TEXT_FIELDS[0] else TEXT_FIELDS[0]
    texts = [s.text for s in slots]
    fields = sample.fields
    other = fields.get(other_key)
    aligned = isinstance(other, list) and len(other) == len(slots) and all(
        (o is None) == s.is_image for o, s in zip(other, slots, strict=True))
    lists = {text_key: texts, other_key: other if aligned else list(texts)}
    metadata = _parsed(fields.get("metadata"))
    out: dict[str, Any] = {
        "images": [s.image for s in slots], "texts": lists["texts"], "text_ocr_list": lists["text_ocr_list"],
        "metadata": metadata if metadata is not None else [None] * len(slots),
        "image_num": None, "text_num": fields.get("text_num"), "token_num": None,
    }
    _recount(out, slots, opts, keep_text_num=True)
    rest = dict(fields)
    _drop_keyframes(rest)  # derived from the image names; stale once the images may have changed
    for key, value in rest.items():
        if key not in out and key != "valid_image":
            out[key] = value
    mask = fields.get("valid_image")
    if isinstance(mask, list) and len(mask) == sum(1 for s in slots if s.is_image):
        out["valid_image"] = mask
    return out


FORMAT = Format(
    name="textbook",
    description="Multimodal Textbook (2.5 Years in Class): JSON array of {images, texts, text_ocr_list, "
                "metadata, image_num, text_num, token_num} with aligned image/text slots",
    modalities=("image",),
    file_types=("json", "jsonl", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    prepare_read=_slots.prepare_layout,
    example="mmloom convert multimodal_textbook.json textbook.dj.jsonl --from textbook --to dj "
            "--opt image_root=/data/dataset_images_interval_7",
)
