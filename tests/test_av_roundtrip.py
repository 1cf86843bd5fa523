"""Lossless: X -> dj -> X gives back equal records (values, types, key order, extra fields,
whitespace) for the audio and video formats, on generated records and on the fixtures, under the
reading options that change the Data-Juicer text."""

from __future__ import annotations

import csv
import json
import os
import string
from pathlib import Path
from typing import Any

import pytest
from helpers import GOLDEN, strict_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmloom

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- generated values ------------------------------------------------------------------------

TOKEN_LIKE = ["<__dj__video>", "<|__dj__eoc|>", "<__dj__audio>", "[[q]]:", "[[a]]:", " \n[[a]]:", "[[caption]]: ",
              "<video>", "<|endofchunk|>", " ", "\n", "\t", "\r\n", "  ", "雨夜", "🎬", "é", "\u2028", "v_"]
text = st.lists(st.one_of(st.sampled_from(TOKEN_LIKE), st.text(st.characters(blacklist_categories=("Cs",)),
                                                                  max_size=8)), max_size=6).map("".join)
csv_text = text.map(lambda s: s.replace("\x00", ""))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63) + 1, 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), text)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(text, inner, max_size=3)), max_leaves=6)


def extra_fields(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Extra fields, including names the Data-Juicer record uses for itself."""
    key = st.one_of(st.sampled_from(names), st.text(string.ascii_letters + "_ 中", min_size=1, max_size=6))
    return st.dictionaries(key, json_values, max_size=4)


@st.composite
def shuffled(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    keys = draw(st.permutations(list(record)))
    return {k: record[k] for k in keys}


def video_options() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "video_special_token_insert_pos": st.sampled_from(["before", "after", "random"]),
        "add_eoc_at_last": st.booleans(),
        "sent_separator": st.sampled_from([" ", "\n", "", " | "]),
        "keep_other_fields": st.booleans(),
        "seed": st.integers(0, 3),
        "tokens": st.just(True),
    }).map(_with_tokens)


def _with_tokens(opts: dict[str, Any]) -> dict[str, Any]:
    if opts.pop("tokens", False):
        opts.update(video_special_token="<video>", eoc_special_token="<|endofchunk|>")
    return opts


def _token_opts(opts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in opts.items() if k.endswith("_special_token")}


# -- files -----------------------------------------------------------------------------------

def _write_jsonl(path: Path, records: list[Any]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _read_jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_bytes().decode().split("\n") if line.strip()]


def _same(ours: list[Any], theirs: list[Any]) -> None:
    assert strict_equal(ours, theirs), (ours, theirs)
    assert [list(r) for r in ours] == [list(r) for r in theirs]  # key order too


def _round_trip(src: Path, back: Path, fmt: str, read_opts: dict[str, Any], tmp: Path) -> Path:
    dj = tmp / "dj.jsonl"
    mmloom.convert(src, dj, src=fmt, dst="dj", options=read_opts)
    mmloom.convert(dj, back, src="dj", dst=fmt, options=_token_opts(read_opts))
    return dj


# -- MSR-VTT ---------------------------------------------------------------------------------

@st.composite
def msrvtt_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        row = {"video_id": draw(st.one_of(st.just("video6513"), text)), "caption": draw(text),
               "category": draw(st.integers(0, 19)), "start time": draw(st.floats(0, 600)), "id": draw(st.integers(-(2**63) + 1, 2**63 - 1))}
        row.update({k: v for k, v in draw(extra_fields(["videos", "text", "images", "audios"])).items() if k not in row})
        rows.append(draw(shuffled(row)))
    return rows


@SETTINGS
@given(rows=msrvtt_rows(), opts=video_options())
def test_msrvtt_round_trip(tmp_path: Path, rows: list[dict[str, Any]], opts: dict[str, Any]) -> None:
    _write_jsonl(tmp_path / "in.jsonl", rows)
    _round_trip(tmp_path / "in.jsonl", tmp_path / "back.jsonl", "msrvtt", opts, tmp_path)
    _same(_read_jsonl(tmp_path / "back.jsonl"), rows)


# -- InternVid (no cutting here; see test_internvid_cut.py) ----------------------------------

@st.composite
def internvid_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        row = {"YoutubeID": draw(st.one_of(text, st.integers(-(2**63) + 1, 2**63 - 1))), "Start_timestamp": "00:00:01.500",
               "End_timestamp": draw(text), "Caption": draw(text), "Aesthetic_Score": draw(st.floats(0, 10)),
               "UMT_Score": draw(st.floats(0, 1))}
        row.update({k: v for k, v in draw(extra_fields(["videos", "text", "is_cut", "images"])).items() if k not in row})
        rows.append(draw(shuffled(row)))
    return rows


@SETTINGS
@given(rows=internvid_rows(), opts=video_options())
def test_internvid_round_trip(tmp_path: Path, rows: list[dict[str, Any]], opts: dict[str, Any]) -> None:
    _write_jsonl(tmp_path / "in.jsonl", rows)
    _round_trip(tmp_path / "in.jsonl", tmp_path / "back.jsonl", "internvid", {**opts, "cut_videos": False}, tmp_path)
    _same(_read_jsonl(tmp_path / "back.jsonl"), rows)


# -- Video-ChatGPT ---------------------------------------------------------------------------

@st.composite
def vcg_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    records = []
    for _ in range(draw(st.integers(1, 4))):
        video_id = draw(st.one_of(st.just("v_k_ZXmr8pmrs"), st.builds(lambda s: "v_" + s, text), text))
        rec = {"q": draw(text), "a": draw(text), "video_id": video_id}
        rec.update({k: v for k, v in draw(extra_fields(["videos", "text", "youtube_id", "audios"])).items() if k not in rec})
        records.append(draw(shuffled(rec)))
    return records


@SETTINGS
@given(records=vcg_records(), opts=video_options(), quirks=st.booleans())
def test_video_chatgpt_round_trip(tmp_path: Path, records: list[dict[str, Any]], opts: dict[str, Any],
                                  quirks: bool) -> None:
    (tmp_path / "in.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    _round_trip(tmp_path / "in.json", tmp_path / "back.json", "video_chatgpt", {**opts, "dj_quirks": quirks}, tmp_path)
    _same(json.loads((tmp_path / "back.json").read_text(encoding="utf-8")), records)


# -- Youku-mPLUG -----------------------------------------------------------------------------

SUBSET_COLUMNS = {"pretrain": ["video_id:FILE", "title"], "classification": ["video_id:FILE", "title", "label"],
                  "retrieval": ["clip_name:FILE", "caption"], "captioning": ["video_id:FILE", "golden_caption"]}


@st.composite
def youku_table(draw: st.DrawFn) -> tuple[str, list[str], list[list[str]]]:
    subset = draw(st.sampled_from(sorted(SUBSET_COLUMNS)))
    extra = draw(st.lists(st.sampled_from(["duration", "text", "videos", "images", "标签", "label"]), unique=True, max_size=3))
    columns = draw(st.permutations(list(dict.fromkeys(SUBSET_COLUMNS[subset] + extra))))
    rows = draw(st.lists(st.lists(csv_text, min_size=len(columns), max_size=len(columns)), min_size=1, max_size=4))
    return subset, columns, rows


@SETTINGS
@given(table=youku_table(), opts=video_options())
def test_youku_round_trip(tmp_path: Path, table: tuple[str, list[str], list[list[str]]], opts: dict[str, Any]) -> None:
    subset, columns, rows = table
    with open(tmp_path / "in.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([columns, *rows])
    _round_trip(tmp_path / "in.csv", tmp_path / "back.csv", "youku", {**opts, "subset_type": subset}, tmp_path)
    with open(tmp_path / "back.csv", newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [columns, *rows]


# -- WavCaps ---------------------------------------------------------------------------------

ID_CHARS = string.ascii_letters + string.digits + " ._-雨"
PADDED = ["title", "description", "author", "href", "caption", "id", "duration", "audio", "download_link",
          "category", "tags"]


@st.composite
def wavcaps_file(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    field = draw(st.sampled_from(["caption", "description", "title"]))
    records = []
    for _ in range(draw(st.integers(1, 4))):
        rec: dict[str, Any] = {"id": draw(st.one_of(st.integers(0, 10**9), st.text(ID_CHARS, min_size=1, max_size=8))),
                               field: draw(text)}
        for key in draw(st.lists(st.sampled_from(PADDED), unique=True, max_size=5)):
            rec.setdefault(key, draw(st.one_of(st.just(""), json_values)))
        rec.update({k: v for k, v in draw(extra_fields(["file_name", "text", "audios"])).items() if k not in rec})
        records.append(draw(shuffled(rec)))
    return {"num_captions_per_audio": draw(st.integers(1, 5)), "data": records}, field


def wavcaps_options() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "add_eoc_at_last": st.booleans(), "add_target_field_token": st.booleans(),
        "sent_separator": st.sampled_from(["\n", " ", ""]),
        "audio_special_token": st.just("<audio>"), "eoc_special_token": st.just("<|endofchunk|>"),
    })


@SETTINGS
@given(data=wavcaps_file(), opts=wavcaps_options())
def test_wavcaps_round_trip(tmp_path: Path, data: tuple[dict[str, Any], str], opts: dict[str, Any]) -> None:
    doc, field = data
    audio = tmp_path / "audio" / "sub"
    audio.mkdir(parents=True, exist_ok=True)
    for rec in doc["data"]:
        (audio / (str(rec["id"]).strip().split(".")[0] + ".flac")).write_bytes(b"")
    (tmp_path / "in.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    read_opts = {**opts, "target_field": field, "wavcaps_audio_path": str(tmp_path / "audio")}
    dj = tmp_path / "dj.jsonl"
    mmloom.convert(tmp_path / "in.json", dj, src="wavcaps", dst="dj", options=read_opts)
    mmloom.convert(dj, tmp_path / "back.json", src="dj", dst="wavcaps", options=_token_opts(opts))
    back = json.loads((tmp_path / "back.json").read_text(encoding="utf-8"))
    assert list(back) == ["num_captions_per_audio", "data"]
    assert back["num_captions_per_audio"] == doc["num_captions_per_audio"]
    _same(back["data"], doc["data"])


# -- the fixtures under several option sets ---------------------------------------------------

FIXTURE_OPTIONS = [{}, {"video_special_token_insert_pos": "after", "add_eoc_at_last": False},
                   {"keep_other_fields": False, "sent_separator": "\n", "video_special_token": "<video>",
                    "eoc_special_token": "<|endofchunk|>"},
                   {"video_special_token_insert_pos": "random", "seed": 7}]


@pytest.mark.parametrize("opts", FIXTURE_OPTIONS, ids=["defaults", "after-no-eoc", "custom-drop", "random"])
@pytest.mark.parametrize("fmt,path,extra", [
    ("msrvtt", "msrvtt_to_dj/captions.input.jsonl", {}),
    ("internvid", "internvid_to_dj/clips.input.jsonl", {"cut_videos": False}),
    ("video_chatgpt", "video_chatgpt_to_dj/qa.input.json", {}),
    ("youku", "youku_to_dj/classification.input.csv", {}),
    ("youku", "youku_to_dj/pretrain.input.csv", {"subset_type": "pretrain"}),
    ("youku", "youku_to_dj/retrieval.input.csv", {"subset_type": "retrieval"}),
    ("youku", "youku_to_dj/captioning.input.csv", {"subset_type": "captioning"}),
])
def test_fixture_round_trip(tmp_path: Path, fmt: str, path: str, extra: dict[str, Any], opts: dict[str, Any]) -> None:
    src = GOLDEN / path
    back = tmp_path / ("back" + src.suffix)
    _round_trip(src, back, fmt, {**opts, **extra}, tmp_path)
    if src.suffix == ".csv":
        with open(src, newline="", encoding="utf-8") as a, open(back, newline="", encoding="utf-8") as b:
            assert list(csv.reader(b)) == list(csv.reader(a))
    elif src.suffix == ".json":
        _same(json.loads(back.read_text(encoding="utf-8")), json.loads(src.read_text(encoding="utf-8")))
    else:
        _same(_read_jsonl(back), _read_jsonl(src))


@pytest.mark.parametrize("opts", [{}, {"target_field": "title", "add_eoc_at_last": False, "sent_separator": " "},
                                  {"target_field": "description", "add_target_field_token": True}])
def test_wavcaps_fixture_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opts: dict[str, Any]) -> None:
    monkeypatch.chdir(GOLDEN)
    src = GOLDEN / "wavcaps_to_dj/mixed.input.json"
    back = tmp_path / "back.json"
    report = mmloom.convert(src, tmp_path / "dj.jsonl", src="wavcaps", dst="dj",
                            options={**opts, "wavcaps_audio_path": "wavcaps_to_dj/audio"})
    mmloom.convert(tmp_path / "dj.jsonl", back, src="dj", dst="wavcaps")
    original = json.loads(src.read_text(encoding="utf-8"))
    field = opts.get("target_field", "caption")
    # the records Data-Juicer leaves out (no audio file, no target field) go to the rejects file
    kept = [r for r in original["data"] if r["id"] != "no_such_audio" and field in r]
    assert report.skipped_by_format == len(original["data"]) - len(kept)
    restored = json.loads(back.read_text(encoding="utf-8"))
    assert restored["num_captions_per_audio"] == original["num_captions_per_audio"]
    _same(restored["data"], kept)


def test_real_msrvtt_style_fixture_if_present() -> None:
    """The golden fixtures are our real-shaped MSR-VTT rows; make sure they are what we think."""
    rows = _read_jsonl(GOLDEN / "msrvtt_to_dj/captions.input.jsonl")
    assert all(os.path.splitext(r["video_id"])[1] == "" for r in rows)
