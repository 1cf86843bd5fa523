"""The format registry: every module in this package that defines ``FORMAT`` is a format."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from ..errors import UsageError
from .base import Format


@lru_cache(maxsize=1)
def registry() -> dict[str, Format]:
    found: dict[str, Format] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if isinstance(fmt, Format):
            found[fmt.name] = fmt
    return found


def get_format(name: str) -> Format:
    formats = registry()
    if name not in formats:
        raise UsageError(f"unknown format {name!r}; known formats: {', '.join(sorted(formats))}")
    return formats[name]
