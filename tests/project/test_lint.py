"""Style gates that CI enforces through the test command: ruff, snakefmt, snakemake --lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO

BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(cmd[0], path=str(BIN)) or cmd[0]
    return subprocess.run([exe, *cmd[1:]], cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_clean() -> None:
    out = _run("ruff", "check", "src", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_clean() -> None:
    out = _run("ruff", "format", "--check", "src", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_snakefmt_clean() -> None:
    out = _run("snakefmt", "--check", "Snakefile", "rules")
    assert out.returncode == 0, out.stdout + out.stderr


# Software comes from the gpt2zh package that `make` installs into .venv; a per-rule conda env
# would be a second, untested copy of the same dependency list. Every other lint must be clean.
ACCEPTED_LINTS = {"Specify a conda environment or container for each rule.:"}


def test_snakemake_lint_clean() -> None:
    out = _run(sys.executable, "-m", "snakemake", "--lint", "--workflow-profile", "none")
    text = out.stdout + out.stderr
    lints = {line.strip()[2:] for line in text.splitlines() if line.strip().startswith("* ")}
    assert lints <= ACCEPTED_LINTS, text
