"""The MIMIC-IT trio on disk.

``TrioReader`` turns a task (``XX_instructions.json`` with its siblings ``XX_train.json`` and
``XX.json`` / ``XX.parquet``) into one self-contained bundle per training instruction: the
instruction, its in-context instructions, the instructions it carries for the way back, and the
files its images were decoded to. ``TrioWriter`` collects what ``mimicit.from_unified`` gives per
sample and writes the three files again, in their original order.

Both keep their lookup tables in a temporary SQLite file, not in memory: the instruction files of
the large tasks run to gigabytes and their image files to hundreds (Otter's own loader moved to
streaming for that reason), so the JSON is streamed with ijson and only one value is held at once.
Each needed image is decoded once, into ``media_dir``, under a name made safe from its id.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from typing import Any

import ijson
import orjson

from ..errors import InputError, MmloomError, RecordError, UsageError
from ..io.files import open_read, open_write, split_compression
from ..io.readers import Item, Reader, _Counting
from ..io.writers import Writer, dumps
from ..options import Options
from .mimicit import DEFAULT_META, round_images, task_group

INSTRUCTIONS_SUFFIX = "_instructions"
RECORDS_KEY = "data"
PARQUET_BATCH = 64  # rows of base64 images per batch: each is tens to hundreds of kilobytes
WRITE_BATCH = 256


def task_prefix(path: str) -> str | None:
    """``dir/DC_instructions.json`` -> ``dir/DC``: where the siblings of a task's instructions are."""
    folder, base = os.path.split(path)
    root, _ = split_compression(base)
    stem = os.path.splitext(root)[0]
    if not stem.endswith(INSTRUCTIONS_SUFFIX) or stem == INSTRUCTIONS_SUFFIX:
        return None
    return os.path.join(folder, stem[: -len(INSTRUCTIONS_SUFFIX)])


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # integers past 64 bits, which dumps() wrote with the stdlib
        return json.loads(data)


# -- base64 images ------------------------------------------------------------------------------

def decode_base64(text: str) -> tuple[bytes, bool]:
    """The bytes of a base64 image and whether it used the URL-safe alphabet. Otter decodes with
    the URL-safe decoder, which takes both alphabets; a string must come back unchanged when
    encoded again, or the way back could not give it back."""
    urlsafe = "-" in text or "_" in text
    if urlsafe and ("+" in text or "/" in text):
        raise ValueError("mixes the standard (+/) and URL-safe (-_) base64 alphabets")
    try:
        data = base64.b64decode(text, altchars=b"-_" if urlsafe else None, validate=True)
    except ValueError as exc:  # binascii.Error, or a non-ASCII character
        raise ValueError(f"is not valid base64 ({exc})") from None
    if encode_base64(data, urlsafe) != text:
        raise ValueError("is not canonical base64 (its padding bits are not zero)")
    return data, urlsafe


def encode_base64(data: bytes, urlsafe: bool) -> str:
    return (base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)).decode("ascii")


_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF87a", ".gif"), (b"GIF89a", ".gif"),
          (b"BM", ".bmp"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def image_suffix(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    return ".bin"


def media_name(image_id: str, data: bytes) -> str:
    """A file name for an image id that cannot leave the folder: the id itself when it is a plain
    name, else its plain characters and a hash of the id after ``~`` (a character plain names do
    not have, so two ids never share a name)."""
    if _SAFE_ID.match(image_id):
        stem = image_id
    else:
        plain = re.sub(r"[^A-Za-z0-9._-]+", "_", image_id)[:64].strip("._-")
        stem = f"{plain}~{hashlib.sha256(image_id.encode()).hexdigest()[:16]}"
    return stem + image_suffix(data)


def store_image(media_dir: str, name: str, data: bytes) -> tuple[str, bool]:
    """Write the image unless the folder has it already; (path, whether it was written)."""
    path = os.path.join(media_dir, name)
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return path, False
        raise UsageError(f"{path} already exists with other content; use an empty media_dir "
                         f"(or the one this task was decoded into before)")
    tmp = f"{path}.mmloom-tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path, True


# -- streaming a JSON object member by member ---------------------------------------------------

def _value(events: Iterator[tuple[str, Any]]) -> Any:
    event, value = next(events)
    if event not in ("start_map", "start_array"):
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                break
    return builder.value


def object_members(stream: Any, records_key: str | None, what: str) -> Iterator[tuple[str, Any, Any]]:
    """("member", key, value) for each member of the records object (the top-level object itself
    when records_key is None), ("start", records_key, None) where it begins, and ("header", key,
    value) for the top-level object's other members."""
    events = ijson.basic_parse(stream, use_float=True)
    first = next(events, None)
    if first is None or first[0] != "start_map":
        raise ValueError(f"expected a JSON object ({what})")
    if records_key is None:
        yield "start", None, None
    for event, key in events:
        if event == "end_map":
            return
        if records_key is None:
            yield "member", key, _value(events)
        elif key == records_key:
            event, _ = next(events)
            if event != "start_map":
                raise ValueError(f"{records_key!r} must be an object keyed by instruction id")
            yield "start", key, None
            for inner, member in events:
                if inner == "end_map":
                    break
                yield "member", member, _value(events)
        else:
            yield "header", key, _value(events)


class _JsonObjectFile:
    """A JSON object file opened for streaming (gzip/zstd by extension, a BOM skipped), with the
    bytes read so far, and ijson's errors turned into located input errors."""

    def __init__(self, path: str):
        self.path = path
        self.counter: _Counting | None = None

    @property
    def bytes_read(self) -> int:
        return self.counter.count if self.counter else 0

    def members(self, records_key: str | None, what: str) -> Iterator[tuple[str, Any, Any]]:
        raw = open_read(self.path)
        head = raw.peek(3)[:3] if hasattr(raw, "peek") else b""
        if head == b"\xef\xbb\xbf":
            raw.read(3)
        self.counter = _Counting(raw)
        stream = io.BufferedReader(self.counter, 1 << 16)
        try:
            yield from object_members(stream, records_key, what)
        except (ijson.JSONError, ValueError) as exc:
            msg = str(exc).strip().replace("\n", " ")
            raise InputError(f"not a valid {what}: {msg}", file=self.path, position=self.counter.count) from None
        finally:
            stream.close()


def _parquet_id_column(schema: Any, path: str) -> str:
    meta = schema.metadata or {}
    if b"pandas" in meta:
        index = json.loads(meta[b"pandas"]).get("index_columns") or []
        if index and isinstance(index[0], str):
            return index[0]
    for name in ("id", "image_id", "__index_level_0__"):
        if name in schema.names:
            return name
    raise InputError("has no image id column (a pandas index, or a column named id)", file=path)


def parquet_images(path: str) -> Iterator[tuple[Any, Any]]:
    """(image id, base64) from ``XX.parquet`` or a folder of its parts (Otter splits them at 2 GB)."""
    import pyarrow.parquet as pq

    parts = sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".parquet")) \
        if os.path.isdir(path) else [path]
    for part in parts:
        try:
            pf = pq.ParquetFile(part)
        except Exception as exc:  # pyarrow raises ArrowInvalid and OSError subclasses
            raise InputError(f"not a readable Parquet file: {exc}", file=part) from None
        if "base64" not in pf.schema_arrow.names:
            raise InputError("has no base64 column", file=part)
        id_column = _parquet_id_column(pf.schema_arrow, part)
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=[id_column, "base64"]):
            columns = batch.to_pydict()
            yield from zip(columns[id_column], columns["base64"], strict=True)


# -- reading ------------------------------------------------------------------------------------

SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE ins(id TEXT PRIMARY KEY, pos INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE train(tpos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ctx BLOB NOT NULL);
CREATE TABLE link(ctx TEXT NOT NULL, tpos INTEGER NOT NULL);
CREATE TABLE qpos(pos INTEGER PRIMARY KEY, tpos INTEGER NOT NULL);
CREATE TABLE owner(id TEXT PRIMARY KEY, tpos INTEGER NOT NULL);
CREATE INDEX owner_tpos ON owner(tpos);
CREATE TABLE need(id TEXT PRIMARY KEY);
CREATE TABLE img(id TEXT PRIMARY KEY, path TEXT, urlsafe INTEGER, error TEXT);
"""


def _sibling(prefix: str | None, *suffixes: str) -> str | None:
    if prefix is None:
        return None
    for suffix in suffixes:
        if os.path.exists(prefix + suffix):
            return prefix + suffix
    return None


class TrioReader(Reader):
    def __init__(self, path: str, opts: Options):
        self.path = path
        self.opts = opts
        self.source = _JsonObjectFile(path)
        self.written = 0  # images decoded into media_dir by this reader
        self.reused = 0  # images media_dir already had
        prefix = task_prefix(path)
        self.train_path = _sibling(prefix, "_train.json") if opts.train_path is None else opts.train_path or None
        self.images_path = opts.images_path or _sibling(prefix, ".json", ".parquet")
        for name, given in (("train_path", self.train_path), ("images_path", opts.images_path)):
            if given and not os.path.exists(given):
                raise UsageError(f"option {name} for reading mimicit: {given}: no such file or directory")

    @property
    def bytes_read(self) -> int:  # type: ignore[override]
        return self.source.bytes_read

    def __iter__(self) -> Iterator[Item]:
        with tempfile.TemporaryDirectory(prefix="mmloom-mimicit-") as tmp:
            db = sqlite3.connect(os.path.join(tmp, "index.sqlite"))
            try:
                db.executescript(SCHEMA)
                yield from self._run(db)
            finally:
                db.close()

    def _run(self, db: sqlite3.Connection) -> Iterator[Item]:
        keys, header = self._load_instructions(db)
        has_train = self.train_path is not None
        if has_train:
            self._load_train(db)
            self._assign_owners(db)
        kind = None
        if self._count_needs(db):
            kind = self._extract_images(db)
        elif self.images_path:
            kind = "parquet" if self._is_parquet(self.images_path) else "json"
        file_info = {"keys": keys, "header": header, "train": has_train, "images": kind,
                     "images_name": os.path.basename(self.images_path.rstrip("/")) if self.images_path else None}
        yield from self._bundles(db, file_info)

    @staticmethod
    def _is_parquet(path: str) -> bool:
        return os.path.isdir(path) or split_compression(path)[0].endswith(".parquet")

    def _load_instructions(self, db: sqlite3.Connection) -> tuple[list[str], dict[str, Any]]:
        keys: list[str] = []
        header: dict[str, Any] = {}
        pos = 0
        for kind, key, value in self.source.members(RECORDS_KEY, "MIMIC-IT instructions file"):
            if kind == "header":
                if key not in header:
                    keys.append(key)
                header[key] = value
            elif kind == "start":
                keys.append(key)
            else:
                try:
                    db.execute("INSERT INTO ins VALUES (?, ?, ?)", (key, pos, dumps(value)))
                except sqlite3.IntegrityError:
                    raise InputError(f"instruction id {key!r} appears twice in data", file=self.path) from None
                pos += 1
        if RECORDS_KEY not in keys:
            raise InputError(f"has no {RECORDS_KEY!r} object of instructions", file=self.path)
        return keys, header

    def _load_train(self, db: sqlite3.Connection) -> None:
        assert self.train_path is not None
        tpos = 0
        for kind, key, value in _JsonObjectFile(self.train_path).members(None, "MIMIC-IT train file"):
            if kind != "member":
                continue
            try:
                db.execute("INSERT INTO train VALUES (?, ?, ?)", (tpos, key, dumps(value)))
            except sqlite3.IntegrityError:
                raise InputError(f"instruction id {key!r} appears twice", file=self.train_path) from None
            if isinstance(value, list):
                db.executemany("INSERT INTO link VALUES (?, ?)", [(c, tpos) for c in value if isinstance(c, str)])
            tpos += 1

    def _assign_owners(self, db: sqlite3.Connection) -> None:
        """Which sample carries each instruction that is not a training one: the first (in train
        order) that uses it as context; one that nothing uses goes with the training instruction
        before it in data order (or the first one), so the carried load is spread."""
        db.execute("INSERT INTO qpos SELECT i.pos, t.tpos FROM train t JOIN ins i ON i.id = t.id")
        db.execute("INSERT INTO owner SELECT l.ctx, MIN(l.tpos) FROM link l JOIN ins i ON i.id = l.ctx "
                   "WHERE l.ctx NOT IN (SELECT id FROM train) AND l.tpos IN (SELECT tpos FROM qpos) GROUP BY l.ctx")
        db.execute("INSERT INTO owner SELECT i.id, COALESCE("
                   "(SELECT q.tpos FROM qpos q WHERE q.pos < i.pos ORDER BY q.pos DESC LIMIT 1), "
                   "(SELECT q.tpos FROM qpos q ORDER BY q.pos LIMIT 1)) "
                   "FROM ins i WHERE i.id NOT IN (SELECT id FROM train) AND i.id NOT IN (SELECT id FROM owner) "
                   "AND EXISTS (SELECT 1 FROM qpos)")

    def _queries(self, db: sqlite3.Connection) -> Iterator[tuple[int | None, str, Any, int | None, Any]]:
        """(train position, id, in-context ids or an error text, data position, entry or None)."""
        if self.train_path is not None:
            rows = db.execute("SELECT t.tpos, t.id, t.ctx, i.pos, i.body FROM train t "
                              "LEFT JOIN ins i ON i.id = t.id ORDER BY t.tpos")
        else:
            rows = db.execute("SELECT NULL, id, NULL, pos, body FROM ins ORDER BY pos")
        for tpos, qid, ctx_body, pos, body in rows:
            entry = _loads(body) if body is not None else None
            if ctx_body is not None:
                ctx = _loads(ctx_body)
                if not isinstance(ctx, list) or not all(isinstance(c, str) for c in ctx):
                    ctx = f"must be a list of instruction ids, not {ctx!r:.80}"
            elif self.opts.populate_rel_ins and isinstance(entry, dict) and isinstance(entry.get("rel_ins_ids"), list):
                ctx = [str(c) for c in entry["rel_ins_ids"]]
            else:
                ctx = []
            yield tpos, qid, ctx, pos, entry

    def _entry(self, db: sqlite3.Connection, iid: str) -> tuple[int | None, Any]:
        row = db.execute("SELECT pos, body FROM ins WHERE id = ?", (iid,)).fetchone()
        return (row[0], _loads(row[1])) if row else (None, None)

    def _images_needed(self, db: sqlite3.Connection, qid: str, ctx: list[str], entry: Any) -> list[str]:
        entries = [self._entry(db, c)[1] for c in ctx] + [entry]
        group = task_group(qid, entry, self.opts.task_group)
        return [i for ids in round_images(group, [e if isinstance(e, dict) else {} for e in entries]) for i in ids]

    def _count_needs(self, db: sqlite3.Connection) -> int:
        for _tpos, qid, ctx, _pos, entry in self._queries(db):
            if entry is None or isinstance(ctx, str):
                continue
            db.executemany("INSERT OR IGNORE INTO need VALUES (?)", [(i,) for i in self._images_needed(db, qid, ctx, entry)])
        return db.execute("SELECT COUNT(*) FROM need").fetchone()[0]

    def _extract_images(self, db: sqlite3.Connection) -> str:
        media_dir = self.opts.media_dir
        if not self.images_path:
            raise UsageError(f"{self.path}: the instructions use images but there is no image file beside them "
                             f"(looked for XX.json and XX.parquet); give --opt images_path=FILE")
        if not media_dir:
            raise UsageError("reading mimicit needs --opt media_dir=DIR, the folder its images are decoded into")
        os.makedirs(media_dir, exist_ok=True)
        parquet = self._is_parquet(self.images_path)
        name = os.path.basename(self.images_path.rstrip("/"))
        pairs = parquet_images(self.images_path) if parquet else (
            (k, v) for kind, k, v in _JsonObjectFile(self.images_path).members(None, "MIMIC-IT image file")
            if kind == "member")
        for image_id, text in pairs:
            image_id = str(image_id)
            if db.execute("SELECT 1 FROM need WHERE id = ?", (image_id,)).fetchone() is None:
                continue
            if db.execute("SELECT 1 FROM img WHERE id = ?", (image_id,)).fetchone() is not None:
                db.execute("UPDATE img SET error = ? WHERE id = ?", (f"appears more than once in {name}", image_id))
                continue
            path, urlsafe, error = None, False, None
            if not isinstance(text, str):
                error = f"is {type(text).__name__}, not a base64 string"
            else:
                try:
                    data, urlsafe = decode_base64(text)
                except ValueError as exc:
                    error = str(exc)
                else:
                    path, written = store_image(media_dir, media_name(image_id, data), data)
                    self.written += written
                    self.reused += not written
            db.execute("INSERT INTO img VALUES (?, ?, ?, ?)", (image_id, path, int(urlsafe), error))
        return "parquet" if parquet else "json"

    def _bundles(self, db: sqlite3.Connection, file_info: dict[str, Any]) -> Iterator[Item]:
        source = "train file" if self.train_path is not None else "rel_ins_ids"
        for index, (tpos, qid, ctx, pos, entry) in enumerate(self._queries(db)):
            if entry is None:
                err = RecordError(f"the train file names instruction {qid!r}, which is not in the instructions' data",
                                  field="id", record_id=qid)
                yield Item(index, None, {"id": qid}, err)
                continue
            if isinstance(ctx, str):
                err = RecordError(f"the train file's entry {ctx}", field="train", record_id=qid)
                yield Item(index, None, {"id": qid}, err)
                continue
            context = [[c, *self._entry(db, c)] for c in ctx]
            images = {}
            for image_id in self._images_needed(db, qid, ctx, entry):
                row = db.execute("SELECT path, urlsafe, error FROM img WHERE id = ?", (image_id,)).fetchone()
                if row is not None:
                    images[image_id] = {"error": row[2]} if row[2] else {"path": row[0], "urlsafe": bool(row[1])}
            own = [] if tpos is None else [
                [oid, opos, _loads(body)] for oid, opos, body in db.execute(
                    "SELECT o.id, i.pos, i.body FROM owner o JOIN ins i ON i.id = o.id WHERE o.tpos = ? ORDER BY i.pos",
                    (tpos,))]
            bundle = {"id": qid, "pos": pos, "train_pos": tpos, "entry": entry, "context": context,
                      "context_source": source, "own": own, "images": images, "file": file_info}
            yield Item(index, None, bundle)


# -- writing ------------------------------------------------------------------------------------

WRITER_SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE ins(id TEXT PRIMARY KEY, pos INTEGER, seq INTEGER NOT NULL, strong INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE train(id TEXT PRIMARY KEY, tpos INTEGER, seq INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE img(id TEXT PRIMARY KEY, seq INTEGER NOT NULL, path TEXT NOT NULL, urlsafe INTEGER NOT NULL);
"""

PANDAS_META = {
    "index_columns": ["__index_level_0__"],
    "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                        "metadata": {"encoding": "UTF-8"}}],
    "columns": [
        {"name": "base64", "field_name": "base64", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object",
         "metadata": None},
    ],
    "pandas_version": "2.0.0",
}


class TrioWriter(Writer):
    """The main output is ``XX_instructions.json``; ``XX_train.json`` and ``XX.json`` (or
    ``XX.parquet``) go beside it, and all three appear together at commit."""

    def __init__(self, path: str, opts: Options):
        super().__init__(path)
        self.opts = opts
        prefix = task_prefix(path)
        if prefix is None and not (opts.images_out and opts.train_out):
            raise UsageError(f"{path}: name the mimicit output XX_instructions.json (XX.json and XX_train.json "
                             f"go beside it), or give --opt images_out=FILE and --opt train_out=FILE")
        self.prefix = prefix
        _, self.compression = split_compression(path)
        self.tmp += _suffix(self.compression)  # open_write picks the codec by the name
        self.db_path = self.tmp + ".sqlite"
        self.db: sqlite3.Connection | None = sqlite3.connect(self.db_path)
        self.db.executescript(WRITER_SCHEMA)
        self.seq = 0
        self.file: dict[str, Any] | None = None
        self.finals: list[tuple[str, str]] = []  # (temporary, final) for each file written

    def write(self, record: Any) -> None:
        assert self.db is not None
        for pos, iid, entry, strong in record["ins"]:
            self._instruction(pos, iid, entry, strong)
        if record.get("train") is not None:
            tpos, qid, ctx = record["train"]
            body = dumps(ctx)
            row = self.db.execute("SELECT body FROM train WHERE id = ?", (qid,)).fetchone()
            if row is None:
                self.db.execute("INSERT INTO train VALUES (?, ?, ?, ?)", (qid, tpos, self._next(), body))
            elif row[0] != body:
                raise MmloomError(f"{self.path}: training instruction {qid!r} comes from two samples with "
                                  f"different in-context lists")
        for image_id, path, urlsafe in record["img"]:
            row = self.db.execute("SELECT path FROM img WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                self.db.execute("INSERT INTO img VALUES (?, ?, ?, ?)", (image_id, self._next(), path, int(urlsafe)))
            elif row[0] != path and not _same_file_content(row[0], path):
                raise MmloomError(f"{self.path}: image id {image_id!r} stands for two different files, "
                                  f"{row[0]} and {path}")
        if self.file is None and record.get("file"):
            self.file = record["file"]
        self.count += 1

    def write_encoded(self, data: bytes) -> None:
        self.write(_loads(data))

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _instruction(self, pos: int | None, iid: str, entry: Any, strong: bool) -> None:
        """A sample's own instructions (strong) win over the stand-in copies other samples hold."""
        assert self.db is not None
        body = dumps(entry)
        row = self.db.execute("SELECT strong, body FROM ins WHERE id = ?", (iid,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO ins VALUES (?, ?, ?, ?, ?)", (iid, pos, self._next(), int(strong), body))
        elif strong and not row[0]:
            self.db.execute("UPDATE ins SET pos = ?, strong = 1, body = ? WHERE id = ?", (pos, body, iid))
        elif strong and row[1] != body:
            raise MmloomError(f"{self.path}: instruction {iid!r} comes from two samples with different content")

    def _target(self, option: str | None, suffix: str) -> str:
        if option:
            return option
        assert self.prefix is not None
        # the JSON files follow the instructions file's compression; Parquet compresses inside
        return self.prefix + suffix + ("" if suffix == ".parquet" else _suffix(self.compression))

    def _temporary(self, final: str) -> str:
        if os.path.abspath(final) == os.path.abspath(self.path):
            raise UsageError(f"{final}: the image or train file of the mimicit output would overwrite its "
                             f"instructions file")
        tmp = f"{final}.mmloom-tmp-{os.getpid()}" + _suffix(split_compression(final)[1])
        os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
        self.finals.append((tmp, final))
        return tmp

    def _close(self) -> None:
        if self.db is None:
            return
        db, self.db = self.db, None
        try:
            self._write_instructions(db)
            if db.execute("SELECT 1 FROM train LIMIT 1").fetchone():
                self._write_train(db)
            if db.execute("SELECT 1 FROM img LIMIT 1").fetchone():
                self._write_images(db)
        finally:
            db.close()
            os.remove(self.db_path)

    def _write_instructions(self, db: sqlite3.Connection) -> None:
        info = self.file or {}
        header = info.get("header", {"meta": DEFAULT_META})
        keys = list(info.get("keys", ["meta", RECORDS_KEY]))
        if RECORDS_KEY not in keys:
            keys.append(RECORDS_KEY)
        with open_write(self.tmp) as out:
            out.write(b"{")
            for n, key in enumerate(keys):
                out.write((b", " if n else b"") + dumps(key) + b": ")
                if key != RECORDS_KEY:
                    out.write(dumps(header.get(key)))
                    continue
                out.write(b"{")
                rows = db.execute("SELECT id, body FROM ins ORDER BY pos IS NULL, pos, seq")
                for m, (iid, body) in enumerate(rows):
                    out.write((b",\n" if m else b"\n") + dumps(iid) + b": " + body)
                out.write(b"\n}")
            out.write(b"}\n")

    def _write_train(self, db: sqlite3.Connection) -> None:
        with open_write(self._temporary(self._target(self.opts.train_out, "_train.json"))) as out:
            out.write(b"{")
            rows = db.execute("SELECT id, body FROM train ORDER BY tpos IS NULL, tpos, seq")
            for m, (qid, body) in enumerate(rows):
                out.write((b",\n" if m else b"\n") + dumps(qid) + b": " + body)
            out.write(b"\n}\n")

    def _encoded_images(self, db: sqlite3.Connection) -> Iterator[tuple[str, str]]:
        for image_id, path, urlsafe in db.execute("SELECT id, path, urlsafe FROM img ORDER BY seq"):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise MmloomError(f"{self.path}: image {image_id!r}: cannot read {path}: {exc.strerror}") from None
            yield image_id, encode_base64(data, bool(urlsafe))

    def _write_images(self, db: sqlite3.Connection) -> None:
        kind = self.opts.images_format
        if kind == "auto":
            kind = (self.file or {}).get("images") or "json"
        target = self._target(self.opts.images_out, "." + kind)
        if kind == "json":
            with open_write(self._temporary(target)) as out:
                out.write(b"{")
                for m, (image_id, text) in enumerate(self._encoded_images(db)):
                    out.write((b",\n" if m else b"\n") + dumps(image_id) + b": " + dumps(text))
                out.write(b"\n}\n")
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        # pandas metadata, so that pandas.read_parquet (Otter's loader) gets the ids as the index
        meta = dict(PANDAS_META, creator={"library": "pyarrow", "version": pa.__version__})
        schema = pa.schema([("base64", pa.string()), ("__index_level_0__", pa.string())],
                           metadata={b"pandas": json.dumps(meta).encode()})
        with pq.ParquetWriter(self._temporary(target), schema, compression="zstd") as writer:
            batch: list[tuple[str, str]] = []
            for pair in self._encoded_images(db):
                batch.append(pair)
                if len(batch) >= WRITE_BATCH:
                    writer.write_table(_image_table(batch, schema))
                    batch = []
            if batch:
                writer.write_table(_image_table(batch, schema))

    def commit(self) -> None:
        self._close()
        for tmp, final in self.finals:
            os.replace(tmp, final)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        for tmp in [self.tmp, self.db_path, *(t for t, _ in self.finals)]:
            if os.path.exists(tmp):
                os.remove(tmp)


def _suffix(compression: str | None) -> str:
    return {"gzip": ".gz", "zstd": ".zst"}.get(compression or "", "")


def _image_table(batch: list[tuple[str, str]], schema: Any) -> Any:
    import pyarrow as pa

    return pa.table({"base64": [b for _, b in batch], "__index_level_0__": [i for i, _ in batch]}, schema=schema)


def _same_file_content(a: str, b: str) -> bool:
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False
