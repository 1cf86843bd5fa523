"""InternVid with cut_videos over a real video made here: clips are cut, probed and checked; bad
media and bad timestamps are refused with the record named; nothing escapes the output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from media_helpers import make_test_pattern

import mmloom
from mmloom.errors import RecordError
from mmloom.media import decoded_video_span, probe

FPS = 25
FRAME = 1 / FPS

SPANS = [("00:00:00.000", "00:00:02.000"), ("00:00:02.500", "00:00:05.000"),
         ("00:00:07.250", "00:00:09.900"), ("00:00:04.040", "00:00:04.200")]


@pytest.fixture(scope="module")
def pattern_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = make_test_pattern(tmp_path_factory.mktemp("src") / "pattern.mp4", seconds=10, fps=FPS, keyframe_every=FPS)
    return path.read_bytes()


@pytest.fixture
def dataset(tmp_path: Path, pattern_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dataset folder: videos/pattern.mp4 and rows.jsonl whose YoutubeIDs point at it."""
    (tmp_path / "data" / "videos").mkdir(parents=True)
    (tmp_path / "data" / "videos" / "pattern.mp4").write_bytes(pattern_bytes)
    rows = [_row("videos/pattern.mp4", s, e, f"caption {i}", extra=i) for i, (s, e) in enumerate(SPANS)]
    _write_rows(tmp_path / "data" / "rows.jsonl", rows)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def _row(video: Any, start: Any, end: Any, caption: str = "a test pattern", **extra: Any) -> dict[str, Any]:
    return {"YoutubeID": video, "Start_timestamp": start, "End_timestamp": end, "Caption": caption,
            "Aesthetic_Score": 4.25, "UMT_Score": 0.5, **extra}


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _seconds(ts: str) -> float:
    h, m, s = ts.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.parametrize("mode", ["exact", "copy"])
def test_clips_are_cut_and_last_the_asked_span(dataset: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "dj.jsonl"
    report = mmloom.convert(dataset / "rows.jsonl", out, src="internvid", dst="dj",
                            options={"cut_video_store_path": "clips", "cut_mode": mode})
    assert report.records_out == len(SPANS)
    records = _read(out)
    for (start, end), record in zip(SPANS, records, strict=True):
        clip = record["videos"][0]
        assert record["is_cut"] is True
        assert os.path.dirname(clip) == "clips"
        assert ":" not in os.path.basename(clip)
        span = decoded_video_span(clip)
        info = probe(clip)
        asked = _seconds(end) - _seconds(start)
        assert info.video is not None and info.video.fps == pytest.approx(FPS)
        assert info.audio is not None
        if mode == "exact":
            assert abs(span.duration - asked) <= FRAME + 1e-6, (clip, span)
        else:  # starts on the keyframe at or before the start (one every second here)
            slack = _seconds(start) - int(_seconds(start))
            assert asked - FRAME <= span.duration <= asked + slack + FRAME + 1e-6, (clip, span)
    assert sorted(os.listdir("clips")) == sorted(os.path.basename(r["videos"][0]) for r in records)


def test_default_store_is_the_source_folder_and_paths_are_absolute(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "dj.jsonl"
    mmloom.convert(dataset / "rows.jsonl", out, src="internvid", dst="dj")
    first = _read(out)[0]["videos"][0]
    assert first == str(dataset.resolve() / "videos" / "pattern_00-00-00.000_00-00-02.000.mp4")
    assert os.path.isfile(first)


def test_dj_clip_names_keep_the_colons(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "dj.jsonl"
    mmloom.convert(dataset / "rows.jsonl", out, src="internvid", dst="dj",
                   options={"cut_video_store_path": "clips", "dj_clip_names": True})
    assert _read(out)[1]["videos"] == ["clips/pattern_00:00:02.500_00:00:05.000.mp4"]


def test_round_trip_after_cutting_gives_the_source_rows(dataset: Path, tmp_path: Path) -> None:
    dj, back = tmp_path / "dj.jsonl", tmp_path / "back.jsonl"
    mmloom.convert(dataset / "rows.jsonl", dj, src="internvid", dst="dj", options={"cut_video_store_path": "clips"})
    mmloom.convert(dj, back, src="dj", dst="internvid")
    original = _read(dataset / "rows.jsonl")
    restored = _read(back)
    assert restored == original
    assert [list(r) for r in restored] == [list(r) for r in original]
    # without the carry, Data-Juicer's way: the clip path replaces the source
    mmloom.convert(dj, back, src="dj", dst="internvid", options={"lossless": False})
    assert _read(back)[0]["YoutubeID"].startswith("clips/pattern_")


def _bad_case(dataset: Path, tmp_path: Path, row: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    good = _row("videos/pattern.mp4", "00:00:01.000", "00:00:02.000")
    _write_rows(dataset / "bad.jsonl", [good, row, good])
    with pytest.raises(RecordError) as info:
        mmloom.convert(dataset / "bad.jsonl", tmp_path / "fail.jsonl", src="internvid", dst="dj",
                       options={"cut_video_store_path": "clips", **(options or {})})
    assert not (tmp_path / "fail.jsonl").exists()
    message = str(info.value)
    assert "bad.jsonl, record 1, line 2" in message
    # the same run with --on-error skip: the bad row goes to the rejects file, the others through
    report = mmloom.convert(dataset / "bad.jsonl", tmp_path / "skip.jsonl", src="internvid", dst="dj",
                            options={"cut_video_store_path": "clips", **(options or {})}, on_error="skip")
    assert (report.records_out, report.rejected) == (2, 1)
    rejects = _read(tmp_path / "skip.jsonl.rejects.jsonl")
    assert [r["index"] for r in rejects] == [1] and rejects[0]["record"] == row
    return message


@pytest.mark.parametrize("row,field,words", [
    (_row("videos/missing.mp4", "00:00:01.000", "00:00:02.000"), "YoutubeID", "does not exist"),
    (_row("videos/pattern.mp4", "00:00:01", "00:00:02.000"), "Start_timestamp", "fraction is required"),
    (_row("videos/pattern.mp4", "00:00:03.000", "00:00:02.000"), "End_timestamp", "before it starts"),
    (_row("videos/pattern.mp4", "00:00:03.000", "00:00:03.000"), "End_timestamp", "before it starts"),
    (_row("videos/pattern.mp4", 1.0, "00:00:02.000"), "Start_timestamp", "timestamp string"),
    (_row("../../x.mp4", "00:00:01.000", "00:00:02.000"), "YoutubeID", "leaves the folder"),
    (_row("videos/../../x.mp4", "00:00:01.000", "00:00:02.000"), "YoutubeID", "leaves the folder"),
    (_row("videos/noext", "00:00:01.000", "00:00:02.000"), "YoutubeID", "no file extension"),
    ({"YoutubeID": "videos/pattern.mp4", "Caption": "no timestamps"}, "Start_timestamp", "is missing"),
])
def test_bad_rows_are_refused_naming_the_record(dataset: Path, tmp_path: Path, row: dict[str, Any],
                                                 field: str, words: str) -> None:
    message = _bad_case(dataset, tmp_path, row)
    assert f"field {field!r}" in message and words in message


def test_unreadable_video_is_refused(dataset: Path, tmp_path: Path) -> None:
    (dataset / "videos" / "broken.mp4").write_text("this is not a video\n" * 50)
    message = _bad_case(dataset, tmp_path, _row("videos/broken.mp4", "00:00:01.000", "00:00:02.000"))
    assert "cannot be read" in message and "field 'YoutubeID'" in message


def test_nothing_is_written_outside_the_store(dataset: Path, tmp_path: Path) -> None:
    # a source one level up from the rows file would put its clip outside the dataset folder
    (tmp_path / "outside.mp4").write_bytes((dataset / "videos" / "pattern.mp4").read_bytes())
    before = set(os.listdir(tmp_path))
    _bad_case(dataset, tmp_path, _row("../outside.mp4", "00:00:01.000", "00:00:02.000"),
              options={"cut_video_store_path": None})
    after = set(os.listdir(tmp_path)) - {"skip.jsonl", "skip.jsonl.rejects.jsonl"}
    assert after == before


def test_span_after_the_end_of_the_video_is_left_out(dataset: Path, tmp_path: Path) -> None:
    _write_rows(dataset / "late.jsonl", [_row("videos/pattern.mp4", "00:00:20.000", "00:00:21.000")])
    report = mmloom.convert(dataset / "late.jsonl", tmp_path / "late.dj.jsonl", src="internvid", dst="dj",
                            options={"cut_video_store_path": "clips"})
    assert (report.records_out, report.skipped_by_format) == (0, 1)
    reason = _read(tmp_path / "late.dj.jsonl.rejects.jsonl")[0]["error"]
    assert "after the end of the video" in reason


def test_store_path_is_created(dataset: Path, tmp_path: Path) -> None:
    mmloom.convert(dataset / "rows.jsonl", tmp_path / "dj.jsonl", src="internvid", dst="dj",
                   options={"cut_video_store_path": "new/clip/folder"})
    assert len(os.listdir("new/clip/folder")) == len(SPANS)


def test_workers_cut_in_parallel_with_the_same_result(dataset: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    mmloom.convert(dataset / "rows.jsonl", one, src="internvid", dst="dj", options={"cut_video_store_path": "c1"})
    mmloom.convert(dataset / "rows.jsonl", two, src="internvid", dst="dj", options={"cut_video_store_path": "c2"},
                   workers=2)
    a, b = _read(one), _read(two)
    assert [r["videos"][0].replace("c1/", "") for r in a] == [r["videos"][0].replace("c2/", "") for r in b]
    for x, y in zip(a, b, strict=True):
        assert decoded_video_span(x["videos"][0]).frames == decoded_video_span(y["videos"][0]).frames
