"""TextBind conversations: a JSON array of ``{"conversation": [{"role", "content", "image_list",
"caption_list", "url_list"}], "image_dir"}`` where ``<image>`` in ``content`` marks each image of
the turn, in ``image_list`` order (assistant turns hold images too: images the model generates).

Reading gives one chunk per turn, ``[[role]]: content <|__dj__eoc|>``, turns glued by ``"\\n"``,
``<image>`` tags as image tokens and ``image_dir/name`` as the image paths. Captions and source URLs
become the per-image fields ``image_captions`` and ``image_urls`` (aligned with ``images``; ``null``
where a turn has none). Other top-level fields stay fields. What the Data-Juicer record cannot hold
(key orders, per-turn extra keys, lists that do not line up with ``image_list``, ``image_dir``
itself) travels in ``__mmloom__``, so the way back gives the original records exactly.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..errors import RecordError, UsageError
from ..model import CARRY_KEY, MEDIA_KEYS, TEXT_KEY, Media, Piece, Sample, Text, Tokens
from ..options import Option, Options
from ._turns import (
    Turn,
    in_tokens,
    is_exact,
    lay_out,
    own_carry,
    read_loose,
    read_strict,
    render_value,
    text_crc,
)
from .base import Format, default_tokens, require

IMAGE_TAG = "<image>"
DJ_IMAGE = Tokens().image
EOC = Tokens().eoc
TOP_KEYS = ("conversation", "image_dir")
TURN_KEYS = ("role", "content", "image_list", "caption_list", "url_list")
CAPTIONS = "image_captions"
URLS = "image_urls"
# top-level keys a TextBind record may have that cannot be Data-Juicer fields of the same name
TAKEN = frozenset({TEXT_KEY, CARRY_KEY, CAPTIONS, URLS, *MEDIA_KEYS.values()})

READ_OPTIONS = (
    Option("image_dir", None, "folder put in front of image names when a record has no image_dir", type=str),
    Option("image_tag", IMAGE_TAG, "the tag that marks an image in content"),
    Option("image_special_token", DJ_IMAGE, "image token of the Data-Juicer text"),
    Option("eoc_special_token", EOC, "end-of-chunk token (each turn is a chunk)"),
    Option("sent_separator", "\n", "glue between turns, after each end-of-chunk token"),
    Option("role_names", {}, 'rename roles in the text, e.g. {"user": "human", "assistant": "gpt"} '
           "for LLaVA-style output (the original names come back with __mmloom__)", type=dict),
    Option("lossless", True, "write __mmloom__ so the way back gives the original records exactly"),
)

WRITE_OPTIONS = (
    Option("image_dir", None, "for records without __mmloom__: the image_dir to write (image paths are "
           "made relative to it)", type=str),
    Option("image_tag", IMAGE_TAG, "the tag that marks an image in content"),
    Option("image_special_token", DJ_IMAGE, "image token of the Data-Juicer text"),
    Option("eoc_special_token", EOC, "end-of-chunk token"),
    Option("sent_separator", "\n", "glue between turns, for records without __mmloom__"),
    Option("lossless", True, "use __mmloom__ when present to give back the original records exactly"),
)


def _check_read(opts: Options) -> Options:
    if not opts.image_tag:
        raise UsageError("option image_tag for reading textbind must not be empty")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in opts.role_names.items()):
        raise UsageError("option role_names for reading textbind maps role names to role names (strings)")
    return opts


def _check_write(opts: Options) -> Options:
    if not opts.image_tag:
        raise UsageError("option image_tag for writing textbind must not be empty")
    return opts


def _join(folder: str | None, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


def _name_of(folder: str | None, path: Any) -> Any:
    """The image name a path was made from: the path without the folder in front."""
    if not folder or not isinstance(path, str):
        return path
    prefix = folder if folder.endswith("/") else folder + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


# -- reading: TextBind record -> sample -----------------------------------------------------------

def _string(turn: dict[str, Any], key: str, where: str) -> str:
    value = turn.get(key)
    if not isinstance(value, str):
        raise RecordError("must be a string" if key in turn else "is missing", field=f"{where}.{key}")
    return value


def _aligned(turn: dict[str, Any], key: str, n: int, spec: dict[str, Any]) -> list[Any]:
    """The per-image values of a caption or URL list; a list that does not line up with the
    turn's images (converted sets leave caption_list empty) is kept whole in the carry."""
    value = turn.get(key)
    if isinstance(value, list) and len(value) == n:
        return list(value)
    if key in turn:
        spec[key] = value
    return [None] * n


def _content_pieces(content: str, tag: str, paths: list[str]) -> list[Piece]:
    pieces: list[Piece] = []
    for i, part in enumerate(content.split(tag)):
        if i:
            pieces.append(Media("image", paths[i - 1]))
        if part:
            pieces.append(Text(part))
    return pieces


def to_unified(record: Any, opts: Options) -> Sample:
    if not isinstance(record, dict):
        raise RecordError(f"a TextBind record must be a JSON object, not {type(record).__name__}")
    conversation = require(record, "conversation", list)
    tag = opts.image_tag
    image_dir = record.get("image_dir")
    folder = image_dir if isinstance(image_dir, str) else opts.image_dir
    turns: list[Turn] = []
    roles: list[str] = []
    contents: list[str] = []
    images: list[str] = []
    captions: list[Any] = []
    urls: list[Any] = []
    turn_specs: dict[str, Any] = {}
    odd_names: dict[str, str] = {}
    for i, turn in enumerate(conversation):
        where = f"conversation[{i}]"
        if not isinstance(turn, dict):
            raise RecordError(f"must be an object with role and content, not {type(turn).__name__}", field=where)
        role, content = _string(turn, "role", where), _string(turn, "content", where)
        names = turn.get("image_list", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RecordError("must be a list of image file names", field=f"{where}.image_list")
        if content.count(tag) != len(names):
            raise RecordError(f"has {content.count(tag)} {tag} tag(s) but image_list names {len(names)} "
                              f"image(s); they must match one to one", field=f"{where}.content")
        spec: dict[str, Any] = {}
        captions += _aligned(turn, "caption_list", len(names), spec)
        urls += _aligned(turn, "url_list", len(names), spec)
        if list(turn) != list(TURN_KEYS):
            spec["keys"] = list(turn)
            extra = {k: v for k, v in turn.items() if k not in TURN_KEYS}
            if extra:
                spec["extra"] = extra
        if spec:
            turn_specs[str(i)] = spec
        paths = []
        for name in names:
            path = _join(folder, name)
            if _name_of(folder, path) != name:  # an absolute name: the folder cannot be taken off again
                odd_names[str(len(images) + len(paths))] = name
            paths.append(path)
        images += paths
        roles.append(role)
        contents.append(content)
        turns.append(Turn(opts.role_names.get(role, role), _content_pieces(content, tag, paths)))

    sep = opts.sent_separator
    chunks = lay_out([[t] for t in turns], sep, "")
    visible = {k: v for k, v in record.items() if k not in TOP_KEYS and k not in TAKEN}
    fields = {CAPTIONS: captions, URLS: urls, **visible}
    sample = Sample(chunks=chunks, media={"image": images}, fields=fields,
                    order=[TEXT_KEY, "images", CAPTIONS, URLS, *visible])
    if not opts.lossless:
        return sample
    tokens = default_tokens(opts)
    carry: dict[str, Any] = {"format": "textbind"}
    layout: dict[str, Any] = {}
    if sep != "\n":
        layout["sep"] = sep
    if tag != IMAGE_TAG:
        layout["tag"] = tag
    if (tokens.image, tokens.eoc) != (DJ_IMAGE, EOC):
        layout["tokens"] = [tokens.image, tokens.eoc]
    if layout:
        carry["layout"] = layout
    if list(record) != [k for k in TOP_KEYS if k in record]:
        carry["keys"] = list(record)
    if "image_dir" in record:
        carry["image_dir"] = image_dir
    if folder and not isinstance(image_dir, str):  # the folder came from the option
        carry["dir"] = folder
    hidden = {k: v for k, v in record.items() if k in TAKEN}
    if hidden:
        carry["extra"] = hidden
    if turn_specs:
        carry["turns"] = turn_specs
    if odd_names:
        carry["names"] = odd_names
    if any(opts.role_names.get(r, r) != r for r in roles):
        carry["roles"] = roles
    if not is_exact([[t] for t in turns], chunks, tokens, sep, ""):
        # a content holds a marker, a token or the end-of-chunk token as text: keep the values
        carry["roles"], carry["values"] = roles, contents
        carry["crc"] = text_crc(sample, tokens)
    sample.carry = carry
    return sample


# -- writing: sample -> TextBind record ---------------------------------------------------------

def _turn_values(sample: Sample, carry: dict[str, Any] | None, tokens: Tokens, sep: str, tag: str
                 ) -> list[tuple[str, str, list[Any]]]:
    """(role, content, image paths) per turn."""
    images = sample.media.get("image", [])
    if carry and "values" in carry and carry.get("crc") == text_crc(sample, tokens):
        out, k = [], 0
        for role, content in zip(carry["roles"], carry["values"], strict=True):
            n = content.count(tag)
            out.append((role, content, images[k:k + n]))
            k += n
        return out
    groups = read_strict(sample.chunks, sep, "")
    turns = [g[0] for g in groups] if groups is not None and all(len(g) == 1 for g in groups) \
        else read_loose(sample, tokens)
    rid = sample.fields.get("id")
    out = []
    for i, turn in enumerate(turns):
        media = [p for p in turn.pieces if isinstance(p, Media)]
        if any(m.modality != "image" for m in media):
            raise RecordError("holds audio or video; a TextBind conversation holds images only",
                              field=MEDIA_KEYS[next(m.modality for m in media if m.modality != "image")],
                              record_id=rid)
        content = render_value(turn.pieces, lambda m: tag)
        if content.count(tag) != len(media):
            raise RecordError(f"turn {i} holds {tag!r} as plain text, which TextBind would read as an image "
                              f"(is image_special_token right?)", field=TEXT_KEY, record_id=rid)
        out.append((turn.role, content, [m.path for m in media]))
    roles = carry.get("roles") if carry else None
    if roles and len(roles) == len(out):  # names changed by role_names on the way in
        out = [(role, content, paths) for role, (_, content, paths) in zip(roles, out, strict=True)]
    return out


def _per_image(sample: Sample, key: str, n: int) -> list[Any] | None:
    values = sample.fields.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or len(values) != n:
        size = len(values) if isinstance(values, list) else type(values).__name__
        raise RecordError(f"has {size} entries but images has {n}; the two lists must stay aligned",
                          field=key, record_id=sample.fields.get("id"))
    return values


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    tokens = default_tokens(opts)
    carry = own_carry(sample, opts, "textbind")
    layout = carry.get("layout", {}) if carry else {}
    sep = layout.get("sep", "\n") if carry else opts.sent_separator
    tag = layout.get("tag", opts.image_tag)
    sample, tokens = in_tokens(sample, tokens, layout.get("tokens"))
    rid = sample.fields.get("id")
    turns = _turn_values(sample, carry, tokens, sep, tag)
    images = sample.media.get("image", [])
    placed = sum(len(paths) for _, _, paths in turns)
    if placed != len(images) or any(p is None for _, _, paths in turns for p in paths):
        raise RecordError(f"has {placed} image tokens but {len(images)} images; TextBind places every image "
                          f"with a tag", field="images", record_id=rid)
    captions = _per_image(sample, CAPTIONS, len(images))
    urls = _per_image(sample, URLS, len(images))
    if carry:
        folder = carry["image_dir"] if isinstance(carry.get("image_dir"), str) else carry.get("dir")
    else:
        folder = opts.image_dir
    specs = carry.get("turns", {}) if carry else {}
    odd_names = carry.get("names", {}) if carry else {}
    conversation = []
    k = 0
    for i, (role, content, paths) in enumerate(turns):
        spec = specs.get(str(i), {})
        n = len(paths)
        if content.count(tag) != n:
            raise RecordError(f"turn {i} has {content.count(tag)} {tag} tag(s) but {n} image(s) are left for it",
                              field="images", record_id=rid)
        values = {
            "role": role, "content": content,
            "image_list": [odd_names.get(str(k + j), _name_of(folder, p)) for j, p in enumerate(paths)],
            "caption_list": spec["caption_list"] if "caption_list" in spec else captions[k:k + n] if captions else [],
            "url_list": spec["url_list"] if "url_list" in spec else urls[k:k + n] if urls else [],
        }
        extra = spec.get("extra", {})
        conversation.append({key: values[key] if key in values else extra[key] for key in spec.get("keys", TURN_KEYS)})
        k += n
    built: dict[str, Any] = {"conversation": conversation}
    if carry and "image_dir" in carry:
        built["image_dir"] = carry["image_dir"]
    elif not carry and opts.image_dir:
        built["image_dir"] = opts.image_dir
    others = {k: v for k, v in sample.fields.items() if k not in (CAPTIONS, URLS)}
    others.update(carry.get("extra", {}) if carry else {})
    out: dict[str, Any] = {}
    for key in carry.get("keys", TOP_KEYS) if carry else TOP_KEYS:
        if key in built:
            out[key] = built.pop(key)
        elif key in others:
            out[key] = others.pop(key)
    out.update(built)
    out.update(others)  # fields a processing step added (stats...)
    return out


FORMAT = Format(
    name="textbind",
    description="TextBind conversations: JSON array of {conversation[{role, content, image_list, caption_list, "
                "url_list}], image_dir}",
    modalities=("image",),
    file_types=("json", "jsonl", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    prepare_read=_check_read,
    prepare_write=_check_write,
    example="mmloom convert textbind/train.json textbind.dj.jsonl --from textbind --to dj",
)
