"""OBELICS <-> Data-Juicer: the Parquet schema of the dataset, exact round trips (fixtures and
generated documents), what Data-Juicer's processing may change, other formats, bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import FIXTURES, first_difference, load_records, strict_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from interleaved_strategies import JSONISH, PLAIN, slot_lists

import mmloom
from mmloom.errors import MmloomError
from mmloom.io.writers import dumps

HERE = FIXTURES / "generated" / "obelics"
JSONL = HERE / "obelics_sample.jsonl"
PARQUET = HERE / "obelics_sample.parquet"
IMG, EOC = "<__dj__image>", "<|__dj__eoc|>"
URL = st.one_of(st.sampled_from(["https://cdn.motor1.com/images/a.jpg", "http://x.org/i?a=1&b=2", "//cdn/x.png"]),
                PLAIN.filter(bool))


def documents() -> list[dict[str, Any]]:
    return load_records(JSONL)


def assert_same(ours: Any, theirs: Any) -> None:
    assert strict_equal(ours, theirs), first_difference(ours, theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert list(a) == list(b)


def column_types(path: Path) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in pq.read_schema(path)}


EXPECTED_TYPES = {"images": pa.list_(pa.string()), "metadata": pa.string(), "general_metadata": pa.string(),
                  "texts": pa.list_(pa.string())}


# -- the Data-Juicer side --------------------------------------------------------------------------

def test_one_chunk_per_text_node_and_metadata_kept_as_json_text() -> None:
    doc = documents()[1]  # text, image, text, image
    dj = mmloom.convert_record(doc, "obelics", "dj")
    t = [x for x in doc["texts"] if x is not None]
    assert dj["text"] == f"{t[0]} {EOC} {IMG} {t[1]} {EOC} {IMG} {EOC}"
    assert dj["images"] == [x for x in doc["images"] if x]
    assert dj["metadata"] == doc["metadata"] and dj["general_metadata"] == doc["general_metadata"]
    assert list(dj) == ["images", "metadata", "general_metadata", "text", "__mmloom__"]
    assert "__mmloom__" not in mmloom.convert_record(doc, "obelics", "dj", {"lossless": False})


def test_empty_string_placeholders_read_as_null() -> None:
    doc = documents()[2]  # an intermediate file's document: "" at text positions of images
    assert doc["images"][0] == ""
    dj = mmloom.convert_record(doc, "obelics", "dj", {"lossless": False})
    assert dj["images"] == [doc["images"][1]]
    back = mmloom.convert_record(dj, "dj", "obelics")
    assert back["images"] == [None, doc["images"][1], None]  # the released form, without the carry


# -- exact round trips and the schema ---------------------------------------------------------------

@pytest.mark.parametrize("dj_type", ["jsonl", "parquet"])
def test_parquet_shard_round_trip_keeps_the_schema(dj_type: str, tmp_path: Path) -> None:
    dj = tmp_path / f"obelics.dj.{dj_type}"
    back = tmp_path / "back.parquet"
    mmloom.convert(PARQUET, dj, src="obelics", dst="dj")
    mmloom.convert(dj, back, src="dj", dst="obelics")
    assert column_types(back) == column_types(PARQUET) == EXPECTED_TYPES
    assert list(column_types(back)) == list(EXPECTED_TYPES)
    assert_same(pq.read_table(back).to_pylist(), pq.read_table(PARQUET).to_pylist())


def test_jsonl_round_trip(tmp_path: Path) -> None:
    mmloom.convert(JSONL, tmp_path / "o.dj.jsonl", src="obelics", dst="dj", options={"sent_separator": "\n"})
    mmloom.convert(tmp_path / "o.dj.jsonl", tmp_path / "back.jsonl", src="dj", dst="obelics")
    assert_same(load_records(tmp_path / "back.jsonl"), documents())


def test_schema_is_fixed_whatever_the_first_batch_holds(tmp_path: Path) -> None:
    """Documents without images (Data-Juicer removed them all) would give list<null> by inference."""
    dj = tmp_path / "noimg.dj.jsonl"
    dj.write_text("\n".join(json.dumps({"text": f"only text {i} {EOC}", "images": []}) for i in range(3)) + "\n")
    out = tmp_path / "noimg.parquet"
    mmloom.convert(dj, out, src="dj", dst="obelics")
    assert column_types(out) == EXPECTED_TYPES
    assert pq.read_table(out).to_pylist()[0] == {"images": [None], "metadata": "[null]", "general_metadata": "{}",
                                                 "texts": ["only text 0"]}


def test_datasets_reads_our_shards_as_it_reads_obelics(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    back = tmp_path / "back.parquet"
    mmloom.convert(JSONL, tmp_path / "o.dj.jsonl", src="obelics", dst="dj")
    mmloom.convert(tmp_path / "o.dj.jsonl", back, src="dj", dst="obelics")
    ours = datasets.load_dataset("parquet", data_files=str(back), split="train", cache_dir=str(tmp_path / "c"))
    theirs = datasets.load_dataset("parquet", data_files=str(PARQUET), split="train", cache_dir=str(tmp_path / "c"))
    assert ours.features == theirs.features
    assert ours.features == datasets.Features({
        "images": datasets.Sequence(datasets.Value("string")), "metadata": datasets.Value("string"),
        "general_metadata": datasets.Value("string"), "texts": datasets.Sequence(datasets.Value("string"))})
    assert ours.to_list()[:2] == theirs.to_list()[:2]


@st.composite
def obelics_documents(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    opts: dict[str, Any] = draw(st.fixed_dictionaries({}, optional={
        "sent_separator": st.sampled_from([" ", "\n", "", "||"]),
        "add_eoc_at_last": st.booleans(),
        "image_special_token": st.sampled_from(["<image>", IMG]),
        "eoc_special_token": st.sampled_from(["<|endofchunk|>", EOC]),
    }))
    images, texts = draw(slot_lists(images=URL))
    meta = [None if not img else draw(st.dictionaries(st.sampled_from(
        ["document_url", "unformatted_src", "src", "alt_text", "original_width"]), JSONISH, max_size=4))
        for img in images]
    fields: list[tuple[str, Any]] = [
        ("images", images), ("texts", texts),
        ("metadata", json.dumps(meta, ensure_ascii=draw(st.booleans()),
                                separators=draw(st.sampled_from([None, (",", ":")])))),
    ]
    if draw(st.booleans()):
        fields.append(("general_metadata", json.dumps(draw(st.dictionaries(PLAIN, JSONISH, max_size=3)))))
    for name in draw(st.lists(st.sampled_from(["num_found", "images_urls", "text", "__dj__stats__"]),
                              unique=True, max_size=2)):
        fields.append((name, draw(st.one_of(st.integers(0, 9), PLAIN, JSONISH))))
    return dict(draw(st.permutations(fields))), opts


@given(obelics_documents())
@settings(max_examples=200, deadline=None)
def test_generated_documents_round_trip_exactly(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    doc, opts = case
    dj = json.loads(dumps(mmloom.convert_record(doc, "obelics", "dj", opts)))
    back = mmloom.convert_record(dj, "dj", "obelics")
    assert_same([back], [doc])


# -- Data-Juicer's processing changed the document ----------------------------------------------------

def test_removed_image_drops_its_metadata_entry() -> None:
    doc = documents()[1]  # text, image a, text, image b
    dj = mmloom.convert_record(doc, "obelics", "dj")
    changed = copy.deepcopy(dj)
    changed["images"] = changed["images"][1:]
    changed["text"] = changed["text"].replace(f"{IMG} ", "", 1)
    changed["__dj__stats__"] = {"image_count": 1}
    back = mmloom.convert_record(changed, "dj", "obelics")
    meta = json.loads(doc["metadata"])
    assert back["images"] == [None, None, doc["images"][3]]
    assert back["texts"] == [doc["texts"][0], doc["texts"][2], None]
    assert json.loads(back["metadata"]) == [meta[0], meta[2], meta[3]]
    assert back["metadata"].isascii()  # written as the dataset writes it, non-ASCII escaped
    assert back["general_metadata"] == doc["general_metadata"]
    assert back["__dj__stats__"] == {"image_count": 1}


# -- other formats ----------------------------------------------------------------------------------

def test_textbook_to_obelics_parquet(tmp_path: Path) -> None:
    out = tmp_path / "tb.parquet"
    src = FIXTURES / "generated" / "textbook" / "textbook_sample.json"
    mmloom.convert(src, out, src="textbook", dst="obelics", options={"keyframe_meta": "off"})
    rows = pq.read_table(out).to_pylist()
    assert {k: column_types(out)[k] for k in EXPECTED_TYPES} == EXPECTED_TYPES
    assert list(column_types(out))[:4] == list(EXPECTED_TYPES)
    for rec, row in zip(load_records(src), rows, strict=True):
        assert row["images"] == rec["images"]
        assert row["texts"] == [t.strip() if t is not None else None for t in rec["texts"]]
        assert json.loads(row["metadata"]) == [None] * len(rec["images"])


def test_obelics_to_mmc4_and_back_to_dj() -> None:
    doc = documents()[0]
    mmc4 = mmloom.convert_record(doc, "obelics", "mmc4", {"lossless": False})
    assert mmc4["text_list"] == [t for t in doc["texts"] if t is not None]
    assert [i["image_name"] for i in mmc4["image_info"]] == [doc["images"][0]]
    assert mmc4["metadata"] == doc["metadata"]


# -- bad input ---------------------------------------------------------------------------------------

GOOD = {"images": ["https://x/a.jpg", None], "metadata": "[{}, null]", "general_metadata": "{}", "texts": [None, "t"]}


@pytest.mark.parametrize("bad, field, words", [
    ({"images": ["https://x/a.jpg", None], "texts": [None]}, "texts", "aligned"),
    ({"images": [None, None], "texts": [None, "t"]}, "texts[0]", "both null"),
    ({"images": ["u", "v"], "texts": ["t", None]}, "texts[0]", "both set"),
    ({"images": [{"path": None, "bytes": "..."}], "texts": [None]}, "images[0]", "string or null"),
    ({**GOOD, "metadata": "[{\"src\": }, null]"}, "metadata", "not valid JSON"),
    ({**GOOD, "metadata": "[null]"}, "metadata", "aligned"),
    ({**GOOD, "metadata": "{}"}, "metadata", "JSON text of a list"),
    ({**GOOD, "general_metadata": "{\"url\": \"x\""}, "general_metadata", "not valid JSON"),
    ({**GOOD, "general_metadata": "[]"}, "general_metadata", "JSON text of an object"),
    ({**GOOD, "general_metadata": 3}, "general_metadata", "must be JSON text"),
])
def test_bad_documents_name_the_record_and_field(bad: dict[str, Any], field: str, words: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(MmloomError) as info:
        mmloom.convert(src, tmp_path / "out.jsonl", src="obelics", dst="dj")
    message = str(info.value)
    assert f"{src}, record 1, line 2" in message and f"field {field!r}" in message and words in message


def test_dj_fields_of_other_origin_become_json_text() -> None:
    dj = {"id": 7, "text": f"{IMG} a cat {EOC}", "images": ["c.jpg"], "metadata": [{"src": "c.jpg"}, None],
          "general_metadata": {"url": "https://x.org"}}
    out = mmloom.convert_record(dj, "dj", "obelics")
    assert out == {"images": ["c.jpg", None], "metadata": '[{"src": "c.jpg"}, null]',
                   "general_metadata": '{"url": "https://x.org"}', "texts": [None, "a cat"], "id": 7}
    dj["metadata"] = "[null]"  # not aligned with the two slots: one null per slot instead
    assert mmloom.convert_record(dj, "dj", "obelics")["metadata"] == "[null, null]"
