"""The Python API: the same operations as the command line."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from .engine.convert import convert_one, make_plan
from .engine.local import Report, run
from .errors import RecordError, UsageError
from .formats import get_format, registry
from .io.files import detect_type, expand_inputs
from .io.readers import open_reader
from .model import Sample
from .options import resolve


def convert(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    src: str,
    dst: str,
    options: Mapping[str, Any] | None = None,
    workers: int | None = 1,
    on_error: str = "fail",
    quiet: bool = True,
    input_type: str | None = None,
    output_type: str | None = None,
    resume: bool = False,
) -> Report:
    """Convert a file, a directory or a glob of shards from format ``src`` to format ``dst``.

    ``options`` are the formats' options by name (see ``mmloom formats``). Returns a Report with the
    counts; raises an MmloomError subclass naming the file, record and field on bad input.
    ``workers=None`` uses every core; ``resume`` skips the shards an interrupted run completed."""
    plan = make_plan(src, dst, options)
    return run(plan, os.fspath(input), os.fspath(output), workers=workers, on_error=on_error, quiet=quiet,
               input_type=input_type, output_type=output_type, resume=resume)


def read(path: str | os.PathLike[str], format: str, options: Mapping[str, Any] | None = None,
         input_type: str | None = None) -> Iterator[Sample]:
    """Unified samples from a file (or shards) of the given format, streamed."""
    fmt = get_format(format)
    opts = resolve(fmt.read_options, dict(options or {}), f"reading {fmt.name}")
    if fmt.prepare_read:
        opts = fmt.prepare_read(opts)
    files, _ = expand_inputs(os.fspath(path))
    for file in files:
        ftype = detect_type(file, input_type)
        key = fmt.container.records_key if fmt.container and ftype == "json" else None
        reader = fmt.open_reader(file, opts) if fmt.open_reader else open_reader(file, ftype, key)
        opts["_input_path"] = file
        for item in reader:
            if item.error is not None:
                raise item.error
            if key:
                opts["_header"] = reader.header  # type: ignore[attr-defined]
            try:
                yield fmt.to_unified(item.record, opts)
            except RecordError as exc:
                raise exc.locate(file, item.index, item.line) from None


def convert_record(record: Any, src: str, dst: str, options: Mapping[str, Any] | None = None) -> Any:
    """Convert one record in memory (no files)."""
    return convert_one(make_plan(src, dst, options), record)


def formats() -> dict[str, Any]:
    return dict(registry())


__all__ = ["convert", "read", "convert_record", "formats", "Report", "UsageError"]
