"""Multimodal Textbook <-> Data-Juicer: layout, exact round trips (fixtures and generated
samples), keyframe names, what Data-Juicer's processing may change, other formats, bad input."""

from __future__ import annotations

import copy
import json
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers import FIXTURES, first_difference, load_records, strict_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from interleaved_strategies import JSONISH, KEYFRAME, PLAIN, TEXT, VIDEO_ID, slot_lists

import mmloom
from mmloom.cli import main as cli_main
from mmloom.errors import MmloomError, RecordError
from mmloom.formats.textbook import Keyframe, estimate_text_num, parse_keyframe_name
from mmloom.io.writers import dumps

SAMPLE = FIXTURES / "generated" / "textbook" / "textbook_sample.json"
IMG, EOC = "<__dj__image>", "<|__dj__eoc|>"


def records() -> list[dict[str, Any]]:
    return load_records(SAMPLE)


def via_dj(record: Any, read: dict[str, Any] | None = None, write: dict[str, Any] | None = None) -> Any:
    dj = mmloom.convert_record(record, "textbook", "dj", read)
    dj = json.loads(dumps(dj))  # as it is stored
    return mmloom.convert_record(dj, "dj", "textbook", write)


def assert_same(ours: Any, theirs: Any) -> None:
    assert strict_equal(ours, theirs), first_difference(ours, theirs)
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)


# -- keyframe names ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("-1uixJ1V-As@10.0_55.0#2.jpg", Keyframe("-1uixJ1V-As", 10.0, 55.0, 2)),
    ("/mnt/workspace/zwq_data/interleaved_dataset/dataset_images_interval_7/-1uixJ1V-As/-1uixJ1V-As@0.0_10.0#1.jpg",
     Keyframe("-1uixJ1V-As", 0.0, 10.0, 1)),
    ("Xb_3-q_Zk0A@120.0_148.5#13.jpg", Keyframe("Xb_3-q_Zk0A", 120.0, 148.5, 13)),
    ("a_b@1_2#3.png", Keyframe("a_b", 1.0, 2.0, 3)),
])
def test_keyframe_names_parse_from_the_right(name: str, expected: Keyframe) -> None:
    got = parse_keyframe_name(name)
    assert got == expected
    assert got.video_url == f"https://www.youtube.com/watch?v={expected.video_id}"


@pytest.mark.parametrize("name", [
    "-1uixJ1V-As@10.0_55.0.jpg", "-1uixJ1V-As_10.0_55.0#2.jpg", "@10.0_55.0#2.jpg", "vid@10.0-55.0#2.jpg",
    "vid@10.0_55.0#0.jpg", "vid@10.0_55.0#two.jpg", "vid@55.0_10.0#1.jpg", "vid@10.0_55.0#2", "v i@1.0_2.0#1.jpg",
    "vid@nan_1.0#1.jpg", "",
])
def test_bad_keyframe_names_say_why(name: str) -> None:
    with pytest.raises(ValueError, match=r"expected|keyframe number|START_END|after its end|extension|string"):
        parse_keyframe_name(name)


@given(KEYFRAME)
@settings(max_examples=150, deadline=None)
def test_generated_keyframe_names_parse(path: str) -> None:
    name = path.rsplit("/", 1)[-1]
    video_id = path.rsplit("/", 2)[-2]
    got = parse_keyframe_name(path)
    assert got.video_id == video_id
    assert name == f"{got.video_id}@{got.start:.1f}_{got.end:.1f}#{got.frame}.jpg"


# Names near the keyframe pattern: a generated keyframe path with a few characters put in, taken
# out or changed, from those the name's parts are made of and some that only look like them.
NEAR_CHARS = st.sampled_from(list("@#_./-09aZ") + ["١", "é", " ", "\n", "..", "#0", "_1.5", "@x"])


@st.composite
def near_keyframe_names(draw: Any) -> str:
    name = draw(KEYFRAME)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(name)))
        cut = draw(st.integers(0, 2))
        name = name[:at] + draw(st.sampled_from(["", draw(NEAR_CHARS)])) + name[at + cut:]
    return name


def _meta_or_error(name: str) -> dict[str, Any] | ValueError:
    try:
        return parse_keyframe_name(name).as_meta()
    except ValueError as exc:
        return exc


def assert_meta_agrees_with_parse_keyframe_name(names: list[str]) -> None:
    rec = {"images": [*names, None], "texts": [None] * len(names) + ["t"]}
    parsed = [_meta_or_error(n) for n in names]
    bad = [i for i, p in enumerate(parsed) if isinstance(p, ValueError)]
    dj = mmloom.convert_record(rec, "textbook", "dj")
    if bad:
        assert "__dj__meta__" not in dj
        with pytest.raises(RecordError, match=rf"images\[{bad[0]}\].*{re.escape(str(parsed[bad[0]]))}"):
            mmloom.convert_record(rec, "textbook", "dj", {"keyframe_meta": "require"})
    else:
        assert strict_equal(dj["__dj__meta__"]["keyframes"], parsed)


@given(st.lists(st.one_of(KEYFRAME, near_keyframe_names()), min_size=1, max_size=6).flatmap(
    lambda names: st.permutations(names + names[:2])))  # keyframes of one clip, also out of turn
@settings(max_examples=200, deadline=None)
def test_keyframe_meta_is_what_parse_keyframe_name_says(names: list[str]) -> None:
    """Reading parses keyframe names its own faster way: it must agree with parse_keyframe_name on
    every name, the ones that parse and the ones that do not."""
    assert_meta_agrees_with_parse_keyframe_name(names)


@pytest.mark.parametrize("name", [
    "a_b@1_2#3.png", "--__--__--_@3.25_9.5#007.JPEG", "v@01.50_2.0#10.jpg", "v@1.0_1.0#1.jpg", "x@1.0_2.0#1.j",
    "v@1.0_2.0#1.ĵpg", "v@١.0_2.0#1.jpg", "v@1.0_2.0#١.jpg", "v@1._2.0#1.jpg", "v@.5_1.0#1.jpg", "v@1e3_2e3#1.jpg",
    "v@1_2_3#1.jpg", "a@b@1.0_2.0#1.jpg", "v@1.0_2.0#1#2.jpg", "v@1.0_2.0#00.jpg", "v@1.0_2.0#+1.jpg",
    "v@1.0_2.0#1.", "v@1.0_2.0#1..jpg", "v@1.0_2.0#1.jpg.jpg", "v@1.0_2.0#1.jpg/", "v@1.0_2.0#1.jpg\n",
    "v\n@1.0_2.0#1.jpg", "a#b/v@1.0_2.0#1.jpg", "#1.jpg", "x#1.jpg", "vé@1.0_2.0#1.jpg",
])
def test_odd_keyframe_names_read_as_parse_keyframe_name_says(name: str) -> None:
    other = "/d/v@1.0_2.0#2.jpg"  # a keyframe of the same clip as some of them, before and after
    assert_meta_agrees_with_parse_keyframe_name([name])
    assert_meta_agrees_with_parse_keyframe_name([other, name, other, name])


@given(slot_lists())
@settings(max_examples=100, deadline=None)
def test_carried_crcs_are_zlib_crc32_of_each_slot(lists: tuple[list[Any], list[Any]]) -> None:
    """The CRCs may be computed by another library than zlib: the values must be zlib's."""
    images, texts = lists
    carry = mmloom.convert_record({"images": images, "texts": texts}, "textbook", "dj")["__mmloom__"]
    expected = [zlib.crc32((f"i{i}" if t is None else f"t{t}").encode("utf-8", "surrogatepass"))
                for i, t in zip(images, texts, strict=True)]
    assert carry["crc"] == expected


# -- the Data-Juicer side --------------------------------------------------------------------------

def test_one_chunk_per_text_with_the_images_before_it() -> None:
    rec = records()[0]
    dj = mmloom.convert_record(rec, "textbook", "dj")
    texts = [t for t in rec["texts"] if t is not None]
    assert dj["text"] == (f"{IMG} {texts[0]} {EOC} {IMG} {IMG} {texts[1]} {EOC} {IMG} {texts[2]} {EOC}")
    assert dj["images"] == [p for p in rec["images"] if p]
    assert list(dj) == ["images", "text", "text_ocr_list", "metadata", "image_num", "text_num", "token_num",
                        "__dj__meta__", "__mmloom__"]
    assert dj["text_ocr_list"] == rec["text_ocr_list"]
    frames = dj["__dj__meta__"]["keyframes"]
    assert [f["video_id"] for f in frames] == ["-1uixJ1V-As"] * 4
    assert [(f["start"], f["end"], f["frame"]) for f in frames] == [(0.0, 10.0, 1), (10.0, 55.0, 1),
                                                                       (10.0, 55.0, 2), (55.0, 71.0, 1)]
    plain = mmloom.convert_record(rec, "textbook", "dj", {"lossless": False})
    assert "__mmloom__" not in plain and plain["text"] == dj["text"]


def test_trailing_images_and_text_first_documents() -> None:
    rec = records()[1]  # text, image, text, image, image
    dj = mmloom.convert_record(rec, "textbook", "dj", {"keyframe_meta": "off"})
    t = [x for x in rec["texts"] if x is not None]
    assert dj["text"] == f"{t[0]} {EOC} {IMG} {t[1]} {EOC} {IMG} {IMG} {EOC}"
    assert "__dj__meta__" not in dj


def test_text_field_and_image_root() -> None:
    rec = records()[0]
    dj = mmloom.convert_record(rec, "textbook", "dj",
                               {"text_field": "text_ocr_list", "image_root": "/data/textbook/images"})
    assert "OCR: 3 + 6 = 9" in dj["text"] and dj["texts"] == rec["texts"] and "text_ocr_list" not in dj
    assert dj["images"][0] == "/data/textbook/images/-1uixJ1V-As/-1uixJ1V-As@0.0_10.0#1.jpg"
    assert list(dj)[:3] == ["images", "texts", "text"]  # the text stands where text_ocr_list stood


# -- exact round trips ------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {}, {"image_root": "/data/tb"}, {"text_field": "text_ocr_list"}, {"conversation": True},
    {"sent_separator": "\n", "add_eoc_at_last": False}, {"image_special_token": "<image>"},
    {"keyframe_meta": "require", "image_root": "imgs"},
], ids=str)
@pytest.mark.parametrize("dj_type", ["jsonl", "parquet"])
def test_fixture_round_trip_through_files(options: dict[str, Any], dj_type: str, tmp_path: Path) -> None:
    dj = tmp_path / f"tb.dj.{dj_type}"
    back = tmp_path / "back.json"
    mmloom.convert(SAMPLE, dj, src="textbook", dst="dj", options=options)
    mmloom.convert(dj, back, src="dj", dst="textbook")
    expected = records()
    if dj_type == "parquet":  # a Parquet column has no "absent": a field a sample lacks comes back null
        names = dict.fromkeys(k for r in expected for k in r)
        expected = [{**r, **{k: None for k in names if k not in r}} for r in expected]
    assert_same(load_records(back), expected)


@st.composite
def textbook_samples(draw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    opts: dict[str, Any] = draw(st.fixed_dictionaries({}, optional={
        "text_field": st.sampled_from(["texts", "text_ocr_list"]),
        "image_root": st.sampled_from(["/data/root", "rel/", "", "a/b"]),
        "conversation": st.booleans(),
        "sent_separator": st.sampled_from([" ", "\n", "", "||"]),
        "add_eoc_at_last": st.booleans(),
        "keyframe_meta": st.sampled_from(["auto", "off"]),
        "image_special_token": st.sampled_from(["<image>", "<__dj__image>"]),
        "eoc_special_token": st.sampled_from(["<|endofchunk|>", "<|__dj__eoc|>"]),
    }))
    images, texts = draw(slot_lists())
    other = [None if t is None else draw(TEXT) for t in texts]
    key = opts.get("text_field", "texts")
    rec: dict[str, Any] = {"images": images}
    lists = {key: texts, ("text_ocr_list" if key == "texts" else "texts"): other}
    fields: list[tuple[str, Any]] = [("texts", lists["texts"])]
    if draw(st.booleans()):
        fields.append(("text_ocr_list", lists["text_ocr_list"]))
    metadata = draw(st.one_of(st.just([]), st.lists(st.none() | JSONISH, min_size=len(images), max_size=len(images))))
    if draw(st.booleans()):
        metadata = json.dumps(metadata, ensure_ascii=draw(st.booleans()))
    fields.append(("metadata", metadata))
    n = sum(1 for i in images if i)
    fields += [("image_num", n), ("text_num", draw(st.integers(0, 5000))), ("token_num", draw(st.integers(0, 10**6)))]
    if draw(st.booleans()):
        fields.append(("valid_image", draw(st.lists(st.booleans(), min_size=n, max_size=n))))
    for name in draw(st.lists(st.sampled_from(["id", "text", "audios", "source", "__dj__meta__", "videos"]),
                              unique=True, max_size=3)):
        fields.append((name, draw(st.one_of(st.integers(), PLAIN, JSONISH))))
    if key not in dict(fields):
        fields.append((key, texts))
    order = draw(st.permutations(fields))
    rec.update(order)
    if draw(st.booleans()):  # images first or somewhere else
        rec = dict(sorted(rec.items(), key=lambda kv: kv[0] != "images"))
    return rec, opts


@given(textbook_samples())
@settings(max_examples=200, deadline=None)
def test_generated_samples_round_trip_exactly(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    rec, opts = case
    assert_same(via_dj(rec, opts), rec)


@given(textbook_samples())
@settings(max_examples=60, deadline=None)
def test_generated_samples_round_trip_with_dj_tokens_given(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Reading the Data-Juicer file with other tokens than the textbook side wrote still comes back."""
    rec, opts = case
    dj = json.loads(dumps(mmloom.convert_record(rec, "textbook", "dj", opts)))
    back = mmloom.convert_record(dj, "dj", "textbook", {"image_special_token": "<img>", "eoc_special_token": "<eoc>"})
    assert_same(back, rec)


# -- Data-Juicer's processing changed the sample ------------------------------------------------------

def _drop_image(dj: dict[str, Any], k: int) -> dict[str, Any]:
    """What an image filter does: the k-th path goes, and its token with the separator after it."""
    out = copy.deepcopy(dj)
    out["images"].pop(k)
    parts = out["text"].split(IMG)
    out["text"] = IMG.join(parts[:k] + [parts[k] + parts[k + 1].removeprefix(" ")] + parts[k + 2:])
    return out


def test_removed_image_realigns_the_lists_and_recounts() -> None:
    rec = records()[1]  # text, image, text, image(valid False), image
    dj = mmloom.convert_record(rec, "textbook", "dj", {"image_root": "/local"})
    back = mmloom.convert_record(_drop_image(dj, 1), "dj", "textbook")
    assert back["images"] == [None, rec["images"][1], None, rec["images"][4]]
    assert back["texts"] == [rec["texts"][0], None, rec["texts"][2], None]
    assert back["text_ocr_list"] == [rec["text_ocr_list"][0], None, rec["text_ocr_list"][2], None]
    assert back["metadata"] == [None] * 4
    assert back["valid_image"] == [True, False]
    assert (back["image_num"], back["text_num"]) == (2, rec["text_num"])
    assert back["token_num"] == rec["text_num"] + 2 * 576
    assert list(back) == list(rec)


def test_edited_text_is_taken_and_counted_again() -> None:
    rec = records()[2]  # metadata as a JSON string
    dj = mmloom.convert_record(rec, "textbook", "dj")
    old = rec["texts"][1]
    dj["text"] = dj["text"].replace(old, "Two H2 plus O2 give two H2O.")
    dj["__dj__stats__"] = {"lang": "en"}
    back = mmloom.convert_record(dj, "dj", "textbook", {"tokens_per_image": 100})
    assert back["texts"] == [None, "Two H2 plus O2 give two H2O.", rec["texts"][2]]
    assert back["text_ocr_list"] == [None, "Two H2 plus O2 give two H2O.", rec["text_ocr_list"][2]]
    assert back["images"] == rec["images"] and back["metadata"] == rec["metadata"]
    assert back["text_num"] == estimate_text_num(back["texts"])
    assert back["token_num"] == back["text_num"] + 100
    assert back["__dj__stats__"] == {"lang": "en"}


def test_dj_compat_way_back() -> None:
    """Without __mmloom__ (lossless=false) the samples come back with stripped texts."""
    recs = records()
    back = [via_dj(r, {"lossless": False}) for r in recs]
    assert_same(back[:2], recs[:2])
    assert back[2]["texts"] == [None, recs[2]["texts"][1], recs[2]["texts"][2].strip()]


# -- other formats ----------------------------------------------------------------------------------

def test_to_llava_one_image_as_a_round(tmp_path: Path) -> None:
    rec = {"images": ["-1uixJ1V-As/-1uixJ1V-As@0.0_10.0#1.jpg", None],
           "texts": [None, "Hi everyone, and welcome."], "image_num": 1, "text_num": 6, "token_num": 582}
    src = tmp_path / "one.json"
    src.write_text(json.dumps([rec]))
    out = tmp_path / "one.llava.json"
    assert cli_main(["convert", str(src), str(out), "--from", "textbook", "--to", "llava",
                     "--opt", "conversation=true", "--quiet"]) == 0
    assert load_records(out) == [{"conversations": [{"from": "human", "value": "<image>"},
                                                    {"from": "gpt", "value": "Hi everyone, and welcome."}],
                                  "image": rec["images"][0]}]


def test_to_llava_refuses_documents_of_several_images(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    with pytest.raises(RecordError) as info:
        mmloom.convert(SAMPLE, out, src="textbook", dst="llava", options={"conversation": True})
    assert "record 0" in str(info.value) and "field 'images'" in str(info.value)
    assert "distinct images" in str(info.value) and not out.exists()


def test_to_llava_without_rounds_is_refused_by_name() -> None:
    rec = {"images": ["a.jpg", None], "texts": [None, "caption"]}
    with pytest.raises(RecordError) as info:
        mmloom.convert_record(rec, "textbook", "llava")
    assert "field 'text'" in str(info.value) and "rounds" in str(info.value)


def test_to_mmc4_one_sentence_per_text_slot(tmp_path: Path) -> None:
    out = tmp_path / "tb.mmc4.jsonl"
    mmloom.convert(SAMPLE, out, src="textbook", dst="mmc4", options={"keyframe_meta": "off"})
    docs = load_records(out)
    for rec, doc in zip(records(), docs, strict=True):
        assert doc["text_list"][: sum(t is not None for t in rec["texts"])] == [
            t.strip() for t in rec["texts"] if t is not None]
        sentence_of_image = []
        k = 0
        for image, text in zip(rec["images"], rec["texts"], strict=True):
            if text is not None:
                k += 1
            elif image:
                sentence_of_image.append(k)
        assert [i["image_name"] for i in doc["image_info"]] == [p for p in rec["images"] if p]
        assert [i["matched_text_index"] for i in doc["image_info"]] == sentence_of_image
        assert doc["text_ocr_list"] == rec["text_ocr_list"]


def test_from_mmc4_and_llava() -> None:
    mmc4 = load_records(Path(__file__).parent.parent / "examples" / "mmc4" / "docs_no_face_shard_151_v3.first107.jsonl")[0]
    tb = mmloom.convert_record(mmc4, "mmc4", "textbook", {"lossless": False})
    assert [t for t in tb["texts"] if t is not None] == [s.strip() for s in mmc4["text_list"] if s.strip()]
    assert sorted(p for p in tb["images"] if p) == sorted(i["image_name"] for i in mmc4["image_info"])
    assert tb["image_num"] == len(mmc4["image_info"])
    assert tb["token_num"] == tb["text_num"] + 576 * tb["image_num"]
    llava = load_records(Path(__file__).parent.parent / "examples" / "llava" / "llava_instruct_100.json")[0]
    tb = mmloom.convert_record(llava, "llava", "textbook", {"lossless": False})
    assert tb["images"].count(llava["image"]) == 1
    assert len([t for t in tb["texts"] if t is not None]) == len(llava["conversations"])


# -- bad input ---------------------------------------------------------------------------------------

GOOD = {"images": ["v@1.0_2.0#1.jpg", None], "texts": [None, "ok"], "text_ocr_list": [None, "ok OCR"], "metadata": [],
        "image_num": 1}


@pytest.mark.parametrize("bad, options, field, words", [
    ({"images": ["a.jpg", None], "texts": [None, "x", "y"]}, {}, "texts", "aligned"),
    ({"images": ["a.jpg", None, None], "texts": [None, "x", None]}, {}, "texts[2]", "both null"),
    ({"images": ["a.jpg", "b.jpg"], "texts": [None, "x"]}, {}, "texts[1]", "both set"),
    ({"images": ["a.jpg", ""], "texts": [None, None]}, {}, "texts[1]", "both null"),
    ({"images": [3, None], "texts": [None, "x"]}, {}, "images[0]", "string or null"),
    ({"images": "a.jpg", "texts": ["x"]}, {}, "images", "must be a list"),
    ({"texts": ["x"]}, {}, "images", "missing"),
    ({"images": ["a.jpg", None], "texts": [None, "x"], "metadata": "[null, "}, {}, "metadata", "not valid JSON"),
    ({"images": [None, "v@1.0_2.0#1.jpg", "-1uixJ1V-As@55.0_10.0#1.jpg"], "texts": ["x", None, None]},
     {"keyframe_meta": "require"}, "images[2]", "not a keyframe name"),
    ({"images": ["a.jpg", None], "texts": [None, "x"], "valid_image": [True, False]}, {}, "valid_image", "1 images"),
    ({"images": ["a.jpg", None], "texts": [None, "x"]}, {"text_field": "text_ocr_list"}, "text_ocr_list", "missing"),
])
def test_bad_samples_name_the_record_and_field(bad: dict[str, Any], options: dict[str, Any], field: str,
                                                words: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text(json.dumps([GOOD, bad]))
    with pytest.raises(MmloomError) as info:
        mmloom.convert(src, tmp_path / "out.jsonl", src="textbook", dst="dj", options=options)
    message = str(info.value)
    assert f"{src}, record 1" in message and f"field {field!r}" in message and words in message
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_sample_is_rejected_and_the_run_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text(json.dumps([GOOD, {"images": ["a.jpg"], "texts": []}, GOOD]))
    report = mmloom.convert(src, tmp_path / "out.jsonl", src="textbook", dst="dj", on_error="skip")
    assert (report.records_out, report.rejected) == (2, 1)
    reject = load_records(tmp_path / "out.jsonl.rejects.jsonl")[0]
    assert reject["index"] == 1 and "'texts'" in reject["error"]


def test_dj_samples_that_textbook_cannot_hold() -> None:
    with pytest.raises(RecordError, match="audio"):
        mmloom.convert_record({"text": "<__dj__audio> hi", "audios": ["a.wav"]}, "dj", "textbook")
    with pytest.raises(RecordError, match="more image tokens"):
        mmloom.convert_record({"text": f"{IMG} a {IMG} b", "images": ["x.jpg"]}, "dj", "textbook")


def test_video_ids_with_dashes_and_underscores_in_meta() -> None:
    @given(VIDEO_ID)
    @settings(max_examples=20, deadline=None)
    def check(video_id: str) -> None:
        rec = {"images": [f"/r/{video_id}/{video_id}@3.0_9.0#2.jpg", None], "texts": [None, "t"]}
        frame = mmloom.convert_record(rec, "textbook", "dj")["__dj__meta__"]["keyframes"][0]
        assert frame == {"video_id": video_id, "start": 3.0, "end": 9.0, "frame": 2,
                         "video_url": f"https://www.youtube.com/watch?v={video_id}"}

    check()
