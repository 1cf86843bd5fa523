"""Typed, defaulted option declarations (one list per format and direction), and --opt parsing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UsageError


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    type: type | tuple[type, ...] | None = None  # None: the type of the default

    def __post_init__(self) -> None:
        if hasattr(dict, self.name):  # opts.<name> would hide the dict method (see Options)
            raise ValueError(f"option name {self.name!r} is taken by a dict method; choose another")

    def check(self, value: Any, where: str) -> Any:
        if self.choices is not None and value not in self.choices:
            raise UsageError(
                f"option {self.name} for {where} must be one of "
                f"{', '.join(repr(c) for c in self.choices)}, not {value!r}"
            )
        want = self.type if self.type is not None else (type(self.default) if self.default is not None else None)
        if want is not None and value is not None:
            wants = want if isinstance(want, tuple) else (want,)
            ok = any(
                isinstance(value, w) and not (w is int and isinstance(value, bool)) for w in wants
            )
            if float in wants and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                names = " or ".join(w.__name__ for w in wants)
                raise UsageError(f"option {self.name} for {where} takes {names}, not {value!r}")
        return value


class Options(dict):
    """Resolved option values; attribute access for brevity in format code.

    The instance's attribute dictionary is the mapping itself, so ``opts.name`` is a plain attribute
    lookup (format functions read options for every record; a ``__getattr__`` fallback made each
    read cost an internal AttributeError, about 15 times a dictionary lookup)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.__dict__ = self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> Options:
        return type(self)(self)


def parse_opt_value(text: str) -> Any:
    """An --opt value is JSON when it parses as JSON (false, 3, "\\n", null), else a plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_opt_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--opt takes NAME=VALUE, not {pair!r}")
        out[name.strip()] = parse_opt_value(value)
    return out


def resolve(declared: Iterable[Option], given: Mapping[str, Any], where: str) -> Options:
    """Defaults overlaid with the given values (all of which must be declared here)."""
    decl = {o.name: o for o in declared}
    values = Options({name: o.default for name, o in decl.items()})
    for name, value in given.items():
        if name not in decl:
            raise UsageError(
                f"unknown option {name!r} for {where}; valid options: {', '.join(sorted(decl)) or 'none'}"
            )
        values[name] = decl[name].check(value, where)
    return values
