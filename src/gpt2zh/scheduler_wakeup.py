"""One pending wake-up timer for Snakemake's scheduler, instead of one more per finished job.

After every scheduling round, Snakemake 9's `JobScheduler` starts a `threading.Timer` that wakes
it again one rate-limit timespan later (`--max-jobs-per-timespan`, default 100/1s), so that jobs
held back by the rate limit are not forgotten. A timer's round starts the next timer, and every
round started by something else (a job finishing) starts one more: after N finished jobs the
process holds ~N timer chains and runs ~N scheduling rounds a second, each of which checks the
input files of every ready job. Its CPU then grows with finished jobs × wall time: the 5.6 GB
rehearsal spent 1,541 CPU-s (1.6 a job, 23 % of the run) there (docs/DESIGN.md; upstream:
snakemake/snakemake#3804, the same pattern ending in "can't start new thread").

With at most one timer pending per scheduler, the scheduler still wakes at least once per
timespan while it has work, which is all the timers are for.
"""

from __future__ import annotations

import threading
from typing import Any

_MARK = "_gpt2zh_one_pending"
#: The JobScheduler method that starts the wake-up timer (its name is spelled so upstream).
METHOD = "_schedule_reevalutation"


def one_pending_wakeup() -> bool:
    """Installs the guard on Snakemake's JobScheduler; False when this Snakemake has no such
    method (then nothing is changed) or the guard is already installed."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    original = getattr(JobScheduler, METHOD, None)
    if original is None or getattr(original, _MARK, False):
        return False
    lock = threading.Lock()

    def schedule_reevaluation(self: Any, delay: float) -> None:
        wake = getattr(getattr(self, "_open_jobs", None), "release", None)
        if wake is None:  # not the scheduler this was written for: leave it as it is
            original(self, delay)
            return
        with lock:
            if getattr(self, "_gpt2zh_wakeup_pending", False):
                return
            self._gpt2zh_wakeup_pending = True

        def fire() -> None:
            with lock:
                self._gpt2zh_wakeup_pending = False
            wake()

        threading.Timer(delay, fire).start()

    setattr(schedule_reevaluation, _MARK, True)
    setattr(JobScheduler, METHOD, schedule_reevaluation)
    return True
