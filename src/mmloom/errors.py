"""Errors a user can cause. Each one prints as one located sentence, never as a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class MmloomError(Exception):
    """Base class: a problem with the input, the options or the command line."""


class UsageError(MmloomError):
    """Unknown format or option, bad option value, missing file."""


@dataclass
class Location:
    file: str | None = None
    index: int | None = None  # 0-based record index within the file
    line: int | None = None  # 1-based line, for JSON Lines and CSV
    field: str | None = None

    def describe(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.index is not None:
            parts.append(f"record {self.index}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)


class RecordError(MmloomError):
    """A record that cannot be converted. Format functions raise it with the field; the engine adds
    the file, the record index and the line."""

    def __init__(self, message: str, field: str | None = None, record_id: Any = None):
        super().__init__(message)
        self.message = message
        self.loc = Location(field=field)
        self.record_id = record_id

    def locate(self, file: str | None, index: int | None, line: int | None) -> RecordError:
        self.loc.file = file if self.loc.file is None else self.loc.file
        self.loc.index = index if self.loc.index is None else self.loc.index
        self.loc.line = line if self.loc.line is None else self.loc.line
        return self

    def __str__(self) -> str:
        where = self.loc.describe()
        rid = f" (id {self.record_id!r})" if self.record_id is not None else ""
        return f"{where}{rid}: {self.message}" if where else self.message


class InputError(MmloomError):
    """The file itself is broken (invalid JSON, bad compression, wrong shape). Reported with the byte
    position or line; the file cannot be read past it."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 index: int | None = None, position: int | None = None):
        self.message = message
        self.loc = Location(file=file, index=index, line=line)
        self.position = position
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.loc.describe()
        pos = f", byte {self.position}" if self.position is not None else ""
        return f"{where}{pos}: {self.message}" if where else self.message
