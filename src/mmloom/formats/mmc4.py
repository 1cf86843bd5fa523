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

import posixpath
import random
import zlib
from typing import Any

from .. import djcodec
from ..errors import RecordError
from ..model import Media, Piece, Sample, Text, Tokens
from ..options import Option, Options
from .base import Format, SkipRecord, chunked, default_tokens

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

def _validated(record: Any) -> tuple[list[str], list[dict[str, Any]]]:
    if not isinstance(record, dict):
        raise RecordError(f"an MMC4 document must be a JSON object, not {type(record).__name__}")
    for key in ORIGIN_FIELDS:
        if key not in record:
            # Data-Juicer skips such documents and lists them in <target>_failed.txt
            raise SkipRecord(f"has no {key!r}, which an MMC4 document needs", field=key)
    sentences, infos = record["text_list"], record["image_info"]
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise RecordError("must be a list of strings", field="text_list")
    if not isinstance(infos, list):
        raise RecordError("must be a list of objects", field="image_info")
    for i, info in enumerate(infos):
        if not isinstance(info, dict):
            raise RecordError("must be an object", field=f"image_info[{i}]")
        for key, kind in (("image_name", str), ("matched_text_index", int)):
            if key not in info:
                raise RecordError("is missing", field=f"image_info[{i}].{key}")
            if not isinstance(info[key], kind) or isinstance(info[key], bool):
                raise RecordError(f"must be {kind.__name__}", field=f"image_info[{i}].{key}")
    return sentences, infos


def _sides(record: dict, n: int, opts: Options) -> list[str]:
    pos = opts.image_special_token_insert_pos
    if "_sides" in opts:  # replaying a recorded random layout: one letter per sentence with images
        recorded = iter(opts["_sides"])
        return ["before" if next(recorded, "b") == "b" else "after" for _ in range(n)]
    if pos != "random":
        return [pos] * n
    rng = random.Random(opts.seed * 1_000_003 + zlib.crc32(str(record.get("url", "")).encode() + str(n).encode()))
    return ["before" if rng.random() < 0.5 else "after" for _ in range(n)]


def to_unified(record: Any, opts: Options) -> Sample:
    sentences, infos = _validated(record)
    sep = opts.sent_separator
    image_dir = opts.image_dir or ""
    ordered = sorted(infos, key=lambda info: info["matched_text_index"])  # stable, as Data-Juicer's
    images = ([posixpath.join(image_dir, info["image_name"]) for info in ordered] if image_dir
              else [info["image_name"] for info in ordered])  # joining onto "" changes nothing
    sides = _sides(record, len(sentences), opts)
    replay = "_sides" in opts
    parts: list[list[Piece]] = []
    used_sides = []
    nxt = 0
    for k, sentence in enumerate(sentences):
        m = 0
        while nxt < len(ordered) and ordered[nxt]["matched_text_index"] == k:
            m += 1
            nxt += 1
        pieces: list[Piece] = [Text(sentence)] if sentence else []
        if m:
            toks: list[Piece] = []
            for j in range(m):
                if j:
                    toks.append(Text(sep))
                toks.append(Media("image"))
            side = sides[len(used_sides)] if replay else sides[k]
            if side == "before":
                pieces = toks + [Text(sep)] + pieces
            else:
                pieces = pieces + [Text(sep)] + toks
            used_sides.append(side[0])
        parts.append(pieces)
    chunks = chunked(parts, sep, opts.add_eoc_at_last)
    fields = dict(record) if opts.keep_other_fields else {}
    order = (list(record.keys()) if opts.keep_other_fields else []) + ["images", "text"]
    sample = Sample(chunks=chunks, media={"image": images}, fields=fields, order=order)
    djcodec.assign_paths(sample)
    if opts.lossless:
        carry: dict[str, Any] = {"format": "mmc4"}
        layout = {}
        if sep != " ":
            layout["sep"] = sep
        if opts.image_special_token_insert_pos != "before":
            layout["sides"] = "".join(used_sides)
        if not opts.add_eoc_at_last:
            layout["eoc_last"] = False
        if opts.image_special_token != IMAGE or opts.eoc_special_token != EOC:
            layout["tokens"] = [opts.image_special_token, opts.eoc_special_token]
        if image_dir:
            layout["image_dir"] = image_dir
        if layout:
            carry["layout"] = layout
        if not opts.keep_other_fields:
            carry["record"] = record
        sample.carry = carry
    return sample


# -- writing ---------------------------------------------------------------------------------

def _chunk_sentences(sample: Sample, tokens: Tokens, sep: str, strict_layout: dict | None
                     ) -> list[tuple[str, list[int], bool]]:
    """Each chunk as (sentence, indices of the image tokens in it, whether a token stood inside the
    sentence). With ``strict_layout`` (our own output) exactly the separators reading added are
    removed; without, Data-Juicer's stripping applies."""
    out = []
    counter = 0
    n = len(sample.chunks)
    for k, chunk in enumerate(sample.chunks):
        n_tokens = sum(1 for p in chunk.pieces if isinstance(p, Media) and p.modality == "image")
        idx = list(range(counter, counter + n_tokens))
        counter += n_tokens
        s = chunk.render(tokens)
        if strict_layout is not None:
            if k and sep and s.startswith(sep):
                s = s[len(sep):]
            last_open = k == n - 1 and not chunk.closed
            if not last_open and s.endswith(" "):
                s = s[:-1]
            s, inner = _untoken(s, tokens.image, sep, strict=True)
        else:
            s = s.strip()
            if not s:
                continue
            if sep and s.endswith(sep):
                s = s[: -len(sep)].strip()
            if sep and s.startswith(sep):
                s = s[len(sep):].strip()
            s, inner = _untoken(s, tokens.image, sep, strict=False)
        out.append((s, idx, inner))
    return out


def _untoken(s: str, tok: str, sep: str, strict: bool) -> tuple[str, bool]:
    def cut_head(x: str) -> str:
        x = x[len(tok):]
        if strict:
            return x[len(sep):] if sep and x.startswith(sep) else x
        x = x.strip()
        return x[len(sep):].strip() if sep and x.startswith(sep) else x

    def cut_tail(x: str) -> str:
        x = x[: -len(tok)]
        if strict:
            return x[: -len(sep)] if sep and x.endswith(sep) else x
        x = x.strip()
        return x[: -len(sep)].strip() if sep and x.endswith(sep) else x

    if not tok:
        return s, False
    while s.startswith(tok):
        s = cut_head(s)
    while s.endswith(tok):
        s = cut_tail(s)
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


def from_unified(sample: Sample, opts: Options) -> Any:
    tokens = default_tokens(opts)
    carry = sample.carry if opts.lossless and sample.carry and sample.carry.get("format") == "mmc4" else None
    if carry is not None:
        return _from_carry(sample, carry, opts)
    if sample.has_text and not sample.text(tokens):
        raise SkipRecord("has an empty text (Data-Juicer's dj_to_mmc4 leaves such documents out)", field="text")
    if "image" not in sample.media:
        raise RecordError("is missing", field="images")
    return _dj_way(sample, opts, tokens, sample.media["image"])


def _dj_way(sample: Sample, opts: Options, tokens: Tokens, images: list[Any]) -> dict[str, Any]:
    """dj_to_mmc4: suffix-match images to the document's own image_info, number the chunks."""
    fields = sample.fields
    originals = [dict(info) for info in fields.get("image_info", []) if isinstance(info, dict)]
    infos: list[dict[str, Any]] = []
    origin_of: list[dict[str, Any] | None] = []
    for path in images:
        found = None
        for orig in originals:
            name = orig.get("image_name")
            if isinstance(name, str) and isinstance(path, str) and path.endswith(name):
                found = orig
                break
        if found is not None:
            found["image_name"] = path
            infos.append(found)
        else:
            infos.append({"image_name": path})
        origin_of.append(found)
    sentences = []
    sep = opts.sent_separator
    handed = 0
    for k, (s, idx, inner) in enumerate(_chunk_sentences(sample, tokens, sep, None)):
        if opts.dj_quirks:
            # Data-Juicer counts only the tokens at the edges of the sentence and hands them to
            # the images in list order, whichever token they are
            for _ in range(len(idx) - s.count(tokens.image)):
                if handed < len(infos):
                    infos[handed]["matched_text_index"] = k
                    handed += 1
        else:
            if inner:
                s = _remove_inner(s, tokens.image, sep).strip()
            for i in idx:
                if i < len(infos):
                    infos[i]["matched_text_index"] = k
        sentences.append(s)
    final = []
    for orig in originals:
        for info in infos:
            if isinstance(info.get("image_name"), str) and info["image_name"].endswith(orig["image_name"]):
                final.append(info)
                break
    if not opts.dj_quirks:
        final_ids = {id(x) for x in final}
        final.extend(info for info in infos if id(info) not in final_ids)
    out = dict(fields)
    out["image_info"] = final
    out["text_list"] = sentences
    if opts.keep_dj_fields:
        out["images"] = images
        out["text"] = sample.text(tokens)
    return out


def _carry_opts(carry: dict[str, Any]) -> tuple[Options, Tokens]:
    layout = carry.get("layout", {})
    tok, eoc = layout.get("tokens", [IMAGE, EOC])
    opts = Options({o.name: o.default for o in READ_OPTIONS})
    opts.update(
        image_dir=layout.get("image_dir"), eoc_special_token=eoc, image_special_token=tok,
        add_eoc_at_last=layout.get("eoc_last", True), sent_separator=layout.get("sep", " "),
        lossless=False, keep_other_fields=True,
    )
    return opts, Tokens(image=tok, eoc=eoc)


def _from_carry(sample: Sample, carry: dict[str, Any], opts: Options) -> dict[str, Any]:
    read_opts, tokens = _carry_opts(carry)
    write_tokens = default_tokens(opts)
    text = sample.text(write_tokens)
    sample = djcodec.retokenize(sample, write_tokens, tokens)
    original = carry.get("record")
    if original is None:
        original = {k: v for k, v in sample.fields.items()}
    sides = carry.get("layout", {}).get("sides")
    try:
        _validated(original)
    except RecordError:
        return _dj_way(sample, opts, write_tokens, sample.media.get("image", []))
    images = sample.media.get("image", [])
    again = to_unified(original, _with_sides(read_opts, sides))
    if again.text(tokens) == sample.text(tokens) and again.media["image"] == images:
        out = dict(original)
        for key, value in sample.fields.items():  # fields a processing step added (stats...)
            if key not in out:
                out[key] = value
    else:
        out = _rebuild(sample, original, read_opts, tokens, images)
    if opts.keep_dj_fields:
        out["images"] = images
        out["text"] = text
    return out


def _with_sides(opts: Options, sides: str | None) -> Options:
    if sides is None:
        return opts
    o = Options(opts)
    o["image_special_token_insert_pos"] = "random"
    o["_sides"] = sides
    return o


def _rebuild(sample: Sample, original: dict[str, Any], read_opts: Options, tokens: Tokens,
             images: list[Any]) -> dict[str, Any]:
    """Images or sentences were removed or changed after conversion: keep what remains, aligned."""
    sep = read_opts.sent_separator
    image_dir = read_opts.image_dir or ""
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
)
