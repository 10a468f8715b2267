"""A data run killed with SIGKILL mid-way, then README's recovery word for word
(`snakemake --unlock`, then the same command again), gives the same bytes as an uninterrupted
run: outputs are written to temp files and renamed, and the workflow profile's rerun-incomplete
makes Snakemake redo the jobs that were in flight. The commands run in a copy of the project
folder, so the profile loads as it does for a user (nothing is passed by hand)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY, project_copy, run_as_written, tiny_workdir
from test_workflow import _sha256s


def _killed_after(
    project: Path, marker: str, command: str = "snakemake --cores all", timeout: float = 120
) -> None:
    """Starts `command` word for word in the project folder and SIGKILLs its whole process group
    once `marker` exists."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        shlex.split(command), cwd=project, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while not any(project.glob(marker)):
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
        # just after a bucket file was renamed into place: without rerun-incomplete the rerun
        # stops with IncompleteFilesException
        "results/dedup_work/pairs/group-*.parquet",
        "results/tokens/*/*",
        # mix's outputs are folders, written shard by shard: a rerun must start them afresh
        pytest.param("results/mix/train/*", marks=pytest.mark.slow),
    ],
    ids=["during-clean", "during-dedup", "after-dedup-bucket", "during-tokenize", "during-mix"],
)
def test_kill_then_the_documented_recovery_is_byte_identical(
    marker: str, reference: dict[str, str], tmp_path: Path
) -> None:
    work = project_copy(tiny_workdir(tmp_path), config=TINY)
    _killed_after(work, marker)
    run_as_written(work, "snakemake --unlock")  # a SIGKILL leaves Snakemake's lock behind
    run_as_written(work, "snakemake --cores all")
    assert _sha256s(work) == reference
