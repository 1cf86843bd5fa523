"""``mmloom verify-md5``: checksums of downloaded files, the published MIMIC-IT ones built in."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mmloom import verify
from mmloom.cli import main
from mmloom.errors import UsageError

CONTENT = b"PK\x03\x04 a small stand-in for a zipped MIMIC-IT task\n" * 1000


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "DC.zip"
    path.write_bytes(CONTENT)
    return path


def test_md5_of_reads_in_blocks(archive: Path) -> None:
    assert verify.md5_of(str(archive), block=7) == hashlib.md5(CONTENT).hexdigest()


def test_expected_checksum(archive: Path) -> None:
    good = hashlib.md5(CONTENT).hexdigest()
    assert verify.verify_md5(str(archive), good.upper()) == (True, f"{archive}: OK, md5 {good}")
    ok, message = verify.verify_md5(str(archive), "0" * 32)
    assert not ok and f"md5 is {good}, expected {'0' * 32}" in message
    with pytest.raises(UsageError, match="not an MD5 checksum"):
        verify.verify_md5(str(archive), "abc")


def test_published_archives_are_recognised(archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = verify.verify_md5(str(archive))
    assert not ok and "not one of the published MIMIC-IT archives" in message
    monkeypatch.setitem(verify.MIMICIT_ARCHIVES, hashlib.md5(CONTENT).hexdigest(), "MIMIC-IT DC")
    ok, message = verify.verify_md5(str(archive))
    assert ok and message.endswith("(MIMIC-IT DC archive)")


def test_the_table_holds_the_published_checksums() -> None:
    assert verify.MIMICIT_ARCHIVES["0d373a5f511fd1d9f03ac81bb12e04fe"] == "MIMIC-IT DC"
    assert len(verify.MIMICIT_ARCHIVES) == 8 and all(len(k) == 32 for k in verify.MIMICIT_ARCHIVES)


def test_command_line(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = hashlib.md5(CONTENT).hexdigest()
    assert main(["verify-md5", str(archive), good]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["verify-md5", str(archive), "f" * 32]) == 1
    assert "expected ffff" in capsys.readouterr().err
    assert main(["verify-md5", str(archive.parent / "missing.zip"), good]) == 1
    assert "missing.zip" in capsys.readouterr().err
