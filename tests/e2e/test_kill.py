"""A data run killed with SIGKILL mid-way, then README's recovery word for word
(`snakemake --unlock`, then the same command again), gives the same bytes as an uninterrupted
run: outputs are written to temp files and renamed, and the workflow profile's rerun-incomplete
makes Snakemake redo the jobs that were in flight. The commands run in a copy of the project
folder, so the profile loads as it does for a user (nothing is passed by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.workflow import TINY, killed_after, project_copy, run_as_written, sha256s, tiny_workdir


@pytest.fixture(scope="module")
def reference(tiny_run: Path) -> dict[str, str]:
    """What an uninterrupted run built (the session's tiny run)."""
    return sha256s(tiny_run)


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
    killed_after(work, marker)
    run_as_written(work, "snakemake --unlock")  # a SIGKILL leaves Snakemake's lock behind
    run_as_written(work, "snakemake --cores all")
    assert sha256s(work) == reference
