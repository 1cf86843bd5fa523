"""Writers know file types, not formats. Every writer writes to a temporary name in the target's
folder and renames it only in ``commit()``; ``abort()`` removes it, so a failed run never leaves a
half file that looks whole."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable
from typing import Any

import orjson

from ..errors import MmloomError
from ..model import CARRY_KEY
from .files import open_write, split_compression, temp_name

DUMPS_OPTIONS = orjson.OPT_NON_STR_KEYS  # as every writer encodes a record


def dumps(value: Any) -> bytes:
    """orjson, falling back to the standard library for what orjson refuses (integers past 64 bits)."""
    try:
        return orjson.dumps(value, option=DUMPS_OPTIONS)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Writer:
    path: str
    count: int = 0
    # how workers hand records over (see engine/work.py): "lines", "array" (encoded) or "rows"
    frame = "rows"

    def __init__(self, path: str):
        self.path = path
        self.tmp = temp_name(path)
        self.count = 0
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)

    def write(self, record: Any) -> None:
        raise NotImplementedError

    def write_encoded(self, data: bytes) -> None:
        """Write a record already encoded by ``encode`` (workers encode in parallel)."""
        raise NotImplementedError

    def write_block(self, blob: bytes, count: int, last: bytes | None) -> None:
        """Write ``count`` records encoded and framed by a worker (``frame``); ``last`` is the last."""
        raise NotImplementedError

    # whether ``place`` takes blocks (an uncompressed file that holds the records as they come)
    can_place = False

    def place(self, size: int, count: int, last: bytes | None) -> tuple[str, int]:
        """Make room for a block of ``size`` bytes (``count`` records framed as ``write_block``
        takes them) that somebody else writes into the temporary file: the path and the offset to
        write it at. Worker processes so write their output themselves, and the bytes never pass
        through this process. The caller must see every placed block written before ``commit``."""
        raise NotImplementedError

    def _room(self, f: Any, size: int) -> tuple[str, int]:
        """A gap of ``size`` bytes at the end of the plain file ``f`` (after its buffer is written)."""
        f.flush()
        offset = f.tell()
        f.seek(offset + size)
        return self.tmp, offset

    @staticmethod
    def encode(record: Any) -> bytes:
        return dumps(record)

    def _close(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self._close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 - nothing more to save, the temp file goes anyway
            pass
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


class JsonLinesWriter(Writer):
    frame = "lines"

    def __init__(self, path: str):
        super().__init__(path)
        self.f = open_write(self.tmp_with_compression())
        self.can_place = split_compression(path)[1] is None

    def tmp_with_compression(self) -> str:
        # keep the compression suffix on the temp name so open_write picks the codec
        _, comp = split_compression(self.path)
        if comp:
            self.tmp = self.tmp + {"gzip": ".gz", "zstd": ".zst"}[comp]
        return self.tmp

    def write(self, record: Any) -> None:
        self.f.write(dumps(record) + b"\n")
        self.count += 1

    def write_encoded(self, data: bytes) -> None:
        self.f.write(data + b"\n")
        self.count += 1

    def write_block(self, blob: bytes, count: int, last: bytes | None) -> None:
        self.f.write(blob)
        self.count += count

    def place(self, size: int, count: int, last: bytes | None) -> tuple[str, int]:
        self.count += count
        return self._room(self.f, size)

    def _close(self) -> None:
        if not self.f.closed:
            self.f.close()


class JsonArrayWriter(Writer):
    """``[`` records one per line ``]``, streamed. With a container, the records go under its key
    and the header keys (computed from the last record) come first: the records are spooled to a
    temporary file and copied in behind the header at commit."""

    frame = "array"

    def __init__(self, path: str, records_key: str | None = None,
                 header: Callable[[Any], dict[str, Any]] | None = None):
        super().__init__(path)
        _, comp = split_compression(path)
        if comp:
            self.tmp = self.tmp + {"gzip": ".gz", "zstd": ".zst"}[comp]
        self.records_key = records_key
        self.header = header
        self.last: Any = None
        self.last_encoded = b""
        self.spool_path = self.tmp + ".records" if records_key else None
        self.f = open(self.spool_path, "wb", buffering=1 << 20) if self.spool_path else open_write(self.tmp)
        if not records_key:
            self.f.write(b"[")
        self.can_place = not records_key and not comp

    def write(self, record: Any) -> None:
        self.last = record
        self.write_encoded(dumps(record))

    def write_encoded(self, data: bytes) -> None:
        self.f.write((b"\n" if self.count == 0 else b",\n") + data)
        self.last_encoded = data
        self.count += 1

    def write_block(self, blob: bytes, count: int, last: bytes | None) -> None:
        if not count:
            return
        self.f.write(b"\n" if self.count == 0 else b",\n")
        self.f.write(blob)
        self.last = None
        self.last_encoded = last or b""
        self.count += count

    def place(self, size: int, count: int, last: bytes | None) -> tuple[str, int]:
        self.f.write(b"\n" if self.count == 0 else b",\n")
        self.last = None
        self.last_encoded = last or b""
        self.count += count
        return self._room(self.f, size)

    def _close(self) -> None:
        if self.f.closed:
            return
        if not self.records_key:
            self.f.write(b"\n]\n" if self.count else b"]\n")
            self.f.close()
            return
        self.f.close()
        last = self.last
        if last is None and self.count:
            last = orjson.loads(self.last_encoded)
        head = self.header(last) if self.header else {}
        with open_write(self.tmp) as out:
            out.write(b"{")
            for key, value in head.items():
                out.write(dumps(key) + b": " + dumps(value) + b", ")
            out.write(dumps(self.records_key) + b": [")
            with open(self.spool_path, "rb") as spool:  # type: ignore[arg-type]
                shutil.copyfileobj(spool, out, 1 << 20)
            out.write(b"\n]}\n" if self.count else b"]}\n")
        os.remove(self.spool_path)  # type: ignore[arg-type]

    def abort(self) -> None:
        super().abort()
        if self.spool_path and os.path.exists(self.spool_path):
            os.remove(self.spool_path)


class ParquetWriter(Writer):
    """Row groups of ``batch_size`` records. The schema is inferred from the first batch; later
    batches are cast to it. ``__mmloom__`` is stored as JSON text because its shape varies.
    ``declared`` (a pyarrow schema) fixes the types of the columns it names, whatever the first
    batch holds (a batch whose lists are all null would otherwise give ``list<null>``); columns
    it does not name are still inferred."""

    def __init__(self, path: str, batch_size: int = 4096, declared: Any = None):
        super().__init__(path)
        self.batch_size = batch_size
        self.rows: list[dict[str, Any]] = []
        self.writer: Any = None
        self.schema: Any = None
        self.declared = declared

    def write(self, record: Any) -> None:
        if not isinstance(record, dict):
            raise MmloomError(f"{self.path}: Parquet rows must be JSON objects, not {type(record).__name__}")
        if CARRY_KEY in record:
            record = dict(record)
            record[CARRY_KEY] = orjson.dumps(record[CARRY_KEY]).decode()
        self.rows.append(record)
        self.count += 1
        if len(self.rows) >= self.batch_size:
            self._flush()

    def write_encoded(self, data: bytes) -> None:
        self.write(orjson.loads(data))

    @staticmethod
    def encode(record: Any) -> bytes:
        return dumps(record)

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows:
            return
        try:
            if self.schema is None:
                # every key of the batch, not only the first row's (from_pylist reads those alone
                # and would silently drop a field the first record lacks)
                names = list(dict.fromkeys(k for r in self.rows for k in r))
                table = pa.Table.from_pydict({n: [r.get(n) for r in self.rows] for n in names})
                if self.declared is not None:
                    table = pa.Table.from_pylist(self.rows, schema=_with_declared(table.schema, self.declared))
                self.schema = table.schema
                self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
            else:
                table = _conform(self.rows, self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise MmloomError(
                f"{self.path}: records {self.count - len(self.rows)}-{self.count - 1} do not fit one Parquet "
                f"schema ({exc}); write JSON Lines instead"
            ) from None
        self.writer.write_table(table)
        self.rows = []

    def _close(self) -> None:
        import pyarrow.parquet as pq

        if self.writer is None and not self.rows:
            # an empty file still gets a valid (empty) Parquet file
            import pyarrow as pa

            pq.write_table(pa.table({}), self.tmp)
            return
        self._flush()
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _with_declared(inferred: Any, declared: Any) -> Any:
    """The inferred schema with the declared columns' types; declared columns no row has come last."""
    import pyarrow as pa

    fields = [declared.field(f.name) if f.name in declared.names else f for f in inferred]
    fields += [f for f in declared if f.name not in inferred.names]
    return pa.schema(fields, metadata=declared.metadata)


def _conform(rows: list[dict[str, Any]], schema: Any) -> Any:
    import pyarrow as pa

    names = set(schema.names)
    extra = {k for r in rows for k in r} - names
    if extra:
        raise pa.ArrowInvalid(f"fields not in the first rows: {', '.join(sorted(extra))}")
    return pa.Table.from_pylist(rows, schema=schema)


class CsvWriter(Writer):
    """CSV with a header row from the first record's keys; values must be scalars."""

    def __init__(self, path: str):
        super().__init__(path)
        self.raw = open_write(self.tmp)
        self.text = io.TextIOWrapper(self.raw, encoding="utf-8", newline="")
        self.writer: csv.DictWriter | None = None

    def write(self, record: Any) -> None:
        if not isinstance(record, dict):
            raise MmloomError(f"{self.path}: CSV rows must be JSON objects, not {type(record).__name__}")
        if self.writer is None:
            self.writer = csv.DictWriter(self.text, fieldnames=list(record.keys()))
            self.writer.writeheader()
        extra = [k for k in record if k not in self.writer.fieldnames]
        if extra:
            raise MmloomError(
                f"{self.path}: record {self.count} has columns the first record has not "
                f"({', '.join(map(repr, extra))}); one CSV file holds one set of columns")
        self.writer.writerow(record)
        self.count += 1

    def write_encoded(self, data: bytes) -> None:
        self.write(orjson.loads(data))

    def _close(self) -> None:
        if not self.text.closed:
            self.text.close()


def open_writer(path: str, file_type: str, records_key: str | None = None,
                header: Callable[[Any], dict[str, Any]] | None = None,
                arrow_schema: Callable[[], Any] | None = None) -> Writer:
    """``arrow_schema``: the target format's column types for Parquet (see ``Format.arrow_schema``)."""
    if file_type == "jsonl":
        return JsonLinesWriter(path)
    if file_type == "json":
        return JsonArrayWriter(path, records_key, header)
    if file_type == "parquet":
        return ParquetWriter(path, declared=arrow_schema() if arrow_schema else None)
    if file_type == "csv":
        return CsvWriter(path)
    raise ValueError(file_type)
