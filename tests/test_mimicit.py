"""MIMIC-IT: the task trio to Data-Juicer samples and back (fixtures and generated trios), the
samples it gives (rounds, image tokens per task group, decoded images), LLaVA output, and located
errors for bad base64 and missing images or instructions."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import FIXTURES, first_difference, load_records, strict_equal
from hypothesis import given, settings
from hypothesis import strategies as st

import mmloom
from mmloom.errors import MmloomError, RecordError, UsageError
from mmloom.formats._mimicit_io import TrioReader, decode_base64, media_name
from mmloom.formats.mimicit import READ_OPTIONS
from mmloom.options import resolve

G = FIXTURES / "generated" / "mimicit"
LA_IMAGES = str(G / "LA" / "LA.json")
META = {"version": "0.0.1", "time": "2023-06", "author": "ntu"}
FIXTURE_TASKS = [("DC", "DC", {}), ("SD", "SD", {}), ("LA", "LACONV", {"images_path": LA_IMAGES}),
                 ("LA", "LACR_T2T", {"images_path": LA_IMAGES}), ("LIMA", "LIMA", {})]


def _ordered_equal(a: Any, b: Any) -> bool:
    return strict_equal(a, b) and json.dumps(a) == json.dumps(b)


def _images(folder: Path, task: str) -> dict[str, str] | None:
    if (folder / f"{task}.json").exists():
        return json.loads((folder / f"{task}.json").read_text())
    if (folder / f"{task}.parquet").exists():
        rows = pq.read_table(folder / f"{task}.parquet").to_pylist()
        return {r["__index_level_0__"]: r["base64"] for r in rows}
    return None


def _trio(folder: Path, task: str, images_file: str | None = None) -> dict[str, Any]:
    train = folder / f"{task}_train.json"
    images = _images(folder, images_file or task)
    return {"instructions": json.loads((folder / f"{task}_instructions.json").read_text()),
            "train": json.loads(train.read_text()) if train.exists() else None,
            "images": images}


def write_trio(folder: Path, task: str, data: dict[str, Any], train: dict[str, Any] | None = None,
               images: dict[str, Any] | None = None, top: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{task}_instructions.json"
    path.write_text(json.dumps(top if top is not None else {"meta": META, "data": data}, ensure_ascii=False))
    if train is not None:
        (folder / f"{task}_train.json").write_text(json.dumps(train))
    if images is not None:
        (folder / f"{task}.json").write_text(json.dumps(images))
    return path


def round_trip(instructions: Path, tmp: Path, options: dict[str, Any] | None = None, dj_name: str = "dj.jsonl",
               back_options: dict[str, Any] | None = None) -> Path:
    options = {"media_dir": str(tmp / "media"), **(options or {})}
    task = instructions.name[: -len("_instructions.json")]
    mmloom.convert(instructions, tmp / dj_name, src="mimicit", dst="dj", options=options)
    back = tmp / "back" / f"{task}_instructions.json"
    mmloom.convert(tmp / dj_name, back, src="dj", dst="mimicit", options=back_options)
    return back.parent


# -- fixtures -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("folder", "task", "options"), FIXTURE_TASKS, ids=[t for _, t, _ in FIXTURE_TASKS])
@pytest.mark.parametrize("dj_name", ["dj.jsonl", "dj.parquet"])
def test_fixture_round_trip(tmp_path: Path, folder: str, task: str, options: dict[str, Any], dj_name: str) -> None:
    back = round_trip(G / folder / f"{task}_instructions.json", tmp_path, options, dj_name)
    original = _trio(G / folder, task, "LA" if folder == "LA" else None)
    again = _trio(back, task)
    assert _ordered_equal(again["instructions"], original["instructions"]), \
        first_difference(again["instructions"], original["instructions"])
    assert _ordered_equal(again["train"], original["train"])
    if original["images"] is None:
        assert again["images"] is None
    else:  # every image the task uses, re-encoded to the same string (LA.json is shared by two tasks)
        assert again["images"] and all(original["images"][k] == v for k, v in again["images"].items())
    if folder == "SD":
        assert (back / "SD.parquet").exists()


def test_direct_trio_to_trio_with_parquet_images(tmp_path: Path) -> None:
    source = G / "DC" / "DC_instructions.json"
    out = tmp_path / "pq" / "DC_instructions.json"
    mmloom.convert(source, out, src="mimicit", dst="mimicit",
                   options={"media_dir": str(tmp_path / "media"), "images_format": "parquet"})
    assert _images(out.parent, "DC") == json.loads((G / "DC" / "DC.json").read_text())
    again = round_trip(out, tmp_path / "second")
    assert _ordered_equal(_trio(again, "DC"), _trio(out.parent, "DC"))


def test_shared_image_file_is_only_read(tmp_path: Path) -> None:
    shared = tmp_path / "LA.json"
    shared.write_bytes(Path(LA_IMAGES).read_bytes())
    out = tmp_path / "out" / "conversation.json"
    mmloom.convert(G / "LA" / "LACONV_instructions.json", out, src="mimicit", dst="mimicit",
                   options={"media_dir": str(tmp_path / "media"), "images_path": str(shared),
                            "images_out": str(tmp_path / "out" / "images.json"),
                            "train_out": str(tmp_path / "out" / "train.json")})
    assert shared.read_bytes() == Path(LA_IMAGES).read_bytes()
    assert sorted(os.listdir(out.parent)) == ["conversation.json", "images.json", "train.json"]
    assert json.loads((out.parent / "train.json").read_text()) == json.loads(
        (G / "LA" / "LACONV_train.json").read_text())


def test_video_sample_rounds_and_frames(tmp_path: Path) -> None:
    mmloom.convert(G / "DC" / "DC_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                   options={"media_dir": str(tmp_path / "media")})
    samples = load_records(tmp_path / "dj.jsonl")
    assert [s["id"] for s in samples] == ["DC_INS_00001", "DC_INS_00005"]  # the train file's keys, in order
    first = samples[0]
    chunks = first["text"].split("<|__dj__eoc|>")
    # three in-context rounds from the train file, then the query; all frames open the first round
    assert chunks[0] == "[[human]]: " + "<__dj__image>" * 4 + "\nWhat is the police officer wearing?\n" \
                        "[[gpt]]: The officer wears a dark uniform and a helmet. "
    assert chunks[3] == "\n[[human]]: Who is the main focus of the video?\n[[gpt]]: The main focus of the video " \
                        "is a police officer riding a horse down the street. "
    assert first["text"].count("<__dj__image>") == 4 == len(first["images"])
    frames = json.loads((G / "DC" / "DC.json").read_text())
    for k, path in enumerate(first["images"]):
        assert Path(path).parent == tmp_path / "media"
        assert Path(path).read_bytes() == base64.b64decode(frames[f"DC_IMG_v_N1c3C_Npr-E_{k:04d}"])


def test_in_context_rounds_bring_their_own_images(tmp_path: Path) -> None:
    mmloom.convert(G / "LA" / "LACR_T2T_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                   options={"media_dir": str(tmp_path / "media"), "images_path": LA_IMAGES})
    first = load_records(tmp_path / "dj.jsonl")[0]
    rounds = first["text"].split("<|__dj__eoc|>")[:-1]
    assert [r.lstrip("\n")[:25] for r in rounds] == ["[[human]]: <__dj__image>\n"] * 2
    # the in-context instruction's image (a bare-string image_ids) first, then the query's
    assert [Path(p).name for p in first["images"]] == ["LA_IMG_000000334872.png", "LA_IMG_000000052846.png"]


def test_conversation_has_its_image_once(tmp_path: Path) -> None:
    mmloom.convert(G / "LA" / "LACONV_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                   options={"media_dir": str(tmp_path / "media"), "images_path": LA_IMAGES})
    last = load_records(tmp_path / "dj.jsonl")[-1]
    assert last["text"].count("<__dj__image>") == 1 and last["text"].startswith("[[human]]: <__dj__image>\n")
    assert last["text"].count("[[human]]: ") == 3


def test_text_only_task_without_train_file(tmp_path: Path) -> None:
    mmloom.convert(G / "LIMA" / "LIMA_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj")
    samples = load_records(tmp_path / "dj.jsonl")
    assert [s["images"] for s in samples] == [[], []]
    # without a train file every instruction is a training one, its rel_ins_ids its context
    assert samples[1]["text"].startswith("[[human]]: Can brain cells move?\n")
    mmloom.convert(G / "LIMA" / "LIMA_instructions.json", tmp_path / "plain.jsonl", src="mimicit", dst="dj",
                   options={"populate_rel_ins": False})
    assert load_records(tmp_path / "plain.jsonl")[1]["text"].startswith("[[human]]: Write a haiku")


def test_the_task_group_option_overrides_the_routing(tmp_path: Path) -> None:
    mmloom.convert(G / "DC" / "DC_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                   options={"media_dir": str(tmp_path / "media"), "task_group": "TEXT_ONLY"})
    assert all(s["images"] == [] for s in load_records(tmp_path / "dj.jsonl"))


# -- images written once, under safe names ------------------------------------------------------

def _reader(path: Path, **options: Any) -> TrioReader:
    return TrioReader(str(path), resolve(READ_OPTIONS, options, "reading mimicit"))


def test_each_image_is_written_once(tmp_path: Path) -> None:
    image = base64.b64encode(b"\x89PNG\r\n\x1a\nsame pixels").decode()
    data = {f"SD_INS_{n}": {"instruction": f"q{n}", "answer": "a", "image_ids": ["SD_IMG_1"], "rel_ins_ids": []}
            for n in range(5)}
    path = write_trio(tmp_path / "task", "SD", data, images={"SD_IMG_1": image})
    media = tmp_path / "media"
    reader = _reader(path, media_dir=str(media))
    items = list(reader)
    assert len(items) == 5 and (reader.written, reader.reused) == (1, 0)
    assert os.listdir(media) == ["SD_IMG_1.png"]
    stamp = (media / "SD_IMG_1.png").stat().st_mtime_ns
    again = _reader(path, media_dir=str(media))
    list(again)
    assert (again.written, again.reused) == (0, 1) and (media / "SD_IMG_1.png").stat().st_mtime_ns == stamp


def test_image_ids_cannot_escape_media_dir(tmp_path: Path) -> None:
    ids = ["../../escape", "a/b", "", ".hidden", "x y", "LA_IMG_1", "C:\\evil", "中"]
    images = {i: base64.b64encode(f"img {n}".encode()).decode() for n, i in enumerate(ids)}
    data = {"INS_1": {"instruction": "q", "answer": "a", "image_ids": ids, "rel_ins_ids": []}}
    path = write_trio(tmp_path / "task", "X", data, {"INS_1": []}, images)
    media = tmp_path / "inner" / "media"
    back = round_trip(path, tmp_path, {"media_dir": str(media), "task_group": "IMAGE_TEXT"})
    names = os.listdir(media)
    assert len(names) == len(ids) and all("/" not in n and not n.startswith(".") for n in names)
    assert sorted(os.listdir(tmp_path / "inner")) == ["media"]
    assert _trio(back, "X")["images"] == images
    assert media_name("LA_IMG_1", b"\x89PNG\r\n\x1a\n") == "LA_IMG_1.png"


def test_media_dir_with_other_content_is_refused(tmp_path: Path) -> None:
    data = {"INS_1": {"instruction": "q", "answer": "a", "image_ids": ["IMG"], "rel_ins_ids": []}}
    path = write_trio(tmp_path / "task", "X", data, images={"IMG": base64.b64encode(b"new").decode()})
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "IMG.bin").write_bytes(b"old")
    with pytest.raises(UsageError, match="already exists with other content"):
        mmloom.convert(path, tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                       options={"media_dir": str(tmp_path / "media"), "task_group": "IMAGE_TEXT"})


@pytest.mark.parametrize(("text", "urlsafe"), [("+/8=", False), ("-_8=", True), ("AAAA", False), ("", False)])
def test_both_base64_alphabets_come_back(text: str, urlsafe: bool) -> None:
    data, found = decode_base64(text)
    assert found == urlsafe and base64.urlsafe_b64decode(text) == data


# -- any to any ---------------------------------------------------------------------------------

def test_conversation_to_llava(tmp_path: Path) -> None:
    out = tmp_path / "llava.json"
    mmloom.convert(G / "LA" / "LACONV_instructions.json", out, src="mimicit", dst="llava",
                   options={"media_dir": str(tmp_path / "media"), "images_path": LA_IMAGES})
    records = load_records(out)
    assert records[0] == {
        "id": "LACONV_00_INS_000000033471_1",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"},
            {"from": "gpt", "value": "The bus in the image is white and red."},
            {"from": "human", "value": "What feature can be seen on the back of the bus?"},
            {"from": "gpt", "value": "The back of the bus features an advertisement."}],
        "image": str(tmp_path / "media" / "LA_IMG_000000033471.png")}


def test_two_image_sample_to_llava_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(RecordError) as info:
        mmloom.convert(G / "SD" / "SD_instructions.json", tmp_path / "llava.json", src="mimicit", dst="llava",
                       options={"media_dir": str(tmp_path / "media")})
    message = str(info.value)
    assert "SD_instructions.json" in message and "record 0" in message and "'SD_INS_000001'" in message
    assert "2 distinct images" in message


def test_llava_to_mimicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = load_records(FIXTURES / "real" / "llava" / "llava_instruct_100.json")[:3]
    monkeypatch.chdir(tmp_path)
    Path("llava.json").write_text(json.dumps(records))
    for n, record in enumerate(records):
        Path(record["image"]).write_bytes(b"\xff\xd8\xff jpeg %d" % n)
    mmloom.convert("llava.json", "LLAVA_instructions.json", src="llava", dst="mimicit")
    trio = _trio(tmp_path, "LLAVA")
    for n, record in enumerate(records):
        entry = trio["instructions"]["data"][record["id"]]
        image_id = Path(record["image"]).stem
        assert entry["answer"] == record["conversations"][-1]["value"]
        assert entry["image_ids"] == [image_id]
        assert trio["train"][record["id"]] == entry["rel_ins_ids"]
        assert base64.b64decode(trio["images"][image_id]) == b"\xff\xd8\xff jpeg %d" % n
    os.remove(records[1]["image"])
    with pytest.raises(RecordError, match=r"record 1, .*does not exist"):
        mmloom.convert("llava.json", "LLAVA_instructions.json", src="llava", dst="mimicit")


# -- Data-Juicer changes between the two conversions -------------------------------------------

def test_edited_answer_flows_back(tmp_path: Path) -> None:
    source = G / "DC" / "DC_instructions.json"
    mmloom.convert(source, tmp_path / "dj.jsonl", src="mimicit", dst="dj", options={"media_dir": str(tmp_path / "m")})
    lines = (tmp_path / "dj.jsonl").read_text().replace("a dark uniform", "a blue uniform")
    (tmp_path / "edited.jsonl").write_text(lines)
    mmloom.convert(tmp_path / "edited.jsonl", tmp_path / "back" / "DC_instructions.json", src="dj", dst="mimicit")
    expected = json.loads(source.read_text())
    expected["data"]["DC_INS_00002"]["answer"] = "The officer wears a blue uniform and a helmet."
    assert _ordered_equal(_trio(tmp_path / "back", "DC")["instructions"], expected)


def test_removed_sample_leaves_a_consistent_trio(tmp_path: Path) -> None:
    """LACONV: the first training instruction's sample is dropped; the second one still uses it and
    the instruction before it as context, so both come back (from the text of the sample that
    remains) and the rebuilt task reads again."""
    options = {"media_dir": str(tmp_path / "media"), "images_path": LA_IMAGES}
    mmloom.convert(G / "LA" / "LACONV_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                   options=options)
    kept = (tmp_path / "dj.jsonl").read_text().splitlines()[1:]
    (tmp_path / "kept.jsonl").write_text("\n".join(kept) + "\n")
    back = tmp_path / "back" / "LACONV_instructions.json"
    mmloom.convert(tmp_path / "kept.jsonl", back, src="dj", dst="mimicit")
    trio = _trio(back.parent, "LACONV")
    original = _trio(G / "LA", "LACONV", "LA")
    ids = list(original["instructions"]["data"])
    assert list(trio["instructions"]["data"]) == ids
    assert trio["train"] == {ids[2]: ids[:2]}
    for iid in ids:
        assert trio["instructions"]["data"][iid]["answer"] == original["instructions"]["data"][iid]["answer"]
    mmloom.convert(back, tmp_path / "again.jsonl", src="mimicit", dst="dj", options={"media_dir": str(tmp_path / "m2")})
    assert [r["text"] for r in load_records(tmp_path / "again.jsonl")] == [json.loads(kept[0])["text"]]


def test_otter_tokens_in_the_text_come_back_with_default_ones(tmp_path: Path) -> None:
    options = {"media_dir": str(tmp_path / "media"), "image_special_token": "<image>",
               "eoc_special_token": "<|endofchunk|>"}
    mmloom.convert(G / "DC" / "DC_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj", options=options)
    text = load_records(tmp_path / "dj.jsonl")[0]["text"]
    assert text.startswith("[[human]]: <image><image><image><image>\n") and text.endswith(" <|endofchunk|>")
    mmloom.convert(tmp_path / "dj.jsonl", tmp_path / "back" / "DC_instructions.json", src="dj", dst="mimicit")
    assert _ordered_equal(_trio(tmp_path / "back", "DC"), _trio(G / "DC", "DC"))


def _dc_samples(tmp_path: Path) -> list[dict[str, Any]]:
    mmloom.convert(G / "DC" / "DC_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                   options={"media_dir": str(tmp_path / "media")})
    return load_records(tmp_path / "dj.jsonl")


def _back(tmp_path: Path, samples: list[dict[str, Any]]) -> dict[str, Any]:
    (tmp_path / "edited.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    mmloom.convert(tmp_path / "edited.jsonl", tmp_path / "back" / "DC_instructions.json", src="dj", dst="mimicit")
    return _trio(tmp_path / "back", "DC")


def test_removed_frame_leaves_the_image_ids(tmp_path: Path) -> None:
    samples = _dc_samples(tmp_path)
    samples[0]["text"] = samples[0]["text"].replace("<__dj__image>", "", 1)
    samples[0]["images"] = samples[0]["images"][1:]
    trio = _back(tmp_path, samples)
    expected = json.loads((G / "DC" / "DC_instructions.json").read_text())
    frames = expected["data"]["DC_INS_00001"]["image_ids"]
    expected["data"]["DC_INS_00001"]["image_ids"] = frames[1:]
    assert _ordered_equal(trio["instructions"], expected)
    assert frames[0] not in trio["images"] and set(frames[1:]) <= set(trio["images"])


def test_removed_round_is_a_located_error(tmp_path: Path) -> None:
    samples = _dc_samples(tmp_path)
    chunks = samples[1]["text"].split(" <|__dj__eoc|>\n")
    samples[1]["text"] = chunks[1].lstrip("\n")
    with pytest.raises(RecordError, match=r"edited.jsonl, record 1, .*holds 1 rounds but the sample was built from 2"):
        _back(tmp_path, samples)


def test_data_juicer_sample_with_otter_style_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("cat.png").write_bytes(b"\x89PNG\r\n\x1a\ncat")
    sample = {"text": "<__dj__image>[[human]]: What is it?\n[[gpt]]: A cat. <|__dj__eoc|>", "images": ["cat.png"]}
    Path("in.jsonl").write_text(json.dumps(sample) + "\n")
    mmloom.convert("in.jsonl", "out/CAT_instructions.json", src="dj", dst="mimicit")
    trio = _trio(tmp_path / "out", "CAT")
    [(iid, entry)] = trio["instructions"]["data"].items()
    assert iid.startswith("INS_") and trio["train"] == {iid: []}
    assert entry == {"instruction": "What is it?", "answer": "A cat.", "image_ids": ["cat"], "rel_ins_ids": []}
    assert base64.b64decode(trio["images"]["cat"]) == Path("cat.png").read_bytes()


def test_compressed_trio_and_parquet_parts(tmp_path: Path) -> None:
    import gzip
    import shutil

    import pyarrow as pa

    folder = tmp_path / "SD"
    folder.mkdir()
    for name in ("SD_instructions.json", "SD_train.json"):
        with open(G / "SD" / name, "rb") as src, gzip.open(folder / (name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    rows = pq.read_table(G / "SD" / "SD.parquet").to_pylist()
    parts = folder / "images.parquet"
    parts.mkdir()
    for k in range(2):  # Otter splits large image tables into parts; these carry an "id" column
        table = pa.table({"id": [r["__index_level_0__"] for r in rows[k::2]], "base64": [r["base64"] for r in rows[k::2]]})
        pq.write_table(table, parts / f"part.{k}.parquet")
    mmloom.convert(folder / "SD_instructions.json.gz", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                   options={"media_dir": str(tmp_path / "media"), "images_path": str(parts), "train_path":
                            str(folder / "SD_train.json.gz")})
    out = tmp_path / "back" / "SD_instructions.json.zst"
    mmloom.convert(tmp_path / "dj.jsonl", out, src="dj", dst="mimicit")
    assert sorted(os.listdir(out.parent)) == ["SD.parquet", "SD_instructions.json.zst", "SD_train.json.zst"]
    again = tmp_path / "again.jsonl"
    mmloom.convert(out, again, src="mimicit", dst="dj", options={"media_dir": str(tmp_path / "media2"),
                                                                  "images_path": str(out.parent / "SD.parquet")})
    first = [r["text"] for r in load_records(tmp_path / "dj.jsonl")]
    assert [r["text"] for r in load_records(again)] == first


# -- bad input ----------------------------------------------------------------------------------

def _bad_task(tmp_path: Path, image_text: Any = None, image_id: str = "SD_IMG_2", train: Any = None) -> Path:
    good = base64.b64encode(b"\x89PNG\r\n\x1a\nfine").decode()
    data = {"SD_INS_1": {"instruction": "q1", "answer": "a1", "image_ids": ["SD_IMG_1"], "rel_ins_ids": []},
            "SD_INS_2": {"instruction": "q2", "answer": "a2", "image_ids": ["SD_IMG_1", image_id], "rel_ins_ids": []}}
    images = {"SD_IMG_1": good}
    if image_text is not None:
        images["SD_IMG_2"] = image_text
    return write_trio(tmp_path / "task", "SD", data, train or {"SD_INS_1": [], "SD_INS_2": []}, images)


def _convert_error(path: Path, tmp_path: Path, **options: Any) -> str:
    with pytest.raises(MmloomError) as info:
        mmloom.convert(path, tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                       options={"media_dir": str(tmp_path / "media"), **options})
    return str(info.value)


@pytest.mark.parametrize(("image_text", "words"), [
    ("not base64!", "is not valid base64"),
    ("iVBORw0KGgo", "is not valid base64"),  # padding missing
    ("ab+_", "mixes the standard"),
    ("AB==", "is not canonical"),
    (12, "is int, not a base64 string"),
])
def test_bad_base64_is_located(tmp_path: Path, image_text: Any, words: str) -> None:
    message = _convert_error(_bad_task(tmp_path, image_text), tmp_path)
    assert "SD_instructions.json, record 1, field 'image_ids[1]' (id 'SD_INS_2')" in message
    assert "'SD_IMG_2' in SD.json" in message and words in message


def test_missing_image_id_is_located(tmp_path: Path) -> None:
    message = _convert_error(_bad_task(tmp_path, image_id="SD_IMG_9"), tmp_path)
    assert "record 1, field 'image_ids[1]' (id 'SD_INS_2')" in message
    assert "image 'SD_IMG_9' is not in the image file SD.json" in message


def test_bad_record_is_skipped_with_its_reason(tmp_path: Path) -> None:
    path = _bad_task(tmp_path, "not base64!")
    report = mmloom.convert(path, tmp_path / "dj.jsonl", src="mimicit", dst="dj", on_error="skip",
                            options={"media_dir": str(tmp_path / "media")})
    assert (report.records_out, report.rejected) == (1, 1)
    rejected = load_records(tmp_path / "dj.jsonl.rejects.jsonl")
    assert rejected[0]["index"] == 1 and "not valid base64" in rejected[0]["error"]


def test_missing_in_context_instruction_is_located(tmp_path: Path) -> None:
    path = _bad_task(tmp_path, train={"SD_INS_1": [], "SD_INS_2": ["SD_INS_1", "SD_INS_7"]})
    message = _convert_error(path, tmp_path, task_group="TEXT_ONLY")
    assert "record 1, field 'train[1]' (id 'SD_INS_2')" in message and "'SD_INS_7'" in message


def test_train_file_naming_a_missing_instruction_is_located(tmp_path: Path) -> None:
    path = _bad_task(tmp_path, train={"SD_INS_1": [], "SD_INS_0": []})
    message = _convert_error(path, tmp_path)
    assert "record 1, field 'id' (id 'SD_INS_0')" in message and "not in the instructions' data" in message


def test_instruction_without_answer_is_located(tmp_path: Path) -> None:
    data = {"T_INS_1": {"instruction": "q", "image_ids": [], "rel_ins_ids": []}}
    path = write_trio(tmp_path / "task", "T", data)
    message = _convert_error(path, tmp_path)
    assert "record 0, field 'answer' (id 'T_INS_1')" in message and "is missing" in message


def test_options_and_files_missing(tmp_path: Path) -> None:
    path = _bad_task(tmp_path, "AAAA")
    with pytest.raises(UsageError, match="media_dir"):
        mmloom.convert(path, tmp_path / "dj.jsonl", src="mimicit", dst="dj")
    os.remove(path.parent / "SD.json")
    with pytest.raises(UsageError, match="images_path"):
        mmloom.convert(path, tmp_path / "dj.jsonl", src="mimicit", dst="dj", options={"media_dir": str(tmp_path)})
    with pytest.raises(UsageError, match="XX_instructions.json"):
        mmloom.convert(G / "LIMA" / "LIMA_instructions.json", tmp_path / "out.json", src="mimicit", dst="mimicit")
    not_object = tmp_path / "task" / "B_instructions.json"
    not_object.write_text("[1, 2]")
    with pytest.raises(MmloomError, match="B_instructions.json.*expected a JSON object"):
        mmloom.convert(not_object, tmp_path / "dj.jsonl", src="mimicit", dst="dj")


@pytest.mark.parametrize(("train", "words"), [
    ({"SD_INS_1": [], "SD_INS_2": "SD_INS_1"}, "must be a list of instruction ids"),
    ({"SD_INS_1": [], "SD_INS_2": [3]}, "must be a list of instruction ids"),
])
def test_bad_train_entry_is_located(tmp_path: Path, train: dict[str, Any], words: str) -> None:
    message = _convert_error(_bad_task(tmp_path, train=train), tmp_path)
    assert "record 1, field 'train' (id 'SD_INS_2')" in message and words in message


@pytest.mark.parametrize(("text", "words"), [
    ('{"meta": {}, "data": {"A_INS_1": {}, "A_INS_1": {}}}', "instruction id 'A_INS_1' appears twice"),
    ('{"meta": {}, "data": []}', "'data' must be an object keyed by instruction id"),
    ('{"meta": {}}', "has no 'data' object"),
    ('{"meta": {}, "data": {"A_INS_1": {"instruction": "q"', "not a valid MIMIC-IT instructions file"),
])
def test_broken_instruction_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "A_instructions.json"
    path.write_text(text)
    with pytest.raises(MmloomError) as info:
        mmloom.convert(path, tmp_path / "dj.jsonl", src="mimicit", dst="dj")
    assert "A_instructions.json" in str(info.value) and words in str(info.value)


def test_train_path_option_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="train_path .*no such file"):
        mmloom.convert(G / "LIMA" / "LIMA_instructions.json", tmp_path / "dj.jsonl", src="mimicit", dst="dj",
                       options={"train_path": str(tmp_path / "nope.json")})


# -- generated trios ----------------------------------------------------------------------------

AWKWARD = st.sampled_from(["", " ", "\n", "\r\n\r\n", "中文", "🙂", "[[human]]: ", "[[gpt]]: x", "<|__dj__eoc|>",
                           "<__dj__image>", "<image>", " GPT:<answer>", "\t"])
TEXT = st.one_of(AWKWARD, st.text(max_size=10), st.lists(AWKWARD, max_size=3).map("".join))
PREFIXES = st.sampled_from(["DC", "LACONV", "LACR_I2I", "SD", "LIMA", "D3", "X"])
IMAGE_IDS = st.sampled_from(["IMG_0", "IMG_1", "IMG_2", "LA_IMG_x", "../up", "a b"])


@st.composite
def trios(draw: st.DrawFn) -> dict[str, Any]:
    prefix = draw(PREFIXES)
    n = draw(st.integers(1, 5))
    ids = [f"{prefix}_INS_{k:05d}" for k in range(n)]
    data = {}
    for iid in ids:
        image_ids = draw(st.one_of(st.lists(IMAGE_IDS, max_size=3), st.none(), IMAGE_IDS))
        values = {"instruction": draw(TEXT), "answer": draw(TEXT), "image_ids": image_ids,
                  "rel_ins_ids": draw(st.lists(st.sampled_from(ids), max_size=2, unique=True)),
                  "reward": draw(st.one_of(st.floats(0, 1), st.integers(-5, 5), st.text(max_size=3)))}
        keys = draw(st.permutations(list(values)))
        data[iid] = {k: values[k] for k in keys if k in ("instruction", "answer") or draw(st.booleans())}
    train = None
    if draw(st.booleans()):
        queries = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
        train = {q: draw(st.lists(st.sampled_from(ids), max_size=3)) for q in queries}
    pool = sorted({i for e in data.values() for i in ([e.get("image_ids")] if isinstance(e.get("image_ids"), str)
                                                       else e.get("image_ids") or [])})
    images = {i: draw(st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode())
                      | st.binary(max_size=20).map(lambda b: base64.urlsafe_b64encode(b).decode())) for i in pool}
    meta = draw(st.sampled_from([META, {"version": "0.0.2"}, {}]))
    top = {"data": data, "meta": meta} if draw(st.booleans()) else {"meta": meta, "data": data}
    return {"prefix": prefix, "data": data, "train": train, "images": images, "top": top}


@settings(max_examples=100, deadline=None)
@given(trios(), st.sampled_from(["dj.jsonl", "dj.parquet"]))
def test_generated_trios_round_trip(trio: dict[str, Any], dj_name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "task"
        path = write_trio(folder, trio["prefix"], trio["data"], trio["train"], trio["images"] or None, trio["top"])
        back = round_trip(path, Path(tmp), dj_name=dj_name)
        again = _trio(back, trio["prefix"])
        assert _ordered_equal(again["instructions"], trio["top"]), first_difference(again["instructions"], trio["top"])
        assert _ordered_equal(again["train"], trio["train"])
        for image_id, text in (again["images"] or {}).items():
            assert trio["images"][image_id] == text
