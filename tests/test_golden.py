"""Every case of Data-Juicer's golden set for the formats mmloom has: our output equals the tool's,
as parsed JSON records in order (type-strict), ignoring only our reserved ``__mmloom__`` key; with
``lossless=false`` nothing is ignored. Error cases must be refused with a located mmloom error."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import GOLDEN, drop_carry, first_difference, load_records, manifest, strict_equal

import mmloom
from mmloom.errors import MmloomError
from mmloom.formats import registry

# Cases where mmloom fixes a Data-Juicer bug by default; the golden output is reproduced with the
# option that restores Data-Juicer's behaviour (listed in the README's compatibility notes).
QUIRK_OPTIONS: dict[str, dict[str, Any]] = {
    "dj_to_mmc4/handmade_processed": {"dj_quirks": True},
    "dj_to_mmc4/docs_drop_other_fields": {"dj_quirks": True},
    # Data-Juicer's post-tuning dj_to_* tools (but ms-swift's) leave out the record's falsy fields
    # (id 0, images [], tags []); mmloom keeps them.
    "dj_to_alpaca/mixed_default": {"drop_falsy_fields": True},
    "dj_to_alpaca/mixed_multimodal_images": {"drop_falsy_fields": True},
    "dj_to_llama_factory_sharegpt/sharegpt_default": {"drop_falsy_fields": True},
    "dj_to_llama_factory_sharegpt/sharegpt_human_gpt_roles": {"drop_falsy_fields": True},
    # Video-ChatGPT: Data-Juicer cuts 2 characters off every video_id ('noprefix' -> 'prefix') and
    # writes <folder>/<youtube_id> (no 'v_', no extension) as the video path
    "video_chatgpt_to_dj/qa_default": {"dj_quirks": True},
    "video_chatgpt_to_dj/qa_after_no_eoc": {"dj_quirks": True},
    "video_chatgpt_to_dj/qa_custom_drop_fields": {"dj_quirks": True},
    # MSR-VTT: Data-Juicer leaves the '.mp4' its reading added on video_id
    "dj_to_msrvtt/captions_default": {"dj_quirks": True},
    "dj_to_msrvtt/captions_after_no_eoc": {"dj_quirks": True},
    "dj_to_msrvtt/captions_drop_fields_custom": {"dj_quirks": True},
    "dj_to_msrvtt/handmade_two_videos": {"dj_quirks": True},
    # InternVid: Data-Juicer's clip names hold the timestamps' colons
    "internvid_to_dj/testsrc_cut_store_path": {"dj_clip_names": True},
    "internvid_to_dj/testsrc_cut_default_store": {"dj_clip_names": True},
}

# Data-Juicer bugs mmloom fixes with no option to bring them back (nobody can depend on them); each
# case has a test of mmloom's own output for the same input instead (named in the reason).
DJ_BUGS_FIXED_WITHOUT_OPTION: dict[str, str] = {
    "llama_factory_sharegpt_to_dj/system_and_instruction":
        "Data-Juicer removes the system turn and then the wrong turn, losing the first query; mmloom "
        "removes the system and instruction turns (test_dialog_formats.py::test_system_and_instruction_turns)",
}

# How far a cut clip's video may be from the duration of Data-Juicer's clip (README of the set)
CLIP_DURATION_TOLERANCE_S = 0.25

CASES = manifest()


def _has_formats(case: dict[str, Any]) -> bool:
    return case["from"] in registry() and case["to"] in registry()


def _ids(case: dict[str, Any]) -> str:
    return case["case"]


def _run(case: dict[str, Any], tmp_path: Path, extra: dict[str, Any] | None = None) -> Path:
    expected = case["expected"] or (case["case"] + ".out.jsonl")
    out = tmp_path / ("out" + "".join(Path(expected).suffixes[-1:]))
    options = dict(case["options"])
    options.update(QUIRK_OPTIONS.get(case["case"], {}))
    options.update(extra or {})
    mmloom.convert(case["input"], out, src=case["from"], dst=case["to"], options=options)
    return out


@pytest.fixture
def in_golden_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Data-Juicer's tools were run from the set root with relative paths; so are we.
    monkeypatch.chdir(GOLDEN)


def _scratch_root_for_clips(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutting writes clips next to the source videos or into a folder of the set: run such cases
    in a copy of the case's folder, so the fixtures stay as they are."""
    if case["compare"] != "clip-durations":
        return
    root = tmp_path / "set"
    folder = case["input"].split("/")[0]
    shutil.copytree(GOLDEN / folder, root / folder)
    monkeypatch.chdir(root)


def _check_clips(case: dict[str, Any], out: Path) -> None:
    """Each cut clip is playable, at Data-Juicer's frame rate, and lasts what Data-Juicer's clip
    lasts to within the set's tolerance (probed and decoded, not trusted)."""
    from mmloom.media import decoded_video_span, probe

    records = load_records(out)
    for expected in case["expected_clips"]:
        path = records[expected["record"]]["videos"][0]
        info = probe(path)
        span = decoded_video_span(path)
        assert info.video is not None and span.frames > 0, path
        assert info.video.fps == pytest.approx(expected["fps"]), path
        assert abs(span.duration - expected["video_duration_s"]) <= CLIP_DURATION_TOLERANCE_S, (
            path, span, expected)
        assert (info.audio is not None) == expected["has_audio_stream"], path


def _compare(case: dict[str, Any], out: Path, ignore_carry: bool) -> None:
    expected_path = GOLDEN / case["expected"]
    if case["compare"] == "csv-rows":
        with open(out, newline="", encoding="utf-8") as a, open(expected_path, newline="", encoding="utf-8") as b:
            assert list(csv.reader(a)) == list(csv.reader(b))
        return
    ours = load_records(out)
    theirs = load_records(expected_path)
    if isinstance(theirs, str):
        theirs = theirs.replace("{SET_ROOT}", os.getcwd())
    if ignore_carry and isinstance(ours, list):
        ours = drop_carry(ours)
    text = Path(expected_path).read_text(encoding="utf-8")
    if "{SET_ROOT}" in text:
        import json
        theirs = [json.loads(line.replace("{SET_ROOT}", os.getcwd())) for line in text.split("\n") if line.strip()]
    assert strict_equal(ours, theirs), first_difference(ours, theirs)


@pytest.mark.parametrize("case", [c for c in CASES if c["expected"]], ids=_ids)
def test_golden_output(case: dict[str, Any], tmp_path: Path, in_golden_root: None,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    if not _has_formats(case):
        pytest.skip(f"format {case['from']} or {case['to']} not in this build")
    if case["case"] in DJ_BUGS_FIXED_WITHOUT_OPTION:
        pytest.skip(DJ_BUGS_FIXED_WITHOUT_OPTION[case["case"]])
    _scratch_root_for_clips(case, tmp_path, monkeypatch)
    out = _run(case, tmp_path)
    _compare(case, out, ignore_carry=True)
    if case["compare"] == "clip-durations":
        _check_clips(case, out)


@pytest.mark.parametrize("case", [c for c in CASES if c["expected"] and c["to"] == "dj"], ids=_ids)
def test_golden_output_without_carry(case: dict[str, Any], tmp_path: Path, in_golden_root: None,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With lossless=false our Data-Juicer output is Data-Juicer's, with nothing ignored."""
    if not _has_formats(case):
        pytest.skip(f"format {case['from']} not in this build")
    if "lossless" not in {o.name for o in registry()[case["from"]].read_options}:
        pytest.skip(f"{case['from']} writes no carry")
    if case["case"] in DJ_BUGS_FIXED_WITHOUT_OPTION:
        pytest.skip(DJ_BUGS_FIXED_WITHOUT_OPTION[case["case"]])
    _scratch_root_for_clips(case, tmp_path, monkeypatch)
    out = _run(case, tmp_path, {"lossless": False})
    _compare(case, out, ignore_carry=False)


@pytest.mark.parametrize("case", [c for c in CASES if c["expected_error"]], ids=_ids)
def test_golden_error(case: dict[str, Any], tmp_path: Path, in_golden_root: None) -> None:
    if not _has_formats(case):
        pytest.skip(f"format {case['from']} or {case['to']} not in this build")
    with pytest.raises(MmloomError) as info:
        _run(case, tmp_path)
    message = str(info.value)
    assert message and "Traceback" not in message
    # nothing that looks whole is left behind
    assert not any(p.name.startswith("out") and not p.name.endswith("rejects.jsonl") for p in tmp_path.iterdir())
