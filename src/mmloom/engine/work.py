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
from ..io.writers import DUMPS_OPTIONS, dumps
from .convert import SHAPE_ERRORS, Plan, shape_error

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
    size: int = 0  # the blob's length (set where the blob stays in the worker until it is placed)
    rows: list[Any] | None = None
    last: bytes | None = None  # the last record written, encoded (a container header needs it)
    problems: list[Problem] = field(default_factory=list)
    # position in the file of an array slice that did not parse: the fast path stops there
    resume_offset: int | None = None
    # for a Lines slab cut without knowing its first line: the lines it holds (its problems' line
    # numbers count from its start)
    lines_held: int | None = None


def init_worker() -> None:
    """What a worker process inherited from the main process (the plan included) is moved out of
    the cyclic collector's way: no scans of it, no copies of its pages."""
    gc.freeze()
    # Ctrl-C reaches the whole process group: the main process stops the run and the pool; a
    # worker that raised KeyboardInterrupt itself would only print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve(conn: Any, plan: Plan, inherited: list[Any]) -> None:
    """A worker process: slabs in, results out, in order, until told to stop (None) or the main
    process is gone.

    A job is ``("job", seq, keep, (slab, frame, context))``. The result is the Done without its
    blob (pickled, small), then, unless ``keep``, the blob as raw bytes, so that the encoded output
    is copied only into and out of the pipe. With ``keep`` the worker holds the blob until the main
    process says where in the output file it goes (``("place", seq, path, offset)``), writes it
    there itself and acknowledges (``("placed", seq)``): the output then never passes through the
    main process. ``("drop", seq)`` forgets a kept blob."""
    # the main process's ends of the pipes, copied by fork: closed, so that the main process's
    # death (a kill) closes the pipe and ends this worker
    for other in inherited:
        other.close()
    init_worker()
    kept: dict[int, bytes] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        try:
            kind = message[0]
            if kind == "job":
                _, seq, keep, job = message
                done = convert_slab(plan, *job)
                blob, done.blob = done.blob, b""
                done.size = len(blob)
                conn.send(("done", done))
                if keep:
                    kept[seq] = blob
                else:
                    conn.send_bytes(blob)
            elif kind == "place":
                _, seq, path, offset = message
                _write_at(path, offset, kept.pop(seq))
                conn.send(("placed", seq))
            elif kind == "drop":
                kept.pop(message[1], None)
        except BaseException as exc:  # noqa: BLE001 - reported to the main process, which raises it
            try:
                conn.send(("error", exc))
            except OSError:
                return


_OUTPUT: dict[str, int] = {}  # the output file this worker writes placed blocks into, by path


def _opened(cache: dict[str, int], path: str, flags: int) -> int:
    """The descriptor of the one file a worker keeps open for a purpose (the last one asked for).
    A path that now names another file (a later run's output, renamed into place) is opened again."""
    fd = cache.get(path)
    if fd is not None and os.fstat(fd).st_ino != os.stat(path).st_ino:
        fd = None
    if fd is None:
        for old in cache.values():
            os.close(old)
        cache.clear()
        fd = cache[path] = os.open(path, flags)
    return fd


def _write_at(path: str, offset: int, blob: bytes) -> None:
    fd = _opened(_OUTPUT, path, os.O_WRONLY)
    view = memoryview(blob)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


class Workers:
    """Worker processes with a pipe each. Slabs go round-robin and the main thread reads the
    results back in the same order, straight from the pipes (multiprocessing.Pool passes them
    through a helper thread and pickles every result whole: about twice the main process's CPU
    per byte). One helper thread sends every message, so that the main thread never waits on a
    send while a worker waits for it to read a result (a slab that carries its bytes can outgrow
    the pipe's buffer), and messages to a worker keep their order."""

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
        self.seq = 0
        self.unsettled = dict.fromkeys(self.conns, 0)  # blocks placed, not yet acknowledged
        self.outbox: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self.sender = threading.Thread(target=self._send_all, daemon=True)
        self.sender.start()

    def _send_all(self) -> None:
        while True:
            item = self.outbox.get()
            if item is None:
                return
            conn, message = item
            try:
                conn.send(message)
            except OSError:
                return  # the worker is gone; reading its result says so

    def submit(self, job: tuple[Slab, str, Any], keep: bool = False) -> Pending:
        """``keep``: the worker keeps the encoded output until it is placed (Pending.place)."""
        conn = self.conns[self.next]
        self.next = (self.next + 1) % len(self.conns)
        self.seq += 1
        self.outbox.put((conn, ("job", self.seq, keep, job)))
        return Pending(self, conn, self.seq, keep)

    def _next(self, conn: Any) -> Any:
        """The next message from a worker; None for an acknowledgement (counted)."""
        try:
            message = conn.recv()
        except EOFError:
            raise RuntimeError("a worker process ended unexpectedly (out of memory?)") from None
        kind = message[0]
        if kind == "placed":
            self.unsettled[conn] -= 1
            return None
        if kind == "error":
            raise message[1]
        return message

    def receive(self, conn: Any) -> Any:
        """The next result message from a worker, acknowledgements counted on the way."""
        while True:
            message = self._next(conn)
            if message is not None:
                return message

    def settle(self) -> None:
        """Wait until every placed block is written."""
        for conn in self.conns:
            while self.unsettled[conn] > 0:
                if self._next(conn) is not None:
                    raise RuntimeError("a worker sent a result nobody asked for")

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

    def __init__(self, workers: Workers, conn: Any, seq: int, keep: bool):
        self.workers = workers
        self.conn = conn
        self.seq = seq
        self.kept = keep  # the encoded output stays in the worker until placed or dropped

    def get(self) -> Done:
        _, done = self.workers.receive(self.conn)
        if not self.kept:
            try:
                done.blob = self.conn.recv_bytes()
            except EOFError:
                raise RuntimeError("a worker process ended unexpectedly (out of memory?)") from None
        return done

    def place(self, path: str, offset: int) -> None:
        """Have the worker write the kept output into ``path`` at ``offset``."""
        self.workers.unsettled[self.conn] += 1
        self.workers.outbox.put((self.conn, ("place", self.seq, path, offset)))

    def drop(self) -> None:
        if self.kept:
            self.workers.outbox.put((self.conn, ("drop", self.seq)))


_OPEN: dict[str, int] = {}  # the input file this worker reads slabs from, by path


def _load(slab: Lines | ArraySlab) -> None:
    """Read a slab's bytes from the file (the main process sent where they are, not the bytes:
    one copy from the page cache instead of three through a pipe)."""
    path, offset, length = slab.at  # type: ignore[misc]
    fd = _opened(_OPEN, path, os.O_RDONLY)
    # one byte more in front: an array slab is parsed as "[" + its records + "]" in place
    lead = 1 if isinstance(slab, ArraySlab) else 0
    buf = bytearray(lead + length)
    view = memoryview(buf)[lead:]
    while view:  # preadv may read less than asked
        got = os.preadv(fd, [view], offset)
        if not got:
            raise OSError(f"{path}: the file became shorter while it was converted")
        view = view[got:]
        offset += got
    slab.data = buf
    slab.at = None


def convert_slab(plan: Plan, slab: Slab, frame: str, context: dict[str, Any] | None = None) -> Done:
    """``context``: per-file values for the source format's options, such as ``_input_path`` (the
    file being read, as given: formats that find media relative to it need it)."""
    if context:
        plan.src_opts.update(context)
    done = Done()
    if isinstance(slab, Records) and slab.header is not None:
        plan.src_opts["_header"] = slab.header
    if not isinstance(slab, Records) and slab.at is not None:
        _load(slab)
    lines: list[int] | None = None
    if isinstance(slab, Lines):
        records, lines = _lines(slab, done)
    elif isinstance(slab, ArraySlab):
        records = _array(slab, done)
    else:
        records, lines = _records(slab.items, done)
    done.n_in = len(records)
    results = _convert(plan, records, lines, done.problems, frame)
    if len(done.problems) > 1:  # those of parsing, then those of converting: in file order
        done.problems.sort(key=lambda problem: problem.rel_index)
    done.n_out = len(results)
    if frame == "rows":
        done.rows = results
    elif results:
        if frame == "lines":  # each encoded with its newline
            done.last = results[-1][:-1]
            done.blob = b"".join(results)
        else:
            done.last = results[-1]
            done.blob = b",\n".join(results)
    return done


class _Bad:
    """Stands for a record that did not parse (its problem is already listed)."""


def _convert(plan: Plan, records: list[Any], lines: list[int] | None, problems: list[Problem], frame: str
             ) -> list[Any]:
    """Each record converted, and encoded unless the frame is "rows" (with its newline for
    "lines"); a record that fails becomes a Problem. (convert_one's work, inlined: this loop runs
    for every record of a run.)"""
    to_unified, from_unified = plan.src.to_unified, plan.dst.from_unified
    src_opts, dst_opts = plan.src_opts, plan.dst_opts
    rows = frame == "rows"
    newline = frame == "lines"
    encode = orjson.dumps
    option = DUMPS_OPTIONS | orjson.OPT_APPEND_NEWLINE if newline else DUMPS_OPTIONS
    out: list[Any] = []
    append = out.append
    for rel, record in enumerate(records):
        if record is _Bad:
            continue
        try:
            result = from_unified(to_unified(record, src_opts), dst_opts)
        except MmloomError as exc:
            problems.append(Problem(rel, lines[rel] if lines else None, exc, record))
            continue
        except SHAPE_ERRORS as exc:
            problems.append(Problem(rel, lines[rel] if lines else None, shape_error(plan, exc), record))
            continue
        if result is None:
            continue
        if rows:
            append(result)
            continue
        try:
            append(encode(result, option=option))
        except TypeError:  # what orjson refuses (integers past 64 bits) goes the slower way
            append(dumps(result) + b"\n" if newline else dumps(result))
    return out


def _lines(slab: Lines, done: Done) -> tuple[list[Any], list[int]]:
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    records: list[Any] = []
    lines: list[int] = []
    line = slab.first_line
    pieces = slab.data.split(b"\n")
    if not line:
        line = 1
        done.lines_held = len(pieces) - 1
    # split() gives one piece past a final newline, which is no line of the file (and is blank)
    for raw in pieces:
        if raw and not raw.isspace():
            try:
                records.append(loads(raw))
            except decode_error as exc:
                done.problems.append(Problem(len(records), line, str(exc), None))
                records.append(_Bad)
            lines.append(line)
        line += 1
    return records, lines


def _array(slab: ArraySlab, done: Done) -> list[Any]:
    """The slab's records. The slab is whole records separated by commas, so it usually parses as
    one JSON array in one call; when it does not (another layout, broken JSON), record by record
    up to the first slice that does not parse, from where the streaming parser takes over."""
    data = slab.data
    if type(data) is bytearray:  # read by this worker, with a spare byte in front
        whole = _as_array(data, slab.last)
        if whole is None:  # rare: the record by record path works on the bytes alone
            slab.data = bytes(memoryview(data)[1:])
    else:
        whole = _as_array(bytearray(b" " + data), slab.last)
    if whole is not None:
        return whole
    return _array_by_record(slab, done)


_WHITE = frozenset(b" \t\r\n")


def _as_array(buf: bytearray, last: bool) -> list[Any] | None:
    """The records of ``buf[1:]`` (whole records separated by commas, then a comma or, in the last
    slab, the array's closing bracket) parsed as one JSON array in place: the spare first byte
    becomes "[" and the comma after the last record "]". None if that is no array (the buffer is
    then as it was, but for its spare byte)."""
    end = len(buf)
    while end > 1 and buf[end - 1] in _WHITE:
        end -= 1
    closing = buf[end - 1] if end > 1 else None
    if closing != (0x5D if last else 0x2C):  # "]" or ","
        return None
    buf[0] = 0x5B  # "["
    buf[end - 1] = 0x5D
    try:
        records = orjson.loads(memoryview(buf)[:end])
    except orjson.JSONDecodeError:
        return None
    finally:
        buf[end - 1] = closing
    return records if type(records) is list else None


def _array_by_record(slab: ArraySlab, done: Done) -> list[Any]:
    data, pattern = slab.data, slab.pattern
    keep = len(pattern) - 1
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    records: list[Any] = []
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
            records.append(loads(piece))
        except decode_error:
            # not one whole record: another layout, or broken JSON; the streaming parser takes over
            done.resume_offset = slab.offset + start
            break
        if last_in_slab:
            break
        start = nxt + keep
    return records


def _records(items: list[Item], done: Done) -> tuple[list[Any], list[int]]:
    records: list[Any] = []
    lines: list[int] = []
    for rel, item in enumerate(items):
        if item.error is not None:
            done.problems.append(Problem(rel, item.line, item.error, None))
            records.append(_Bad)
        else:
            records.append(item.record)
        lines.append(item.line)  # type: ignore[arg-type]
    return records, lines
