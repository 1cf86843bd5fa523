"""MMC4: exact round trips under every reading option on real shards and the golden documents;
what happens when Data-Juicer's processing removed images or sentences in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import GOLDEN, REAL, first_difference, load_records, strict_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import mmc4_docs

import mmloom
from mmloom.errors import RecordError

DOCS = GOLDEN / "mmc4_to_dj" / "docs.input.jsonl"
REAL_SHARD = REAL / "mmc4" / "docs_no_face_shard_151_v3.first107.jsonl"
README_DOC = REAL / "mmc4" / "readme_example_v1.1.jsonl"

VARIANTS: list[dict[str, Any]] = [
    {},
    {"image_dir": "images/mmc4"},
    {"image_special_token_insert_pos": "after"},
    {"image_special_token_insert_pos": "random", "seed": 3},
    {"keep_other_fields": False},
    {"image_special_token": "<image>", "eoc_special_token": "<|endofchunk|>", "add_eoc_at_last": False},
    {"sent_separator": "\n"},
    {"sent_separator": ""},
]


def _write_jsonl(path: Path, records: list[Any]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def _to_dj(src: Path, tmp_path: Path, opts: dict[str, Any] | None = None) -> Path:
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(src, dj, src="mmc4", dst="dj", options=opts or {})
    return dj


def _back(dj: Path, tmp_path: Path, opts: dict[str, Any] | None = None) -> list[Any]:
    out = tmp_path / "back.jsonl"
    mmloom.convert(dj, out, src="dj", dst="mmc4", options=opts or {})
    return load_records(out)


@pytest.mark.parametrize("opts", VARIANTS, ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()) or "defaults")
@pytest.mark.parametrize("src", [DOCS, REAL_SHARD, README_DOC], ids=lambda p: p.stem)
def test_round_trip_is_exact(src: Path, opts: dict[str, Any], tmp_path: Path) -> None:
    original = load_records(src)
    back = _back(_to_dj(src, tmp_path, opts), tmp_path)
    assert strict_equal(back, original), first_difference(back, original)
    assert [list(d) for d in back] == [list(d) for d in original]


def test_real_shard_without_carry_is_data_juicers(tmp_path: Path) -> None:
    back = _back(_to_dj(REAL_SHARD, tmp_path, {"lossless": False}), tmp_path)
    assert strict_equal(back, load_records(GOLDEN / "dj_to_mmc4" / "real_shard151_107docs.expected.jsonl"))


def _doc() -> dict[str, Any]:
    return {
        "image_info": [
            {"image_name": "bbbbbbbbbbbb.jpg", "matched_text_index": 2, "matched_sim": 0.22, "raw_url": "http://x/b"},
            {"image_name": "aaaaaaaaaaaa.jpg", "matched_text_index": 0, "matched_sim": 0.31, "raw_url": "http://x/a"},
            {"image_name": "cccccccccccc.jpg", "matched_text_index": 3, "matched_sim": 0.27, "raw_url": "http://x/c"},
        ],
        "similarity_matrix": [[0.10, 0.11, 0.22, 0.13], [0.31, 0.14, 0.15, 0.16], [0.17, 0.18, 0.19, 0.27]],
        "text_list": ["  First.", "Second sentence.", "", "Fourth, last."],
        "url": "https://example.com/doc",
        "could_have_url_duplicate": 0,
    }


def _converted(tmp_path: Path, opts: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """The Data-Juicer file of _doc() and its record."""
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, [_doc()])
    dj = _to_dj(src, tmp_path, opts)
    return dj, load_records(dj)[0]


def _back_edited(dj: Path, rec: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The MMC4 document of a Data-Juicer record a processing step changed."""
    _write_jsonl(dj, [rec])
    return _back(dj, tmp_path)[0]


def test_removed_image_drops_its_row(tmp_path: Path) -> None:
    dj, rec = _converted(tmp_path)
    # a DJ filter removes image aaaa (the first token) from text and list
    assert rec["images"][0] == "aaaaaaaaaaaa.jpg"
    rec["images"] = rec["images"][1:]
    rec["text"] = rec["text"].replace("<__dj__image> ", "", 1)
    doc = _back_edited(dj, rec, tmp_path)
    assert [i["image_name"] for i in doc["image_info"]] == ["bbbbbbbbbbbb.jpg", "cccccccccccc.jpg"]
    assert [i["matched_text_index"] for i in doc["image_info"]] == [2, 3]
    assert doc["text_list"] == ["  First.", "Second sentence.", "", "Fourth, last."]
    assert doc["similarity_matrix"] == [[0.10, 0.11, 0.22, 0.13], [0.17, 0.18, 0.19, 0.27]]


def test_removed_sentence_drops_its_column_and_renumbers(tmp_path: Path) -> None:
    dj, rec = _converted(tmp_path)
    chunks = rec["text"].split("<|__dj__eoc|>")
    # a DJ mapper removes the second sentence (chunk 1)
    rec["text"] = "<|__dj__eoc|>".join(chunks[:1] + chunks[2:])
    doc = _back_edited(dj, rec, tmp_path)
    assert doc["text_list"] == ["  First.", "", "Fourth, last."]
    assert [(i["image_name"], i["matched_text_index"]) for i in doc["image_info"]] == [
        ("bbbbbbbbbbbb.jpg", 1), ("aaaaaaaaaaaa.jpg", 0), ("cccccccccccc.jpg", 2)]
    assert doc["similarity_matrix"] == [[0.10, 0.22, 0.13], [0.31, 0.15, 0.16], [0.17, 0.19, 0.27]]
    assert doc["url"] == "https://example.com/doc"


def test_image_without_mmc4_origin_is_kept(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    _write_jsonl(dj, [{"id": "x", "images": ["pics/1.jpg", "pics/2.jpg"],
                       "text": "<__dj__image> <__dj__image> Two images. <|__dj__eoc|> Bye. <|__dj__eoc|>"}])
    doc = _back(dj, tmp_path)[0]
    assert doc["image_info"] == [{"image_name": "pics/1.jpg", "matched_text_index": 0},
                                 {"image_name": "pics/2.jpg", "matched_text_index": 0}]
    assert doc["text_list"] == ["Two images.", "Bye."]
    quirky = tmp_path / "q"
    quirky.mkdir()
    assert _back(dj, quirky, {"dj_quirks": True})[0]["image_info"] == []


def test_mid_sentence_token_places_its_image(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    _write_jsonl(dj, [{"images": ["d.jpg", "e.jpg"],
                       "text": "Intro with a <__dj__image> token. <|__dj__eoc|> <__dj__image> Second. <|__dj__eoc|>"}])
    doc = _back(dj, tmp_path)[0]
    assert doc["text_list"] == ["Intro with a token.", "Second."]
    assert [i["matched_text_index"] for i in doc["image_info"]] == [0, 1]


def test_skipped_documents_go_to_rejects(tmp_path: Path) -> None:
    out = tmp_path / "dj.jsonl"
    report = mmloom.convert(GOLDEN / "mmc4_to_dj" / "skip_missing_fields.input.jsonl", out, src="mmc4", dst="dj")
    rejects = load_records(Path(str(out) + ".rejects.jsonl"))
    assert [r["index"] for r in rejects] == [1, 3]
    assert report.skipped_by_format == 2
    assert all("image_info" in r["error"] or "text_list" in r["error"] for r in rejects)


def test_missing_matched_text_index_is_located(tmp_path: Path) -> None:
    src = GOLDEN / "mmc4_to_dj" / "err_missing_matched_text_index.input.jsonl"
    with pytest.raises(RecordError) as info:
        mmloom.convert(src, tmp_path / "o.jsonl", src="mmc4", dst="dj")
    msg = str(info.value)
    assert "line 2" in msg and "matched_text_index" in msg and "image_info[" in msg


def test_renamed_image_is_realigned(tmp_path: Path) -> None:
    """The text is what reading gave, the image list is not: the document is rebuilt, not given back."""
    dj, rec = _converted(tmp_path)
    assert rec["images"][1] == "bbbbbbbbbbbb.jpg"
    rec["images"][1] = "moved/bbbbbbbbbbbb.jpg"
    doc = _back_edited(dj, rec, tmp_path)
    assert [(i["image_name"], i["matched_text_index"]) for i in doc["image_info"]] == [
        ("moved/bbbbbbbbbbbb.jpg", 2), ("aaaaaaaaaaaa.jpg", 0), ("cccccccccccc.jpg", 3)]
    assert doc["similarity_matrix"] == _doc()["similarity_matrix"]
    assert doc["text_list"] == _doc()["text_list"]


@pytest.mark.parametrize("opts", VARIANTS, ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()) or "defaults")
def test_edited_sentence_is_realigned(opts: dict[str, Any], tmp_path: Path) -> None:
    """A sentence a processing step rewrote stays in its place, with its similarity column, under
    every layout (each compares the text as read in its own way)."""
    dj, rec = _converted(tmp_path, opts)
    assert rec["text"].count("Second sentence.") == 1
    rec["text"] = rec["text"].replace("Second sentence.", "Second sentence, rewritten.")
    doc = _back_edited(dj, rec, tmp_path)
    assert doc["text_list"] == ["  First.", "Second sentence, rewritten.", "", "Fourth, last."]
    assert doc["similarity_matrix"] == _doc()["similarity_matrix"]
    assert [i["matched_text_index"] for i in doc["image_info"]] == [2, 0, 3]


def test_negative_matched_text_index_stops_the_placing(tmp_path: Path) -> None:
    """Data-Juicer walks the images sorted by matched_text_index alongside the sentences: an index
    below 0 is never reached, so neither it nor any image after it gets a token."""
    doc = _doc()
    doc["image_info"][2]["matched_text_index"] = -1
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, [doc])
    rec = load_records(_to_dj(src, tmp_path))[0]
    assert "<__dj__image>" not in rec["text"]
    assert rec["images"] == ["cccccccccccc.jpg", "aaaaaaaaaaaa.jpg", "bbbbbbbbbbbb.jpg"]
    back = _back(tmp_path / "dj.jsonl", tmp_path)
    assert strict_equal(back, [doc]), first_difference(back, [doc])


def test_options_without_the_plan_read_the_same() -> None:
    """to_unified called with plainly resolved options (no prepared plan) gives the same record."""
    from mmloom import djcodec
    from mmloom.engine.convert import make_plan
    from mmloom.formats.mmc4 import FORMAT, READ_OPTIONS
    from mmloom.options import resolve

    docs = load_records(REAL_SHARD)[:20] + [_doc()]
    for opts in VARIANTS:
        plan = make_plan("mmc4", "dj", opts)
        plain = resolve(READ_OPTIONS, opts, "test")
        tokens = FORMAT.tokens(plain)
        for doc in docs:
            got = djcodec.to_record(FORMAT.to_unified(doc, plain), tokens)
            want = djcodec.to_record(FORMAT.to_unified(doc, plan.src_opts), tokens)
            assert strict_equal(got, want), first_difference(got, want)


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["image_info"][1].update(matched_text_index=True), "image_info[1].matched_text_index"),
    (lambda d: d["image_info"][0].update(image_name=3), "image_info[0].image_name"),
    (lambda d: d["image_info"][2].pop("image_name"), "image_info[2].image_name"),
    (lambda d: d["text_list"].append(None), "text_list"),
])
def test_bad_document_names_its_field(change: Any, field: str) -> None:
    doc = _doc()
    change(doc)
    with pytest.raises(RecordError) as info:
        mmloom.convert_record(doc, "mmc4", "dj")
    assert info.value.loc.field == field


def test_subclassed_values_are_read() -> None:
    """An image_info entry that is a dict subclass, or an index that is an int subclass, is accepted
    as the field checks accept it (the quick check only lets the usual documents skip them)."""
    from collections import OrderedDict
    from enum import IntEnum

    class Index(IntEnum):
        FOURTH = 3

    doc = _doc()
    doc["image_info"][2] = OrderedDict(doc["image_info"][2], matched_text_index=Index.FOURTH)
    rec = mmloom.convert_record(doc, "mmc4", "dj")
    plain = mmloom.convert_record(_doc(), "mmc4", "dj")
    assert (rec["text"], rec["images"]) == (plain["text"], plain["images"])
    assert rec["text"].endswith("<__dj__image> Fourth, last. <|__dj__eoc|>")


def test_empty_text_is_skipped_and_a_lone_eoc_is_not() -> None:
    """dj_to_mmc4 leaves out a record whose text is empty; a text of only end-of-chunk tokens is not
    empty (its chunks are, so the document has no sentences)."""
    from mmloom.formats.base import SkipRecord

    with pytest.raises(SkipRecord) as info:
        mmloom.convert_record({"text": "", "images": []}, "dj", "mmc4")
    assert info.value.loc.field == "text"
    doc = mmloom.convert_record({"text": "<|__dj__eoc|> <|__dj__eoc|>", "images": ["a.jpg"]}, "dj", "mmc4")
    assert doc == {"image_info": [{"image_name": "a.jpg"}], "text_list": []}


@settings(max_examples=150, deadline=None)
@given(doc=mmc4_docs(), opts=st.sampled_from(VARIANTS), negative=st.booleans())
def test_carry_check_sees_what_reading_gave(doc: dict[str, Any], opts: dict[str, Any], negative: bool) -> None:
    """The way back decides that a document is unchanged by comparing the record's text and images
    with those reading the carried document gives, built as strings: they must be exactly what the
    chunks reading builds render to, under every layout."""
    from mmloom.engine.convert import make_plan
    from mmloom.formats import mmc4

    if negative and doc["image_info"]:
        doc["image_info"][-1]["matched_text_index"] = -1
    sample = mmc4.FORMAT.to_unified(doc, make_plan("mmc4", "dj", opts).src_opts)
    carry = sample.carry
    assert carry is not None
    layout = mmc4._carry_layout(carry)
    read = mmc4._as_read(carry.get("record", doc), layout, carry.get("layout", {}).get("sides"))
    assert read == (sample.text(layout.tokens), sample.media["image"])
