"""Shared test helpers: the repository root and a way to run the real Snakemake workflow."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (loopback HTTP server)


def run_snakemake(
    workdir: Path, *args: str, configfile: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Runs the repository's Snakefile in `workdir` as a user would, in a subprocess."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--workflow-profile",
        "none",
        "--cores",
        "2",
        *args,
        # last: --configfile takes several values and would swallow a target after it
        "--configfile",
        str(configfile or REPO / "config.yaml"),
    ]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a scratch cwd so relative output folders behave as under Snakemake."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


TINY = REPO / "workflow" / "configs" / "tiny.yaml"


def tiny_workdir(tmp_path: Path) -> Path:
    """A working directory holding the tiny corpus where tiny.yaml's local source expects it."""
    shutil.copytree(REPO / "tests" / "data" / "tiny", tmp_path / "tests" / "data" / "tiny")
    return tmp_path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny data pipeline, run once per session by Snakemake. Tests may add to it (train,
    eval, dry runs with other configs) but never change what it built; tests that do copy it
    or build their own."""
    work = tiny_workdir(tmp_path_factory.mktemp("tiny"))
    run_snakemake(work, configfile=TINY)
    return work


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(mix, tokenizer) of the training tests: five poems packed into 32-token rows; read only."""
    from train_fixtures import make_mix, make_tokenizer

    root = tmp_path_factory.mktemp("data")
    tok = make_tokenizer(root / "tokenizer")
    return make_mix(root / "mix", tok), root / "tokenizer"


#: What a clone holds that Snakemake reads (the rest, src/ and tests/, is the installed package).
PROJECT_FILES = ("Snakefile", "config.yaml", "rules", "workflow", "profiles")


def project_copy(dest: Path, config: Path | None = None) -> Path:
    """`dest` laid out as the project folder a user has cloned, so that commands run in it
    exactly as README.md writes them (the workflow profile included); `config` replaces
    config.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / name)
    if config is not None:
        shutil.copy2(config, dest / "config.yaml")
    return dest


def run_as_written(
    project: Path, command: str, *, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Runs `command` (a line of README.md) word for word in `project`, with the venv's scripts
    (snakemake, gpt2zh) first on PATH, as after `source .venv/bin/activate`."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        shlex.split(command),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{command} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
