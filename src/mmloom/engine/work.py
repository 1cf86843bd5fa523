"""The worker side of a run: one slab of input in, its converted records out, ready to write.

The same function serves the in-process run (one worker), the worker processes and the Ray tasks.
It parses (for raw slabs), converts and encodes; errors come back as values, with the record's
position in the slab, so the writer can keep order and locate them in the file.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import queue
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import MmloomError
from ..io.readers import Item
from ..io.split import ArraySlab, Lines, Records, Slab
from ..io.writers import dumps
from .convert import Plan, convert_one

# How a worker hands its output over (the writer's ``frame``): JSON Lines ("lines", each record +
# "\n"), the body of a JSON array ("array", records joined by ",\n"), or the converted objects for
# the Parquet and CSV writers ("rows").


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


def init_worker() -> None:
    """What a worker process inherited from the main process (the plan included) is moved out of
    the cyclic collector's way: no scans of it, no copies of its pages."""
    gc.freeze()
    # Ctrl-C reaches the whole process group: the main process stops the run and the pool; a
    # worker that raised KeyboardInterrupt itself would only print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve(conn: Any, plan: Plan, inherited: list[Any]) -> None:
    """A worker process: slabs in, results out, in order, until told to stop (None) or the main
    process is gone. A result is two messages, the Done without its blob (pickled, small) and the
    blob as raw bytes, so the encoded output is copied only into and out of the pipe."""
    # the main process's ends of the pipes, copied by fork: closed, so that the main process's
    # death (a kill) closes the pipe and ends this worker
    for other in inherited:
        other.close()
    init_worker()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            done = convert_slab(plan, *job)
        except BaseException as exc:  # noqa: BLE001 - reported to the main process, which raises it
            try:
                conn.send(("error", exc))
            except OSError:
                return
            continue
        blob, done.blob = done.blob, b""
        try:
            conn.send(("done", done))
            conn.send_bytes(blob)
        except OSError:  # the main process is gone
            return


class Workers:
    """Worker processes with a pipe each. Slabs go round-robin and the main thread reads the
    results back in the same order, straight from the pipes (multiprocessing.Pool passes them
    through a helper thread and pickles every result whole: about twice the main process's CPU
    per byte). One helper thread sends the slabs, so that the main thread never waits on a send
    while a worker waits for it to read a result (a slab that carries its bytes can outgrow the
    pipe's buffer)."""

    def __init__(self, plan: Plan, count: int):
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        self.conns = []
        self.procs = []
        for _ in range(count):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(theirs, plan, [*self.conns, ours]), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(ours)
            self.procs.append(proc)
        self.next = 0
        self.outbox: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self.sender = threading.Thread(target=self._send_all, daemon=True)
        self.sender.start()

    def _send_all(self) -> None:
        while True:
            item = self.outbox.get()
            if item is None:
                return
            conn, job = item
            try:
                conn.send(job)
            except OSError:
                return  # the worker is gone; reading its result says so

    def submit(self, job: tuple[Slab, str]) -> Pending:
        conn = self.conns[self.next]
        self.next = (self.next + 1) % len(self.conns)
        self.outbox.put((conn, job))
        return Pending(conn)

    def close(self) -> None:
        """Stop the workers once every result has been read."""
        for conn in self.conns:
            self.outbox.put((conn, None))
        self.outbox.put(None)
        self.sender.join()
        for proc in self.procs:
            proc.join(timeout=10)
        self.terminate()

    def terminate(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for conn in self.conns:
            conn.close()


class Pending:
    """A slab handed to a worker; ``get()`` must be called in the order of submission."""

    def __init__(self, conn: Any):
        self.conn = conn

    def get(self) -> Done:
        try:
            kind, value = self.conn.recv()
            if kind == "error":
                raise value
            value.blob = self.conn.recv_bytes()
        except EOFError:
            raise RuntimeError("a worker process ended unexpectedly (out of memory?)") from None
        return value


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


def convert_slab(plan: Plan, slab: Slab, frame: str, context: dict[str, Any] | None = None) -> Done:
    """``context``: per-file values for the source format's options, such as ``_input_path`` (the
    file being read, as given: formats that find media relative to it need it)."""
    if context:
        plan.src_opts.update(context)
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
