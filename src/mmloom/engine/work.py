"""The worker side of a run: one slab of input in, its converted records out, ready to write.

The same function serves the in-process run (one worker), the worker processes and the Ray tasks.
It parses (for raw slabs), converts and encodes; errors come back as values, with the record's
position in the slab, so the writer can keep order and locate them in the file.
"""

from __future__ import annotations

import gc
import os
import signal
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import MmloomError
from ..io.readers import Item
from ..io.split import ArraySlab, Lines, Records, Slab
from ..io.writers import dumps
from .convert import Plan, convert_one

# How a worker hands its output over: JSON Lines ("lines", each record + "\n"), the body of a JSON
# array ("array", records joined by ",\n"), or the converted objects for the Parquet and CSV writers.
FRAMES = ("lines", "array", "rows")


@dataclass(slots=True)
class Problem:
    """A record that was not converted: a RecordError (or a SkipRecord), or the parser's message
    for a JSON line that does not parse (``error`` is then a str and ``record`` None)."""

    rel_index: int  # position in the slab
    line: int | None
    error: Exception | str
    record: Any


@dataclass(slots=True)
class Done:
    n_in: int = 0  # records read from the slab (bad ones included)
    n_out: int = 0
    blob: bytes = b""  # encoded records, framed for the writer
    rows: list[Any] | None = None
    last: bytes | None = None  # the last record written, encoded (a container header needs it)
    problems: list[Problem] = field(default_factory=list)
    # position in the file of an array slice that did not parse: the fast path stops there
    resume_offset: int | None = None


_PLAN: Plan | None = None


def init_worker(plan: Plan) -> None:
    """Each worker process gets the plan once. What it inherited from the main process is moved out
    of the cyclic collector's way (no scans of it, no copies of its pages)."""
    global _PLAN
    _PLAN = plan
    gc.freeze()
    # Ctrl-C reaches the whole process group: the main process stops the run and the pool; a
    # worker that raised KeyboardInterrupt itself would only print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def work(job: tuple[Slab, str]) -> Done:
    slab, frame = job
    assert _PLAN is not None
    return convert_slab(_PLAN, slab, frame)


_OPEN: dict[str, int] = {}  # the input file this worker reads slabs from, by path


def _load(slab: Lines | ArraySlab) -> None:
    """Read a slab's bytes from the file (the main process sent where they are, not the bytes:
    one copy from the page cache instead of three through a pipe)."""
    path, offset, length = slab.at  # type: ignore[misc]
    fd = _OPEN.get(path)
    if fd is None:
        for old in _OPEN.values():
            os.close(old)
        _OPEN.clear()
        fd = _OPEN[path] = os.open(path, os.O_RDONLY)
    data = os.pread(fd, length, offset)
    while len(data) < length:  # pread may return less than asked
        more = os.pread(fd, length - len(data), offset + len(data))
        if not more:
            raise OSError(f"{path}: the file became shorter while it was converted")
        data += more
    slab.data = data
    slab.at = None


def convert_slab(plan: Plan, slab: Slab, frame: str) -> Done:
    encoded: list[bytes] = []
    rows: list[Any] | None = [] if frame == "rows" else None
    done = Done()
    if isinstance(slab, Records) and slab.header is not None:
        plan.src_opts["_header"] = slab.header

    def take(rel: int, line: int | None, record: Any) -> None:
        try:
            result = convert_one(plan, record)
        except MmloomError as exc:
            done.problems.append(Problem(rel, line, exc, record))
            return
        if result is None:
            return
        if rows is not None:
            rows.append(result)
        else:
            encoded.append(dumps(result))

    if not isinstance(slab, Records) and slab.at is not None:
        _load(slab)
    if isinstance(slab, Lines):
        _lines(slab, done, take)
    elif isinstance(slab, ArraySlab):
        _array(slab, done, take)
    else:
        _records(slab.items, done, take)
    if rows is not None:
        done.rows = rows
        done.n_out = len(rows)
    elif encoded:
        done.n_out = len(encoded)
        done.last = encoded[-1]
        done.blob = b"\n".join(encoded) + b"\n" if frame == "lines" else b",\n".join(encoded)
    return done


def _lines(slab: Lines, done: Done, take: Any) -> None:
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    rel = 0
    line = slab.first_line
    for raw in slab.data.split(b"\n"):
        if raw and not raw.isspace():
            try:
                record = loads(raw)
            except decode_error as exc:
                done.problems.append(Problem(rel, line, str(exc), None))
            else:
                take(rel, line, record)
            rel += 1
        line += 1
    # split() gives one piece past a final newline, which is no line of the file
    done.n_in = rel


def _array(slab: ArraySlab, done: Done, take: Any) -> None:
    data, pattern = slab.data, slab.pattern
    keep = len(pattern) - 1
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    rel = 0
    start = 0
    end = len(data)
    while start < end:
        nxt = data.find(pattern, start)
        last_in_slab = nxt < 0
        stop = end if last_in_slab else nxt
        piece = data[start:stop].rstrip()
        if last_in_slab and slab.last:
            piece = piece[:-1].rstrip() if piece.endswith(b"]") else b""  # the array's closing bracket
        elif piece.endswith(b","):
            piece = piece[:-1]
        else:
            piece = b""
        try:
            record = loads(piece)
        except decode_error:
            # not one whole record: another layout, or broken JSON; the streaming parser takes over
            done.resume_offset = slab.offset + start
            break
        take(rel, None, record)
        rel += 1
        if last_in_slab:
            break
        start = nxt + keep
    done.n_in = rel


def _records(items: list[Item], done: Done, take: Any) -> None:
    for rel, item in enumerate(items):
        if item.error is not None:
            done.problems.append(Problem(rel, item.line, item.error, None))
        else:
            take(rel, item.line, item.record)
    done.n_in = len(items)
