"""File types by extension, compressed streams, and shard discovery."""

from __future__ import annotations

import glob
import gzip
import io
import os
from typing import BinaryIO

import zstandard

from ..errors import UsageError

FILE_TYPES = ("jsonl", "json", "parquet", "csv")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_TYPE_BY_EXT = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".csv": "csv",
}


def split_compression(path: str) -> tuple[str, str | None]:
    root, ext = os.path.splitext(path)
    comp = COMPRESSIONS.get(ext.lower())
    return (root, comp) if comp else (path, None)


def detect_type(path: str, override: str | None = None) -> str:
    if override:
        if override not in FILE_TYPES:
            raise UsageError(f"unknown file type {override!r}; known: {', '.join(FILE_TYPES)}")
        return override
    root, _ = split_compression(path)
    ext = os.path.splitext(root)[1].lower()
    if ext not in _TYPE_BY_EXT:
        raise UsageError(
            f"{path}: cannot tell the file type from the extension {ext or '(none)'!r}; "
            f"use .jsonl, .json, .parquet or .csv (optionally .gz or .zst), or give --input-type/--output-type"
        )
    return _TYPE_BY_EXT[ext]


def open_read(path: str) -> BinaryIO:
    """A binary stream of the decompressed bytes (gzip and zstd by extension)."""
    _, comp = split_compression(path)
    raw = open(path, "rb", buffering=1 << 20)
    if comp == "gzip":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if comp == "zstd":
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True), 1 << 20)
    return raw


def open_write(path: str) -> BinaryIO:
    _, comp = split_compression(path)
    raw = open(path, "wb", buffering=1 << 20)
    if comp == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6)  # type: ignore[return-value]
    if comp == "zstd":
        return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=True)  # type: ignore[return-value]
    return raw


def expand_inputs(spec: str) -> tuple[list[str], bool]:
    """The files named by a path, a directory (its files, sorted) or a glob. The flag says whether
    the input is a set of shards (so the output is a directory of shards)."""
    if os.path.isdir(spec):
        files = sorted(
            os.path.join(spec, n)
            for n in os.listdir(spec)
            if not n.startswith(".") and os.path.isfile(os.path.join(spec, n)) and _known(n)
        )
        if not files:
            raise UsageError(f"{spec}: the directory holds no .jsonl, .json, .parquet or .csv files")
        return files, True
    if any(ch in spec for ch in "*?["):
        files = sorted(f for f in glob.glob(spec) if os.path.isfile(f))
        if not files:
            raise UsageError(f"{spec}: the pattern matches no files")
        return files, True
    if not os.path.exists(spec):
        raise UsageError(f"{spec}: no such file or directory")
    return [spec], False


def _known(name: str) -> bool:
    root, _ = split_compression(name)
    return os.path.splitext(root)[1].lower() in _TYPE_BY_EXT


def shard_output_name(input_path: str, out_type: str, compression: str | None = None) -> str:
    """``shard-00012.jsonl.gz`` -> ``shard-00012.<out_type>[.gz]``"""
    base = os.path.basename(input_path)
    root, _ = split_compression(base)
    stem = os.path.splitext(root)[0]
    ext = {"jsonl": ".jsonl", "json": ".json", "parquet": ".parquet", "csv": ".csv"}[out_type]
    suffix = {"gzip": ".gz", "zstd": ".zst"}.get(compression or "", "")
    return stem + ext + suffix


def temp_name(path: str) -> str:
    d, b = os.path.split(os.path.abspath(path))
    return os.path.join(d, f".{b}.mmloom-tmp-{os.getpid()}")
