"""Shared test helpers: fixture paths, golden manifest, type-strict comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "dj-golden"
REAL = FIXTURES / "real"


def manifest() -> list[dict[str, Any]]:
    return json.loads((GOLDEN / "manifest.json").read_text())


def load_records(path: str | os.PathLike[str]) -> list[Any]:
    """A .jsonl file as the list of its lines' values (split on \\n only); a .json file as its value."""
    p = Path(path)
    data = p.read_bytes()
    if p.suffix == ".jsonl":
        return [orjson.loads(line) for line in data.split(b"\n") if line.strip()]
    return json.loads(data)


def strict_equal(a: Any, b: Any) -> bool:
    """Equality where 1, 1.0, True and "1" all differ (Python's == does not)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r:.80} != {type(b).__name__} {b!r:.80}"
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()) and a.keys() != b.keys():
            return f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r:.200} != {b!r:.200}"


def drop_carry(records: list[Any]) -> list[Any]:
    out = []
    for r in records:
        if isinstance(r, dict) and "__mmloom__" in r:
            r = {k: v for k, v in r.items() if k != "__mmloom__"}
        out.append(r)
    return out
