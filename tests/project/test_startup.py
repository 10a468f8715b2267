"""Per-job start-up: per-shard jobs start once per shard and stage, so what they import counts.

Runs benchmarks/startup_bench.py (every per-shard subcommand, exactly as its rule runs it, on a
one-document input) in its checking mode: no job may import datasketch, scipy, pandas,
pyarrow.dataset, pyarrow.compute, jsonschema, tqdm, yaml or torch. Their import alone cost
0.03-0.5 CPU-s per job.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import REPO


def test_per_shard_jobs_import_nothing_heavy() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "startup_bench.py"), "--repeats", "1",
         "--check"],
        capture_output=True, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split()[0] for line in proc.stdout.splitlines()[2:]}
    assert {"extract", "clean", "convert", "dedup", "tokenize"} <= rows, proc.stdout


def test_progress_makes_its_bar_only_once_the_job_runs_long(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpt2zh import progress

    clock = iter([0.0, 1.0, 2.0, 40.0, 41.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    bar = progress.Progress(100, "clean x/0", "doc", log_interval=30)
    bar.update(10)
    bar.update(10)
    assert bar._bar is None and capsys.readouterr().err == ""
    bar.update(10)  # 40 s in: the bar appears with the count so far
    bar.update(5)
    bar.close()
    err = capsys.readouterr().err
    assert "clean x/0" in err and "35/100" in err
