"""Running the real workflow in tests: Snakemake in a subprocess on the tiny config, README
commands word for word in a copy of the project folder, and what the runs are compared by."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpt2zh.layout import DOC_STAGES
from helpers import REPO


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


TINY = REPO / "workflow" / "configs" / "tiny.yaml"


def tiny_workdir(tmp_path: Path) -> Path:
    """A working directory holding the tiny corpus where tiny.yaml's local source expects it."""
    shutil.copytree(REPO / "tests" / "data" / "tiny", tmp_path / "tests" / "data" / "tiny")
    return tmp_path


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


def sha256s(root: Path) -> dict[str, str]:
    """sha256 of every document shard, token shard, tokenizer and packed mix file under
    `root`/results (not the stats: they hold timings), for byte-identity checks."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for stage in (*DOC_STAGES, "dedup_work")
        for p in sorted((root / "results" / stage).rglob("*.parquet"))
    } | {  # token shards, the tokenizer and the packed mix
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("tokens", "tokenizer", "mix")
        for p in sorted((root / "results" / sub).rglob("*"))
        if p.suffix == ".arrow" or p.name == "tokenizer.json"  # stats hold timings
    }


def planned_jobs(proc_output: str) -> dict[str, int]:
    """Rule → job count from the "Job stats" table of a dry run."""
    table = proc_output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in table.splitlines()[3:]]
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit() and r[0] != "total"}


def killed_after(
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
