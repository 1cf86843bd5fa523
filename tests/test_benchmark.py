"""The benchmark's smoke mode: tiny generated data, every conversion once, the table and its JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import bench  # noqa: E402

from mmloom.formats import registry  # noqa: E402


def test_smoke_run_prints_the_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    assert bench.main(["--smoke", "--data-dir", str(tmp_path / "data"), "--json", str(out), "--workers", "1,2"]) == 0
    result = json.loads(out.read_text())
    rows = {(r["conversion"], r["workers"]): r for r in result["rows"]}
    for name in ("llava->dj", "dj->llava", "mmc4->dj", "dj->mmc4"):
        for workers in (1, 2):
            row = rows[(name, workers)]
            assert row["records"] > 0 and row["mb_per_s"] > 0 and row["peak_rss_mb"] > 0
            # the ratio is printed to two decimals
            assert row["ratio_to_limit"] == pytest.approx(row["mb_per_s"] / row["limit_mb_per_s"], rel=0.02, abs=0.006)
    if "textbook" in registry():
        assert ("textbook->dj", 1) in rows
    else:
        assert any(n.startswith("textbook->dj: skipped") for n in result["notes"])
    printed = capsys.readouterr().out
    assert "| llava->dj | 2 |" in printed and "x limit" in printed
    # the data are kept for the next run; the outputs are not
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "llava.dj.jsonl", "llava.json", "mmc4.dj.jsonl", "mmc4.jsonl", "params.json", "textbook.json"]
