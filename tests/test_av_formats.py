"""Behaviour of the audio and video formats beyond the golden cases: the Data-Juicer bugs fixed by
default, edits made in Data-Juicer format carried back, bad records named, the CLI listing."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import GOLDEN

import mmloom
from mmloom.errors import RecordError, UsageError

AV_FORMATS = ("wavcaps", "video_chatgpt", "youku", "internvid", "msrvtt")


def _jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _read(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _one(record: Any, src: str, dst: str, **options: Any) -> Any:
    return mmloom.convert_record(record, src, dst, options)


# -- listing ---------------------------------------------------------------------------------

def test_formats_lists_every_av_format_with_its_options() -> None:
    out = subprocess.run([sys.executable, "-m", "mmloom.cli", "formats"], capture_output=True, text=True, check=True)
    for name in AV_FORMATS:
        assert f"\n{name}: " in "\n" + out.stdout
    block = out.stdout.split("\ninternvid: ")[1].split("\n\n")[0]
    for option in ("cut_videos = true", "cut_video_store_path = null", 'cut_mode = "exact"', "dj_clip_names = false",
                   'video_special_token_insert_pos = "before"', "keep_other_fields = true", "lossless = true"):
        assert option in block
    wavcaps = out.stdout.split("\nwavcaps: ")[1].split("\n\n")[0]
    for option in ("wavcaps_audio_path = null", 'target_field = "caption" [caption | description | title]',
                   "add_target_field_token = false", "remove_target_field_token = false", "str_id = true"):
        assert option in wavcaps


# -- Video-ChatGPT ---------------------------------------------------------------------------

VCG = {"q": " What? ", "a": "This.\n", "video_id": "v_k_ZXmr8pmrs", "split": "train"}


def test_video_chatgpt_path_is_the_video_file_and_ids_without_prefix_are_kept() -> None:
    dj = _one(VCG, "video_chatgpt", "dj", video_folder="activitynet")
    assert dj["videos"] == [os.path.join("activitynet", "v_k_ZXmr8pmrs.mp4")]
    assert dj["youtube_id"] == "k_ZXmr8pmrs"
    assert dj["text"] == "<__dj__video> [[q]]: What?  \n[[a]]:This.\n <|__dj__eoc|>"
    bare = _one({**VCG, "video_id": "noprefix"}, "video_chatgpt", "dj", video_ext=".mkv")
    assert bare["youtube_id"] == "noprefix" and bare["videos"] == ["noprefix.mkv"]
    quirk = _one({**VCG, "video_id": "noprefix"}, "video_chatgpt", "dj", dj_quirks=True, video_folder="f")
    assert quirk["youtube_id"] == "prefix" and quirk["videos"] == [os.path.join("f", "prefix")]


def test_video_chatgpt_folder_defaults_to_the_input_file_folder(tmp_path: Path) -> None:
    (tmp_path / "vcg").mkdir()
    (tmp_path / "vcg" / "qa.json").write_text(json.dumps([VCG]))
    mmloom.convert(tmp_path / "vcg" / "qa.json", tmp_path / "out.jsonl", src="video_chatgpt", dst="dj")
    assert _read(tmp_path / "out.jsonl")[0]["videos"] == [str(tmp_path / "vcg" / "v_k_ZXmr8pmrs.mp4")]


def test_video_chatgpt_edited_answer_comes_back_and_dj_way_strips() -> None:
    dj = _one(VCG, "video_chatgpt", "dj")
    dj["text"] = dj["text"].replace("This.\n", "That one. ")
    dj["__dj__stats__"] = {"video_frames": 12}
    back = _one(dj, "dj", "video_chatgpt")
    assert back == {"q": " What? ", "a": "That one. ", "video_id": "v_k_ZXmr8pmrs", "split": "train",
                    "__dj__stats__": {"video_frames": 12}}
    assert list(back) == ["q", "a", "video_id", "split", "__dj__stats__"]
    plain = _one(dj, "dj", "video_chatgpt", lossless=False)
    assert list(plain) == ["video_id", "videos", "q", "a", "split", "__dj__stats__"]
    assert (plain["q"], plain["a"]) == ("What?", "That one.")


def test_video_chatgpt_question_holding_the_answer_marker_round_trips() -> None:
    record = {"q": "Is it \n[[a]]: this?", "a": "see [[a]]: there", "video_id": "v_x"}
    assert _one(_one(record, "video_chatgpt", "dj"), "dj", "video_chatgpt") == record


@pytest.mark.parametrize("record,field", [({"q": "Q", "a": "A"}, "video_id"), ({"q": 1, "a": "A", "video_id": "v_x"}, "q"),
                                          ({"q": "Q", "video_id": "v_x"}, "a")])
def test_video_chatgpt_bad_records(record: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordError) as info:
        _one(record, "video_chatgpt", "dj")
    assert info.value.loc.field == field


# -- MSR-VTT ---------------------------------------------------------------------------------

def test_msrvtt_video_id_loses_the_mp4_reading_added() -> None:
    dj = {"videos": ["video7.mp4"], "text": "<__dj__video> a cat <|__dj__eoc|>", "category": 1}
    assert _one(dj, "dj", "msrvtt") == {"category": 1, "video_id": "video7", "caption": "a cat"}
    assert _one(dj, "dj", "msrvtt", dj_quirks=True)["video_id"] == "video7.mp4"


def test_msrvtt_processing_edits_come_back() -> None:
    row = {"video_id": "video2", "caption": "  a man talks  ", "category": 16, "id": 2}
    dj = _one(row, "msrvtt", "dj")
    dj["videos"] = ["/data/msrvtt/video2.mp4"]  # relocated by a processing step
    dj["__dj__stats__"] = {"aesthetic": 0.5}
    back = _one(dj, "dj", "msrvtt")
    assert back == {"video_id": "/data/msrvtt/video2", "caption": "  a man talks  ", "category": 16, "id": 2,
                    "__dj__stats__": {"aesthetic": 0.5}}
    dj["text"] = "a man talks <__dj__video>"  # layout no longer the one reading wrote: Data-Juicer's way
    assert _one(dj, "dj", "msrvtt")["caption"] == "a man talks"


def test_msrvtt_direct_to_internvid_through_the_unified_sample() -> None:
    row = {"video_id": "video2", "caption": "a man talks", "category": 16}
    assert _one(row, "msrvtt", "internvid") == {"category": 16, "YoutubeID": "video2.mp4", "Caption": "a man talks"}


def test_msrvtt_bad_rows_name_the_record(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "rows.jsonl", [{"video_id": "v1", "caption": "ok"}, {"video_id": 7, "caption": "x", "id": 9}])
    with pytest.raises(RecordError) as info:
        mmloom.convert(src, tmp_path / "out.jsonl", src="msrvtt", dst="dj")
    assert "rows.jsonl, record 1, line 2, field 'video_id' (id 9): must be a string" in str(info.value)


# -- InternVid (without cutting; cutting: test_internvid_cut.py) ------------------------------

def test_internvid_without_carry_is_data_juicers_row() -> None:
    dj = {"Start_timestamp": "00:00:01.000", "videos": ["c.mp4", "d.mp4"], "text": " <__dj__video> x  <|__dj__eoc|>",
          "is_cut": True}
    assert _one(dj, "dj", "internvid") == {"Start_timestamp": "00:00:01.000", "is_cut": True, "YoutubeID": "c.mp4",
                                           "Caption": "x"}


def test_internvid_original_fields_named_like_dj_keys_survive() -> None:
    row = {"YoutubeID": "a.mp4", "Caption": "c", "is_cut": "maybe", "text": "mine", "lang": "en"}
    dj = _one(row, "internvid", "dj", cut_videos=False)
    assert (dj["is_cut"], dj["text"]) == (False, "<__dj__video> c <|__dj__eoc|>")
    assert list(_one(dj, "dj", "internvid").items()) == list(row.items())


# -- Youku-mPLUG -----------------------------------------------------------------------------

def test_youku_dj_way_keeps_only_the_subset_columns(tmp_path: Path) -> None:
    src = GOLDEN / "youku_to_dj/captioning.input.csv"
    mmloom.convert(src, tmp_path / "dj.jsonl", src="youku", dst="dj", options={"subset_type": "captioning"})
    mmloom.convert(tmp_path / "dj.jsonl", tmp_path / "plain.csv", src="dj", dst="youku",
                   options={"subset_type": "captioning", "lossless": False})
    with open(tmp_path / "plain.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["video_id:FILE", "golden_caption"]
    mmloom.convert(tmp_path / "dj.jsonl", tmp_path / "back.csv", src="dj", dst="youku")
    assert (tmp_path / "back.csv").read_text(encoding="utf-8").splitlines()[0] == "video_id:FILE,golden_caption,duration"


def test_youku_missing_columns_are_named() -> None:
    with pytest.raises(RecordError) as info:
        _one({"title": "t"}, "youku", "dj")
    assert info.value.loc.field == "video_id:FILE"
    with pytest.raises(UsageError, match="subset_type"):
        _one({"title": "t"}, "youku", "dj", subset_type="qa")


# -- WavCaps ---------------------------------------------------------------------------------

def _wavcaps_dj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Path:
    monkeypatch.chdir(GOLDEN)
    out = tmp_path / "dj.jsonl"
    mmloom.convert("wavcaps_to_dj/mixed.input.json", out, src="wavcaps", dst="dj",
                   options={"wavcaps_audio_path": "wavcaps_to_dj/audio", **options})
    return out


def test_wavcaps_without_carry_gives_the_union_of_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dj = _wavcaps_dj(tmp_path, monkeypatch, lossless=False)
    assert "__mmloom__" not in dj.read_text()
    mmloom.convert(dj, tmp_path / "union.json", src="dj", dst="wavcaps")
    data = json.loads((tmp_path / "union.json").read_text())["data"]
    keys = [set(r) for r in data]
    assert all(k >= {"title", "description", "author", "href", "category", "tags"} for k in keys)


def test_wavcaps_header_is_the_last_records_and_filled_padding_stays(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    records = _read(_wavcaps_dj(tmp_path, monkeypatch))
    records[-1]["__dj__meta__"]["num_captions_per_audio"] = 5
    records[0]["__dj__meta__"]["category"] = "Transport"  # a processing step filled a padded key
    records[0]["text"] = "<__dj__audio>\nAn airplane lands.<|__dj__eoc|>"
    mmloom.convert(_jsonl(tmp_path / "edited.jsonl", records), tmp_path / "back.json", src="dj", dst="wavcaps")
    back = json.loads((tmp_path / "back.json").read_text())
    assert back["num_captions_per_audio"] == 5
    assert back["data"][0]["caption"] == "An airplane lands."
    assert back["data"][0]["category"] == "Transport" and "tags" not in back["data"][0]
    # written as JSON Lines, each record keeps its num_captions_per_audio
    mmloom.convert(tmp_path / "edited.jsonl", tmp_path / "back.jsonl", src="dj", dst="wavcaps")
    lines = _read(tmp_path / "back.jsonl")
    assert [r["num_captions_per_audio"] for r in lines] == [1] * (len(lines) - 1) + [5]


def test_wavcaps_samples_without_meta_are_left_out(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "dj.jsonl", [{"id": "a", "text": "<__dj__audio>\nx<|__dj__eoc|>", "audios": ["a.flac"]}])
    report = mmloom.convert(src, tmp_path / "out.json", src="dj", dst="wavcaps")
    assert (report.records_out, report.skipped_by_format) == (0, 1)
    assert json.loads((tmp_path / "out.json").read_text()) == {"num_captions_per_audio": 1, "data": []}


def test_wavcaps_needs_its_audio_folder(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(json.dumps({"num_captions_per_audio": 1, "data": []}))
    with pytest.raises(UsageError, match="wavcaps_audio_path"):
        mmloom.convert(tmp_path / "w.json", tmp_path / "o.jsonl", src="wavcaps", dst="dj")
    with pytest.raises(UsageError, match="no such folder"):
        mmloom.convert(tmp_path / "w.json", tmp_path / "o.jsonl", src="wavcaps", dst="dj",
                       options={"wavcaps_audio_path": str(tmp_path / "nope")})


def test_wavcaps_file_without_num_captions_is_named(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "1.flac").write_bytes(b"")
    (tmp_path / "w.json").write_text(json.dumps({"data": [{"id": 1, "caption": "c"}]}))
    with pytest.raises(RecordError, match="num_captions_per_audio"):
        mmloom.convert(tmp_path / "w.json", tmp_path / "o.jsonl", src="wavcaps", dst="dj",
                       options={"wavcaps_audio_path": str(tmp_path / "audio")})
