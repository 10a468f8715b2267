"""The guard on Snakemake's scheduler wake-up timers, on Snakemake's own JobScheduler class."""

from __future__ import annotations

import threading
import time

from snakemake.scheduling.job_scheduler import JobScheduler

from gpt2zh.scheduler_wakeup import METHOD, one_pending_wakeup


class _Waiting:
    """What the method touches of a scheduler: the semaphore its main loop waits on."""

    def __init__(self) -> None:
        self._open_jobs = threading.Semaphore(0)


def _wakeups(sem: threading.Semaphore) -> int:
    n = 0
    while sem.acquire(blocking=False):
        n += 1
    return n


def test_many_requests_make_one_wakeup_then_the_next_request_schedules_again() -> None:
    one_pending_wakeup()
    schedule = getattr(JobScheduler, METHOD)
    s = _Waiting()
    threads = threading.active_count()
    for _ in range(50):  # a round per finished job, each asking for a wake-up
        schedule(s, 0.2)
    assert threading.active_count() <= threads + 1
    time.sleep(0.5)
    assert _wakeups(s._open_jobs) == 1
    schedule(s, 0.05)  # the pending flag was cleared when the timer fired
    time.sleep(0.3)
    assert _wakeups(s._open_jobs) == 1


def test_installing_twice_changes_nothing() -> None:
    one_pending_wakeup()
    installed = getattr(JobScheduler, METHOD)
    assert one_pending_wakeup() is False
    assert getattr(JobScheduler, METHOD) is installed
