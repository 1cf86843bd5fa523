"""The command line as a user meets it: real subprocesses, exit codes, messages, files left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import GOLDEN, REAL, load_records, strict_equal

MIXED = GOLDEN / "llava_to_dj" / "mixed.input.json"


def mmloom(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mmloom.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def assert_user_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mmloom: error: ")
    for w in words:
        assert w in proc.stderr, proc.stderr


def test_formats_lists_every_format_with_options() -> None:
    proc = mmloom("formats")
    assert proc.returncode == 0
    out = proc.stdout
    for name in ("dj:", "llava:", "mmc4:"):
        assert name in out
    assert "image_broadcast_pos = \"random\" [random | before | after | follow]" in out
    assert "keep_other_fields = true" in out
    assert "sent_separator = \"\\n\"" in out


def test_help_has_examples() -> None:
    proc = mmloom("convert", "--help")
    assert proc.returncode == 0 and "examples:" in proc.stdout and "--on-error" in proc.stdout


def test_convert_and_back(tmp_path: Path) -> None:
    dj, back = tmp_path / "a.dj.jsonl", tmp_path / "a.json"
    p1 = mmloom("convert", str(MIXED), str(dj), "--from", "llava", "--to", "dj")
    p2 = mmloom("convert", str(dj), str(back), "--from", "dj", "--to", "llava", "--quiet")
    assert p1.returncode == 0 and p2.returncode == 0
    assert "10 records in, 10 out" in p1.stderr
    assert p2.stderr == ""  # --quiet: nothing but errors
    assert strict_equal(json.loads(back.read_text()), json.loads(MIXED.read_text()))


def test_opt_values_are_json_or_plain_strings(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    proc = mmloom("convert", str(MIXED), str(out), "--from", "llava", "--to", "dj", "--opt", "str_id=false",
                  "--opt", 'sent_separator=" "', "--opt", "add_eoc_at_last=false", "--opt", "lossless=false")
    assert proc.returncode == 0, proc.stderr
    expected = load_records(GOLDEN / "llava_to_dj" / "mixed_no_eoc_space_sep.expected.jsonl")
    got = load_records(out)
    assert [r["text"] for r in got] == [r["text"] for r in expected]
    assert got[1]["id"] == 1234  # str_id=false kept the int
    out2 = tmp_path / "m.jsonl"
    proc = mmloom("convert", str(REAL / "mmc4" / "readme_example_v1.1.jsonl"), str(out2), "--from", "mmc4",
                  "--to", "dj", "--opt", "image_dir=images/mmc4")
    assert proc.returncode == 0, proc.stderr
    assert all(p.startswith("images/mmc4/") for p in load_records(out2)[0]["images"])


def test_unknown_format_and_option(tmp_path: Path) -> None:
    assert_user_error(mmloom("convert", str(MIXED), str(tmp_path / "o.jsonl"), "--from", "lava", "--to", "dj"),
                      "unknown format 'lava'", "llava")
    assert_user_error(mmloom("convert", str(MIXED), str(tmp_path / "o.jsonl"), "--from", "llava", "--to", "dj",
                             "--opt", "split_chunks=true"), "unknown option 'split_chunks'", "split_chunk")
    assert_user_error(mmloom("convert", str(MIXED), str(tmp_path / "o.jsonl"), "--from", "llava", "--to", "dj",
                             "--opt", "image_broadcast_pos=middle"), "image_broadcast_pos", "follow")
    assert_user_error(mmloom("convert", str(tmp_path / "nope.json"), str(tmp_path / "o.jsonl"), "--from", "llava",
                             "--to", "dj"), "no such file")
    assert_user_error(mmloom("convert", str(MIXED), str(tmp_path / "o.txt"), "--from", "llava", "--to", "dj"),
                      "cannot tell the file type")
    assert not list(tmp_path.iterdir())


def test_invalid_jsonl_names_file_line_and_column(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good = json.dumps({"id": "a", "conversations": []})
    src.write_text(good + "\n" + good + "\n" + '{"id": "b", "conversations": [}\n')
    out = tmp_path / "out.jsonl"
    proc = mmloom("convert", str(src), str(out), "--from", "llava", "--to", "dj")
    assert_user_error(proc, str(src), "line 3", "invalid JSON", "column")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]  # no temp file left either


def test_invalid_json_array_names_the_record(tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text('[{"id": "a", "conversations": []}, {"id": "b", "conversations": [,]}]')
    proc = mmloom("convert", str(src), str(tmp_path / "o.jsonl"), "--from", "llava", "--to", "dj")
    assert_user_error(proc, str(src), "record 1", "invalid JSON")
    src.write_text('{"id": "a", "conversations": []}')
    assert_user_error(mmloom("convert", str(src), str(tmp_path / "o.jsonl"), "--from", "llava", "--to", "dj"),
                      "expected a JSON array")


def test_on_error_skip_writes_rejects(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        {"id": "ok1", "image": "a.jpg", "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]},
        {"id": "odd", "conversations": [{"from": "human", "value": "q"}]},
        "not json at all",
        {"id": "mid", "image": "b.jpg", "conversations": [{"from": "human", "value": "x <image> y"}, {"from": "gpt", "value": "a"}]},
        {"id": "ok2", "conversations": []},
    ]
    src.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    out = tmp_path / "out.jsonl"
    fail = mmloom("convert", str(src), str(out), "--from", "llava", "--to", "dj")
    assert_user_error(fail, "record 1", "line 2", "odd number of turns", "'odd'")
    proc = mmloom("convert", str(src), str(out), "--from", "llava", "--to", "dj", "--on-error", "skip")
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in load_records(out)] == ["ok1", "ok2"]
    rejects = load_records(str(out) + ".rejects.jsonl")
    assert [(r["index"], r["line"]) for r in rejects] == [(1, 2), (2, 3), (3, 4)]
    assert "odd number of turns" in rejects[0]["error"] and rejects[0]["record"]["id"] == "odd"
    assert "invalid JSON" in rejects[1]["error"] and rejects[1]["record"] is None
    assert "conversations[0].value" in rejects[2]["error"]
    assert "3 rejected" in proc.stderr


def test_shards_in_shards_out(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    docs = load_records(REAL / "mmc4" / "docs_no_face_shard_151_v3.first107.jsonl")
    for i in range(3):
        (shards / f"docs_shard_{i}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs[i * 30:(i + 1) * 30]))
    (shards / "docs_shard_3.jsonl.gz").write_bytes(__import__("gzip").compress(
        "".join(json.dumps(d) + "\n" for d in docs[90:]).encode()))
    out = tmp_path / "dj"
    proc = mmloom("convert", str(shards), str(out), "--from", "mmc4", "--to", "dj", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "docs_shard_0.jsonl", "docs_shard_1.jsonl", "docs_shard_2.jsonl", "docs_shard_3.jsonl.gz"]
    back = tmp_path / "back"
    proc = mmloom("convert", str(out / "docs_shard_*.jsonl*"), str(back), "--from", "dj", "--to", "mmc4")
    assert proc.returncode == 0, proc.stderr
    got = [d for i in range(4) for d in load_records_any(back / f"docs_shard_{i}.jsonl{'.gz' if i == 3 else ''}")]
    assert strict_equal(got, docs)


def load_records_any(path: Path) -> list[object]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = __import__("gzip").decompress(data)
    return [json.loads(line) for line in data.split(b"\n") if line.strip()]


def test_workers_keep_order(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    recs = [{"id": i, "conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]}
            for i in range(3000)]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert mmloom("convert", str(src), str(one), "--from", "llava", "--to", "dj").returncode == 0
    assert mmloom("convert", str(src), str(two), "--from", "llava", "--to", "dj", "--workers", "2").returncode == 0
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_bom_and_blank_lines_are_accepted(suffix: str, tmp_path: Path) -> None:
    rec = {"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    src = tmp_path / f"in{suffix}"
    body = json.dumps([rec]) if suffix == ".json" else json.dumps(rec) + "\n\n" + json.dumps(rec) + "\n"
    src.write_bytes(b"\xef\xbb\xbf" + body.encode())
    out = tmp_path / "o.jsonl"
    proc = mmloom("convert", str(src), str(out), "--from", "llava", "--to", "dj")
    assert proc.returncode == 0, proc.stderr
    assert len(load_records(out)) == (1 if suffix == ".json" else 2)


def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    """On a terminal the run shows records/s and MB/s; piped (the other tests) it shows none."""
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mmloom.cli", "convert", str(MIXED), str(tmp_path / "o.jsonl"),
                             "--from", "llava", "--to", "dj"], stderr=secondary, stdout=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(primary)
    shown = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "records/s" in shown and "MB/s" in shown
    piped = mmloom("convert", str(MIXED), str(tmp_path / "p.jsonl"), "--from", "llava", "--to", "dj")
    assert "\r" not in piped.stderr
