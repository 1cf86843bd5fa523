"""MIMIC-IT (Otter) tasks: a folder trio ``XX_instructions.json`` (``{"meta", "data": {ins_id:
{"instruction", "answer", "image_ids", "rel_ins_ids"}}}``), ``XX_train.json`` (``{ins_id: [in-context
ins_id, ...]}``, whose keys are the training set) and ``XX.json`` (``{image_id: base64}``) or its
Parquet form ``XX.parquet``.

The input path is the instructions file; its siblings are found by name (or given by option). One
sample per training instruction, in the train file's order, as Otter's loader builds it: the
in-context instructions (the train file's list, else ``rel_ins_ids``) as earlier rounds and the
query last, one chunk per round, ``[[human]]: instruction`` then ``[[gpt]]: answer``. Where the
image tokens go depends on the task group (``task_group``, by id prefix as Otter's loader routes
them by default): in the first round for the query's images (IMAGE_TEXT, and VIDEO_TEXT with one
token per frame), in every round for that round's own images (IMAGE_TEXT_IN_CONTEXT), nowhere for
TEXT_ONLY. Images are decoded once into ``media_dir`` by the trio reader (``_mimicit_io``); the
samples hold their paths.

The way back writes the trio again: instructions and train mapping equal to the originals (order
and every key included), images re-encoded in their original alphabet. Each instruction travels in
exactly one sample's ``__mmloom__`` (its own when it is a training instruction; otherwise the first
sample that uses it as context, or a neighbour for one nothing uses), with positions, so the files
come back in their original order.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..errors import RecordError, UsageError
from ..model import Media, Piece, Sample, Text, Tokens
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
from .base import Format, default_tokens

DJ_IMAGE = Tokens().image
EOC = Tokens().eoc
HUMAN, GPT = "human", "gpt"
ROUND_SEP = "\n"  # between rounds (after each end-of-chunk token) and between the two turns of a round

IMAGE_TEXT = "IMAGE_TEXT"
IN_CONTEXT = "IMAGE_TEXT_IN_CONTEXT"
VIDEO_TEXT = "VIDEO_TEXT"
TEXT_ONLY = "TEXT_ONLY"
GROUPS = (IMAGE_TEXT, IN_CONTEXT, VIDEO_TEXT, TEXT_ONLY)
# Otter's Sep-2023 loader routes by instruction id prefix (upper-cased)
VIDEO_PREFIXES = ("DC", "FUNQA", "E4D", "TVC", "VIDEOQA")
TEXT_PREFIXES = ("LIMA", "MBPP", "TXT_SHAREGPT", "AL", "CAL", "TEXT_ONLY")
IMAGE_PREFIXES = ("SD", "CGD", "SN", "M3IT", "PF")
DEFAULT_META = {"version": "0.0.1", "time": "", "author": ""}

READ_OPTIONS = (
    Option("media_dir", None, "folder the images are decoded into (needed when the task has images)", type=str),
    Option("images_path", None, "the image file: XX.json, XX.parquet or a folder of Parquet parts "
           "(default: the sibling XX.json, else XX.parquet)", type=str),
    Option("train_path", None, 'the train file (default: the sibling XX_train.json when it exists; "" ignores it)',
           type=str),
    Option("populate_rel_ins", True, "without a train file, use each instruction's rel_ins_ids as its "
           "in-context examples (else none)"),
    Option("task_group", "auto", "where the image tokens go; auto routes by id prefix as Otter's loader does",
           choices=("auto", *GROUPS)),
    Option("image_special_token", DJ_IMAGE, "image token of the Data-Juicer text"),
    Option("eoc_special_token", EOC, "end-of-chunk token (each round is a chunk)"),
    Option("lossless", True, "write __mmloom__ so the way back gives the original trio exactly"),
)

WRITE_OPTIONS = (
    # named apart from the reading options: an option applies to both sides of mimicit -> mimicit,
    # and the image file read must not become the one written
    Option("images_out", None, "the image file to write (default: XX.json beside XX_instructions.json, "
           "or XX.parquet with images_format=parquet)", type=str),
    Option("train_out", None, "the train file to write (default: XX_train.json beside XX_instructions.json)",
           type=str),
    Option("images_format", "auto", "json or parquet image file; auto: as the original task had it (else json)",
           choices=("auto", "json", "parquet")),
    Option("image_special_token", DJ_IMAGE, "image token of the Data-Juicer text"),
    Option("eoc_special_token", EOC, "end-of-chunk token"),
    Option("lossless", True, "use __mmloom__ when present to give back the original trio exactly"),
)


# -- task semantics (shared with the trio reader) ------------------------------------------------

def image_ids_of(entry: Any) -> list[str]:
    """The image ids of an instruction: a list of ids, a bare id (old data), or nothing (text-only
    data has none or null; dict-valued ids of derived sets name video spans, not images)."""
    value = entry.get("image_ids") if isinstance(entry, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [x for x in value if isinstance(x, str)]
    return []


def task_group(query_id: str, entry: Any, option: str) -> str:
    if option != "auto":
        return option
    upper = query_id.upper()
    if upper.startswith("LA"):
        return IMAGE_TEXT if "CONV" in upper else IN_CONTEXT
    if upper.startswith(IMAGE_PREFIXES):
        return IMAGE_TEXT
    if upper.startswith(VIDEO_PREFIXES):
        return VIDEO_TEXT
    if upper.startswith(TEXT_PREFIXES):
        return TEXT_ONLY
    return IMAGE_TEXT if image_ids_of(entry) else TEXT_ONLY


def round_images(group: str, entries: list[Any]) -> list[list[str]]:
    """The image ids whose tokens each round holds (the query is the last entry)."""
    out: list[list[str]] = [[] for _ in entries]
    if not entries:
        return out
    if group in (IMAGE_TEXT, VIDEO_TEXT):
        out[0] = image_ids_of(entries[-1])
    elif group == IN_CONTEXT:
        out = [image_ids_of(e) for e in entries]
    return out


# -- reading: bundle (one training instruction with all it needs) -> sample ----------------------

def _round_entry(entry: Any, what: str, rid: str) -> tuple[str, str]:
    if not isinstance(entry, dict):
        raise RecordError(f"{what} must be an object with instruction and answer, not {type(entry).__name__}",
                          field="data", record_id=rid)
    values = []
    for key in ("instruction", "answer"):
        value = entry.get(key)
        if not isinstance(value, str):
            problem = "is missing" if key not in entry else f"must be a string, not {type(value).__name__}"
            raise RecordError(f"{what}: {key} {problem}", field=key, record_id=rid)
        values.append(value)
    return values[0], values[1]


def _resolve_images(ids: list[str], bundle: dict[str, Any], what: str, rid: str) -> list[str]:
    paths = []
    known = bundle.get("images", {})
    for k, image_id in enumerate(ids):
        found = known.get(image_id)
        field = f"image_ids[{k}]" + ("" if what == "the instruction" else f" of {what}")
        if found is None:
            raise RecordError(f"image {image_id!r} is not in the image file {bundle['file'].get('images_name')}",
                              field=field, record_id=rid)
        if "error" in found:
            raise RecordError(f"image {image_id!r} in {bundle['file'].get('images_name')} {found['error']}",
                              field=field, record_id=rid)
        paths.append(found["path"])
    return paths


def _round_turns(instruction: str, answer: str, paths: list[str]) -> list[Turn]:
    human: list[Piece] = [Media("image", p) for p in paths]
    if paths:
        human.append(Text("\n"))
    if instruction:
        human.append(Text(instruction))
    return [Turn(HUMAN, human), Turn(GPT, [Text(answer)] if answer else [])]


def to_unified(bundle: Any, opts: Options) -> Sample:
    rid = bundle["id"]
    context = bundle["context"]
    for k, (cid, _pos, centry) in enumerate(context):
        if centry is None:
            source = bundle.get("context_source", "train file")
            raise RecordError(f"in-context instruction {cid!r} (from the {source}) is not in the instructions' data",
                              field=f"{'rel_ins_ids' if source == 'rel_ins_ids' else 'train'}[{k}]", record_id=rid)
    rounds = [(cid, cpos, centry) for cid, cpos, centry in context] + [(rid, bundle["pos"], bundle["entry"])]
    group = task_group(rid, bundle["entry"], opts.task_group)
    per_round = round_images(group, [e for _, _, e in rounds])
    groups: list[list[Turn]] = []
    values: list[list[str]] = []
    images: list[str] = []
    path_ids: dict[str, str] = {}
    for (round_id, _pos, entry), ids in zip(rounds, per_round, strict=True):
        what = "the instruction" if round_id == rid and entry is bundle["entry"] else f"in-context instruction {round_id!r}"
        instruction, answer = _round_entry(entry, what, rid)
        owner = bundle["entry"] if group != IN_CONTEXT else entry
        paths = _resolve_images(ids, bundle, "the instruction" if owner is bundle["entry"] else what, rid)
        for image_id, path in zip(ids, paths, strict=True):
            path_ids[path] = image_id
        images += paths
        values.append([instruction, answer])
        groups.append(_round_turns(instruction, answer, paths))
    chunks = lay_out(groups, ROUND_SEP, ROUND_SEP)
    sample = Sample(chunks=chunks, media={"image": images}, fields={"id": rid}, order=["id", "text", "images"])
    if opts.lossless:
        sample.carry = _carry(bundle, rounds, group, groups, values, path_ids, sample, default_tokens(opts))
    return sample


def _without_text(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with instruction and answer left as placeholders (the text holds them), so the
    key order survives."""
    return {k: (None if k in ("instruction", "answer") else v) for k, v in entry.items()}


def _carry(bundle: dict[str, Any], rounds: list[tuple[str, int, Any]], group: str, groups: list[list[Turn]],
           values: list[list[str]], path_ids: dict[str, str], sample: Sample, tokens: Tokens) -> dict[str, Any]:
    in_text = {round_id for round_id, _, _ in rounds}
    own = {bundle["id"]: _without_text(bundle["entry"])}
    hosted = []
    for oid, opos, oentry in bundle.get("own", []):
        if oid in in_text:
            own[oid] = _without_text(oentry)
        else:
            hosted.append([opos, oid, oentry])
    carry: dict[str, Any] = {
        "format": "mimicit",
        "group": group,
        "rounds": [[round_id, pos] for round_id, pos, _ in rounds],
        "train": bundle.get("train_pos"),
        "own": own,
    }
    if hosted:
        carry["hosted"] = hosted
    if path_ids:
        carry["images"] = path_ids
    urlsafe = sorted({i for i in path_ids.values() if bundle["images"][i].get("urlsafe")})
    if urlsafe:
        carry["urlsafe"] = urlsafe
    if (tokens.image, tokens.eoc) != (DJ_IMAGE, EOC):
        carry["tokens"] = [tokens.image, tokens.eoc]
    if not is_exact(groups, sample.chunks, tokens, ROUND_SEP, ROUND_SEP):
        carry["values"] = values
        carry["counts"] = [sum(isinstance(p, Media) for p in g[0].pieces) for g in groups]
        carry["crc"] = text_crc(sample, tokens)
    carry["file"] = bundle["file"]
    return carry


# -- writing: sample -> parts of the trio (the trio writer puts them in their files) --------------

def _strict_rounds(sample: Sample) -> list[tuple[str, str, list[Media]]] | None:
    groups = read_strict(sample.chunks, ROUND_SEP, ROUND_SEP)
    if groups is None:
        return None
    out = []
    for group in groups:
        if len(group) != 2 or (group[0].role, group[1].role) != (HUMAN, GPT):
            return None
        human, answer_pieces = group[0].pieces, group[1].pieces
        media = []
        while human and isinstance(human[0], Media):
            media.append(human.pop(0))
        if media:
            if not human or not isinstance(human[0], Text) or not human[0].text.startswith("\n"):
                return None
            human = [Text(human[0].text[1:])] + human[1:]
        if any(not isinstance(p, Text) for p in human + answer_pieces):
            return None
        out.append((render_value(human, str), render_value(answer_pieces, str), media))
    return out


def _loose_rounds(sample: Sample, tokens: Tokens, rid: Any) -> list[tuple[str, str, list[Media]]]:
    """(human, assistant) pairs of turns, whatever the roles are called; media anywhere in a pair
    belong to its round and leave no trace in its text."""
    turns = read_loose(sample, tokens)
    if len(turns) % 2:
        raise RecordError(f"its text holds {len(turns)} [[role]]: turns; MIMIC-IT needs (instruction, answer) pairs",
                          field="text", record_id=rid)
    out = []
    for k in range(0, len(turns), 2):
        pieces = turns[k].pieces + turns[k + 1].pieces
        media = [p for p in pieces if isinstance(p, Media)]
        plain = [[p for p in t.pieces if not isinstance(p, Media)] for t in turns[k:k + 2]]
        out.append((render_value(plain[0], str).strip(), render_value(plain[1], str).strip(), media))
    return out


def _rounds(sample: Sample, carry: dict[str, Any] | None, tokens: Tokens, rid: Any
            ) -> list[tuple[str, str, list[Media]]]:
    if carry and "values" in carry and carry.get("crc") == text_crc(sample, tokens):
        # the literal tokens of an ambiguous text would shift the pieces' paths: count on the list
        paths = sample.media.get("image", [])
        out, k = [], 0
        for (instruction, answer), n in zip(carry["values"], carry["counts"], strict=True):
            out.append((instruction, answer, [Media("image", p) for p in paths[k:k + n]]))
            k += n
        return out
    return _strict_rounds(sample) or _loose_rounds(sample, tokens, rid)


def _image_id(path: Any, known: dict[str, str]) -> str:
    if path in known:
        return known[path]
    if not isinstance(path, str):
        raise RecordError("image paths must be strings", field="images")
    return os.path.splitext(os.path.basename(path))[0]


def from_unified(sample: Sample, opts: Options) -> dict[str, Any]:
    tokens = default_tokens(opts)
    carry = own_carry(sample, opts, "mimicit")
    sample, tokens = in_tokens(sample, tokens, carry.get("tokens") if carry else None)
    rid = sample.fields.get("id")
    rounds = _rounds(sample, carry, tokens, rid)
    if not rounds:
        raise RecordError("its text holds no [[role]]: turns, so no instruction", field="text", record_id=rid)
    if any(m.modality != "image" for _, _, media in rounds for m in media):
        raise RecordError("holds audio or video; MIMIC-IT instructions hold images (video as frames)",
                          field="text", record_id=rid)
    if any(m.path is None for _, _, media in rounds for m in media):
        raise RecordError("has more image tokens than images", field="images", record_id=rid)
    known = carry.get("images", {}) if carry else {}
    image_rows: dict[str, list[Any]] = {}
    round_ids: list[list[str]] = []
    for _, _, media in rounds:
        ids = []
        for m in media:
            image_id = _image_id(m.path, known)
            if image_id not in image_rows and not os.path.isfile(m.path):
                # the image file of the trio holds the images themselves
                raise RecordError(f"image {m.path} does not exist, so it cannot be written to the image file",
                                  field="images", record_id=rid)
            ids.append(image_id)
            image_rows.setdefault(image_id, [image_id, m.path, image_id in (carry or {}).get("urlsafe", ())])
        round_ids.append(ids)
    parts = _from_carry(rounds, round_ids, carry, rid) if carry else _generic(rounds, round_ids, sample, rid)
    parts["img"] = list(image_rows.values())
    return parts


def _from_carry(rounds: list[tuple[str, str, list[Media]]], round_ids: list[list[str]], carry: dict[str, Any],
                rid: Any) -> dict[str, Any]:
    planned = carry["rounds"]
    if len(planned) != len(rounds):
        raise RecordError(f"its text holds {len(rounds)} rounds but the sample was built from {len(planned)} "
                          f"instructions; the rounds cannot be matched to them", field="text", record_id=rid)
    group = carry["group"]
    query = planned[-1][0]
    instructions: list[list[Any]] = []
    done: set[str] = set()
    for k, ((iid, pos), (instruction, answer, _media)) in enumerate(zip(planned, rounds, strict=True)):
        if iid in done:
            continue
        done.add(iid)
        stored = carry["own"].get(iid)
        if stored is None:  # another sample owns it; this copy stands in if that sample is gone
            ids = round_ids[k] if group == IN_CONTEXT else []
            entry = {"instruction": instruction, "answer": answer, "image_ids": ids, "rel_ins_ids": []}
            instructions.append([pos, iid, entry, False])
            continue
        entry = dict(stored)
        entry["instruction"], entry["answer"] = instruction, answer
        tokens_of = round_ids[k] if group == IN_CONTEXT else round_ids[0] if iid == query and group in (
            IMAGE_TEXT, VIDEO_TEXT) else None
        if tokens_of is not None and tokens_of != image_ids_of(stored):
            entry["image_ids"] = tokens_of  # images were removed or replaced after conversion
        instructions.append([pos, iid, entry, True])
    for pos, hid, hentry in carry.get("hosted", []):
        instructions.append([pos, hid, hentry, True])
    train = None if carry.get("train") is None else [carry["train"], query, [i for i, _ in planned[:-1]]]
    return {"ins": instructions, "train": train, "file": carry.get("file")}


def _generic(rounds: list[tuple[str, str, list[Media]]], round_ids: list[list[str]], sample: Sample,
             rid: Any) -> dict[str, Any]:
    """A sample mmloom did not read from MIMIC-IT: the last round is the training instruction,
    the earlier ones its in-context examples; the query holds every image of the sample (LLaVA's
    one image belongs to the whole conversation), each in-context round its own."""
    if rid is None:
        rid = "INS_" + hashlib.sha1(repr([r[:2] for r in rounds]).encode()).hexdigest()[:12]
    query = str(rid)
    context_ids = [f"{query}_CTX_{k}" for k in range(len(rounds) - 1)]
    all_ids = list(dict.fromkeys(i for ids in round_ids for i in ids))
    instructions = []
    for k, (instruction, answer, _media) in enumerate(rounds[:-1]):
        entry = {"instruction": instruction, "answer": answer, "image_ids": round_ids[k], "rel_ins_ids": []}
        instructions.append([None, context_ids[k], entry, True])
    instruction, answer, _ = rounds[-1]
    entry = {"instruction": instruction, "answer": answer, "image_ids": all_ids, "rel_ins_ids": context_ids}
    instructions.append([None, query, entry, True])
    return {"ins": instructions, "train": [None, query, context_ids], "file": None}


# -- the trio reader and writer (lazy import: they use this module's task semantics) --------------

def _open_reader(path: str, opts: Options) -> Any:
    from ._mimicit_io import TrioReader

    return TrioReader(path, opts)


def _open_writer(path: str, opts: Options) -> Any:
    from ._mimicit_io import TrioWriter

    return TrioWriter(path, opts)


def _check_read(opts: Options) -> Options:
    if opts.media_dir == "":
        raise UsageError("option media_dir for reading mimicit must name a folder")
    return opts


FORMAT = Format(
    name="mimicit",
    description="MIMIC-IT (Otter) task trio: XX_instructions.json + XX_train.json + XX.json/XX.parquet images",
    modalities=("image",),
    file_types=("json",),
    to_unified=to_unified,
    from_unified=from_unified,
    read_options=READ_OPTIONS,
    write_options=WRITE_OPTIONS,
    prepare_read=_check_read,
    open_reader=_open_reader,
    open_writer=_open_writer,
    example="mmloom convert mimicit/DC/DC_instructions.json dc.dj.jsonl --from mimicit --to dj --opt media_dir=dc_images",
)
