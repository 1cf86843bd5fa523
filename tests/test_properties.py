"""Property-based round trips: generated LLaVA records and MMC4 documents with awkward strings
(whitespace at the edges, separators, tokens and role markers inside values, CJK, emoji), int and
str ids, extra fields in any order, come back equal (types and key order included) through
Data-Juicer's format, whatever the reading options."""

from __future__ import annotations

from typing import Any

import orjson
from helpers import first_difference, strict_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmloom
from mmloom.engine.convert import make_plan
from mmloom.errors import MmloomError
from mmloom.model import Chunk, Sample, Text

FRAGMENTS = ["<image>", "<__dj__image>", "<|__dj__eoc|>", "<__dj__audio>", "<img>", "<eoc>", "[[gpt]]: ", "[[human]]: ", "[[x]]:", "\n", " ", "\t",
             "  ", "\n\n", "猫", "😌", "\\", '"', "\u2028", "[[", "]]: "]
PIECE = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12))
TEXT = st.lists(PIECE, max_size=6).map("".join)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                   TEXT)
EXTRA = st.dictionaries(st.sampled_from(["model", "source", "markdown", "score", "tags"]),
                        st.one_of(SCALAR, st.lists(SCALAR, max_size=3), st.dictionaries(st.text(max_size=4), SCALAR, max_size=2)),
                        max_size=2)
ROLE = st.sampled_from(["human", "gpt", "user", "assistant", "human_1", "", "GPT"])
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def llava_records(draw: Any) -> dict[str, Any]:
    rid = draw(st.one_of(st.integers(0, 10**9), TEXT))
    image = draw(st.sampled_from(["missing", "", "path", "none"]))
    n_rounds = draw(st.integers(0 if image in ("missing", "") else 1, 3))
    turns = []
    for _ in range(2 * n_rounds):
        turn: dict[str, Any] = {"from": draw(ROLE), "value": draw(TEXT)}
        if draw(st.integers(0, 9)) == 0:
            turn["markdown"] = draw(EXTRA)
            if draw(st.booleans()):
                turn = {"value": turn["value"], "from": turn["from"], "markdown": turn["markdown"]}
        turns.append(turn)
    record: dict[str, Any] = {"id": rid}
    if image == "path":
        record["image"] = draw(TEXT.filter(bool))
        side = draw(st.booleans())
        turns[0]["value"] = "<image>" + turns[0]["value"] if side else turns[0]["value"] + "<image>"
    elif image == "":
        record["image"] = ""
    elif image == "none":
        record["image"] = None
    record["conversations"] = turns
    return _with_extra_fields(draw, record)


def _with_extra_fields(draw: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The record with extra fields, its keys maybe shuffled."""
    for key, value in draw(EXTRA).items():
        record[key] = value
    if draw(st.booleans()):
        keys = draw(st.permutations(list(record)))
        record = {k: record[k] for k in keys}
    return record


LLAVA_OPTIONS = st.sampled_from([
    {}, {"str_id": False}, {"split_chunk": True},
    {"split_chunk": True, "image_broadcast": True, "image_broadcast_pos": "random"},
    {"split_chunk": True, "image_broadcast": True, "image_broadcast_pos": "follow"},
    {"add_eoc_at_last": False, "sent_separator": " "},
    {"sent_separator": "\n\n", "split_chunk": True, "add_eoc_at_last": False},
    {"only_keep_caption": True},
    {"only_keep_caption": True, "split_chunk": True},
])


def _through_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


@SETTINGS
@given(record=llava_records(), opts=LLAVA_OPTIONS)
def test_llava_round_trip(record: dict[str, Any], opts: dict[str, Any]) -> None:
    dj = _through_json(mmloom.convert_record(record, "llava", "dj", opts))
    back = _through_json(mmloom.convert_record(dj, "dj", "llava"))
    assert strict_equal(back, record), first_difference(back, record)
    assert list(back) == list(record)
    assert [list(t) for t in back["conversations"]] == [list(t) for t in record["conversations"]]


# reading options that decide whether llava's text can be written directly (see llava._text_sample)
LLAVA_GLUE = st.sampled_from([
    {}, {"sent_separator": " "}, {"sent_separator": "\n\n"}, {"add_eoc_at_last": False}, {"str_id": False},
    {"image_special_token": "<img>"}, {"eoc_special_token": "<eoc>"}, {"sent_separator": "[x]"},
    {"image_special_token": "[img]"}, {"sent_separator": ""},
])


def _merged(chunks: list[Chunk]) -> list[Chunk]:
    """The chunks with adjacent text pieces joined and empty ones left out (how a parsed text cuts them)."""
    out = []
    for chunk in chunks:
        pieces: list[Any] = []
        for p in chunk.pieces:
            if isinstance(p, Text) and not p.text:
                continue
            if isinstance(p, Text) and pieces and isinstance(pieces[-1], Text):
                pieces[-1] = Text(pieces[-1].text + p.text)
            else:
                pieces.append(p)
        out.append(Chunk(pieces, chunk.closed))
    return out


@SETTINGS
@given(record=llava_records(), opts=LLAVA_GLUE)
def test_llava_text_written_directly_equals_the_built_layout(record: dict[str, Any], opts: dict[str, Any]) -> None:
    """llava -> dj writes the text directly when it can; the sample it gives has the chunks that
    building them piece by piece gives (up to how adjacent text is cut), and the same Data-Juicer
    record; and dj -> llava gives the same record from the text as from the chunks."""
    plan = make_plan("llava", "dj", opts)
    by_pieces = type(plan.src_opts)(plan.src_opts)
    by_pieces["_as_text"] = False
    built = _outcome(plan.src.to_unified, record, by_pieces)
    direct = _outcome(plan.src.to_unified, record, plan.src_opts)
    if isinstance(built, MmloomError) or isinstance(direct, MmloomError):
        assert str(built) == str(direct)
        return
    dj = plan.dst.from_unified(direct, plan.dst_opts)
    assert orjson.dumps(dj) == orjson.dumps(plan.dst.from_unified(built, plan.dst_opts))
    assert _merged(direct.chunks) == _merged(built.chunks)

    back = make_plan("dj", "llava", {k: v for k, v in opts.items() if k.endswith("_token")})
    for carry in (True, False):
        record_dj = dict(dj) if carry else {k: v for k, v in dj.items() if k != "__mmloom__"}
        held = back.src.to_unified(record_dj, back.src_opts)
        as_chunks = back.src.to_unified(record_dj, back.src_opts)
        assert as_chunks.chunks is not None  # parsed now: the chunks are the sample from here on
        assert held.held_text(back.src_opts["_tokens"]) == record_dj["text"]
        from_text = _outcome(back.dst.from_unified, held, back.dst_opts)
        from_chunks = _outcome(back.dst.from_unified, as_chunks, back.dst_opts)
        if isinstance(from_text, MmloomError) or isinstance(from_chunks, MmloomError):
            assert str(from_text) == str(from_chunks)
        else:
            assert orjson.dumps(from_text) == orjson.dumps(from_chunks)


def _outcome(function: Any, *args: Any) -> Any:
    """What the function returns, or the MmloomError it raises."""
    try:
        return function(*args)
    except MmloomError as exc:
        return exc


@st.composite
def mmc4_docs(draw: Any) -> dict[str, Any]:
    sentences = draw(st.lists(TEXT, max_size=6))
    n_images = draw(st.integers(0, 5))
    infos = []
    for i in range(n_images):
        info: dict[str, Any] = {"image_name": f"{i:012x}.jpg",
                                "matched_text_index": draw(st.integers(0, max(len(sentences), 1)))}
        if draw(st.booleans()):
            info["matched_sim"] = draw(st.floats(0, 1))
            info["raw_url"] = draw(TEXT)
            info["face_detections"] = None
        infos.append(info)
    doc: dict[str, Any] = {"image_info": infos,
                           "similarity_matrix": [[draw(st.floats(0, 1)) for _ in sentences] for _ in infos],
                           "text_list": sentences}
    return _with_extra_fields(draw, doc)


MMC4_OPTIONS = st.sampled_from([
    {}, {"image_dir": "imgs"}, {"image_special_token_insert_pos": "after"},
    {"image_special_token_insert_pos": "random"}, {"keep_other_fields": False},
    {"sent_separator": "\n"}, {"add_eoc_at_last": False},
    {"image_special_token": "<image>", "eoc_special_token": "<|endofchunk|>"},
])


@SETTINGS
@given(doc=mmc4_docs(), opts=MMC4_OPTIONS)
def test_mmc4_round_trip(doc: dict[str, Any], opts: dict[str, Any]) -> None:
    dj = _through_json(mmloom.convert_record(doc, "mmc4", "dj", opts))
    back = _through_json(mmloom.convert_record(dj, "dj", "mmc4"))
    assert strict_equal(back, doc), first_difference(back, doc)
    assert list(back) == list(doc)


@SETTINGS
@given(doc=mmc4_docs(), opts=MMC4_OPTIONS | st.sampled_from([{"sent_separator": ""}, {"sent_separator": "[x]"},
                                                              {"image_special_token": "[img]"}]))
def test_mmc4_text_written_directly_equals_the_built_chunks(doc: dict[str, Any], opts: dict[str, Any]) -> None:
    """mmc4 -> dj writes the text directly when it can: the same Data-Juicer record, and the
    chunks parsed from it are those built piece by piece (up to how adjacent text is cut)."""
    plan = make_plan("mmc4", "dj", opts)
    by_pieces = type(plan.src_opts)(plan.src_opts)
    by_pieces["_mmc4_reading"] = by_pieces["_mmc4_reading"]._replace(as_text=False)
    built = _outcome(plan.src.to_unified, doc, by_pieces)
    direct = _outcome(plan.src.to_unified, doc, plan.src_opts)
    if isinstance(built, MmloomError) or isinstance(direct, MmloomError):
        assert str(built) == str(direct)
        return
    assert orjson.dumps(plan.dst.from_unified(direct, plan.dst_opts)) == orjson.dumps(
        plan.dst.from_unified(built, plan.dst_opts))
    assert _merged(direct.chunks) == _merged(built.chunks)


@SETTINGS
@given(texts=st.lists(st.one_of(st.none(), TEXT), min_size=1, max_size=8),
       layout=st.sampled_from([{}, {"sep": "\n"}, {"eoc_last": False}, {"sep": ""}, {"sep": "[x]"},
                               {"image": "<img>", "eoc": "<eoc>"}, {"image": "[img]"}, {"sep": "\t", "eoc_last": False}]))
def test_slot_text_written_directly_equals_the_built_chunks(texts: list[Any], layout: dict[str, Any]) -> None:
    """textbook and obelics write the text of their text and image lists directly when they can:
    its parse is the chunks built piece by piece (up to how adjacent text is cut)."""
    from mmloom.formats import _slots

    shape = _slots.Layout(**layout)
    paths = [f"img{i}.jpg" for i, t in enumerate(texts) if t is None]
    sample = _slots.column_sample(paths, texts, shape, {}, ["text", "images"])
    built = _slots.column_chunks(paths, texts, shape)
    assert sample.text(shape.tokens) == Sample(chunks=built).text(shape.tokens)
    assert _merged(sample.chunks) == _merged(built)


@SETTINGS
@given(doc=mmc4_docs(), drop=st.data())
def test_mmc4_removed_image_keeps_matrix_aligned(doc: dict[str, Any], drop: Any) -> None:
    """Remove one placed image from a DJ record (text token and path): the way back has one row
    fewer, every remaining row is the original row of its image, and sentences are untouched."""
    token = "<__dj__image>"
    if any(token in s or "<|__dj__eoc|>" in s for s in doc["text_list"]):
        return
    dj = _through_json(mmloom.convert_record(doc, "mmc4", "dj", {}))
    n_tokens = dj["text"].count(token)
    if n_tokens == 0:
        return
    k = drop.draw(st.integers(0, n_tokens - 1))
    pieces = dj["text"].split(token)
    after = pieces[k + 1][1:] if pieces[k + 1].startswith(" ") else pieces[k + 1]  # the token's separator
    dj["text"] = token.join(pieces[: k + 1]) + after + "".join(token + p for p in pieces[k + 2:])
    removed = dj["images"].pop(k)
    back = mmloom.convert_record(dj, "dj", "mmc4")
    names = [i["image_name"] for i in back["image_info"]]
    assert removed not in names
    assert len(names) == len(doc["image_info"]) - 1
    assert back["text_list"] == doc["text_list"]
    assert len(back["similarity_matrix"]) == len(back["image_info"])
    for info, row in zip(back["image_info"], back["similarity_matrix"], strict=True):
        j = [i["image_name"] for i in doc["image_info"]].index(info["image_name"])
        assert row == doc["similarity_matrix"][j]
