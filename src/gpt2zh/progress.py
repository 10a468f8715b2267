"""Progress bars that cost nothing in short jobs.

Importing tqdm costs ~0.04 CPU-s, a fifth of a per-shard job's start-up, and a job that ends in
seconds needs no bar. `Progress` counts on its own and makes the tqdm bar (with the count so
far) only once the job has run `after` seconds: at once on a terminal, after the bar's own
refresh interval in a log file (when tqdm would have written its first update anyway).
"""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    def __init__(self, total: int | None, desc: str, unit: str, log_interval: float) -> None:
        tty = sys.stderr.isatty()
        self._args = {"total": total, "desc": desc, "unit": unit, "file": sys.stderr}
        self._args["mininterval"] = 0.5 if tty else log_interval
        self._after = 0.0 if tty else log_interval
        self._start = time.monotonic()
        self._count = 0
        self._bar: Any = None

    def update(self, n: int = 1) -> None:
        self._count += n
        if self._bar is not None:
            self._bar.update(n)
        elif time.monotonic() - self._start >= self._after:
            from tqdm import tqdm

            self._bar = tqdm(initial=self._count, **self._args)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
