"""The journal of a sharded run, so that ``--resume`` skips the shards already done.

A shard's output is renamed into place only when complete (io/writers.py); right after, one line is
appended to ``OUTPUT/.mmloom-journal.jsonl`` naming the input (path, size, modification time), the
output and the counts. An interrupted run therefore leaves complete shards with a journal line, at
most one complete shard without (it is redone), and the temporary file of the shard in flight, which
a resumed run removes before redoing that shard. A line cut short by a kill is ignored. A run that
completes removes its journal. The first
line records the conversion (formats and options): resuming with other ones is refused, since the
output would then mix two conversions.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import UsageError
from .convert import Plan

JOURNAL = ".mmloom-journal.jsonl"


def plan_signature(plan: Plan) -> dict[str, Any]:
    def public(opts: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in sorted(opts.items()) if not k.startswith("_")}

    return {"from": plan.src.name, "to": plan.dst.name, "read": public(plan.src_opts), "write": public(plan.dst_opts)}


def input_stamp(path: str) -> dict[str, Any]:
    st = os.stat(path)
    return {"input": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class Journal:
    def __init__(self, directory: str, plan: Plan, resume: bool):
        self.path = os.path.join(directory, JOURNAL)
        self.signature = orjson.loads(orjson.dumps(plan_signature(plan), default=str))
        self.done: dict[str, dict[str, Any]] = {}
        if resume and os.path.exists(self.path):
            self._load()
        else:
            os.makedirs(directory, exist_ok=True)
            with open(self.path, "wb") as f:
                f.write(orjson.dumps({"conversion": self.signature}) + b"\n")

    def _load(self) -> None:
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        entries = []
        for line in lines:
            try:
                entries.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # the line a kill cut short, or the empty piece after the last newline
        if not entries or entries[0].get("conversion") != self.signature:
            raise UsageError(
                f"{os.path.dirname(self.path)}: --resume needs the same formats and options as the "
                "interrupted run (see the first line of " + JOURNAL + "); start over without --resume"
            )
        for entry in entries[1:]:
            if "input" in entry:
                self.done[entry["input"]] = entry

    def is_done(self, in_path: str, out_path: str) -> dict[str, Any] | None:
        """The journal entry of a shard finished with this very input whose outputs are still there."""
        entry = self.done.get(os.path.abspath(in_path))
        if entry is None:
            return None
        stamp = input_stamp(in_path)
        if entry["size"] != stamp["size"] or entry["mtime_ns"] != stamp["mtime_ns"]:
            return None
        if entry["output"] != os.path.abspath(out_path) or not os.path.exists(out_path):
            return None
        if entry.get("rejects") and not os.path.exists(entry["rejects"]):
            return None
        return entry

    def finish(self) -> None:
        """Every shard is done: the journal has served (a later --resume starts afresh)."""
        os.remove(self.path)

    def record(self, in_path: str, out_path: str, counts: Mapping[str, int], rejects: str | None) -> None:
        entry = {**input_stamp(in_path), "output": os.path.abspath(out_path), **counts}
        if rejects:
            entry["rejects"] = os.path.abspath(rejects)
        with open(self.path, "ab") as f:
            f.write(orjson.dumps(entry) + b"\n")


def remove_stale_temps(out_path: str) -> None:
    """Temporary files an interrupted run left for this output (and its rejects file)."""
    folder, name = os.path.split(os.path.abspath(out_path))
    for base in (name, name + ".rejects.jsonl"):
        for path in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.mmloom-tmp-*")):
            os.remove(path)
