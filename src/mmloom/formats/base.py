"""What a format module declares: two pure functions and their options.

A format module (``mmloom/formats/<name>.py``) defines ``FORMAT = Format(...)``:
- ``to_unified(record, opts) -> Sample``: read one record of this format (Data-Juicer's ``X_to_dj``);
- ``from_unified(sample, opts) -> record | None``: write one record (``dj_to_X``); None drops it;
- ``read_options`` / ``write_options``: the options of each direction, named as Data-Juicer's
  scripts name them, with the same defaults;
- ``tokens(opts)``: the special tokens this format's Data-Juicer text uses under those options.
Readers, writers and engines never look inside a format, and formats never touch files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecordError
from ..model import Sample, Tokens, shared_tokens
from ..options import Option, Options

ToUnified = Callable[[Any, Options], Sample]
FromUnified = Callable[[Sample, Options], Any]


_DEFAULT = Tokens()


# where a plan keeps the Tokens of its resolved options (made once, not for every record)
TOKENS_OPTION = "_tokens"


def default_tokens(opts: Mapping[str, Any]) -> Tokens:
    cached = opts.get(TOKENS_OPTION)
    if cached is not None:
        return cached
    t = _DEFAULT
    return shared_tokens(
        image=opts.get("image_special_token", t.image),
        audio=opts.get("audio_special_token", t.audio),
        video=opts.get("video_special_token", t.video),
        eoc=opts.get("eoc_special_token", t.eoc),
    )


@dataclass(frozen=True)
class Container:
    """How records sit in a JSON document, for formats whose file is not a plain list of records
    (WavCaps: ``{"num_captions_per_audio": N, "data": [...]}``)."""

    records_key: str  # the key of the record array inside the top-level object
    # builds the top-level object's other keys from the last record written (or None)
    header: Callable[[Any, Options], dict[str, Any]] | None = None
    # keys that from_unified puts on every record for the enclosing object: when writing the
    # container, the engine takes them off each record and hands the last record's values to
    # ``header`` (written as JSON Lines, records keep them)
    header_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    modalities: tuple[str, ...]
    file_types: tuple[str, ...]  # usual file types; the first is the default when writing
    to_unified: ToUnified
    from_unified: FromUnified
    read_options: tuple[Option, ...] = ()
    write_options: tuple[Option, ...] = ()
    tokens: Callable[[Mapping[str, Any]], Tokens] = default_tokens
    example: str = ""
    container: Container | None = None
    # optional one-time preparation of resolved options (e.g. loading a lookup file), per direction
    prepare_read: Callable[[Options], Options] | None = None
    prepare_write: Callable[[Options], Options] | None = None
    # optional reader / writer of the format's own file layout, for a dataset that is a set of
    # files rather than one file of records (MIMIC-IT's trio). They take the path the engine was
    # given and the resolved options, and return an io.readers.Reader / io.writers.Writer.
    open_reader: Callable[[str, Options], Any] | None = None
    open_writer: Callable[[str, Options], Any] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # optional: returns the pyarrow schema of the columns whose Parquet types the format fixes
    # (OBELICS: images and texts list<string>, metadata strings); other columns are inferred
    arrow_schema: Callable[[], Any] | None = None


class SkipRecord(RecordError):
    """A record the format leaves out by design, as Data-Juicer's tool does (for example an MMC4
    document without ``image_info``). It goes to the rejects file with its reason, whatever
    ``--on-error`` says, and the run goes on."""


def require(record: Any, key: str, kind: type | tuple[type, ...] | None = None, record_id: Any = None) -> Any:
    """record[key], or a RecordError naming the field and what was expected."""
    if not isinstance(record, dict):
        raise RecordError(f"a record must be a JSON object, not {type(record).__name__}")
    if key not in record:
        raise RecordError("is missing", field=key, record_id=record_id)
    value = record[key]
    if kind is not None and not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RecordError(f"must be {names}, not {type(value).__name__}", field=key, record_id=record_id)
    return value


def chunked(parts: list[list[Any]], sep: str, add_eoc: bool) -> list[Any]:
    """Chunks for texts joined as Data-Juicer's converters join them: ``(" " + eoc + sep).join(parts)``
    followed by ``" " + eoc`` when add_eoc. Part k > 0 starts with the separator; every closed
    chunk ends with the space that precedes the eoc token."""
    from ..model import Chunk, Text

    if not parts:
        return [Chunk([Text(" ")], closed=True)] if add_eoc else []
    chunks = [Chunk([*parts[0], Text(" ")], closed=True)]
    for pieces in parts[1:]:
        chunks.append(Chunk([Text(sep), *pieces, Text(" ")] if sep else [*pieces, Text(" ")], closed=True))
    if not add_eoc:
        chunks[-1].pieces.pop()
        chunks[-1].closed = False
    return chunks
