"""Readers and writers by file type: streaming JSON arrays (and arrays inside an object), JSON
Lines with compression, Parquet, CSV; atomic writes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import GOLDEN, strict_equal

import mmloom
from mmloom.errors import InputError, MmloomError
from mmloom.io.readers import JsonArrayReader, JsonLinesReader, open_reader
from mmloom.io.writers import open_writer

RECORDS = [
    {"id": 1, "x": 1.5, "s": "é猫\u2028", "nested": {"a": [1, None, True]}},
    {"id": "two", "x": 2.0, "s": "", "nested": {"a": []}},
]


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.jsonl.zst", "r.json", "r.json.gz"])
def test_write_then_read_back(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    ftype = "json" if ".json" in name and ".jsonl" not in name else "jsonl"
    w = open_writer(str(path), ftype)
    for r in RECORDS:
        w.write(r)
    assert not path.exists()  # nothing under the final name until commit
    w.commit()
    got = [item.record for item in open_reader(str(path), ftype)]
    assert strict_equal(got, RECORDS)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    w = open_writer(str(tmp_path / "x.jsonl.gz"), "jsonl")
    w.write(RECORDS[0])
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_parquet_round_trip_keeps_carry_as_json_text(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    recs = [{"id": "a", "text": "t", "images": ["x.jpg"], "__mmloom__": {"format": "llava", "id": 3}},
            {"id": "b", "text": "u", "images": [], "__mmloom__": {"format": "llava", "keys": ["id"]}}]
    w = open_writer(str(path), "parquet")
    for r in recs:
        w.write(r)
    w.commit()
    assert pq.read_schema(path).field("__mmloom__").type == "string"
    assert strict_equal([i.record for i in open_reader(str(path), "parquet")], recs)


def test_parquet_refuses_records_of_another_shape_clearly(tmp_path: Path) -> None:
    w = open_writer(str(tmp_path / "d.parquet"), "parquet")
    w.batch_size = 1  # type: ignore[attr-defined]
    w.write({"a": 1})
    with pytest.raises(Exception, match="do not fit one Parquet schema"):
        w.write({"a": 1, "b": "new"})
    w.abort()


def test_json_array_inside_an_object_streams_records_and_header(tmp_path: Path) -> None:
    path = tmp_path / "wavcaps.json"
    path.write_text(json.dumps({"num_captions_per_audio": 1, "data": RECORDS, "after": {"k": [1, 2]}}))
    reader = JsonArrayReader(str(path), records_key="data")
    got = []
    for item in reader:
        assert reader.header == {"num_captions_per_audio": 1}
        got.append(item.record)
    assert strict_equal(got, RECORDS)
    assert reader.header == {"num_captions_per_audio": 1, "after": {"k": [1, 2]}}


def test_json_object_writer_puts_header_first(tmp_path: Path) -> None:
    path = tmp_path / "o.json"
    w = open_writer(str(path), "json", records_key="data", header=lambda last: {"n": last["id"]})
    for r in RECORDS:
        w.write(r)
    w.commit()
    data = json.loads(path.read_text())
    assert list(data) == ["n", "data"] and data["n"] == "two" and strict_equal(data["data"], RECORDS)


def test_jsonl_reader_reports_bad_lines_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n{"a": \n{"a": 3}\n'))
    items = list(JsonLinesReader(str(path)))
    assert [i.record for i in items] == [{"a": 1}, None, {"a": 3}]
    assert isinstance(items[1].error, InputError) and "line 2" in str(items[1].error)


def test_csv_reader_and_writer(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    rows = [{"video_id:FILE": "a.mp4", "title": ' spaced, "quoted" ', "label": "宠物"}]
    w = open_writer(str(path), "csv")
    for r in rows:
        w.write(r)
    w.commit()
    assert [i.record for i in open_reader(str(path), "csv")] == rows


def test_read_api_yields_samples() -> None:
    samples = list(mmloom.read(GOLDEN / "llava_to_dj" / "mixed_default.expected.jsonl", "dj",
                               {"image_special_token": "<image>"}))
    assert len(samples) == 10
    first = samples[0]
    roles = [p.name for c in first.chunks for p in c.pieces if isinstance(p, mmloom.Role)]
    assert roles == ["human", "gpt", "human", "gpt"]
    media = first.media_pieces("image")
    assert [m.path for m in media] == ["coco/train2017/000000033471.jpg"]


def test_container_reader_refuses_a_plain_array_or_a_missing_key(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(RECORDS))
    with pytest.raises(InputError, match="expected a JSON object holding the records under 'data'"):
        list(JsonArrayReader(str(plain), records_key="data"))
    nokey = tmp_path / "nokey.json"
    nokey.write_text(json.dumps({"num_captions_per_audio": 1, "rows": RECORDS}))
    with pytest.raises(InputError, match="no 'data' array"):
        list(JsonArrayReader(str(nokey), records_key="data"))


def test_csv_writer_refuses_new_columns_clearly(tmp_path: Path) -> None:
    w = open_writer(str(tmp_path / "x.csv"), "csv")
    w.write({"a": "1"})
    with pytest.raises(MmloomError, match=r"record 1 has columns the first record has not \('b'\)"):
        w.write({"a": "2", "b": "3"})
    w.abort()
    assert list(tmp_path.iterdir()) == []
