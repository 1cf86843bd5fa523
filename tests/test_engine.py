"""The local engine: slabs of raw records parsed in the workers (JSON Lines, JSON arrays in every
layout, with the streaming parser taking over where the fast path cannot vouch for a slice), order
and error locations kept whatever the worker count, and --resume after a killed run."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import REAL, load_records, strict_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mmloom
from mmloom.engine.convert import Plan, make_plan
from mmloom.engine.local import run
from mmloom.errors import InputError, RecordError, UsageError
from mmloom.formats.base import Format
from mmloom.io import split
from mmloom.io.files import open_read
from mmloom.options import Options


def _identity_plan() -> Plan:
    """Records through unchanged: what the engine reads is exactly what it writes."""
    fmt = Format(name="same", description="", modalities=(), file_types=("jsonl",),
                 to_unified=lambda record, opts: record, from_unified=lambda sample, opts: sample)
    return Plan(fmt, fmt, Options(), Options())


def _layouts(records: list[Any]) -> dict[str, bytes]:
    per_line = b"[\n" + b",\n".join(orjson.dumps(r) for r in records) + b"\n]\n"
    return {
        "indent2": json.dumps(records, indent=2, ensure_ascii=False).encode(),
        "indent4_crlf": json.dumps(records, indent=4).replace("\n", "\r\n").encode(),
        "per_line": per_line,
        "one_line": json.dumps(records, ensure_ascii=False).encode(),
        "tabs": json.dumps(records, indent="\t").encode(),
        # a nested object at the records' own indentation: the fast path must not trust that line
        "nested_at_column_0": b"[\n" + b",\n".join(
            orjson.dumps(r).replace(b'{"k":', b'{"k":\n', 1) if isinstance(r, dict) else orjson.dumps(r)
            for r in records) + b"\n]",
    }


def _read_back(plan: Plan, src: Path, tmp: Path, workers: int) -> list[Any]:
    out = tmp / f"out{workers}.jsonl"
    run(plan, str(src), str(out), workers=workers, quiet=True)
    return load_records(out)


RECORDS = [{"id": i, "k": {"nested": [i, {"k": "x\ny"}]}, "text": "é猫 🙂 \u2028 [", "f": i / 3} for i in range(300)]


@pytest.mark.parametrize("layout", sorted(_layouts(RECORDS[:1])))
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("suffix", ["", ".gz"])  # read with pread, or decompressed as a stream
def test_every_array_layout_reads_exactly(layout: str, workers: int, suffix: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "BLOCK", 2048)  # many slabs, records cut across blocks
    monkeypatch.setattr(split, "TAIL", 100)  # a record start is often not in a slab's last bytes
    monkeypatch.setattr("mmloom.engine.local.SMALL_INPUT", 0)  # use the worker processes even here
    src = tmp_path / f"in.json{suffix}"
    data = b"\xef\xbb\xbf" + _layouts(RECORDS)[layout]
    src.write_bytes(gzip.compress(data) if suffix else data)
    assert strict_equal(_read_back(_identity_plan(), src, tmp_path, workers), RECORDS)


@pytest.mark.parametrize("out_name", ["out.jsonl", "out.json", "out.jsonl.gz", "out.json.zst"])
@pytest.mark.parametrize("layout", ["indent2", "nested_at_column_0"])
def test_workers_write_the_same_bytes(out_name: str, layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers write their output into a plain output file themselves, each block where the main
    process placed it (compressed output still comes through the main process); either way the
    file is byte for byte what one process writes, the fast path's hand-over to the streaming
    parser included (nested_at_column_0: blocks already converted are dropped)."""
    monkeypatch.setattr(split, "BLOCK", 2048)
    monkeypatch.setattr("mmloom.engine.local.SMALL_INPUT", 0)
    src = tmp_path / "in.json"
    src.write_bytes(_layouts(RECORDS)[layout])
    written = {}
    for workers in (1, 2, 3):
        out = tmp_path / str(workers) / out_name
        report = run(_identity_plan(), str(src), str(out), workers=workers, quiet=True)
        assert report.records_out == len(RECORDS)
        with open_read(str(out)) as f:  # decompressed (a gzip header holds a time)
            written[workers] = b"".join(iter(lambda: f.read(1 << 16), b""))  # noqa: B023
        assert sorted(p.name for p in out.parent.iterdir()) == [out_name]  # no temporary file left
    assert written[2] == written[1] and written[3] == written[1]
    if out_name.split(".")[1] == "json":
        assert strict_equal(orjson.loads(written[2]), RECORDS)
    else:
        assert strict_equal([orjson.loads(line) for line in written[2].splitlines()], RECORDS)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_json_lines_slabs_keep_every_line(suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "BLOCK", 700)  # lines longer than a block too
    lines = [orjson.dumps(r) for r in RECORDS[:80]] + [b"", b" ", b'{"long": "' + b"x" * 3000 + b'"}']
    data = b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\n" + orjson.dumps({"no": "final newline"})
    src = tmp_path / f"in.jsonl{suffix}"
    src.write_bytes(gzip.compress(data) if suffix else data)
    slabs = list(split.JsonLinesSource(str(src)))
    assert len(slabs) > 10 and slabs[0].first_line == 1
    assert b"".join(s.data for s in slabs) == data[3:]
    assert [s.first_line for s in slabs[1:]] == [1 + sum(p.data.count(b"\n") for p in slabs[:k])
                                                 for k in range(1, len(slabs))]
    got = load_records(_write_lines(tmp_path, src))
    assert strict_equal(got, RECORDS[:80] + [{"long": "x" * 3000}, {"no": "final newline"}])


def _write_lines(tmp: Path, src: Path) -> Path:
    out = tmp / "lines.jsonl"
    run(_identity_plan(), str(src), str(out), workers=1, quiet=True)
    return out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**62, 2**62) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.dictionaries(st.sampled_from(["k", "id", "{", "\n  {"]), json_values, max_size=4),
                        max_size=12),
       layout=st.sampled_from(sorted(_layouts([]))), block=st.integers(16, 300))
def test_split_arrays_read_as_ijson_reads_them(records: list[Any], layout: str, block: int, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "BLOCK", block)
    src = tmp_path / "in.json"
    src.write_bytes(_layouts(records)[layout])
    expected = [item.record for item in mmloom.io.readers.JsonArrayReader(str(src))]
    got = _read_back(_identity_plan(), src, tmp_path, 1)
    assert strict_equal(got, expected)


def test_broken_array_is_located_past_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "BLOCK", 4096)
    text = json.dumps(RECORDS, indent=2)
    cut = text.index('"id": 250')
    src = tmp_path / "in.json"
    src.write_text(text[:cut] + '"id": 250,, ' + text[cut + 10:])
    with pytest.raises(InputError, match=r"record 250\b.*invalid JSON after 250 complete records"):
        run(_identity_plan(), str(src), str(tmp_path / "o.jsonl"), workers=1, quiet=True)
    assert [p.name for p in tmp_path.iterdir()] == ["in.json"]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("tail", [1 << 16, 40])  # boundaries found in a slab's last bytes, or not there
def test_errors_keep_their_place_with_workers(workers: int, tail: int, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "BLOCK", 1024)
    monkeypatch.setattr(split, "TAIL", tail)
    monkeypatch.setattr("mmloom.engine.local.SMALL_INPUT", 0)
    good = {"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    lines = [json.dumps(dict(good, id=f"r{i}")) for i in range(400)]
    lines[123] = json.dumps({"id": "odd", "conversations": [{"from": "human", "value": "q"}]})
    lines[300] = "{not json"
    lines.insert(200, "")  # a blank line: no record, but a line
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"record 123, line 124\b.*odd number of turns"):
        run(make_plan("llava", "dj"), str(src), str(tmp_path / "o.jsonl"), workers=workers, quiet=True)
    report = run(make_plan("llava", "dj"), str(src), str(tmp_path / "o.jsonl"), workers=workers, quiet=True,
                 on_error="skip")
    assert report.records_in == 400 and report.records_out == 398 and report.rejected == 2
    rejects = load_records(str(tmp_path / "o.jsonl") + ".rejects.jsonl")
    assert [(r["index"], r["line"]) for r in rejects] == [(123, 124), (300, 302)]
    assert [r["id"] for r in load_records(tmp_path / "o.jsonl")][:3] == ["r0", "r1", "r2"]


# -- --resume after a killed run -------------------------------------------------------------------

def _mmc4_shards(folder: Path, count: int, copies: int) -> None:
    docs = (REAL / "mmc4" / "docs_no_face_shard_151_v3.first107.jsonl").read_bytes()
    folder.mkdir()
    for i in range(count):
        (folder / f"docs_shard_{i:03d}.jsonl").write_bytes(docs * copies)


def _journal_entries(out: Path) -> int:
    path = out / ".mmloom-journal.jsonl"
    return max(len(path.read_bytes().split(b"\n")) - 2, 0) if path.exists() else 0


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_resume_after_a_killed_run_gives_the_uninterrupted_output(how: signal.Signals, tmp_path: Path) -> None:
    shards, out, reference = tmp_path / "shards", tmp_path / "out", tmp_path / "reference"
    _mmc4_shards(shards, count=24, copies=4)
    cmd = [sys.executable, "-m", "mmloom.cli", "convert", str(shards), str(out), "--from", "mmc4", "--to", "dj",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _journal_entries(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(how)
    _, err = proc.communicate()
    assert proc.returncode != 0, "the run ended before it could be interrupted"
    done = _journal_entries(out)
    assert 3 <= done < 24
    if how == signal.SIGINT:
        assert b"interrupted" in err
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}

    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done} shards already done were skipped" in resumed.stderr
    subprocess.run(cmd[:5] + [str(reference)] + cmd[6:], check=True, capture_output=True)
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names  # no temp file, no journal left
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    skipped = [n for n, t in kept.items() if (out / n).stat().st_mtime_ns == t]
    assert len(skipped) >= done  # the shards done before were not written again


def test_resume_refuses_other_options(tmp_path: Path) -> None:
    shards, out = tmp_path / "shards", tmp_path / "out"
    _mmc4_shards(shards, count=2, copies=1)
    out.mkdir()
    (out / ".mmloom-journal.jsonl").write_bytes(
        orjson.dumps({"conversion": {"from": "mmc4", "to": "dj", "read": {}, "write": {}}}) + b"\n")
    with pytest.raises(UsageError, match="same formats and options"):
        run(make_plan("mmc4", "dj"), str(shards), str(out), resume=True, quiet=True)
    os.remove(out / ".mmloom-journal.jsonl")
    report = run(make_plan("mmc4", "dj"), str(shards), str(out), resume=True, quiet=True)
    assert report.shards_resumed == 0 and len(report.outputs) == 2
