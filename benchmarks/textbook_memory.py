"""Bounded memory on a large Multimodal Textbook file.

Writes a seeded, textbook-shaped JSON array of the requested size (one array, as the released
``multimodal_textbook.json`` is; streamed to disk record by record, so the generator itself stays
small), then runs ``mmloom convert --from textbook --to dj`` on it as a subprocess (and, with
``--both``, the way back), and reports the wall time and the peak resident memory of the converter.

    python benchmarks/textbook_memory.py --size-gb 2 --workdir /tmp/tb-bench --both

The samples follow the dataset card's shape: ~11 keyframes and ~1,200 ASR words per sample, image
runs between ASR segments, ``text_ocr_list`` = ASR + OCR, ``metadata`` as a list (sometimes as JSON
text), counts with ``token_num = text_num + 576 * image_num``, the authors' absolute paths, and
YouTube ids that begin with ``-`` or contain ``_``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import random
import re
import resource
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = "/mnt/workspace/zwq_data/interleaved_dataset/dataset_images_interval_7"
ID_CHARS = string.ascii_letters + string.digits + "-_"
OCR_LEAD = "We can see these words from the image by OCR: "


class SampleMaker:
    """Textbook-shaped samples from a seeded generator (pools built once, so a sample is cheap)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        rng = self.rng
        words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(4000)]
        self.sentences = [
            " ".join(rng.choices(words, k=rng.randint(6, 22))).capitalize() + rng.choice([".", ".", "?", "!"])
            for _ in range(3000)
        ]
        self.ocr_lines = [" ".join(rng.choices(words + ["=", "+", "3", "x²", "F", "m·a"], k=rng.randint(2, 8)))
                          for _ in range(800)]

    def video_id(self) -> str:
        return "".join(self.rng.choices(ID_CHARS, k=11))

    def sample(self) -> dict[str, Any]:
        rng = self.rng
        images: list[str | None] = []
        texts: list[str | None] = []
        ocr: list[str | None] = []
        words = 0
        vid, clock = self.video_id(), 0.0
        for _ in range(rng.randint(6, 16)):  # clips packed into one sample
            if rng.random() < 0.1:  # the next video of the pack
                vid, clock = self.video_id(), 0.0
            start, end = clock, clock + rng.randint(5, 60)
            clock = end
            for n in range(1, rng.choice([1, 1, 1, 2, 2, 3]) + 1):
                images.append(f"{ROOT}/{vid}/{vid}@{start:.1f}_{end:.1f}#{n}.jpg")
                texts.append(None)
                ocr.append(None)
            asr = " ".join(rng.choices(self.sentences, k=rng.randint(3, 9)))
            words += asr.count(" ") + 1
            images.append(None)
            texts.append(asr)
            ocr.append(asr + " " + OCR_LEAD + " ".join(rng.choices(self.ocr_lines, k=rng.randint(1, 4))))
        n_images = sum(1 for i in images if i)
        metadata: Any = [None] * len(images) if rng.random() < 0.5 else []
        if rng.random() < 0.1:
            metadata = json.dumps(metadata)
        text_num = int(words * 1.3)
        return {"images": images, "texts": texts, "text_ocr_list": ocr, "metadata": metadata,
                "image_num": n_images, "text_num": text_num, "token_num": text_num + 576 * n_images}

    def stream(self) -> Iterator[dict[str, Any]]:
        while True:
            yield self.sample()


def generate(path: Path, size_bytes: int, seed: int = 0) -> tuple[int, int]:
    """Write a JSON array of at least ``size_bytes`` bytes; returns (records, bytes)."""
    written = 0
    count = 0
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(b"[\n")
        written += 2
        for record in SampleMaker(seed).stream():
            data = (b",\n" if count else b"") + orjson.dumps(record)
            f.write(data)
            written += len(data)
            count += 1
            if written >= size_bytes:
                break
        f.write(b"\n]\n")
        written += 3
    return count, written


def measure(command: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of a subprocess: from GNU time when it is there, else
    from this process's children's rusage (the converter is then the only child so far)."""
    time_bin = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    start = time.perf_counter()
    if time_bin:
        done = subprocess.run([time_bin, "-v", *command], capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        if peak:
            return wall, int(peak.group(1)) * 1024
    else:
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="size of the generated array (default 2)")
    parser.add_argument("--workdir", default="benchmark-textbook", help="where the files go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--both", action="store_true", help="also convert the Data-Juicer file back")
    parser.add_argument("--keep", action="store_true", help="keep the generated and converted files")
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    source, dj, back = work / "textbook.json", work / "textbook.dj.jsonl", work / "textbook.back.json"
    script = Path(sys.executable).parent / "mmloom"  # the installed command, next to this Python
    mmloom = [str(script)] if script.exists() else [sys.executable, "-m", "mmloom.cli"]
    try:
        t0 = time.perf_counter()
        n, size = generate(source, int(args.size_gb * 1e9), args.seed)
        print(f"generated {n:,} samples, {size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f}s: {source}")
        runs = [("textbook -> dj", [*mmloom, "convert", str(source), str(dj), "--from", "textbook", "--to", "dj",
                                    "--quiet", "--workers", str(args.workers)])]
        if args.both:
            runs.append(("dj -> textbook", [*mmloom, "convert", str(dj), str(back), "--from", "dj", "--to",
                                            "textbook", "--quiet", "--workers", str(args.workers)]))
        for name, command in runs:
            wall, peak = measure(command)
            print(f"{name}: {wall:.1f}s wall, {size / 1e6 / wall:.1f} MB/s, {n / wall:,.0f} samples/s, "
                  f"peak RSS {peak / 2**20:.0f} MiB (workers={args.workers})")
        if args.both:
            # the generator writes the array as mmloom's writer does, so equal samples mean equal bytes
            same = filecmp.cmp(source, back, shallow=False)
            print(f"way back byte-identical to the generated file: {'yes' if same else 'NO'}")
    finally:
        if not args.keep:
            for p in (source, dj, back):
                p.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
