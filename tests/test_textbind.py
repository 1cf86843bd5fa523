"""TextBind: exact round trips (fixture and generated records), the Data-Juicer record it gives,
conversion to LLaVA, and located errors for bad records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import FIXTURES, first_difference, load_records, strict_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmloom
from mmloom.errors import MmloomError, RecordError

TRAIN = FIXTURES / "generated" / "textbind" / "train.json"


def _ordered_equal(a: Any, b: Any) -> bool:
    """Equal values and types, and equal key order everywhere."""
    return strict_equal(a, b) and json.dumps(a) == json.dumps(b)


def _write(tmp_path: Path, records: list[Any], name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False))
    return path


# -- fixture ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dj_file", ["dj.jsonl", "dj.parquet"])
def test_fixture_round_trip_through_files(tmp_path: Path, dj_file: str) -> None:
    dj = tmp_path / dj_file
    back = tmp_path / "back.json"
    mmloom.convert(TRAIN, dj, src="textbind", dst="dj")
    mmloom.convert(dj, back, src="dj", dst="textbind")
    original, again = load_records(TRAIN), load_records(back)
    assert _ordered_equal(again, original), first_difference(again, original)


def test_fixture_round_trip_with_workers(tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    mmloom.convert(TRAIN, one, src="textbind", dst="dj")
    mmloom.convert(TRAIN, two, src="textbind", dst="dj", workers=2)
    assert one.read_bytes() == two.read_bytes()


def test_dj_record_of_the_spec_example(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(TRAIN, dj, src="textbind", dst="dj")
    first = load_records(dj)[0]
    assert first["text"] == (
        "[[user]]: I just got back from a hiking trip, look at this view! <__dj__image> What kind of mountain "
        "is it? <|__dj__eoc|>\n[[assistant]]: It looks like an alpine range with a glacial lake... Here is a "
        "similar scene at sunset: <__dj__image> <|__dj__eoc|>")
    assert first["images"] == ["./data/textbind/images/490272.png", "./data/textbind/images/862235.png"]
    assert first["image_captions"] == ["snow covered peaks above a glacier lake", "mountain lake at sunset"]
    assert first["image_urls"] == ["http://example.invalid/a.jpg", "http://example.invalid/b.jpg"]


def test_converted_set_shapes_keep_their_lists(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(TRAIN, dj, src="textbind", dst="dj", options={"lossless": False})
    llava_like = load_records(dj)[3]
    # caption_list is empty although the turn has an image: no caption for that image
    assert llava_like["images"] == ["coco/train2017/000000033471.jpg"]
    assert llava_like["image_captions"] == [None]
    assert llava_like["image_urls"] == [None]
    assert "__mmloom__" not in llava_like


def test_without_carry_the_way_back_is_the_plain_reading(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    back = tmp_path / "back.json"
    mmloom.convert(TRAIN, dj, src="textbind", dst="dj", options={"lossless": False})
    mmloom.convert(dj, back, src="dj", dst="textbind")
    first = load_records(back)[0]
    turn = first["conversation"][1]
    assert turn == {
        "role": "assistant",
        "content": "It looks like an alpine range with a glacial lake... Here is a similar scene at sunset: <image>",
        "image_list": ["./data/textbind/images/862235.png"], "caption_list": ["mountain lake at sunset"],
        "url_list": ["http://example.invalid/b.jpg"]}
    assert "image_dir" not in first


def test_edited_text_flows_back(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(TRAIN, dj, src="textbind", dst="dj")
    record = load_records(dj)[2]
    record["text"] = record["text"].replace("  Some children", "Some children")
    back = mmloom.convert_record(record, "dj", "textbind")
    original = load_records(TRAIN)[2]
    assert back["conversation"][2]["content"] == original["conversation"][2]["content"].lstrip()
    back["conversation"][2]["content"] = original["conversation"][2]["content"]
    assert _ordered_equal(back, original)


# -- any to any ---------------------------------------------------------------------------------

def test_single_image_conversation_to_llava() -> None:
    record = load_records(TRAIN)[3]
    llava = mmloom.convert_record(record, "textbind", "llava", {"role_names": {"user": "human", "assistant": "gpt"}})
    assert llava == {
        "conversations": [{"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"},
                          {"from": "gpt", "value": "The bus in the image is white and red."}],
        "image": "coco/train2017/000000033471.jpg"}


def test_role_names_come_back(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    back = tmp_path / "back.json"
    options = {"role_names": {"user": "human", "assistant": "gpt"}}
    mmloom.convert(TRAIN, dj, src="textbind", dst="dj", options=options)
    assert load_records(dj)[0]["text"].startswith("[[human]]: ")
    mmloom.convert(dj, back, src="dj", dst="textbind")
    assert _ordered_equal(load_records(back), load_records(TRAIN))


def test_multi_image_conversation_to_llava_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(RecordError) as info:
        mmloom.convert(TRAIN, tmp_path / "out.json", src="textbind", dst="llava")
    message = str(info.value)
    assert "train.json" in message and "record 0" in message and "distinct images" in message


def test_text_only_conversation_to_llava_and_dj() -> None:
    record = load_records(TRAIN)[4]
    llava = mmloom.convert_record(record, "textbind", "llava")
    assert [t["from"] for t in llava["conversations"]] == ["user", "assistant"]
    assert "image" not in llava


def test_llava_to_textbind() -> None:
    llava = load_records(FIXTURES / "real" / "llava" / "llava_instruct_100.json")[0]
    record = mmloom.convert_record(llava, "llava", "textbind")
    assert record["conversation"][0]["image_list"] == [llava["image"]]
    assert record["conversation"][0]["content"] == llava["conversations"][0]["value"]
    assert [t["role"] for t in record["conversation"]] == [t["from"] for t in llava["conversations"]]


# -- bad input ----------------------------------------------------------------------------------

GOOD = {"conversation": [{"role": "user", "content": "hi <image>", "image_list": ["1.png"],
                          "caption_list": ["c"], "url_list": ["u"]}]}


@pytest.mark.parametrize(("bad", "field", "words"), [
    ({"conversation": [{"role": "user", "content": "<image> <image>", "image_list": ["1.png"]}]},
     "conversation[0].content", "2 <image> tag(s) but image_list names 1"),
    ({"conversation": [{"role": "user", "content": 7}]}, "conversation[0].content", "must be a string"),
    ({"conversation": [{"content": "x"}]}, "conversation[0].role", "is missing"),
    ({"conversation": [{"role": "user", "content": "x", "image_list": "1.png"}]}, "conversation[0].image_list",
     "must be a list"),
    ({"conversation": "hello"}, "conversation", "must be list"),
    ({"image_dir": "x"}, "conversation", "is missing"),
    ({"conversation": ["hello"]}, "conversation[0]", "must be an object"),
])
def test_bad_records_are_located(tmp_path: Path, bad: dict[str, Any], field: str, words: str) -> None:
    path = _write(tmp_path, [GOOD, bad])
    with pytest.raises(RecordError) as info:
        mmloom.convert(path, tmp_path / "out.jsonl", src="textbind", dst="dj")
    message = str(info.value)
    assert "in.json" in message and "record 1" in message and f"field {field!r}" in message and words in message


def test_misaligned_captions_are_located(tmp_path: Path) -> None:
    dj = mmloom.convert_record(GOOD, "textbind", "dj")
    dj["image_captions"] = []
    path = tmp_path / "in.jsonl"
    path.write_bytes(orjson.dumps(dj) + b"\n")
    with pytest.raises(RecordError) as info:
        mmloom.convert(path, tmp_path / "out.json", src="dj", dst="textbind")
    assert "record 0" in str(info.value) and "image_captions" in str(info.value)


def test_wrong_dj_token_is_a_clear_error() -> None:
    # LLaVA-style Data-Juicer text with "<image>" read with the default Data-Juicer token
    dj = {"text": "[[human]]: <image>\nWhat? <|__dj__eoc|>\n[[gpt]]: This. <|__dj__eoc|>", "images": ["a.jpg"]}
    with pytest.raises(MmloomError, match="image_special_token"):
        mmloom.convert_record(dj, "dj", "textbind")
    ok = mmloom.convert_record(dj, "dj", "textbind", {"image_special_token": "<image>"})
    assert ok["conversation"][0] == {"role": "human", "content": "<image>\nWhat?", "image_list": ["a.jpg"],
                                     "caption_list": [], "url_list": []}


# -- generated records --------------------------------------------------------------------------

AWKWARD = st.sampled_from([
    "", " ", "  ", "\n", "\r\n", "\t", "中文字", "🙂🚀", "<image", "image>", "[[user]]: ", "[[gpt]]:", "[[x]]: ",
    "<|__dj__eoc|>", " <|__dj__eoc|>\n", "<__dj__image>", "<img0> cat </img0>", "Human: hi", "a\n\nb",
])
FRAGMENT = st.one_of(AWKWARD, st.text(max_size=12), st.lists(AWKWARD, max_size=3).map("".join))
VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                  st.text(max_size=8))
# the JSON array reader (yajl) stops at integers past 64 bits; records in files stay within them
FILE_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-(2**63) + 1, 2**63 - 1), st.text(max_size=8))


@st.composite
def turns(draw: st.DrawFn, value: st.SearchStrategy[Any] = VALUE) -> dict[str, Any]:
    fragments = [f.replace("<image>", "") for f in draw(st.lists(FRAGMENT, min_size=1, max_size=4))]
    content = "<image>".join(fragments)
    n = len(fragments) - 1
    names = draw(st.lists(st.sampled_from(["1.png", "490272.png", "a b.png", "", "/abs/x.png", "coco/1.jpg"]),
                          min_size=n, max_size=n))
    values: dict[str, Any] = {
        "role": draw(st.sampled_from(["user", "assistant", "system", "gpt_4", "", "Human"])),
        "content": content,
        "image_list": names,
        "caption_list": draw(st.one_of(st.lists(FRAGMENT, min_size=n, max_size=n), st.just([]), st.none())),
        "url_list": draw(st.one_of(st.lists(st.text(max_size=6), min_size=n, max_size=n), st.just([]))),
        "turn_id": draw(value),
    }
    keys = draw(st.permutations(list(values)))
    keep = [k for k in keys if k in ("role", "content") or draw(st.booleans())]
    if n and "image_list" not in keep:
        keep.append("image_list")
    return {k: values[k] for k in keep}


@st.composite
def records(draw: st.DrawFn, value: st.SearchStrategy[Any] = VALUE) -> dict[str, Any]:
    values: dict[str, Any] = {
        "conversation": draw(st.lists(turns(value), max_size=4)),
        "image_dir": draw(st.sampled_from(["./data/textbind/images", "imgs/", "/abs", "", None])),
        "id": draw(value),
        "text": draw(st.text(max_size=5)),
        "images": draw(st.lists(st.text(max_size=3), max_size=2)),
        "source": draw(FRAGMENT),
    }
    keys = draw(st.permutations(list(values)))
    return {k: values[k] for k in keys if k == "conversation" or draw(st.booleans())}


@settings(max_examples=150, deadline=None)
@given(records(), st.sampled_from([{}, {"sent_separator": " "}, {"role_names": {"user": "human"}},
                                   {"image_dir": "root"}, {"image_special_token": "<img>", "eoc_special_token": "<e>"}]))
def test_generated_records_round_trip(record: dict[str, Any], options: dict[str, Any]) -> None:
    dj = mmloom.convert_record(record, "textbind", "dj", options)
    dj = orjson.loads(orjson.dumps(dj, option=orjson.OPT_NON_STR_KEYS)) if _small_ints(record) else dj
    back = mmloom.convert_record(dj, "dj", "textbind", {k: v for k, v in options.items() if "token" in k})
    assert _ordered_equal(back, record), first_difference(back, record)


def _small_ints(value: Any) -> bool:
    """Whether orjson can encode the value (it refuses integers past 64 bits)."""
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(records(FILE_VALUE), max_size=4))
def test_generated_files_round_trip(tmp_path: Path, batch: list[dict[str, Any]]) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(batch))
    mmloom.convert(path, tmp_path / "dj.jsonl", src="textbind", dst="dj")
    mmloom.convert(tmp_path / "dj.jsonl", tmp_path / "back.json", src="dj", dst="textbind")
    again = load_records(tmp_path / "back.json")
    assert _ordered_equal(again, json.loads(path.read_text())), first_difference(again, batch)
