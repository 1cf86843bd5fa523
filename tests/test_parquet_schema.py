"""The Parquet writer's schema: every field of the first batch, and the types a format declares."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mmloom.io.writers import ParquetWriter


def test_a_field_the_first_record_lacks_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    writer = ParquetWriter(str(out))
    for row in ({"a": 1}, {"a": 2, "b": [True]}):
        writer.write(row)
    writer.commit()
    assert pq.read_table(out).to_pylist() == [{"a": 1, "b": None}, {"a": 2, "b": [True]}]


def test_declared_types_win_over_inference_and_other_columns_are_inferred(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    declared = pa.schema([("images", pa.list_(pa.string())), ("meta", pa.string())])
    writer = ParquetWriter(str(out), batch_size=2, declared=declared)
    for row in ({"images": [None], "n": 1}, {"images": [], "n": 2}, {"images": ["u"], "n": 3, "meta": "{}"}):
        writer.write(row)
    writer.commit()
    schema = pq.read_schema(out)
    assert [(f.name, f.type) for f in schema] == [
        ("images", pa.list_(pa.string())), ("n", pa.int64()), ("meta", pa.string())]
    assert pq.read_table(out).column("images").to_pylist() == [[None], [], ["u"]]
