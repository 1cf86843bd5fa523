"""The local engine: shards in, shards out, on all the cores of this machine.

The main process reads each input as raw slabs of whole records (io/split.py), hands them to worker
processes, which parse, convert and encode them (engine/work.py), and writes their output in input
order. At most a few slabs per worker are in flight, so memory stays bounded whatever the input
size. Output goes to temporary names and is renamed when each shard is complete; a sharded run keeps
a journal so that ``--resume`` skips the shards already done (engine/resume.py).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, MmloomError, RecordError, UsageError
from ..formats.base import SkipRecord
from ..io.files import detect_type, expand_inputs, shard_output_name, split_compression
from ..io.split import JsonArraySource, RecordSource, Slab, Source, open_source
from ..io.writers import JsonLinesWriter, Writer, open_writer
from ..progress import Progress
from .convert import Plan
from .resume import Journal, remove_stale_temps
from .work import Done, Problem, Workers, convert_slab

IN_FLIGHT_PER_WORKER = 3  # slabs queued per worker: enough to keep it busy, few enough to bound memory
SMALL_INPUT = 2 << 20  # below this many bytes in all, worker processes cost more than they give


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
    shards_resumed: int = 0  # shards a --resume run found done and skipped

    def summary(self) -> str:
        rate = self.records_in / self.seconds if self.seconds > 0 else 0.0
        mb = self.bytes_in / 1e6 / self.seconds if self.seconds > 0 else 0.0
        text = (f"{self.records_in} records in, {self.records_out} out in {self.seconds:.1f}s "
                f"({rate:,.0f} records/s, {mb:.1f} MB/s)")
        if self.shards_resumed:
            text += f"; {self.shards_resumed} shards already done were skipped"
        if self.rejected or self.skipped_by_format:
            text += f"; {self.rejected + self.skipped_by_format} rejected, see {', '.join(self.rejects_files)}"
        return text


@dataclass(frozen=True)
class ShardJob:
    in_path: str
    in_type: str
    out_path: str
    out_type: str
    # a part of a bigger file (engine/ray.py splits big JSON arrays): errors name that file, and
    # the record index there, of which this part starts at base_index
    origin: str | None = None
    base_index: int = 0


def plan_jobs(plan: Plan, input_spec: str, output: str, input_type: str | None = None,
              output_type: str | None = None) -> tuple[list[ShardJob], bool]:
    """Each input file with its output file; the flag says whether the input is a set of shards."""
    inputs, sharded = expand_inputs(input_spec)
    jobs = []
    if sharded:
        if os.path.exists(output) and not os.path.isdir(output):
            raise UsageError(f"{output}: a set of input shards needs an output directory, and this is a file")
        out_type = output_type or plan.dst.file_types[0]
        for path in inputs:
            _, comp = split_compression(path)
            jobs.append(ShardJob(path, detect_type(path, input_type),
                                 os.path.join(output, shard_output_name(path, out_type, comp)), out_type))
    else:
        path = inputs[0]
        if os.path.isdir(output):
            out_type = output_type or plan.dst.file_types[0]
            output = os.path.join(output, shard_output_name(path, out_type))
        jobs.append(ShardJob(path, detect_type(path, input_type), output, detect_type(output, output_type)))
    for job in jobs:
        if os.path.abspath(job.in_path) == os.path.abspath(job.out_path):
            raise UsageError(f"{job.out_path}: the output would overwrite the input")
    return jobs, sharded


def run(
    plan: Plan,
    input_spec: str,
    output: str,
    *,
    workers: int | None = 1,
    on_error: str = "fail",
    quiet: bool = False,
    input_type: str | None = None,
    output_type: str | None = None,
    resume: bool = False,
) -> Report:
    if on_error not in ("fail", "skip"):
        raise UsageError(f"--on-error takes fail or skip, not {on_error!r}")
    workers = workers or default_workers()
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    jobs, sharded = plan_jobs(plan, input_spec, output, input_type, output_type)
    journal = Journal(output, plan, resume) if sharded else None
    report = Report()
    progress = Progress(enabled=not quiet)
    start = time.perf_counter()
    if sum(os.path.getsize(j.in_path) for j in jobs) < SMALL_INPUT:
        workers = 1
    if plan.src.open_reader is not None or plan.dst.open_writer is not None:
        workers = 1  # such a format keeps per-run state (an index of its other files) in this process
    pool = Workers(plan, workers) if workers > 1 else None
    try:
        for job in jobs:
            if journal is not None and journal.is_done(job.in_path, job.out_path):
                report.shards_resumed += 1
                report.outputs.append(job.out_path)
                continue
            remove_stale_temps(job.out_path)
            before = (report.records_in, report.records_out, report.rejected + report.skipped_by_format)
            rejects = convert_shard(plan, job, on_error, pool, workers, report, progress)
            if journal is not None:
                counts = {"records_in": report.records_in - before[0], "records_out": report.records_out - before[1],
                          "rejected": report.rejected + report.skipped_by_format - before[2]}
                journal.record(job.in_path, job.out_path, counts, rejects)
        if journal is not None:
            journal.finish()
        if pool is not None:
            pool.close()
            pool = None
    finally:
        if pool is not None:
            pool.terminate()
        progress.close()
    report.seconds = time.perf_counter() - start
    return report


def _submitter(plan: Plan, pool: Workers | None, workers: int, keep: bool
               ) -> tuple[Callable[[tuple[Slab, str, Any]], Any], int]:
    """How slabs are handed out, and how many may be in flight. ``keep``: workers write their
    output into the file themselves, where the writer places it."""
    if pool is None:
        return (lambda job: _Ready(convert_slab(plan, *job))), 1
    return (lambda job: pool.submit(job, keep)), workers * IN_FLIGHT_PER_WORKER


@dataclass
class _Ready:
    done: Done
    kept = False

    def get(self) -> Done:
        return self.done

    def drop(self) -> None:
        pass


def convert_shard(plan: Plan, job: ShardJob, on_error: str, pool: Workers | None, workers: int, report: Report,
                  progress: Progress) -> str | None:
    """Convert one file into one output file; returns the rejects file written, if any."""
    dst_container = plan.dst.container
    src_container = plan.src.container
    records_key = src_container.records_key if src_container and job.in_type == "json" else None
    # worker processes read the raw slabs of a plain file themselves: they get where the bytes are
    if plan.src.open_reader is not None:  # a format whose data is a set of files reads itself
        source: Source = RecordSource(job.in_path, job.in_type, reader=plan.src.open_reader(job.in_path, plan.src_opts))
    else:
        source = open_source(job.in_path, job.in_type, records_key, by_reference=True)
    context = {"_input_path": job.origin or job.in_path}
    header = None
    # Keys a container format's records hold for the enclosing object (WavCaps'
    # num_captions_per_audio): taken off each record written into the container; the last
    # record's values build the header.
    header_keys = dst_container.header_keys if dst_container and job.out_type == "json" else ()
    last_head: dict[str, Any] = {}
    if dst_container and dst_container.header:
        make_header, dst_opts = dst_container.header, plan.dst_opts
        header = lambda last: make_header({**(last or {}), **last_head} if header_keys else last,  # noqa: E731
                                          dst_opts)
    if plan.dst.open_writer is not None:
        writer = plan.dst.open_writer(job.out_path, plan.dst_opts)
    else:
        writer = open_writer(job.out_path, job.out_type,
                             dst_container.records_key if dst_container and job.out_type == "json" else None,
                             header, plan.dst.arrow_schema)
    frame = "rows" if header_keys else writer.frame
    sink = _Sink(job.origin or job.in_path, job.out_path + ".rejects.jsonl", on_error, report,
                 keep_lines=job.origin is None)
    keep = frame != "rows" and writer.can_place
    submit, limit = _submitter(plan, pool, workers, keep)
    in_flight: deque[Any] = deque()
    index = job.base_index  # records of this file handled so far
    line = 1  # where the next slab starts, for slabs whose worker counted their own lines
    try:
        slabs: Iterator[Slab] = iter(source)
        exhausted = False
        while not exhausted or in_flight:
            while not exhausted and len(in_flight) < limit:
                slab = next(slabs, None)
                if slab is None:
                    exhausted = True
                else:
                    in_flight.append(submit((slab, frame, context)))
            if not in_flight:
                break
            pending = in_flight.popleft()
            done: Done = pending.get()
            if done.lines_held is not None:
                for problem in done.problems:
                    if problem.line is not None:
                        problem.line += line - 1
                line += done.lines_held
            sink.problems(done.problems, index)
            if pending.kept:
                if done.n_out:
                    pending.place(*writer.place(done.size, done.n_out, done.last))
            else:
                _write(writer, done, header_keys, last_head)
            index += done.n_in
            report.records_in += done.n_in
            report.records_out += done.n_out
            if done.resume_offset is not None:
                # the fast array path met a slice it cannot vouch for: what was handed out after it
                # is void; the streaming parser reads on from that record
                for stale in in_flight:
                    try:
                        stale.get()  # read (pipes stay in step), and drop
                        stale.drop()
                    except MmloomError:
                        pass
                in_flight.clear()
                assert isinstance(source, JsonArraySource)
                close = getattr(slabs, "close", None)
                if close is not None:
                    close()
                slabs = source.read_on_from(done.resume_offset, index)
                exhausted = False
            progress.update(report.records_in, report.bytes_in + source.bytes_read)
        report.bytes_in += source.bytes_read
        if pool is not None:
            pool.settle()  # every placed block written
        writer.commit()
        report.outputs.append(job.out_path)
        return sink.commit()
    except BaseException:
        writer.abort()
        sink.abort()
        raise


def _write(writer: Writer, done: Done, header_keys: tuple[str, ...] = (), last_head: dict[str, Any] | None = None
           ) -> None:
    if done.rows is not None:
        for row in done.rows:
            if header_keys and isinstance(row, dict) and any(k in row for k in header_keys):
                assert last_head is not None
                last_head.clear()
                row = dict(row)
                for key in header_keys:
                    if key in row:
                        last_head[key] = row.pop(key)
            writer.write(row)
    elif done.n_out:
        writer.write_block(done.blob, done.n_out, done.last)


class _Sink:
    """Where records that were not converted go: an error (``--on-error fail``) or the rejects file."""

    def __init__(self, in_path: str, rejects_path: str, on_error: str, report: Report, keep_lines: bool = True):
        self.in_path = in_path
        self.rejects_path = rejects_path
        self.on_error = on_error
        self.report = report
        self.keep_lines = keep_lines  # False for a part of a JSON array: its lines are not the file's
        self.rejects: Writer | None = None

    def problems(self, problems: list[Problem], base: int) -> None:
        for p in problems:
            index = base + p.rel_index
            line = p.line if self.keep_lines else None
            error = p.error
            if isinstance(error, str):
                error = InputError(f"invalid JSON: {error}", file=self.in_path, line=line, index=index)
            elif isinstance(error, RecordError):
                error.locate(self.in_path, index, line)
                if error.record_id is None and isinstance(p.record, dict):
                    error.record_id = p.record.get("id")
            skip_by_design = isinstance(error, SkipRecord)
            if self.on_error == "fail" and not skip_by_design:
                raise error
            if self.rejects is None:
                self.rejects = JsonLinesWriter(self.rejects_path)
            self.rejects.write({"file": self.in_path, "index": index, "line": line, "error": str(error),
                                "record": p.record})
            if skip_by_design:
                self.report.skipped_by_format += 1
            else:
                self.report.rejected += 1

    def commit(self) -> str | None:
        if self.rejects is None:
            return None
        self.rejects.commit()
        self.report.rejects_files.append(self.rejects_path)
        return self.rejects_path

    def abort(self) -> None:
        if self.rejects is not None:
            self.rejects.abort()


__all__ = ["Report", "ShardJob", "convert_shard", "default_workers", "plan_jobs", "run", "InputError"]
