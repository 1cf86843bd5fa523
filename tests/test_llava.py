"""LLaVA: exact round trips through Data-Juicer's format, under every reading option, on real and
golden-set records; Data-Juicer-compatible reading of DJ's own output; located errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import GOLDEN, REAL, first_difference, load_records, strict_equal

import mmloom
from mmloom.errors import RecordError, UsageError

MIXED = GOLDEN / "llava_to_dj" / "mixed.input.json"
PRETRAIN = GOLDEN / "llava_to_dj" / "pretrain.input.json"
CUSTOM = GOLDEN / "llava_to_dj" / "custom_tokens.input.json"
ROLE_MARKER = GOLDEN / "llava_to_dj" / "role_marker_in_value.input.json"
REAL_100 = REAL / "llava" / "llava_instruct_100.json"

READ_VARIANTS: list[dict[str, Any]] = [
    {},
    {"str_id": False},
    {"split_chunk": True},
    {"split_chunk": True, "image_broadcast": True, "image_broadcast_pos": "before"},
    {"split_chunk": True, "image_broadcast": True, "image_broadcast_pos": "after"},
    {"split_chunk": True, "image_broadcast": True, "image_broadcast_pos": "follow"},
    {"split_chunk": True, "image_broadcast": True, "image_broadcast_pos": "random", "seed": 7},
    {"add_eoc_at_last": False, "sent_separator": " "},
    {"only_keep_caption": True},
    {"only_keep_caption": True, "split_chunk": True, "sent_separator": "\n\n"},
]


def _round_trip(src: Path, tmp_path: Path, read_opts: dict[str, Any], write_opts: dict[str, Any] | None = None,
                dj_name: str = "dj.jsonl") -> tuple[list[Any], list[Any]]:
    dj = tmp_path / dj_name
    back = tmp_path / "back.json"
    mmloom.convert(src, dj, src="llava", dst="dj", options=read_opts)
    mmloom.convert(dj, back, src="dj", dst="llava", options=write_opts or {})
    return json.loads(src.read_text()), json.loads(back.read_text())


@pytest.mark.parametrize("opts", READ_VARIANTS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
@pytest.mark.parametrize("src", [MIXED, PRETRAIN, REAL_100, ROLE_MARKER], ids=lambda p: p.stem)
def test_round_trip_is_exact(src: Path, opts: dict[str, Any], tmp_path: Path) -> None:
    if opts.get("only_keep_caption") and src == ROLE_MARKER:
        pytest.skip("no image token to keep")
    original, back = _round_trip(src, tmp_path, opts)
    assert strict_equal(back, original), first_difference(back, original)
    # key order too
    assert [list(r) for r in back] == [list(r) for r in original]
    assert [[list(t) for t in r["conversations"]] for r in back] == [[list(t) for t in r["conversations"]] for r in original]


def test_round_trip_with_custom_tokens(tmp_path: Path) -> None:
    opts = {"image_special_token": "<img>", "eoc_special_token": "<|endofchunk|>", "sent_separator": "\n\n",
            "split_chunk": True}
    original, back = _round_trip(CUSTOM, tmp_path, opts, {"image_special_token": "<img>",
                                                          "eoc_special_token": "<|endofchunk|>"})
    assert strict_equal(back, original), first_difference(back, original)


@pytest.mark.parametrize("dj_name", ["dj.parquet", "dj.jsonl.gz", "dj.jsonl.zst", "dj.json"])
def test_round_trip_through_other_file_types(dj_name: str, tmp_path: Path) -> None:
    original, back = _round_trip(MIXED, tmp_path, {}, dj_name=dj_name)
    assert strict_equal(back, original), first_difference(back, original)


def test_without_carry_behaves_like_data_juicer(tmp_path: Path) -> None:
    """lossless=false on the way back ignores __mmloom__: Data-Juicer's result, losses included."""
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(MIXED, dj, src="llava", dst="dj")
    back = tmp_path / "back.json"
    mmloom.convert(dj, back, src="dj", dst="llava", options={"lossless": False})
    expected = load_records(GOLDEN / "dj_to_llava" / "mixed_default.expected.json")
    assert strict_equal(load_records(back), expected)


def test_dj_processing_that_edits_text_still_converts(tmp_path: Path) -> None:
    """A DJ step that rewrote an answer: the new answer comes back, the rest stays exact."""
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(MIXED, dj, src="llava", dst="dj")
    records = load_records(dj)
    records[0]["text"] = records[0]["text"].replace("white and red", "red and white")
    dj.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    back = tmp_path / "back.json"
    mmloom.convert(dj, back, src="dj", dst="llava")
    out = json.loads(back.read_text())
    original = json.loads(MIXED.read_text())
    assert out[0]["conversations"][1]["value"] == "The bus in the image is red and white."
    assert strict_equal(out[1:], original[1:])


def test_role_marker_in_value_fails_on_data_juicer_output(tmp_path: Path) -> None:
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(ROLE_MARKER, dj, src="llava", dst="dj", options={"lossless": False})
    with pytest.raises(RecordError) as info:
        mmloom.convert(dj, tmp_path / "back.json", src="dj", dst="llava")
    assert "record 0" in str(info.value) and "'text'" in str(info.value)
    assert not (tmp_path / "back.json").exists()


def test_llava_to_mmc4_any_to_any(tmp_path: Path) -> None:
    out = tmp_path / "docs.jsonl"
    mmloom.convert(REAL_100, out, src="llava", dst="mmc4")
    docs = load_records(out)
    original = json.loads(REAL_100.read_text())
    assert len(docs) == 100
    for doc, rec in zip(docs, original, strict=True):
        assert doc["id"] == rec["id"]
        assert [i["image_name"] for i in doc["image_info"]] == [rec["image"]]
        assert doc["image_info"][0]["matched_text_index"] == 0
        assert "<image>" not in doc["text_list"][0]
        assert rec["conversations"][1]["value"].strip() in doc["text_list"][0]


@pytest.mark.parametrize(
    ("records", "field", "words"),
    [
        ([{"id": "a", "image": "x.jpg", "conversations": [{"from": "human", "value": "<image>\nq"}]}],
         "conversations", "odd number of turns (1)"),
        ([{"id": "b", "image": "x.jpg", "conversations": [{"from": "human", "value": "q <image> q"},
                                                          {"from": "gpt", "value": "a"}]}],
         "conversations[0].value", "must open or close"),
        ([{"id": "c", "conversations": [{"from": "human"}, {"from": "gpt", "value": "a"}]}],
         "conversations[0].value", "is missing"),
        ([{"image": "x.jpg", "conversations": []}], "id", "is missing"),
        ([{"id": "e", "conversations": "hello"}], "conversations", "must be list"),
        ([["not", "an", "object"]], None, "JSON object"),
    ],
)
def test_bad_records_are_located(records: list[Any], field: str | None, words: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text(json.dumps([{"id": "ok", "conversations": []}] + records))
    with pytest.raises(RecordError) as info:
        mmloom.convert(src, tmp_path / "out.jsonl", src="llava", dst="dj")
    msg = str(info.value)
    assert str(src) in msg and "record 1" in msg and words in msg
    if field:
        assert repr(field) in msg


def test_broadcast_needs_split_chunk() -> None:
    with pytest.raises(UsageError, match="split_chunk"):
        mmloom.convert(MIXED, "/tmp/never.jsonl", src="llava", dst="dj", options={"image_broadcast": True})


def test_two_distinct_images_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="2 distinct images"):
        mmloom.convert(GOLDEN / "dj_to_llava" / "err_two_distinct_images.input.jsonl", tmp_path / "o.json",
                       src="dj", dst="llava")


def test_video_samples_are_refused_not_mislabelled(tmp_path: Path) -> None:
    src = REAL / "llama_factory_sharegpt" / "mllm_video_demo.json"
    with pytest.raises(RecordError, match="has video media") as info:
        mmloom.convert(src, tmp_path / "o.json", src="llama_factory_sharegpt", dst="llava",
                       options={"conversations_key": "messages", "from_key": "role", "value_key": "content",
                                "multimodal_keys": ["videos"]})
    assert "record 0" in str(info.value) and "'videos'" in str(info.value)
