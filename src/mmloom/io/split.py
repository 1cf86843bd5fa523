"""Raw input cut into slabs of whole records, for workers to parse.

The main process of a parallel run only reads bytes and cuts them where records end; the parsing
happens in the workers, so it scales with them. Three kinds of slab:

- ``Lines``: whole lines of a JSON Lines file (cut at the last newline of each block).
- ``ArraySlab``: whole records of a JSON array laid out one record per line or pretty-printed
  (``json.dump(indent=...)``, LLaVA's files). Records start at a newline followed by the first
  record's indentation and ``{``. That is only a candidate boundary, so a worker parses every record
  slice completely with orjson; a slice that does not parse (another layout, a nested object at the
  same indentation, broken JSON) stops the fast path, and the run goes on from that record with the
  streaming parser (ijson), which either reads on or reports the error where it is. Raw newlines
  cannot occur inside JSON strings, so a boundary candidate never falls inside a string, and a slice
  that parses as one value ending right before ``,`` is exactly one array element.
- ``Records``: records already parsed in the main process (Parquet, CSV, arrays on one line or inside
  an object, the ijson fallback).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .files import open_read, split_compression
from .readers import Item, JsonArrayReader, open_reader, skip_bytes

BLOCK = 1 << 20  # bytes read at a time; about 700 LLaVA records per slab
RECORDS_PER_JOB = 512
BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"


@dataclass(slots=True)
class Lines:
    data: bytes
    # 1-based line number of data's first line; 0: not known when the slab was cut (the worker's
    # line numbers then count from the slab's start, and the engine adds the lines before it)
    first_line: int
    offset: int = 0  # position of data[0] in the (decompressed) file
    # set instead of data when a worker reads the bytes itself: (path, offset, length) in a plain file
    at: tuple[str, int, int] | None = None


@dataclass(slots=True)
class ArraySlab:
    data: bytes  # starts at a record's "{"
    pattern: bytes  # b"\n" + indentation + b"{": where the next records start
    offset: int  # position of data[0] in the (decompressed) file
    last: bool  # holds the end of the array
    at: tuple[str, int, int] | None = None  # as for Lines


@dataclass(slots=True)
class Records:
    items: list[Item]
    header: dict[str, Any] | None = None  # the enclosing object's other keys (container formats)


Slab = Lines | ArraySlab | Records


class Source:
    """Slabs of one file, in order; ``bytes_read`` counts what has been handed out."""

    path: str
    bytes_read: int = 0

    def __iter__(self) -> Iterator[Slab]:
        raise NotImplementedError


Cut = Callable[[bytearray, int], int]  # where the last whole record of buf[:end] ends, or <= 0


def _cuts(path: str, offset: int, block: int, head: bytes, find_cut: Cut, tail_only: bool = False
          ) -> Iterator[tuple[int, bytearray | None, int, bool]]:
    """The file from ``offset`` on, as pieces of about ``block`` bytes that end where ``find_cut``
    says a record ends (a piece grows until one does): (offset, buf, length, at_end), the piece
    being ``buf[:length]``, valid until the next one. ``head``: bytes at ``offset`` already read
    from a stream. A plain file is read with pread into one reused buffer, so the main process of
    a parallel run, which only looks for the boundaries, touches no new memory; with ``tail_only``
    only the end of each piece is read, as far as it takes to find the boundary, and buf is None
    (the workers read the pieces). A compressed file is decompressed as a stream."""
    if split_compression(path)[1] is None:
        yield from _plain_cuts(path, offset, block, find_cut, tail_only)
        return
    with open_read(path) as f:
        skip_bytes(f, offset + len(head))
        buf = bytearray(head)
        while True:
            more = f.read(block)
            buf += more
            if not more:
                if buf:
                    yield offset, buf, len(buf), True
                return
            cut = find_cut(buf, len(buf))
            if cut <= 0:
                continue  # a record longer than the block
            yield offset, buf, cut, False
            del buf[:cut]
            offset += cut


TAIL = 1 << 16  # bytes read at the end of a piece to find where its last record ends


def _plain_cuts(path: str, offset: int, block: int, find_cut: Cut, tail_only: bool = False
                ) -> Iterator[tuple[int, bytearray | None, int, bool]]:
    buf = bytearray(block)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        while offset < size:
            want = block
            if tail_only:
                cut = _tail_cut(fd, buf, offset, min(want, size - offset), size, find_cut)
                if cut > 0:
                    yield offset, None, cut, offset + cut >= size
                    offset += cut
                    continue
            while True:
                want = min(want, size - offset)
                if len(buf) < want:
                    buf = bytearray(want)
                got = _pread_into(fd, buf, want, offset)
                if offset + got >= size:
                    cut, at_end = got, True
                    break
                cut, at_end = find_cut(buf, got), False
                if cut > 0:
                    break
                want *= 2  # a record longer than the block
            yield offset, buf, cut, at_end
            offset += cut
    finally:
        os.close(fd)


def _tail_cut(fd: int, buf: bytearray, offset: int, want: int, size: int, find_cut: Cut) -> int:
    """Where the last record of the piece of ``want`` bytes at ``offset`` ends, found in its last
    TAIL bytes; the whole rest of the file when the piece reaches its end; 0 when the tail holds
    no boundary (the caller then reads the whole piece)."""
    if offset + want >= size:
        return size - offset
    start = max(0, want - TAIL)
    got = _pread_into(fd, buf, want - start, offset + start)
    if got < want - start:
        return 0
    # the last boundary of the piece is the last one in its tail, if the tail holds one (a record
    # start that runs across the tail's first byte is not seen, but any later one is)
    cut = find_cut(buf, got)
    return start + cut if cut > 0 else 0


def _pread_into(fd: int, buf: bytearray, n: int, offset: int) -> int:
    view = memoryview(buf)
    got = 0
    while got < n:  # pread may return less than asked
        k = os.preadv(fd, [view[got:n]], offset + got)
        if not k:
            break
        got += k
    return got


class JsonLinesSource(Source):
    """Whole lines, as the bytes themselves or (``by_reference``, a plain file) as where they are."""

    def __init__(self, path: str, block: int | None = None, by_reference: bool = False):
        self.path = path
        self.block = block or BLOCK
        self.bytes_read = 0
        self.by_reference = by_reference and split_compression(path)[1] is None

    def __iter__(self) -> Iterator[Slab]:
        with open_read(self.path) as f:
            first = f.read(len(BOM))
        begin = len(BOM) if first == BOM else 0  # a BOM is only a BOM at the very start
        self.bytes_read = begin
        line = 1
        for offset, buf, length, _ in _cuts(self.path, begin, self.block, b"", _after_last_newline,
                                            tail_only=self.by_reference):
            self.bytes_read = offset + length
            if self.by_reference:
                # the worker counts the lines: its line numbers are counted from the slab's start
                yield Lines(b"", 0, offset, (self.path, offset, length))
            else:
                assert buf is not None
                yield Lines(bytes(memoryview(buf)[:length]), line, offset)
                line += buf.count(b"\n", 0, length)


def _after_last_newline(buf: bytearray, end: int) -> int:
    return buf.rfind(b"\n", 0, end) + 1


class JsonArraySource(Source):
    """A JSON array, as ArraySlabs while the layout allows, else (or from the record where the fast
    path stopped, see ``read_on_from``) as parsed Records from the streaming reader."""

    def __init__(self, path: str, block: int | None = None, by_reference: bool = False):
        self.path = path
        self.block = block or BLOCK
        self.bytes_read = 0
        self.by_reference = by_reference and split_compression(path)[1] is None
        self._fallback: JsonArrayReader | None = None

    def __iter__(self) -> Iterator[Slab]:
        with open_read(self.path) as f:
            head, start, pattern = self._head(f)
        if pattern is not None:
            yield from self._slabs(head, start, pattern)
            return
        yield from self.read_on_from(0, 0)

    def read_on_from(self, offset: int, index: int) -> Iterator[Slab]:
        """Parsed records from the record at ``offset`` (number ``index``) on, with the streaming
        parser: where a slab's slice did not parse (the slabs handed out after it are void)."""
        self._fallback = JsonArrayReader(self.path, start=offset, base_index=index)
        batch: list[Item] = []
        for item in self._fallback:
            batch.append(item)
            if len(batch) >= RECORDS_PER_JOB:
                self.bytes_read = self._fallback.bytes_read
                yield Records(batch)
                batch = []
        self.bytes_read = self._fallback.bytes_read
        if batch:
            yield Records(batch)

    def _head(self, f: Any) -> tuple[bytes, int, bytes | None]:
        """Read up to the first record; its position, and the boundary pattern when the array is laid
        out with records on lines of their own (None: use the streaming parser)."""
        head = b""
        while True:
            block = f.read(self.block)
            head += block
            i = len(BOM) if head.startswith(BOM) else 0
            while i < len(head) and head[i] in _WS:
                i += 1
            bracket = i < len(head) and head[i:i + 1] == b"["
            if bracket:
                i += 1
                while i < len(head) and head[i] in _WS:
                    i += 1
            if i < len(head) or not block:
                break
        if not bracket or head[i:i + 1] != b"{":
            return head, 0, None  # not an array of objects (or empty): the streaming parser says what it is
        line_start = head.rfind(b"\n", 0, i) + 1
        indent = head[line_start:i]
        if line_start == 0 or indent.strip(b" \t"):
            return head, 0, None  # the first record does not start its own line: "[{...}, {...}]"
        return head, i, b"\n" + indent + b"{"

    def _slabs(self, head: bytes, start: int, pattern: bytes) -> Iterator[Slab]:
        keep = len(pattern) - 1  # a cut leaves the "{" to the next slab

        def before_last_record(buf: bytearray, end: int) -> int:
            at = buf.rfind(pattern, 0, end)  # > 0: a piece starts with its first record's "{"
            return at + keep if at > 0 else -1

        for offset, buf, length, at_end in _cuts(self.path, start, self.block, head[start:], before_last_record,
                                                 tail_only=self.by_reference):
            self.bytes_read = offset + length
            if self.by_reference:
                yield ArraySlab(b"", pattern, offset, at_end, (self.path, offset, length))
            else:
                assert buf is not None
                yield ArraySlab(bytes(memoryview(buf)[:length]), pattern, offset, at_end)


class RecordSource(Source):
    """Any file type the readers know, parsed in the main process and handed out in batches."""

    def __init__(self, path: str, file_type: str, records_key: str | None = None, reader: Any = None):
        """``reader``: a reader the format supplies itself (a set of files, like MIMIC-IT's trio)."""
        self.path = path
        self.reader = reader if reader is not None else open_reader(path, file_type, records_key)
        self.records_key = records_key

    @property
    def bytes_read(self) -> int:  # type: ignore[override]
        return self.reader.bytes_read

    def __iter__(self) -> Iterator[Slab]:
        header = getattr(self.reader, "header", None) if self.records_key else None
        batch: list[Item] = []
        for item in self.reader:
            batch.append(item)
            if len(batch) >= RECORDS_PER_JOB:
                yield Records(batch, dict(header) if header is not None else None)
                batch = []
        if batch:
            yield Records(batch, dict(header) if header is not None else None)


def open_source(path: str, file_type: str, records_key: str | None = None, by_reference: bool = False) -> Source:
    """``by_reference``: raw slabs of a plain file say where their bytes are instead of holding
    them (worker processes read them themselves)."""
    if file_type == "jsonl":
        return JsonLinesSource(path, by_reference=by_reference)
    if file_type == "json" and records_key is None:
        return JsonArraySource(path, by_reference=by_reference)
    return RecordSource(path, file_type, records_key)


__all__ = ["ArraySlab", "InputError", "JsonArraySource", "JsonLinesSource", "Lines", "Records", "RecordSource",
           "Slab", "Source", "open_source"]
