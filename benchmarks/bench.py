"""Throughput and memory of ``mmloom convert``, against this machine's own limit for JSON in, JSON out.

    python benchmarks/bench.py                  # full size: 665K LLaVA records (1 GB), 100K MMC4 docs...
    python benchmarks/bench.py --smoke          # tiny data, one run: checks that everything runs
    python benchmarks/bench.py --huge 5         # peak memory of llava->dj on a >= 5 GB array

For each conversion (llava->dj, dj->llava, mmc4->dj, dj->mmc4, textbook->dj) it runs the whole
``mmloom convert`` process with one worker and with every core, several times, and takes the
median wall time, MB/s (of input), records/s, CPU seconds and peak memory (the resident memory of
the process and all its workers, summed, sampled every 20 ms). On the same input it measures the
limit: one process that reads every record with the library mmloom uses for that file type (orjson
for JSON Lines, ijson's C backend for a JSON array) and writes it back with orjson, converting
nothing. Each conversion's throughput is shown as a ratio of that limit. The table is printed and
written as JSON next to the data (or to --json).

Data are generated once, seeded, into --data-dir (default ./bench-data, which git ignores) and
reused while their parameters match. A conversion whose format is not registered in this build is
skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import datagen  # noqa: E402

FULL = {"llava": 665_298, "mmc4": 100_000, "textbook": 20_000}
SMOKE = {"llava": 3_000, "mmc4": 600, "textbook": 100}


@dataclass(frozen=True)
class Conversion:
    name: str
    src: str
    dst: str
    input: str  # file in the data folder
    output: str  # file name in the output folder


CONVERSIONS = (
    Conversion("llava->dj", "llava", "dj", "llava.json", "llava.dj.jsonl"),
    Conversion("dj->llava", "dj", "llava", "llava.dj.jsonl", "llava.back.json"),
    Conversion("mmc4->dj", "mmc4", "dj", "mmc4.jsonl", "mmc4.dj.jsonl"),
    Conversion("dj->mmc4", "dj", "mmc4", "mmc4.dj.jsonl", "mmc4.back.jsonl"),
    Conversion("textbook->dj", "textbook", "dj", "textbook.json", "textbook.dj.jsonl"),
)


# -- measuring a process tree -----------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float


def measure(cmd: list[str]) -> Measured:
    """Wall time, peak summed RSS of the process tree, and CPU time (user + system) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, sum(_rss_bytes(p) for p in _descendants(proc.pid)))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(seconds, peak / 1e6, cpu)


# -- the limit: read and write every record, convert nothing ----------------------------------

def copy_records(src: str, dst: str) -> int:
    """One process: parse every record (orjson per line, or ijson's C backend for an array) and
    write it back with orjson, one per line. What any JSON-to-JSON conversion has to do at least."""
    import ijson
    import orjson

    n = 0
    with open(src, "rb") as f, open(dst, "wb", buffering=1 << 20) as out:
        if src.endswith(".jsonl"):
            for line in f:
                if line.strip():
                    out.write(orjson.dumps(orjson.loads(line)) + b"\n")
                    n += 1
        else:
            for record in ijson.items(f, "item", use_float=True):
                out.write(orjson.dumps(record) + b"\n")
                n += 1
    return n


# -- data ---------------------------------------------------------------------------------------

def prepare(data_dir: str, sizes: dict[str, int], seed: int) -> dict[str, int]:
    """Generate the inputs unless the folder holds them with these parameters; returns record counts."""
    os.makedirs(data_dir, exist_ok=True)
    stamp_path = os.path.join(data_dir, "params.json")
    params = {"sizes": sizes, "seed": seed, "generator": 1}
    have = {}
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            have = json.load(f)
    files = {"llava": "llava.json", "mmc4": "mmc4.jsonl", "textbook": "textbook.json"}
    if have != params or not all(os.path.exists(os.path.join(data_dir, f)) for f in files.values()):
        for kind, name in files.items():
            path = os.path.join(data_dir, name)
            print(f"generating {name} ({sizes[kind]:,} records)...", file=sys.stderr)
            records = datagen.GENERATORS[kind](sizes[kind], seed)
            if name.endswith(".jsonl"):
                datagen.write_json_lines(path, records)
            else:
                datagen.write_json_array(path, records)
        for derived in ("llava.dj.jsonl", "mmc4.dj.jsonl"):
            p = os.path.join(data_dir, derived)
            if os.path.exists(p):
                os.remove(p)
        with open(stamp_path, "w") as f:
            json.dump(params, f)
    # the Data-Juicer inputs of the way back are mmloom's own output of the way there
    for conv in CONVERSIONS:
        if conv.src == "dj":
            target = os.path.join(data_dir, conv.input)
            if not os.path.exists(target):
                there = next(c for c in CONVERSIONS if c.output == conv.input)
                print(f"preparing {conv.input} ({there.name})...", file=sys.stderr)
                subprocess.run(mmloom_cmd(there, os.path.join(data_dir, there.input), target, None), check=True)
    return {"llava": sizes["llava"], "mmc4": sizes["mmc4"], "textbook": sizes["textbook"]}


def mmloom_cmd(conv: Conversion, src: str, dst: str, workers: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "mmloom.cli", "convert", src, dst, "--from", conv.src, "--to", conv.dst, "--quiet"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    return cmd


def registered() -> set[str]:
    from mmloom.formats import registry

    return set(registry())


# -- the run ------------------------------------------------------------------------------------

@dataclass
class Row:
    conversion: str
    workers: int
    input_mb: float
    records: int
    seconds: float
    mb_per_s: float
    records_per_s: float
    cpu_seconds: float
    peak_rss_mb: float
    limit_mb_per_s: float
    ratio_to_limit: float
    runs: int


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = SMOKE if args.smoke else FULL
    counts = prepare(args.data_dir, sizes, args.seed)
    formats = registered()
    out_dir = os.path.join(args.data_dir, "out")
    os.makedirs(out_dir, exist_ok=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    worker_counts = sorted({int(w) for w in args.workers.split(",")}) if args.workers else sorted({1, cores})
    runs = 1 if args.smoke else args.runs
    rows: list[Row] = []
    notes: list[str] = []
    limits: dict[str, float] = {}
    for conv in CONVERSIONS:
        if args.only and conv.name not in args.only.split(","):
            continue
        missing = [f for f in (conv.src, conv.dst) if f not in formats]
        if missing:
            notes.append(f"{conv.name}: skipped, format {', '.join(missing)} is not registered in this build")
            continue
        src = os.path.join(args.data_dir, conv.input)
        size_mb = os.path.getsize(src) / 1e6
        records = counts[conv.input.split(".")[0]]
        if conv.input not in limits:
            copy_out = os.path.join(out_dir, "limit.jsonl")
            times = [measure([sys.executable, __file__, "--copy", src, copy_out]).seconds for _ in range(runs)]
            os.remove(copy_out)
            limits[conv.input] = size_mb / _median(times)
        for workers in worker_counts:
            dst = os.path.join(out_dir, conv.output)
            ms = []
            for _ in range(runs):
                ms.append(measure(mmloom_cmd(conv, src, dst, workers)))
                os.remove(dst)
            seconds = _median([m.seconds for m in ms])
            mbps = size_mb / seconds
            rows.append(Row(conv.name, workers, round(size_mb, 1), records, round(seconds, 2), round(mbps, 1),
                            round(records / seconds), round(_median([m.cpu_seconds for m in ms]), 2),
                            round(max(m.peak_rss_mb for m in ms), 1), round(limits[conv.input], 1),
                            round(mbps / limits[conv.input], 2), runs))
            print(f"  {conv.name} workers={workers}: {seconds:.2f}s {mbps:.1f} MB/s", file=sys.stderr)
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "machine": {"cores": cores, "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_at_end": os.getloadavg()},
        "smoke": args.smoke,
        "runs": runs,
        "rows": [asdict(r) for r in rows],
        "notes": notes,
    }


def huge(args: argparse.Namespace) -> dict[str, Any]:
    """Peak memory of llava->dj (every core) on a LLaVA-style array of at least --huge gigabytes."""
    os.makedirs(args.data_dir, exist_ok=True)
    src = os.path.join(args.data_dir, f"llava-{args.huge:g}gb.json")
    if not os.path.exists(src):
        print(f"generating {src}...", file=sys.stderr)
        datagen.llava_of_size(src, int(args.huge * 1e9), args.seed)
    dst = os.path.join(args.data_dir, "huge.dj.jsonl")
    conv = CONVERSIONS[0]
    m = measure(mmloom_cmd(conv, src, dst, None))
    size = os.path.getsize(src)
    out_size = os.path.getsize(dst)
    os.remove(dst)
    if args.delete:
        os.remove(src)
    return {"input": src, "input_gb": round(size / 1e9, 2), "output_gb": round(out_size / 1e9, 2),
            "seconds": round(m.seconds, 1), "mb_per_s": round(size / 1e6 / m.seconds, 1),
            "cpu_seconds": round(m.cpu_seconds, 1), "peak_rss_mb": round(m.peak_rss_mb, 1)}


def table(result: dict[str, Any]) -> str:
    head = ("conversion", "workers", "input MB", "records", "wall s", "MB/s", "records/s", "CPU s",
            "peak RSS MB", "limit MB/s", "x limit")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = (r["conversion"], r["workers"], f"{r['input_mb']:,.1f}", f"{r['records']:,}", f"{r['seconds']:.2f}",
                 f"{r['mb_per_s']:.1f}", f"{r['records_per_s']:,}", f"{r['cpu_seconds']:.1f}",
                 f"{r['peak_rss_mb']:.0f}", f"{r['limit_mb_per_s']:.1f}", f"{r['ratio_to_limit']:.2f}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    lines.append(f"medians of {result['runs']} run(s); limit = one process reading every record (orjson per "
                 "line, ijson yajl2_c for arrays) and writing it back with orjson")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="bench-data", help="where the generated data go (default ./bench-data)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--workers", default=None, help="comma-separated worker counts (default: 1 and the cores)")
    parser.add_argument("--only", default=None, help="comma-separated conversions, e.g. llava->dj,mmc4->dj")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny data and one run (for CI)")
    parser.add_argument("--json", default=None, help="where to write the results (default DATA_DIR/results.json)")
    parser.add_argument("--huge", type=float, metavar="GB", default=None,
                        help="instead: peak memory of llava->dj on a generated array of at least GB gigabytes")
    parser.add_argument("--delete", action="store_true", help="with --huge: delete the generated file afterwards")
    parser.add_argument("--copy", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.copy:
        copy_records(*args.copy)
        return 0
    if args.huge:
        print(json.dumps(huge(args), indent=2))
        return 0
    result = run(args)
    path = args.json or os.path.join(args.data_dir, "results.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(table(result))
    print(f"(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
