"""``mmloom verify-md5``: check a downloaded file against its published MD5 checksum.

MIMIC-IT publishes one for each zipped task (Luodian/Otter, ``mimic-it/README.md``, "Download
It"); those are built in, so a file can be checked without typing its checksum.
"""

from __future__ import annotations

import hashlib
import re

from .errors import UsageError

MIMICIT_ARCHIVES = {
    "fdc2427451bcfd8a04bab7a1c2305259": "MIMIC-IT LA-In-Context",
    "0d373a5f511fd1d9f03ac81bb12e04fe": "MIMIC-IT DC",
    "ea16ec0ef7f35e810e0920e85ed467af": "MIMIC-IT TVC",
    "988569e39aaa24da0df547644514b0d4": "MIMIC-IT VST",
    "1c4751c5b2c0bcaaeb94dbc5fb39e7a6": "MIMIC-IT SN",
    "7fd998c10baaba9c6e39b66761a456a0": "MIMIC-IT SD (General Diff)",
    "5175198daebb997672a21307e8b18a96": "MIMIC-IT SD (Subtle Diff)",
    "504b779dbc852c943adbe7862d6924d7": "MIMIC-IT E4D (1st Part)",
}
_MD5 = re.compile(r"[0-9a-f]{32}\Z")


def md5_of(path: str, block: int = 1 << 20) -> str:
    """The MD5 of a file, read in blocks (archives run to gigabytes)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: str, expected: str | None = None) -> tuple[bool, str]:
    """(whether the file matches, a sentence saying so). Without ``expected`` the file matches
    when it is one of the published MIMIC-IT archives."""
    if expected is not None:
        expected = expected.strip().lower()
        if not _MD5.match(expected):
            raise UsageError(f"{expected!r} is not an MD5 checksum (32 hexadecimal digits)")
    actual = md5_of(path)
    known = MIMICIT_ARCHIVES.get(actual)
    what = f" ({known} archive)" if known else ""
    if expected is None:
        if known:
            return True, f"{path}: OK, md5 {actual}{what}"
        return False, f"{path}: md5 {actual} is not one of the published MIMIC-IT archives; give the expected MD5"
    if actual == expected:
        return True, f"{path}: OK, md5 {actual}{what}"
    return False, f"{path}: md5 is {actual}, expected {expected}; the file is damaged or not the one meant"
