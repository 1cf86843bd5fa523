"""The local engine: shards in, shards out, in this process or in worker processes.

Records are read in the main process, converted and encoded in batches by the workers (or inline
for one worker), and written back in input order. Output goes to temporary names and is renamed
when each shard is complete.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import InputError, MmloomError, RecordError, UsageError
from ..formats.base import SkipRecord
from ..io.files import detect_type, expand_inputs, shard_output_name, split_compression
from ..io.readers import Item, Reader, open_reader  # noqa: F401
from ..io.writers import JsonLinesWriter, Writer, dumps, open_writer
from ..progress import Progress
from .convert import Plan, convert_one

BATCH = 512


@dataclass
class Report:
    records_in: int = 0
    records_out: int = 0
    rejected: int = 0
    skipped_by_format: int = 0
    bytes_in: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    rejects_files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.records_in / self.seconds if self.seconds > 0 else 0.0
        mb = self.bytes_in / 1e6 / self.seconds if self.seconds > 0 else 0.0
        text = (f"{self.records_in} records in, {self.records_out} out in {self.seconds:.1f}s "
                f"({rate:,.0f} records/s, {mb:.1f} MB/s)")
        if self.rejected or self.skipped_by_format:
            text += f"; {self.rejected + self.skipped_by_format} rejected, see {', '.join(self.rejects_files)}"
        return text


# -- worker side -------------------------------------------------------------------------------

_PLAN: Plan | None = None


def _init_worker(plan: Plan) -> None:
    global _PLAN
    _PLAN = plan


def _work(job: tuple[dict[str, Any], list[tuple[int, int | None, Any]]]
          ) -> list[tuple[int, int | None, Any, bytes | None, Exception | None]]:
    """Convert and encode a batch; errors travel back as values so order and context survive.
    ``context`` holds ``_input_path`` (the file being read, as given: formats that resolve media
    relative to it need it) and, for container formats (WavCaps), ``_header``: the enclosing JSON
    object's other keys."""
    assert _PLAN is not None
    context, batch = job
    _PLAN.src_opts.update(context)
    out = []
    for index, line, record in batch:
        if isinstance(record, _ReadFailure):
            out.append((index, line, record, None, None))
            continue
        try:
            result = convert_one(_PLAN, record)
            out.append((index, line, record, None if result is None else dumps(result), None))
        except MmloomError as exc:
            out.append((index, line, record, None, exc))
    return out


# -- main side ---------------------------------------------------------------------------------

def _batches(reader: Reader, in_path: str) -> Iterator[tuple[dict[str, Any], list[tuple[int, int | None, Any]]]]:
    header = getattr(reader, "header", None) if getattr(reader, "records_key", None) else None

    def context() -> dict[str, Any]:
        ctx: dict[str, Any] = {"_input_path": in_path}
        if header is not None:
            ctx["_header"] = dict(header)
        return ctx

    batch: list[tuple[int, int | None, Any]] = []
    for item in reader:
        if item.error is not None:
            batch.append((item.index, item.line, _ReadFailure(item)))
        else:
            batch.append((item.index, item.line, item.record))
        if len(batch) >= BATCH:
            yield context(), batch
            batch = []
    if batch:
        yield context(), batch


@dataclass
class _ReadFailure:
    item: Item


def run(
    plan: Plan,
    input_spec: str,
    output: str,
    *,
    workers: int = 1,
    on_error: str = "fail",
    quiet: bool = False,
    input_type: str | None = None,
    output_type: str | None = None,
) -> Report:
    if on_error not in ("fail", "skip"):
        raise UsageError(f"--on-error takes fail or skip, not {on_error!r}")
    inputs, sharded = expand_inputs(input_spec)
    jobs = _plan_outputs(plan, inputs, sharded, output, input_type, output_type)
    report = Report()
    progress = Progress(enabled=not quiet)
    start = time.perf_counter()
    pool = None
    if workers > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        pool = ctx.Pool(workers, initializer=_init_worker, initargs=(plan,))
    else:
        _init_worker(plan)
    try:
        for in_path, in_type, out_path, out_type in jobs:
            _run_shard(plan, in_path, in_type, out_path, out_type, on_error, pool, report, progress)
    finally:
        if pool is not None:
            pool.terminate()
        progress.close()
    report.seconds = time.perf_counter() - start
    return report


def _plan_outputs(plan: Plan, inputs: list[str], sharded: bool, output: str,
                  input_type: str | None, output_type: str | None) -> list[tuple[str, str, str, str]]:
    jobs = []
    if sharded:
        if os.path.exists(output) and not os.path.isdir(output):
            raise UsageError(f"{output}: a set of input shards needs an output directory, and this is a file")
        out_type = output_type or plan.dst.file_types[0]
        for path in inputs:
            _, comp = split_compression(path)
            jobs.append((path, detect_type(path, input_type), os.path.join(output, shard_output_name(path, out_type, comp)), out_type))
    else:
        path = inputs[0]
        if os.path.isdir(output):
            out_type = output_type or plan.dst.file_types[0]
            output = os.path.join(output, shard_output_name(path, out_type))
        jobs.append((path, detect_type(path, input_type), output, detect_type(output, output_type)))
    for in_path, _, out_path, _ in jobs:
        if os.path.abspath(in_path) == os.path.abspath(out_path):
            raise UsageError(f"{out_path}: the output would overwrite the input")
    return jobs


def _run_shard(plan: Plan, in_path: str, in_type: str, out_path: str, out_type: str, on_error: str,
               pool: Any, report: Report, progress: Progress) -> None:
    src_container = plan.src.container
    dst_container = plan.dst.container
    if plan.src.open_reader is not None:
        reader = plan.src.open_reader(in_path, plan.src_opts)
    else:
        reader = open_reader(in_path, in_type, src_container.records_key if src_container and in_type == "json" else None)
    header = None
    # Keys a container format's records hold for the enclosing object (WavCaps'
    # num_captions_per_audio): taken off each record written into the container, the last
    # record's values build the header.
    header_keys = dst_container.header_keys if dst_container and out_type == "json" else ()
    last_head: dict[str, Any] = {}
    if dst_container and dst_container.header:
        hdr, dopts = dst_container.header, plan.dst_opts
        header = lambda last: hdr({**(last or {}), **last_head} if header_keys else last, dopts)  # noqa: E731
    if plan.dst.open_writer is not None:
        writer = plan.dst.open_writer(out_path, plan.dst_opts)
    else:
        writer = open_writer(out_path, out_type,
                             dst_container.records_key if dst_container and out_type == "json" else None, header,
                             plan.dst.arrow_schema)
    rejects: Writer | None = None
    rejects_path = out_path + ".rejects.jsonl"
    try:
        batches = _batches(reader, in_path)
        results = pool.imap(_work, batches, chunksize=1) if pool else map(_work, batches)
        for batch_result in results:
            for index, line, record, data, error in batch_result:
                report.records_in += 1
                if isinstance(record, _ReadFailure):
                    error, record = record.item.error, None
                if error is None:
                    if data is not None:
                        if header_keys:
                            data = _take_header_keys(data, header_keys, last_head)
                        writer.write_encoded(data)
                        report.records_out += 1
                    continue
                if isinstance(error, RecordError):
                    error.locate(in_path, index, line)
                    if error.record_id is None and isinstance(record, dict):
                        error.record_id = record.get("id")
                skip_by_design = isinstance(error, SkipRecord)
                if on_error == "fail" and not skip_by_design:
                    raise error
                if rejects is None:
                    rejects = JsonLinesWriter(rejects_path)
                rejects.write({"file": in_path, "index": index, "line": line, "error": str(error), "record": record})
                if skip_by_design:
                    report.skipped_by_format += 1
                else:
                    report.rejected += 1
            progress.update(report.records_in, report.bytes_in + reader.bytes_read)
        report.bytes_in += reader.bytes_read
        writer.commit()
        report.outputs.append(out_path)
        if rejects is not None:
            rejects.commit()
            report.rejects_files.append(rejects_path)
    except BaseException:
        writer.abort()
        if rejects is not None:
            rejects.abort()
        raise


def _take_header_keys(data: bytes, keys: tuple[str, ...], last_head: dict[str, Any]) -> bytes:
    record = orjson.loads(data)
    if not isinstance(record, dict) or not any(k in record for k in keys):
        return data
    last_head.clear()
    for key in keys:
        if key in record:
            last_head[key] = record.pop(key)
    return dumps(record)


__all__ = ["Report", "run", "InputError"]
