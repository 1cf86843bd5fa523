"""Progress on a terminal (records/s, MB/s), silent when stderr is piped or with --quiet."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool = True, interval: float = 0.5):
        self.enabled = enabled and sys.stderr.isatty()
        self.interval = interval
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def update(self, records: int, nbytes: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        sys.stderr.write(
            f"\r{records:,} records  {records / elapsed:,.0f} records/s  "
            f"{nbytes / 1e6 / elapsed:,.1f} MB/s  {nbytes / 1e6:,.0f} MB read   "
        )
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
