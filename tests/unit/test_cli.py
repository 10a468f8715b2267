"""The CLI: every stage is a subcommand with its own --help, and `gpt2zh --help` lists each one.

The checks compare whole names, not substrings: `tokenize` is inside `tokenizer`, and `train` or
`mix` appear in other stages' help lines, so a substring test passes with those stages missing."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

STAGES = [
    "download",
    "lock",
    "extract",
    "clean",
    "convert",
    "dedup",
    "tokenizer",
    "tokenize",
    "count",
    "mix",
    "verify",
    "report",
    "train",
    "launch",
    "plan",
    "eval",
]
STEPS = {
    "count": ["dataset", "table"],
    "dedup": ["signatures", "buckets", "clusters", "filter"],
    "report": ["dataset", "index", "run"],
}
COMMANDS = [[s] for s in STAGES] + [[s, step] for s, steps in STEPS.items() for step in steps]


def gpt2zh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", *args], capture_output=True, text=True, check=False
    )


def listed(help_text: str) -> list[str]:
    """The subcommand names argparse lists under "positional arguments:", one per line at an
    indent of four (a wrapped help line is indented further, an option less)."""
    section = help_text.split("positional arguments:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^ {4}(\S+)", section, re.MULTILINE)


def test_help_lists_every_stage() -> None:
    out = gpt2zh("--help")
    assert out.returncode == 0, out.stderr
    assert sorted(listed(out.stdout)) == sorted(STAGES)


@pytest.mark.parametrize("stage", sorted(STEPS))
def test_help_lists_every_step(stage: str) -> None:
    out = gpt2zh(stage, "--help")
    assert out.returncode == 0, out.stderr
    assert sorted(listed(out.stdout)) == sorted(STEPS[stage])


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_each_subcommand_has_its_own_help(args: list[str]) -> None:
    out = gpt2zh(*args, "--help")
    assert out.returncode == 0, out.stderr
    # The usage line names exactly this command: the word after it is an option or an argument
    # placeholder, never a longer command name (`tokenize` vs `tokenizer`) or another step.
    words = out.stdout.split()
    assert words[: 2 + len(args)] == ["usage:", "gpt2zh", *args]
    assert words[2 + len(args)].startswith("[-h"), out.stdout.splitlines()[0]


def test_spec_or_config_required() -> None:
    out = gpt2zh("extract", "--manifest", "m.json", "--shard", "0", "--out", "x.parquet")
    assert out.returncode == 2
    assert "give --spec, or --config FILE together with --dataset NAME" in out.stderr
