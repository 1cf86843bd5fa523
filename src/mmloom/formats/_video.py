"""The text wrapping the four video formats share (Video-ChatGPT, Youku-mPLUG, InternVid, MSR-VTT),
as Data-Juicer's video converters do it.

Reading: the video token goes before (``token + sep + text``) or after (``text + sep + token``) the
text, then ``sep + eoc`` when ``add_eoc_at_last``. Writing without ``__mmloom__`` follows
Data-Juicer: strip the text, drop one leading and one trailing separator, a trailing eoc, and one
video token at the start or the end, stripping after each step. With ``__mmloom__`` the layout
reading used is known, so exactly what reading added is removed and whitespace survives; a text
that processing changed so that the layout no longer fits is read the Data-Juicer way.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from typing import Any

from .. import djcodec
from ..errors import RecordError
from ..model import CARRY_KEY, MEDIA_KEYS, Chunk, Media, Piece, Sample, Text, Tokens
from ..options import Option, Options
from . import _fields
from .base import default_tokens

VIDEO = Tokens().video
EOC = Tokens().eoc
POSITIONS = ("before", "after", "random")
# keys a Data-Juicer record gives a meaning of its own (its text, media lists and mmloom's carry):
# a source field of such a name cannot stay in the record as it is, so it is carried aside
DJ_KEYS = ("text", *MEDIA_KEYS.values(), CARRY_KEY)


def read_options(*extra: Option, separator: str = " ") -> tuple[Option, ...]:
    return (
        Option("eoc_special_token", EOC, "end-of-chunk token"),
        Option("video_special_token", VIDEO, "video token"),
        Option("add_eoc_at_last", True, "append separator + eoc at the end of the text"),
        Option("sent_separator", separator, "glue between the video token, the text and the eoc"),
        Option("video_special_token_insert_pos", "before", "video token before or after the text",
               choices=POSITIONS),
        *extra,
        Option("keep_other_fields", True, "copy the other source fields into the Data-Juicer record"),
        Option("lossless", True, "write __mmloom__ so the way back gives the original records exactly"),
        Option("seed", 0, "seed for the 'random' insert position (per record, reproducible)"),
    )


def write_options(*extra: Option, separator: str = " ") -> tuple[Option, ...]:
    return (
        Option("eoc_special_token", EOC, "end-of-chunk token"),
        Option("video_special_token", VIDEO, "video token"),
        Option("sent_separator", separator, "separator used when the data was converted"),
        *extra,
        Option("lossless", True, "use __mmloom__ when present to give back the original records exactly"),
    )


def side(opts: Options, key: str) -> str:
    """'before' or 'after'; for 'random', drawn from a generator seeded by the option and the
    record (``key``), so a run is reproducible."""
    pos = opts.video_special_token_insert_pos
    if pos != "random":
        return pos
    rng = random.Random(opts.seed * 1_000_003 + zlib.crc32(key.encode("utf-8", "surrogatepass")))
    return "before" if rng.random() < 0.5 else "after"


def wrap(body: list[Piece], opts: Options, where: str) -> list[Chunk]:
    sep = opts.sent_separator
    glue: list[Piece] = [Text(sep)] if sep else []
    if where == "before":
        pieces = [Media("video"), *glue, *body]
    else:
        pieces = [*body, *glue, Media("video")]
    if opts.add_eoc_at_last:
        return [Chunk(pieces + glue, closed=True)]
    return [Chunk(pieces, closed=False)]


def layout(opts: Options, where: str) -> dict[str, Any]:
    """What the way back needs to undo the wrapping exactly (defaults left out)."""
    out: dict[str, Any] = {}
    if where != "before":
        out["side"] = "a"
    if opts.sent_separator != " ":
        out["sep"] = opts.sent_separator
    if not opts.add_eoc_at_last:
        out["eoc"] = False
    if opts.video_special_token != VIDEO or opts.eoc_special_token != EOC:
        out["tokens"] = [opts.video_special_token, opts.eoc_special_token]
    return out


def unwrap_exact(text: str, spec: Mapping[str, Any]) -> str | None:
    """The text reading wrapped, or None when the text no longer has that layout."""
    tok, eoc = spec.get("tokens", (VIDEO, EOC))
    sep = spec.get("sep", " ")
    if spec.get("eoc", True):
        tail = sep + eoc
        if not text.endswith(tail):
            return None
        text = text[: len(text) - len(tail)]
    if spec.get("side", "b") == "b":
        head = tok + sep
        return text[len(head):] if text.startswith(head) else None
    tail = sep + tok
    return text[: len(text) - len(tail)] if text.endswith(tail) else None


def unwrap_dj(text: str, tokens: Tokens, sep: str) -> str:
    """Data-Juicer's removal of the separator, eoc and video token around a text."""
    tok, eoc = tokens.video, tokens.eoc
    text = text.strip()
    if text.startswith(sep):
        text = text[len(sep):].strip()
    if sep and text.endswith(sep):
        text = text[: -len(sep)].strip()
    if eoc and text.endswith(eoc):
        text = text[: -len(eoc)].strip()
    if tok and text.startswith(tok):
        text = text[len(tok):].strip()
        if text.startswith(sep):
            text = text[len(sep):].strip()
    elif tok and text.endswith(tok):
        text = text[: -len(tok)].strip()
        if sep and text.endswith(sep):
            text = text[: -len(sep)].strip()
    return text


def sample_text(sample: Sample, opts: Options) -> str:
    if not sample.has_text:
        raise RecordError("is missing", field="text")
    return sample.text(default_tokens(opts))


def body_text(sample: Sample, opts: Options, carry: Mapping[str, Any] | None) -> tuple[str, bool]:
    """The text reading wrapped, and whether it was recovered exactly (else Data-Juicer's way)."""
    text = sample_text(sample, opts)
    if carry is not None:
        exact = unwrap_exact(text, carry.get("layout", {}))
        if exact is not None:
            return exact, True
    return unwrap_dj(text, default_tokens(opts), opts.sent_separator), False


def first_video(sample: Sample) -> Any:
    videos = sample.media.get("video")
    if videos is None:
        raise RecordError("is missing", field="videos")
    if not videos:
        raise RecordError("is empty; the record needs its video", field="videos")
    return videos[0]


def build_sample(name: str, record: Mapping[str, Any], opts: Options, body: list[Piece], where: str,
                 path: Any, copied: Mapping[str, Any], added: Mapping[str, Any],
                 others: Mapping[str, Any], template: tuple[str, ...] | None) -> Sample:
    """The Data-Juicer sample of a video record, as the video tools build it: with
    ``keep_other_fields`` a copy of ``copied`` (the source fields the tool copies), then
    ``videos``, ``text`` and the ``added`` fields. With ``lossless``, the carry for ``others`` (the
    source fields the format does not derive from text and video) and the key order (always, when
    ``template`` is None)."""
    keep = opts.keep_other_fields
    fields = {k: v for k, v in copied.items() if k not in DJ_KEYS} if keep else {}
    fields.update(added)
    sample = Sample(
        chunks=wrap(body, opts, where),
        media={"video": [path]},
        fields=fields,
        order=_fields.dj_record_order(copied if keep else None, ("videos", "text", *added)),
    )
    djcodec.assign_paths(sample)
    if opts.lossless:
        carry: dict[str, Any] = {"format": name}
        spec = layout(opts, where)
        if spec:
            carry["layout"] = spec
        drop = _fields.dropped_fields(others, keep, DJ_KEYS + tuple(added))
        if drop:
            carry["drop"] = drop
        if template is None or (keep and drop):
            # (a field carried aside while the others stay in the record: only the key list
            # puts it back in its place)
            carry["keys"] = list(record.keys())
        else:
            _fields.record_keys_carry(record, template, carry)
        sample.carry = carry
    return sample


def caption_record(sample: Sample, opts: Options, carry: Mapping[str, Any] | None, video_key: str,
                   video: Any, text_key: str, template: tuple[str, ...], added: tuple[str, ...] = ()
                   ) -> dict[str, Any]:
    """A caption format's record: Data-Juicer's way (every field, then the video and the cleaned
    caption) without a carry, else the source record rebuilt."""
    caption, _ = body_text(sample, opts, carry)
    if carry is None:
        out = dict(sample.fields)
        out[video_key] = video
        out[text_key] = caption
        return out
    return _fields.rebuild(carry, template, {video_key: video, text_key: caption}, sample.fields, added)
