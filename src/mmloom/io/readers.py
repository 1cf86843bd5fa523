"""Readers know file types, not formats. Each yields ``Item(index, line, record)``; a record that
could not be parsed but leaves the rest of the file readable (a bad JSON line) comes as an Item whose
``error`` is set, so ``--on-error skip`` can go past it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ijson
import orjson

from ..errors import InputError
from ..model import CARRY_KEY
from .files import open_read


@dataclass(slots=True)
class Item:
    index: int
    line: int | None
    record: Any
    error: Exception | None = None


class _Counting(io.RawIOBase):
    """Counts the bytes handed to a parser, for progress and error positions."""

    def __init__(self, raw: Any, count: int = 0, prefix: bytes = b""):
        self.raw = raw
        self.count = count
        self.prefix = prefix  # handed out first and not counted (a "[" to resume inside an array)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        if self.prefix:
            data, self.prefix = self.prefix, b""
            return data
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def close(self) -> None:
        self.raw.close()
        super().close()


def skip_bytes(raw: Any, n: int) -> None:
    if raw.seekable():
        raw.seek(n)
        return
    while n > 0:  # a compressed stream: decompress and drop
        got = len(raw.read(min(n, 1 << 20)))
        if not got:
            break
        n -= got


class Reader:
    path: str
    bytes_read: int = 0

    def __iter__(self) -> Iterator[Item]:
        raise NotImplementedError


class JsonLinesReader(Reader):
    """One JSON value per line. A BOM and blank lines are tolerated; a line that is not JSON is an
    error naming the line and the column."""

    def __init__(self, path: str):
        self.path = path
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Item]:
        index = 0
        with open_read(self.path) as f:
            for lineno, raw in enumerate(f, start=1):
                self.bytes_read += len(raw)
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    err = InputError(f"invalid JSON: {exc}", file=self.path, line=lineno, index=index)
                    yield Item(index, lineno, None, err)
                else:
                    yield Item(index, lineno, record)
                index += 1


class JsonArrayReader(Reader):
    """A JSON array of records, or the array under ``records_key`` of a JSON object, streamed with
    ijson (yajl2_c): memory stays bounded whatever the file size. The object's other keys are in
    ``header`` as soon as they have been read (keys before the array are there before the first
    record)."""

    def __init__(self, path: str, records_key: str | None = None, start: int = 0, base_index: int = 0):
        self.path = path
        self.records_key = records_key
        self.header: dict[str, Any] = {}
        self._counter: _Counting | None = None
        # start: the position of a record inside the (top-level) array, to read on from there as
        # record number base_index (where the fast splitter stopped)
        self.start = start
        self.base_index = base_index

    @property
    def bytes_read(self) -> int:  # type: ignore[override]
        return self._counter.count if self._counter else 0

    def __iter__(self) -> Iterator[Item]:
        raw = open_read(self.path)
        if self.start:
            skip_bytes(raw, self.start)
            self._counter = _Counting(raw, self.start, b"[")
        else:
            head = raw.peek(3)[:3] if hasattr(raw, "peek") else b""
            if head == b"\xef\xbb\xbf":
                raw.read(3)
            self._counter = _Counting(raw)
        stream = io.BufferedReader(self._counter, 1 << 16)
        index = self.base_index
        try:
            if self.records_key is None:
                for record in ijson.items(stream, "item", use_float=True):
                    yield Item(index, None, record)
                    index += 1
            else:
                yield from self._container(stream)
        except ijson.JSONError as exc:
            msg = str(exc).strip().replace("\n", " ")
            raise InputError(
                f"invalid JSON after {index} complete records: {msg}",
                file=self.path, index=index, position=self._counter.count,
            ) from None
        finally:
            stream.close()
        if self.records_key is None and index == 0 and not self.start:
            self._check_is_array()

    def _check_is_array(self) -> None:
        with open_read(self.path) as f:
            start = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if start and not start.startswith(b"["):
            raise InputError(
                "expected a JSON array of records ([...]); for one record per line use a .jsonl file",
                file=self.path,
            )

    def _container(self, stream: Any) -> Iterator[Item]:
        prefix = f"{self.records_key}.item"
        builder: ijson.ObjectBuilder | None = None
        header_key: str | None = None
        header_builder: ijson.ObjectBuilder | None = None
        index = 0
        found = False
        for path, event, value in ijson.parse(stream, use_float=True):
            if path == "" and event in ("start_array", "string", "number", "boolean", "null"):
                raise InputError(f"expected a JSON object holding the records under {self.records_key!r}, "
                                 f"not a top-level {event.replace('start_', '')}", file=self.path)
            if path == self.records_key and event == "start_array":
                found = True
            if builder is not None:
                if path == prefix and event in ("end_map", "end_array"):
                    builder.event(event, value)
                    yield Item(index, None, builder.value)
                    index += 1
                    builder = None
                else:
                    builder.event(event, value)
                continue
            if path == prefix:
                if event in ("start_map", "start_array"):
                    builder = ijson.ObjectBuilder()
                    builder.event(event, value)
                else:
                    yield Item(index, None, value)
                    index += 1
                continue
            if path == "" and event == "map_key":
                header_key = value
                header_builder = None
                continue
            if header_key is not None and header_key != self.records_key and path.split(".")[0] == header_key:
                if header_builder is None:
                    header_builder = ijson.ObjectBuilder()
                header_builder.event(event, value)
                self.header[header_key] = header_builder.value
        if not found:
            raise InputError(f"the JSON object has no {self.records_key!r} array of records", file=self.path)


class ParquetReader(Reader):
    """Parquet row groups, batch by batch. The reserved ``__mmloom__`` column is stored as JSON text
    (its shape varies per record) and decoded back here."""

    def __init__(self, path: str, batch_size: int = 2048):
        self.path = path
        self.batch_size = batch_size
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Item]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises ArrowInvalid and OSError subclasses
            raise InputError(f"not a readable Parquet file: {exc}", file=self.path) from None
        total = max(pf.metadata.num_rows, 1)
        size = pf.metadata.serialized_size
        index = 0
        for batch in pf.iter_batches(batch_size=self.batch_size):
            for row in batch.to_pylist():
                carry = row.get(CARRY_KEY)
                if isinstance(carry, str):
                    row[CARRY_KEY] = orjson.loads(carry)
                elif carry is None and CARRY_KEY in row:
                    del row[CARRY_KEY]
                yield Item(index, None, row)
                index += 1
            self.bytes_read = int(size * index / total)


class CsvReader(Reader):
    """CSV with a header row (RFC 4180 quoting, UTF-8, a BOM tolerated); records are dicts of strings."""

    def __init__(self, path: str):
        self.path = path
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Item]:
        with open_read(self.path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.DictReader(text)
            index = 0
            try:
                for row in reader:
                    if None in row:
                        err = InputError(
                            f"row has {len(row) - 1 + len(row[None])} cells but the header has {len(reader.fieldnames or [])}",
                            file=self.path, line=reader.line_num, index=index,
                        )
                        yield Item(index, reader.line_num, None, err)
                    else:
                        yield Item(index, reader.line_num, row)
                    index += 1
            except (csv.Error, UnicodeDecodeError) as exc:
                raise InputError(f"invalid CSV: {exc}", file=self.path, line=reader.line_num) from None


def open_reader(path: str, file_type: str, records_key: str | None = None) -> Reader:
    if file_type == "jsonl":
        return JsonLinesReader(path)
    if file_type == "json":
        return JsonArrayReader(path, records_key)
    if file_type == "parquet":
        return ParquetReader(path)
    if file_type == "csv":
        return CsvReader(path)
    raise ValueError(file_type)
