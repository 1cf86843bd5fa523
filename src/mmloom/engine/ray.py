"""The Ray engine: the same per-shard conversion as the local engine, run as Ray Data tasks, so that a
set of shards is converted on every node of a cluster.

The run is a Ray dataset of shards: ``from_items`` of (input shard, output shard) pairs, one block
each, and ``map_batches`` converting each pair with ``convert_shard`` from engine/local.py (read,
parse, convert, encode, write to a temporary name and rename). JSON Lines, Parquet and CSV shards are
read by the task that converts them. A JSON array is first cut by the streaming reader (io/split.py)
into JSON Lines parts of about ``part_bytes`` in ``OUTPUT/.mmloom-staging``, each a shard of its own,
and errors name the array and the record index in it. The output is always a directory of shards:
one per input shard, ``<name>-NNNNN.<type>`` per part of a split array.

Records are handed to the format functions exactly as the local engine hands them (parsed with orjson
or ijson, not through Arrow), so both engines write the same bytes. On a cluster, paths must be on a
filesystem every node sees, and the nodes need mmloom's dependencies (``pip install 'mmloom[ray]'``);
mmloom's own code is shipped with the job.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import orjson

from ..errors import MmloomError, UsageError
from ..io.files import shard_output_name
from ..io.readers import JsonArrayReader
from ..progress import Progress
from .convert import Plan
from .local import Report, ShardJob, convert_shard, plan_jobs
from .resume import Journal, input_stamp, remove_stale_temps

STAGING = ".mmloom-staging"
PART_BYTES = 64 << 20


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError("--engine ray needs Ray Data: pip install 'mmloom[ray]'") from None
    return ray


def run_ray(
    plan: Plan,
    input_spec: str,
    output: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    on_error: str = "fail",
    quiet: bool = False,
    input_type: str | None = None,
    output_type: str | None = None,
    resume: bool = False,
    part_bytes: int = PART_BYTES,
) -> Report:
    if on_error not in ("fail", "skip"):
        raise UsageError(f"--on-error takes fail or skip, not {on_error!r}")
    ray = _import_ray()
    if os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"{output}: --engine ray writes a directory of shards, and this is a file")
    os.makedirs(output, exist_ok=True)
    jobs, _ = plan_jobs(plan, input_spec, output, input_type, output_type)
    start = time.perf_counter()
    report = Report()
    journal = Journal(output, plan, resume)
    progress = Progress(enabled=not quiet)
    staging = os.path.join(output, STAGING)
    tasks: list[ShardJob] = []
    for job in jobs:
        if job.in_type == "json" and not (plan.src.container and plan.src.container.records_key):
            tasks.extend(_split_array(job, staging, part_bytes, resume))
        else:
            tasks.append(job)
    todo = []
    for task in tasks:
        if journal.is_done(task.in_path, task.out_path):
            report.shards_resumed += 1
            report.outputs.append(task.out_path)
        else:
            remove_stale_temps(task.out_path)
            todo.append(task)
    if todo:
        _init(ray, address, workers, quiet)
        try:
            for row in _convert_all(ray, plan, todo, on_error):
                _collect(row, report, journal)
                progress.update(report.records_in, report.bytes_in)
        finally:
            progress.close()
    journal.finish()
    shutil.rmtree(staging, ignore_errors=True)
    report.outputs.sort()
    report.seconds = time.perf_counter() - start
    return report


def _init(ray: Any, address: str | None, workers: int | None, quiet: bool) -> None:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # mmloom shows its own progress
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if ray.is_initialized():
        return
    import mmloom

    address = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet,
                               "logging_level": logging.WARNING}
    if address:
        # ship mmloom's code with the job; the nodes need only its dependencies
        options["runtime_env"] = {"py_modules": [os.path.dirname(mmloom.__file__)]}
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=workers or None, **options)


def _convert_all(ray: Any, plan: Plan, tasks: list[ShardJob], on_error: str) -> Iterator[dict[str, Any]]:
    rows = [{"in_path": t.in_path, "in_type": t.in_type, "out_path": t.out_path, "out_type": t.out_type,
             "origin": t.origin or "", "base_index": t.base_index, "bytes": os.path.getsize(t.in_path)}
            for t in tasks]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    converted = dataset.map_batches(convert_batch, batch_size=1, batch_format="numpy",
                                    fn_kwargs={"plan": plan, "on_error": on_error})
    for row in converted.iter_rows():
        if row["error"]:
            raise MmloomError(row["error"])
        yield row


def convert_batch(batch: dict[str, Any], plan: Plan, on_error: str) -> dict[str, list[Any]]:
    """One Ray task: convert the shards of the batch (one, with batch_size=1) where they are."""
    out: dict[str, list[Any]] = {k: [] for k in ("in_path", "out_path", "records_in", "records_out", "rejected",
                                                  "skipped", "bytes", "rejects", "error")}
    for i in range(len(batch["in_path"])):
        job = ShardJob(str(batch["in_path"][i]), str(batch["in_type"][i]), str(batch["out_path"][i]),
                       str(batch["out_type"][i]), str(batch["origin"][i]) or None, int(batch["base_index"][i]))
        report = Report()
        error = ""
        rejects = None
        try:
            rejects = convert_shard(plan, job, on_error, None, 1, report, Progress(enabled=False))
        except MmloomError as exc:
            error = str(exc)
        for key, value in (("in_path", job.in_path), ("out_path", job.out_path), ("records_in", report.records_in),
                           ("records_out", report.records_out), ("rejected", report.rejected),
                           ("skipped", report.skipped_by_format), ("bytes", int(batch["bytes"][i])),
                           ("rejects", rejects or ""), ("error", error)):
            out[key].append(value)
    return out


def _collect(row: dict[str, Any], report: Report, journal: Journal) -> None:
    report.records_in += int(row["records_in"])
    report.records_out += int(row["records_out"])
    report.rejected += int(row["rejected"])
    report.skipped_by_format += int(row["skipped"])
    report.bytes_in += int(row["bytes"])
    report.outputs.append(row["out_path"])
    if row["rejects"]:
        report.rejects_files.append(row["rejects"])
    journal.record(row["in_path"], row["out_path"],
                   {"records_in": int(row["records_in"]), "records_out": int(row["records_out"]),
                    "rejected": int(row["rejected"]) + int(row["skipped"])}, row["rejects"] or None)


def _split_array(job: ShardJob, staging: str, part_bytes: int, resume: bool) -> list[ShardJob]:
    """Cut a JSON array into JSON Lines parts with the streaming reader. A finished split is listed
    in a small index, which a resumed run reuses (same parts, same journal entries)."""
    stem = os.path.splitext(os.path.basename(shard_output_name(job.in_path, "jsonl")))[0]
    index_path = os.path.join(staging, stem + ".parts.json")
    stamp = input_stamp(job.in_path)
    parts: list[tuple[str, int]] | None = None
    if resume and os.path.exists(index_path):
        with open(index_path, "rb") as f:
            saved = orjson.loads(f.read())
        if saved.get("input") == stamp and all(os.path.exists(p) for p, _ in saved["parts"]):
            parts = [(p, base) for p, base in saved["parts"]]
    if parts is None:
        os.makedirs(staging, exist_ok=True)
        parts = _write_parts(job.in_path, os.path.join(staging, stem), part_bytes)
        tmp = index_path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(orjson.dumps({"input": stamp, "parts": parts}))
        os.replace(tmp, index_path)
    out_dir = os.path.dirname(job.out_path)
    ext = os.path.basename(job.out_path)[len(stem):]
    return [ShardJob(path, "jsonl", os.path.join(out_dir, f"{stem}-{k:05d}{ext}"), job.out_type,
                     origin=job.in_path, base_index=base)
            for k, (path, base) in enumerate(parts)]


def _write_parts(path: str, prefix: str, part_bytes: int) -> list[tuple[str, int]]:
    from ..io.writers import dumps

    parts: list[tuple[str, int]] = []
    out = None
    size = 0
    index = 0
    try:
        for item in JsonArrayReader(path):
            if out is None or size >= part_bytes:
                if out is not None:
                    out.close()
                part = f"{prefix}-{len(parts):05d}.jsonl"
                parts.append((part, index))
                out = open(part, "wb", buffering=1 << 20)
                size = 0
            data = dumps(item.record) + b"\n"
            out.write(data)
            size += len(data)
            index += 1
    finally:
        if out is not None:
            out.close()
    if not parts:  # an empty array: one empty part, so that the output has its (empty) shard
        part = f"{prefix}-00000.jsonl"
        open(part, "wb").close()
        parts.append((part, 0))
    return parts
