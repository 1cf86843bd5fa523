"""MMC4 interleaved web documents: JSON Lines of ``{"text_list": [...], "image_info": [{"image_name",
"matched_text_index", "matched_sim", "raw_url", ...}], "similarity_matrix": [[...]], "url", ...}``.

Reading gives what ``mmc4_to_dj`` writes: one chunk per sentence, the image tokens of the images
matched to it before (or after) it, every source field kept. Writing follows ``dj_to_mmc4``, with two
of its bugs fixed unless ``dj_quirks`` is on: images that came without MMC4 origin are kept, and a
token in the middle of a sentence still places its image. A record with ``__mmloom__`` comes back
exactly; when Data-Juicer removed images or sentences in between, ``image_info``,
``matched_text_index`` and ``similarity_matrix`` are rebuilt for what remains.
"""

from __future__ import annotations

import operator
import posixpath
import random
import zlib
from typing import Any, NamedTuple

from .. import djcodec
from ..errors import RecordError
from ..model import Chunk, Media, Piece, Sample, Text, Tokens, shared_tokens
from ..options import Option, Options
from .base import Format, SkipRecord, default_tokens

EOC = Tokens().eoc
IMAGE = Tokens().image
ORIGIN_FIELDS = ("image_info", "text_list")

READ_OPTIONS = (
    Option("image_dir", None, "folder joined in front of every image_name", type=str),
    Option("eoc_special_token", EOC, "end-of-chunk token"),
    Option("image_special_token", IMAGE, "image token"),
    Option("image_special_token_insert_pos", "before", "image tokens before or after their sentence",
           choices=("before", "after", "random")),
    Option("add_eoc_at_last", True, "append ' ' + eoc at the end of the text"),
    Option("sent_separator", " ", "glue between tokens and sentences, and after each eoc"),
    Option("keep_other_fields", True, "copy every source field into the Data-Juicer record"),
    Option("lossless", True, "write __mmloom__ so the way back gives the original documents exactly"),
    Option("seed", 0, "seed for the 'random' insert position (per document, reproducible)"),
)

WRITE_OPTIONS = (
    Option("eoc_special_token", EOC, "end-of-chunk token"),
    Option("image_special_token", IMAGE, "image token"),
    Option("sent_separator", " ", "separator used when the data was converted"),
    Option("keep_dj_fields", False, "keep 'images' and 'text' in the output documents"),
    Option("lossless", True, "use __mmloom__ when present to give back the original documents exactly"),
    Option("dj_quirks", False, "reproduce dj_to_mmc4 exactly: drop images without MMC4 origin and leave "
           "mid-sentence tokens unplaced"),
)


# -- reading ---------------------------------------------------------------------------------

_MATCHED = operator.itemgetter("matched_text_index")


def _validated(record: Any) -> tuple[list[str], list[dict[str, Any]]]:
    if not isinstance(record, dict):
        raise RecordError(f"an MMC4 document must be a JSON object, not {type(record).__name__}")
    for key in ORIGIN_FIELDS:
        if key not in record:
            # Data-Juicer skips such documents and lists them in <target>_failed.txt
            raise SkipRecord(f"has no {key!r}, which an MMC4 document needs", field=key)
    sentences, infos = record["text_list"], record["image_info"]
    if not isinstance(sentences, list):
        raise RecordError("must be a list of strings", field="text_list")
    try:
        "".join(sentences)  # one C-level pass that accepts exactly the str instances
    except TypeError:
        raise RecordError("must be a list of strings", field="text_list") from None
    if not isinstance(infos, list):
        raise RecordError("must be a list of objects", field="image_info")
    # the usual document passes this quick look; any other goes through the field-naming checks
    for info in infos:
        if (type(info) is not dict or type(info.get("image_name")) is not str
                or type(info.get("matched_text_index")) is not int):
            _check_infos(infos)
            break
    return sentences, infos


def _check_infos(infos: list[Any]) -> None:
    for i, info in enumerate(infos):
        if not isinstance(info, dict):
            raise RecordError("must be an object", field=f"image_info[{i}]")
        for key, kind in (("image_name", str), ("matched_text_index", int)):
            if key not in info:
                raise RecordError("is missing", field=f"image_info[{i}].{key}")
            if not isinstance(info[key], kind) or isinstance(info[key], bool):
                raise RecordError(f"must be {kind.__name__}", field=f"image_info[{i}].{key}")


class _Reading(NamedTuple):
    """The reading options as the per-document loop uses them (worked out once per plan)."""

    sep: str
    image_dir: str
    add_eoc: bool
    pos: str
    seed: Any
    keep_other_fields: bool
    lossless: bool
    # the carry's "layout" entries that come before / after "sides" (key order is kept in output)
    layout_head: dict[str, Any]
    layout_tail: dict[str, Any]
    # the text can be written directly (see _text_sample): a separator of white space and tokens
    # that hold none, nor brackets, so that nothing can run across the edge of a sentence
    as_text: bool = False
    tokens: Tokens | None = None


def _reading(opts: Options) -> _Reading:
    prepared = opts.get("_mmc4_reading")
    if prepared is not None:
        return prepared
    sep = opts.sent_separator
    head: dict[str, Any] = {}
    if sep != " ":
        head["sep"] = sep
    tail: dict[str, Any] = {}
    if not opts.add_eoc_at_last:
        tail["eoc_last"] = False
    if opts.image_special_token != IMAGE or opts.eoc_special_token != EOC:
        tail["tokens"] = [opts.image_special_token, opts.eoc_special_token]
    image_dir = opts.image_dir or ""
    if image_dir:
        tail["image_dir"] = image_dir
    tokens = shared_tokens(image=opts.image_special_token, eoc=opts.eoc_special_token)
    as_text = djcodec.tame(tokens, sep)
    return _Reading(sep, image_dir, opts.add_eoc_at_last, opts.image_special_token_insert_pos, opts.seed,
                    opts.keep_other_fields, opts.lossless, head, tail, as_text, tokens)


def _prepare_read(opts: Options) -> Options:
    opts = type(opts)(opts)
    opts["_mmc4_reading"] = _reading(opts)
    return opts


def _placements(ordered: list[dict[str, Any]], n: int) -> list[list[int]]:
    """[sentence index, number of image tokens] for each sentence that gets images. Data-Juicer
    walks the images sorted by matched_text_index alongside the sentences, so it places the
    longest run of them whose indices are sentences: an index below 0 or past the last sentence
    stops it, and the images from there on get no token."""
    out: list[list[int]] = []
    last = -1
    for info in ordered:
        k = info["matched_text_index"]
        if k < 0 or k >= n:
            break
        if k == last:
            out[-1][1] += 1
        else:
            out.append([k, 1])
            last = k
    return out


def _image_paths(ordered: list[dict[str, Any]], image_dir: str) -> list[str]:
    if not image_dir:
        return [info["image_name"] for info in ordered]  # joining onto "" changes nothing
    return [posixpath.join(image_dir, info["image_name"]) for info in ordered]


def _random_sides(record: dict[str, Any], n: int, seed: Any, placements: list[list[int]]) -> str:
    """'b' (before) or 'a' (after) for each sentence with images, drawn per document."""
    if not placements:
        return ""
    rng = random.Random(seed * 1_000_003 + zlib.crc32(str(record.get("url", "")).encode() + str(n).encode()))
    draws = [rng.random() < 0.5 for _ in range(n)]
    return "".join("b" if draws[k] else "a" for k, _ in placements)


def to_unified(record: Any, opts: Options) -> Sample:
    sentences, infos = _validated(record)
    r = _reading(opts)
    sep = r.sep
    ordered = sorted(infos, key=_MATCHED)  # stable, as Data-Juicer's
    images = _image_paths(ordered, r.image_dir)
    n = len(sentences)
    placements = _placements(ordered, n) if ordered else []
    if r.pos == "random":
        sides = _random_sides(record, n, r.seed, placements)
    else:
        sides = r.pos[0] * len(placements)
    sample = _text_sample(record, sentences, placements, sides, images, r) if r.as_text else None
    if sample is not None:
        return sample
    # Chunks as base.chunked lays them out (part k > 0 led by the separator, each closed chunk
    # ending with the space before the eoc token), built in one pass with the paths in place.
    # The separator and the space are one shared piece each: pieces are never changed in place.
    sep_piece, space = Text(sep), Text(" ")
    chunks: list[Chunk] = []
    append = chunks.append
    at_image = placements[0][0] if placements else -1
    placed = 0  # placements handled
    path_at = 0  # the next image token's path
    for k, sentence in enumerate(sentences):
        if k != at_image:
            if sentence:
                append(Chunk([sep_piece, Text(sentence), space] if k and sep else [Text(sentence), space], True))
            else:
                append(Chunk([sep_piece, space] if k and sep else [space], True))
            continue
        m = placements[placed][1]
        run: list[Piece] = [Media("image", images[path_at])]  # the tokens, the separator between
        for path in images[path_at + 1: path_at + m]:
            run += (sep_piece, Media("image", path))
        path_at += m
        text: list[Piece] = [Text(sentence)] if sentence else []
        body = run + [sep_piece] + text if sides[placed] == "b" else text + [sep_piece] + run
        append(Chunk([sep_piece, *body, space] if k and sep else [*body, space], True))
        placed += 1
        at_image = placements[placed][0] if placed < len(placements) else -1
    if not chunks:
        if r.add_eoc:
            chunks.append(Chunk([space], True))
    elif not r.add_eoc:
        last = chunks[-1]
        last.pieces.pop()
        last.closed = False
    keep = r.keep_other_fields
    sample = Sample(chunks=chunks, media={"image": images}, fields=dict(record) if keep else {},
                    order=[*record, "images", "text"] if keep else ["images", "text"])
    return _with_carry(sample, record, sides, r)


def _with_carry(sample: Sample, record: dict[str, Any], sides: str, r: _Reading) -> Sample:
    if r.lossless:
        carry: dict[str, Any] = {"format": "mmc4"}
        if r.pos != "before":
            carry["layout"] = {**r.layout_head, "sides": sides, **r.layout_tail}
        elif r.layout_head or r.layout_tail:
            carry["layout"] = {**r.layout_head, **r.layout_tail}
        if not r.keep_other_fields:
            carry["record"] = record
        sample.carry = carry
    return sample


def _read_text(sentences: list[str], placements: list[list[int]], sides: Any, sep: str, tok: str, eoc: str,
               add_eoc: bool) -> str:
    """The Data-Juicer text reading gives, as a string. ``sides``: a letter per sentence with
    images ('b' before, any other after, missing ones before); None: all before."""
    parts = sentences
    if placements:
        parts = list(sentences)
        for j, (k, m) in enumerate(placements):
            tokens = sep.join([tok] * m) if m > 1 else tok
            if sides is None or j >= len(sides) or sides[j] == "b":
                parts[k] = tokens + sep + parts[k]
            else:
                parts[k] = parts[k] + sep + tokens
    text = (" " + eoc + sep).join(parts)
    return text + " " + eoc if add_eoc else text


def _text_sample(record: dict[str, Any], sentences: list[str], placements: list[list[int]], sides: str,
                 images: list[str], r: _Reading) -> Sample | None:
    """The sample held as its text, written directly, when parsing that text gives back the chunks
    to_unified builds (up to how adjacent text pieces are cut): the tokens and end-of-chunk tokens
    in the text are exactly those placed, and no sentence holds "[[" or another modality's token.
    None otherwise."""
    tokens: Tokens = r.tokens  # type: ignore[assignment]
    text = _read_text(sentences, placements, sides, r.sep, tokens.image, tokens.eoc, r.add_eoc)
    if not text and sentences:  # one empty open chunk, which a parse of "" does not give
        return None
    n_closed = (len(sentences) if r.add_eoc else len(sentences) - 1) if sentences else int(r.add_eoc)
    if not djcodec.holds_exactly(text, tokens, n_closed, sum(m for _, m in placements)):
        return None
    keep = r.keep_other_fields
    sample = Sample.of_text(text, tokens, {"image": images}, dict(record) if keep else {},
                            [*record, "images", "text"] if keep else ["images", "text"])
    return _with_carry(sample, record, sides, r)


# -- writing ---------------------------------------------------------------------------------

def _write_tokens(opts: Options) -> Tokens:
    prepared = opts.get("_mmc4_tokens")
    return prepared if prepared is not None else default_tokens(opts)


def _prepare_write(opts: Options) -> Options:
    opts = type(opts)(opts)
    opts["_mmc4_tokens"] = default_tokens(opts)
    return opts


def _chunk_sentences(sample: Sample, tokens: Tokens, sep: str, strict_layout: dict | None
                     ) -> list[tuple[str, range | tuple[()], bool]]:
    """Each chunk as (sentence, indices of the image tokens in it, whether a token stood inside the
    sentence). With ``strict_layout`` (our own output) exactly the separators reading added are
    removed; without, Data-Juicer's stripping applies."""
    out = []
    counter = 0
    chunks = sample.chunks
    n = len(chunks)
    tok = tokens.image
    # a separator of white space alone is gone once a sentence is stripped: not looked for again
    edge_sep = sep if sep.strip() else ""
    for k, chunk in enumerate(chunks):
        # the chunk rendered (as Chunk.render does) and its image tokens counted, in one pass
        rendered = []
        n_tokens = 0
        for p in chunk.pieces:
            if isinstance(p, Text):
                rendered.append(p.text)
            elif isinstance(p, Media):
                rendered.append(tokens.of(p.modality))
                if p.modality == "image":
                    n_tokens += 1
            else:
                rendered.append(p.marker)
        s = "".join(rendered)
        if n_tokens:
            idx: range | tuple[()] = range(counter, counter + n_tokens)
            counter += n_tokens
        else:
            idx = ()
        if strict_layout is not None:
            if k and sep and s.startswith(sep):
                s = s[len(sep):]
            last_open = k == n - 1 and not chunk.closed
            if not last_open and s.endswith(" "):
                s = s[:-1]
            s, inner = _untoken(s, tok, sep, strict=True) if tok and tok in s else (s, False)
        else:
            s = s.strip()
            if not s:
                continue
            if edge_sep:
                if s.endswith(edge_sep):
                    s = s[: -len(edge_sep)].strip()
                if s.startswith(edge_sep):
                    s = s[len(edge_sep):].strip()
            s, inner = _untoken(s, tok, edge_sep, strict=False) if tok and tok in s else (s, False)
        out.append((s, idx, inner))
    return out


def _untoken(s: str, tok: str, sep: str, strict: bool) -> tuple[str, bool]:
    """Cut the image tokens (and the separator that goes with each) off both ends of a sentence;
    also says whether a token is left inside it."""
    n_tok, n_sep = len(tok), len(sep)
    while s.startswith(tok):
        s = s[n_tok:]
        if not strict:
            s = s.strip()
        if sep and s.startswith(sep):
            s = s[n_sep:] if strict else s[n_sep:].strip()
    while s.endswith(tok):
        s = s[:-n_tok]
        if not strict:
            s = s.strip()
        if sep and s.endswith(sep):
            s = s[:-n_sep] if strict else s[:-n_sep].strip()
    return s, tok in s


def _remove_inner(s: str, tok: str, sep: str) -> str:
    while tok in s:
        i = s.index(tok)
        before, after = s[:i], s[i + len(tok):]
        if sep and after.startswith(sep):
            after = after[len(sep):]
        elif sep and before.endswith(sep):
            before = before[: -len(sep)]
        s = before + after
    return s


def _text_is_empty(sample: Sample, tokens: Tokens) -> bool:
    """``sample.text(tokens) == ""``, looking no further than the first chunk with something."""
    for chunk in sample.chunks:
        if (chunk.closed and tokens.eoc) or chunk.render(tokens):
            return False
    return True


def from_unified(sample: Sample, opts: Options) -> Any:
    tokens = _write_tokens(opts)
    carry = sample.carry if opts.lossless and sample.carry and sample.carry.get("format") == "mmc4" else None
    if carry is not None:
        return _from_carry(sample, carry, opts, tokens)
    if sample.has_text and _text_is_empty(sample, tokens):
        raise SkipRecord("has an empty text (Data-Juicer's dj_to_mmc4 leaves such documents out)", field="text")
    if "image" not in sample.media:
        raise RecordError("is missing", field="images")
    return _dj_way(sample, opts, tokens, sample.media["image"])


def _dj_way(sample: Sample, opts: Options, tokens: Tokens, images: list[Any]) -> dict[str, Any]:
    """dj_to_mmc4: suffix-match images to the document's own image_info, number the chunks."""
    fields = sample.fields
    originals = [dict(info) for info in fields.get("image_info", []) if isinstance(info, dict)]
    infos: list[dict[str, Any]] = []
    for path in images:
        found = None
        if isinstance(path, str):
            for orig in originals:
                name = orig.get("image_name")
                if isinstance(name, str) and path.endswith(name):
                    found = orig
                    break
        if found is not None:
            found["image_name"] = path
            infos.append(found)
        else:
            infos.append({"image_name": path})
    sentences = []
    sep = opts.sent_separator
    tok = tokens.image
    quirks = opts.dj_quirks
    handed = 0
    n_infos = len(infos)
    for k, (s, idx, inner) in enumerate(_chunk_sentences(sample, tokens, sep, None)):
        if quirks:
            # Data-Juicer counts only the tokens at the edges of the sentence and hands them to
            # the images in list order, whichever token they are
            for _ in range(len(idx) - s.count(tok)):
                if handed < n_infos:
                    infos[handed]["matched_text_index"] = k
                    handed += 1
        else:
            if inner:
                s = _remove_inner(s, tok, sep).strip()
            for i in idx:
                if i < n_infos:
                    infos[i]["matched_text_index"] = k
        sentences.append(s)
    final = []
    for orig in originals:
        for info in infos:
            got = info.get("image_name")
            if isinstance(got, str) and got.endswith(orig["image_name"]):
                final.append(info)
                break
    if not quirks:
        final_ids = {id(x) for x in final}
        if len(final_ids) < n_infos:  # else every image is in already
            final.extend(info for info in infos if id(info) not in final_ids)
    out = dict(fields)
    out["image_info"] = final
    out["text_list"] = sentences
    if opts.keep_dj_fields:
        out["images"] = images
        out["text"] = sample.text(tokens)
    return out


class _Layout(NamedTuple):
    """How a carried document was laid out as Data-Juicer text when it was read."""

    sep: str
    image_dir: str
    add_eoc: bool
    image: str
    eoc: str
    tokens: Tokens


_DEFAULT_LAYOUT = _Layout(" ", "", True, IMAGE, EOC, Tokens(image=IMAGE, eoc=EOC))


def _carry_layout(carry: dict[str, Any]) -> _Layout:
    if "layout" not in carry:
        return _DEFAULT_LAYOUT
    layout = carry["layout"]
    tok, eoc = layout.get("tokens", [IMAGE, EOC])
    return _Layout(layout.get("sep", " "), layout.get("image_dir") or "", layout.get("eoc_last", True),
                   tok, eoc, Tokens(image=tok, eoc=eoc))


def _as_read(original: dict[str, Any], layout: _Layout, sides: Any) -> tuple[str, list[str]]:
    """The Data-Juicer text and image list that reading ``original`` with ``layout`` gives (what
    to_unified's chunks render to), built as strings. ``sides``: the recorded letters, one per
    sentence with images ('b' before, any other after, missing ones before); None: all before."""
    sentences: list[str] = original["text_list"]
    ordered = sorted(original["image_info"], key=_MATCHED)
    images = _image_paths(ordered, layout.image_dir)
    placements = _placements(ordered, len(sentences)) if ordered else []
    return _read_text(sentences, placements, sides, layout.sep, layout.image, layout.eoc, layout.add_eoc), images


def _from_carry(sample: Sample, carry: dict[str, Any], opts: Options, write_tokens: Tokens) -> dict[str, Any]:
    layout = _carry_layout(carry)
    tokens = layout.tokens
    text = sample.text(write_tokens)
    if (write_tokens.image, write_tokens.audio, write_tokens.video, write_tokens.eoc) == (
            tokens.image, tokens.audio, tokens.video, tokens.eoc):
        text_now = text  # parsing and rendering are exact inverses: the same text
    else:
        sample = djcodec.retokenize(sample, write_tokens, tokens)
        text_now = sample.text(tokens)
    original = carry.get("record")
    from_fields = original is None
    if from_fields:
        original = sample.fields
    try:
        _validated(original)
    except RecordError:
        return _dj_way(sample, opts, write_tokens, sample.media.get("image", []))
    images = sample.media.get("image", [])
    sides = carry.get("layout", {}).get("sides")
    # the document as read comes back as it was when the text and images are still what reading
    # it gave; compared as strings, without reading it again into chunks
    if _as_read(original, layout, sides) == (text_now, images):
        out = dict(original)
        if not from_fields:
            for key, value in sample.fields.items():  # fields a processing step added (stats...)
                if key not in out:
                    out[key] = value
    else:
        out = _rebuild(sample, original, layout, tokens, images)
    if opts.keep_dj_fields:
        out["images"] = images
        out["text"] = text
    return out


def _rebuild(sample: Sample, original: dict[str, Any], layout: _Layout, tokens: Tokens,
             images: list[Any]) -> dict[str, Any]:
    """Images or sentences were removed or changed after conversion: keep what remains, aligned."""
    sep = layout.sep
    image_dir = layout.image_dir
    orig_sents: list[str] = original["text_list"]
    orig_infos: list[dict[str, Any]] = original["image_info"]
    chunks = _chunk_sentences(sample, tokens, sep, strict_layout={})
    sentences = []
    chunk_of_token: dict[int, int] = {}
    for k, (s, idx, inner) in enumerate(chunks):
        if inner:
            s = _remove_inner(s, tokens.image, sep)
        sentences.append(s)
        for i in idx:
            chunk_of_token[i] = k
    col = _align(sentences, orig_sents)
    used: set[int] = set()
    row_of_image: list[int | None] = []
    for path in images:
        found = None
        for j, info in enumerate(orig_infos):
            if j not in used and posixpath.join(image_dir, info["image_name"]) == path:
                found = j
                break
        if found is None:
            for j, info in enumerate(orig_infos):
                if j not in used and isinstance(path, str) and path.endswith(info["image_name"]):
                    found = j
                    break
        if found is not None:
            used.add(found)
        row_of_image.append(found)
    entries: list[tuple[int | None, dict[str, Any]]] = []
    by_row = {}
    for i, (path, j) in enumerate(zip(images, row_of_image, strict=True)):
        if j is None:
            entry: dict[str, Any] = {"image_name": path}
            if i in chunk_of_token:
                entry["matched_text_index"] = chunk_of_token[i]
            entries.append((None, entry))
            continue
        entry = dict(orig_infos[j])
        if posixpath.join(image_dir, entry["image_name"]) != path:
            entry["image_name"] = path
        if i in chunk_of_token:
            entry["matched_text_index"] = chunk_of_token[i]
        by_row[j] = entry
    ordered = [(j, by_row[j]) for j in sorted(by_row)] + entries
    out = {}
    for key, value in original.items():
        out[key] = value
    for key, value in sample.fields.items():
        if key not in ORIGIN_FIELDS and key != "similarity_matrix":
            out[key] = value
    out["image_info"] = [e for _, e in ordered]
    out["text_list"] = sentences
    matrix = original.get("similarity_matrix")
    if isinstance(matrix, list) and all(isinstance(r, list) for r in matrix):
        out["similarity_matrix"] = [
            [matrix[j][c] if j is not None and c is not None and j < len(matrix) and c < len(matrix[j]) else None
             for c in col]
            for j, _ in ordered
        ]
    return out


def _align(now: list[str], orig: list[str]) -> list[int | None]:
    """Which original sentence each remaining one is: equal sentences in order; a run of changed
    sentences between two anchors keeps its positions when the run lengths agree."""
    col: list[int | None] = [None] * len(now)
    j = 0
    for i, s in enumerate(now):
        for t in range(j, len(orig)):
            if orig[t] == s:
                col[i] = t
                j = t + 1
                break
    # fill gaps positionally where both sides have the same number of unmatched sentences
    prev_i, prev_j = -1, -1
    anchors = [(i, c) for i, c in enumerate(col) if c is not None] + [(len(now), len(orig))]
    for i, c in anchors:
        gap_now = range(prev_i + 1, i)
        gap_orig = range(prev_j + 1, c)
        if len(gap_now) == len(gap_orig):
            for a, b in zip(gap_now, gap_orig, strict=True):
                col[a] = b
        prev_i, prev_j = i, c
    return col


FORMAT = Format(
    name="mmc4",
    description="MMC4 interleaved documents: JSON Lines of {text_list, image_info, similarity_matrix, ...}",
    modalities=("image",),
    file_types=("jsonl", "json", "parquet"),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    example="mmloom convert 'mmc4/docs_shard_*_v2.jsonl' mmc4-dj/ --from mmc4 --to dj",
    prepare_read=_prepare_read,
    prepare_write=_prepare_write,
)
