"""Per-job start-up: per-shard jobs start once per shard and stage, so what they import counts.

Runs benchmarks/startup_bench.py (every per-shard subcommand, exactly as its rule runs it, on a
one-document input) in its checking mode: no job may import datasketch, scipy, pandas,
pyarrow.dataset, jsonschema, yaml or torch. Their import alone cost 0.2-0.5 CPU-s per job.
"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


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
