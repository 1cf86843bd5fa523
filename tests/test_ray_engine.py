"""The Ray engine runs a real local Ray job (2 CPUs) and writes what the local engine writes."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REAL, load_records

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'mmloom[ray]'")

from mmloom.engine.convert import make_plan  # noqa: E402
from mmloom.engine.local import run  # noqa: E402
from mmloom.engine.ray import STAGING, run_ray  # noqa: E402
from mmloom.errors import MmloomError  # noqa: E402


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _mmc4_shards(folder: Path) -> list[dict]:
    docs = load_records(REAL / "mmc4" / "docs_no_face_shard_151_v3.first107.jsonl")
    folder.mkdir()
    for i in range(3):
        (folder / f"docs_shard_{i}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs[i * 30:(i + 1) * 30]))
    (folder / "docs_shard_3.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(d) + "\n" for d in docs[90:]).encode()))
    return docs


def _content(path: Path) -> bytes:
    """The bytes of a file, decompressed (a gzip header holds a time and a file name)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_ray_job_writes_what_the_local_engine_writes(tmp_path: Path, local_ray: None) -> None:
    shards = tmp_path / "shards"
    _mmc4_shards(shards)
    llava = tmp_path / "llava.json"
    llava.write_bytes((REAL / "llava" / "llava_instruct_100.json").read_bytes())

    plan = make_plan("mmc4", "dj")
    report = run_ray(plan, str(shards), str(tmp_path / "ray_dj"), quiet=True)
    run(plan, str(shards), str(tmp_path / "local_dj"), workers=2, quiet=True)
    names = sorted(p.name for p in (tmp_path / "local_dj").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ray_dj").iterdir())
    assert len(names) == 4 and report.records_in == 107
    for name in names:
        assert _content(tmp_path / "ray_dj" / name) == _content(tmp_path / "local_dj" / name), name

    # a JSON array is cut into parts by the streaming reader; the parts' outputs, in order, are the
    # local engine's output
    plan = make_plan("llava", "dj")
    report = run_ray(plan, str(llava), str(tmp_path / "ray_llava"), quiet=True, part_bytes=40_000)
    run(plan, str(llava), str(tmp_path / "local_llava.jsonl"), quiet=True)
    parts = sorted((tmp_path / "ray_llava").iterdir())
    assert len(parts) > 2 and all(p.name.startswith("llava-") for p in parts)
    assert b"".join(p.read_bytes() for p in parts) == (tmp_path / "local_llava.jsonl").read_bytes()
    assert report.records_out == 100
    assert not (tmp_path / "ray_llava" / STAGING).exists()


def test_ray_errors_name_the_array_and_the_record(tmp_path: Path, local_ray: None) -> None:
    records = json.loads((REAL / "llava" / "llava_instruct_100.json").read_text())
    records[70]["conversations"] = records[70]["conversations"][:3]  # odd number of turns
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(records, indent=2))
    with pytest.raises(MmloomError, match=r"bad\.json, record 70\b.*odd number of turns"):
        run_ray(make_plan("llava", "dj"), str(src), str(tmp_path / "out"), quiet=True, part_bytes=40_000)
    report = run_ray(make_plan("llava", "dj"), str(src), str(tmp_path / "out"), quiet=True, part_bytes=40_000,
                     on_error="skip")
    assert report.rejected == 1 and report.records_out == 99
    rejects = [r for f in report.rejects_files for r in load_records(f)]
    assert [(r["file"], r["index"]) for r in rejects] == [(str(src), 70)]
