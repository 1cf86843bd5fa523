"""The 2 GB benchmark's generator, small: its samples are valid textbook samples, it is seeded,
and mmloom converts its array there and back to the same bytes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import mmloom

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "textbook_memory.py"


def _generator():
    spec = importlib.util.spec_from_file_location("textbook_memory", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_generated_array_converts_there_and_back_to_the_same_bytes(tmp_path: Path) -> None:
    bench = _generator()
    source = tmp_path / "tb.json"
    count, size = bench.generate(source, 300_000, seed=7)
    assert size == source.stat().st_size >= 300_000
    samples = json.loads(source.read_text())
    assert len(samples) == count
    for s in samples:
        assert s["image_num"] == sum(1 for i in s["images"] if i) > 0
        assert s["token_num"] == s["text_num"] + 576 * s["image_num"]
        assert all((i is None) != (t is None) for i, t in zip(s["images"], s["texts"], strict=True))
    again = tmp_path / "again.json"
    assert bench.generate(again, 300_000, seed=7) == (count, size)
    assert again.read_bytes() == source.read_bytes()
    mmloom.convert(source, tmp_path / "tb.dj.jsonl", src="textbook", dst="dj", options={"keyframe_meta": "require"})
    mmloom.convert(tmp_path / "tb.dj.jsonl", tmp_path / "back.json", src="dj", dst="textbook")
    assert (tmp_path / "back.json").read_bytes() == source.read_bytes()
