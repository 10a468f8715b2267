"""A data run killed with SIGKILL mid-way, then `--unlock` and a rerun with --rerun-incomplete,
gives the same bytes as an uninterrupted run: outputs are written to temp files and renamed,
and Snakemake reruns the jobs that were in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, TINY, run_snakemake, tiny_workdir
from test_workflow import _sha256s


def _killed_after(
    work: Path, marker: str, *targets: str, configfile: Path = TINY, timeout: float = 120
) -> None:
    """Starts the run of `targets` (default: the data) and SIGKILLs its whole process group once
    `marker` exists."""
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
        "--workflow-profile", "none", "--cores", "2", *targets, "--configfile", str(configfile),
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while not any(work.glob(marker)):
            if proc.poll() is not None:
                pytest.fail(f"the run ended before {marker} appeared")
            if time.monotonic() > deadline:
                pytest.fail(f"{marker} did not appear within {timeout} s")
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def reference(tiny_run: Path) -> dict[str, str]:
    """What an uninterrupted run built (the session's tiny run)."""
    return _sha256s(tiny_run)


@pytest.mark.parametrize(
    "marker",
    [
        "results/clean/*/shard-*",
        "results/dedup_work/signatures/*/shard-*",
        "results/tokens/*/*",
        # mix's outputs are folders, written shard by shard: a rerun must start them afresh
        pytest.param("results/mix/train/*", marks=pytest.mark.slow),
    ],
    ids=["during-clean", "during-dedup", "during-tokenize", "during-mix"],
)
def test_kill_then_rerun_incomplete_is_byte_identical(
    marker: str, reference: dict[str, str], tmp_path: Path
) -> None:
    work = tiny_workdir(tmp_path)
    _killed_after(work, marker)
    run_snakemake(work, "--unlock", configfile=TINY)  # a SIGKILL leaves Snakemake's lock behind
    run_snakemake(work, "--rerun-incomplete", configfile=TINY)
    assert _sha256s(work) == reference
