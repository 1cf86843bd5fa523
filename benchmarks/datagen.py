"""Seeded synthetic datasets of the shapes mmloom converts, for the benchmark and the memory check.

The shapes follow the real files (see tests/fixtures/real and the seed-format notes):
- LLaVA: a JSON array laid out as the released files are (indent 2), ``{"id", "image",
  "conversations"}``; string ids (COCO-style and ShareGPT-style) and some int ids, text-only records
  without ``image``, 1-8 rounds, the image token before or after the first question, some CJK text.
- MMC4: JSON Lines documents ``{url, text_list, image_info, similarity_matrix,
  could_have_url_duplicate}`` with full-precision similarity floats.
- Multimodal Textbook: a JSON array of ``{images, texts, text_ocr_list, metadata, image_num,
  text_num, token_num}`` with slot-aligned nulls and absolute keyframe paths.

Text comes from a pool of pre-built sentences so that a gigabyte is generated in seconds; the
parser and the converters see realistic lengths, characters and nesting, which is what costs time.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import orjson

WORDS = (
    "the a man woman dog cat truck street table window kitchen person people red blue white black "
    "green small large holding sitting standing next to near in on of with background picture image "
    "shows appears there is are what where why how color many visible building sign car bus train "
    "plate food pizza sandwich bowl cup laptop phone book clock tree sky water field grass snow "
    "player ball game umbrella bicycle motorcycle horse elephant giraffe zebra bird boat airplane "
    "because possibly likely could would might indicates suggests scene area group several two three"
).split()
CJK = "图片中有一个人站在街道旁边的红色卡车前面他正在看手机天空很蓝远处有建筑物和树木"
EMOJI = "🙂🚗🍕📷🌳"


class Pool:
    """Pre-built sentences and questions drawn by a seeded generator."""

    def __init__(self, rng: random.Random, size: int = 4000):
        self.rng = rng
        self.sentences = [self._sentence(rng.randint(10, 25)) for _ in range(size)]
        self.questions = [self._sentence(rng.randint(6, 20)).rstrip(".") + "?" for _ in range(size)]
        self.cjk = ["".join(rng.choices(CJK, k=rng.randint(12, 60))) + "。" for _ in range(size // 10)]

    def _sentence(self, n: int) -> str:
        words = self.rng.choices(WORDS, k=n)
        text = " ".join(words)
        if self.rng.random() < 0.02:
            text += " " + self.rng.choice(EMOJI)
        return text[0].upper() + text[1:] + "."

    def answer(self, lo: int, hi: int) -> str:
        rng = self.rng
        parts = [rng.choice(self.sentences) for _ in range(rng.randint(lo, hi))]
        if rng.random() < 0.05:
            parts.append(rng.choice(self.cjk))
        return " ".join(parts)


# -- LLaVA -------------------------------------------------------------------------------------

IMAGE_DIRS = ("coco/train2017", "gqa/images", "ocr_vqa/images", "textvqa/train_images", "vg/VG_100K")


def llava_records(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    pool = Pool(rng)
    for i in range(n):
        kind = rng.random()
        if kind < 0.08:
            rid: Any = i  # int ids occur in LLaVA-like data (Data-Juicer's str_id exists for them)
        elif kind < 0.25:
            rid = f"{rng.getrandbits(32):08x}_{rng.randint(0, 9)}"
        else:
            rid = f"{rng.randint(0, 581929):012d}"
        text_only = rng.random() < 0.1
        rounds = rng.choices((1, 2, 3, 4, 6, 8), weights=(30, 25, 20, 12, 8, 5))[0]
        convs = []
        for r in range(rounds):
            q = rng.choice(pool.questions)
            if r == 0 and not text_only:
                q = f"<image>\n{q}" if rng.random() < 0.46 else f"{q}\n<image>"
            convs.append({"from": "human", "value": q})
            convs.append({"from": "gpt", "value": pool.answer(1, 5)})
        record: dict[str, Any] = {"id": rid}
        if not text_only:
            record["image"] = f"{rng.choice(IMAGE_DIRS)}/{rng.randint(0, 581929):012d}.jpg"
        record["conversations"] = convs
        yield record


# -- MMC4 --------------------------------------------------------------------------------------

def mmc4_records(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed + 1)
    pool = Pool(rng)
    for i in range(n):
        n_sent = rng.randint(3, 17)
        n_img = rng.randint(1, min(6, n_sent))
        text_list = [pool.answer(1, 2) for _ in range(n_sent)]
        matrix = [[rng.uniform(0.1, 0.4) for _ in range(n_sent)] for _ in range(n_img)]
        targets = rng.sample(range(n_sent), n_img)
        host = f"www.site{rng.randint(0, 99999)}.example"
        infos = [
            {"image_name": f"{rng.getrandbits(48):012x}.jpg",
             "raw_url": f"http://{host}/images/{rng.randint(0, 10**6)}.jpg",
             "matched_text_index": t, "matched_sim": matrix[j][t], "face_detections": None}
            for j, t in enumerate(targets)
        ]
        yield {"url": f"http://{host}/page/{i}.html", "text_list": text_list, "image_info": infos,
               "similarity_matrix": matrix, "could_have_url_duplicate": rng.randint(0, 1)}


# -- Multimodal Textbook -----------------------------------------------------------------------

ROOT = "/mnt/workspace/zwq_data/interleaved_dataset/dataset_images_interval_7"
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def textbook_records(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed + 2)
    pool = Pool(rng)
    for _ in range(n):
        vid = "".join(rng.choices(ID_CHARS, k=11))
        images: list[str | None] = []
        texts: list[str | None] = []
        ocr: list[str | None] = []
        start = 0.0
        for _clip in range(rng.randint(3, 12)):
            end = start + rng.randint(5, 60)
            for k in range(rng.randint(1, 3)):
                images.append(f"{ROOT}/{vid}/{vid}@{start:.1f}_{end:.1f}#{k + 1}.jpg")
                texts.append(None)
                ocr.append(None)
            asr = pool.answer(2, 8)
            images.append(None)
            texts.append(asr)
            ocr.append(asr + " " + pool.answer(0, 2))
            start = end
        image_num = sum(1 for p in images if p is not None)
        text_num = sum(len(t.split()) for t in texts if t is not None)
        yield {"images": images, "texts": texts, "text_ocr_list": ocr, "metadata": [None] * len(images),
               "image_num": image_num, "text_num": text_num, "token_num": text_num + 576 * image_num}


# -- writing -----------------------------------------------------------------------------------

def write_json_array(path: str, records: Iterator[Any], indent: bool = True,
                     max_bytes: int | None = None) -> int:
    """A JSON array; ``indent`` lays it out as ``json.dump(indent=2)`` does, else one record a line.
    With ``max_bytes``, records stop once the file has reached that size."""
    option = orjson.OPT_INDENT_2 if indent else 0
    tmp = path + ".part"
    written = 0
    with open(tmp, "wb", buffering=1 << 20) as f:
        f.write(b"[")
        for i, record in enumerate(records):
            data = orjson.dumps(record, option=option)
            if indent:
                data = data.replace(b"\n", b"\n  ")
            f.write((b"\n  " if indent else b"\n") if i == 0 else (b",\n  " if indent else b",\n"))
            f.write(data)
            written += len(data) + 4
            if max_bytes is not None and written >= max_bytes:
                break
        f.write(b"\n]\n")
    os.replace(tmp, path)
    return os.path.getsize(path)


def write_json_lines(path: str, records: Iterator[Any]) -> int:
    tmp = path + ".part"
    with open(tmp, "wb", buffering=1 << 20) as f:
        for record in records:
            f.write(orjson.dumps(record) + b"\n")
    os.replace(tmp, path)
    return os.path.getsize(path)


GENERATORS: dict[str, Callable[[int, int], Iterator[dict[str, Any]]]] = {
    "llava": llava_records,
    "mmc4": mmc4_records,
    "textbook": textbook_records,
}


def llava_of_size(path: str, target_bytes: int, seed: int = 0) -> int:
    """A LLaVA-style array of at least ``target_bytes`` (for the memory check on huge files)."""
    def endless() -> Iterator[dict[str, Any]]:
        i = 0
        while True:
            yield from llava_records(100_000, seed + i)
            i += 1
    return write_json_array(path, endless(), max_bytes=target_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a seeded synthetic dataset.")
    parser.add_argument("kind", choices=sorted(GENERATORS))
    parser.add_argument("output")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--gigabytes", type=float, default=None, help="LLaVA only: at least this size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.gigabytes:
        size = llava_of_size(args.output, int(args.gigabytes * 1e9), args.seed)
    elif args.output.endswith(".jsonl"):
        size = write_json_lines(args.output, GENERATORS[args.kind](args.records or 1000, args.seed))
    else:
        size = write_json_array(args.output, GENERATORS[args.kind](args.records or 1000, args.seed))
    print(f"{args.output}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
