"""The CLI: every stage is a subcommand with --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

STAGES = ["download", "extract", "clean", "convert", "dedup", "report", "train", "eval"]
STAGES += ["tokenizer", "tokenize", "count", "mix"]  # issue 5
STAGES += ["plan"]  # issue 6


def gpt2zh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", *args], capture_output=True, text=True, check=False
    )


def test_help_lists_every_stage() -> None:
    out = gpt2zh("--help")
    assert out.returncode == 0
    for stage in STAGES:
        assert stage in out.stdout


@pytest.mark.parametrize(
    "args",
    [[s] for s in STAGES]
    + [["report", "dataset"], ["report", "index"], ["report", "run"]]
    + [["dedup", step] for step in ("signatures", "buckets", "clusters", "filter")],
    ids=str,
)
def test_each_subcommand_has_help(args: list[str]) -> None:
    out = gpt2zh(*args, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: gpt2zh " + " ".join(args))


def test_spec_or_config_required() -> None:
    out = gpt2zh("extract", "--manifest", "m.json", "--shard", "0", "--out", "x.parquet")
    assert out.returncode == 2
    assert "give --spec, or --config FILE together with --dataset NAME" in out.stderr
