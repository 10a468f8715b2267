"""What every benchmark script shares: the corpus argument, median timing, peer venvs.

Benchmarks are scripts (`python benchmarks/x_bench.py`), so this module sits beside them and is
imported by name. Peers (datatrove, ...) are never project dependencies: each benchmark that
measures one builds a throwaway virtual environment under the user cache folder, once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gpt2zh-bench"


def add_corpus_arg(ap: argparse.ArgumentParser) -> None:
    """The unpacked chinese-poetry package (`make bench` passes the pipeline's npm download)."""
    ap.add_argument(
        "root",
        nargs="?",
        default=os.environ.get("GPT2ZH_POETRY_DIR"),
        help="unpacked chinese-poetry package folder (the one holding dist/); "
        "default: $GPT2ZH_POETRY_DIR",
    )


def corpus_root(ap: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    if not args.root:
        ap.error("give the package folder as an argument or in $GPT2ZH_POETRY_DIR")
    return Path(args.root)


def timed(fn: Callable[[], Any], repeats: int = 1) -> float:
    """Median wall time of `repeats` calls of `fn`, in seconds."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def peer_python(venv_dir: Path, packages: list[str]) -> Path:
    """The python of a throwaway venv holding `packages` (created once, reused while the same)."""
    python = venv_dir / "bin" / "python"
    marker = venv_dir / ".gpt2zh-bench-ready"
    wanted = json.dumps(packages)
    if marker.exists() and marker.read_text() == wanted:
        return python
    print(f"creating a peer venv in {venv_dir} (once; pip output in install.log)")
    venv.create(venv_dir, with_pip=True, clear=True)
    with open(venv_dir / "install.log", "w") as log:
        subprocess.run(
            [str(python), "-m", "pip", "install", *packages],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    marker.write_text(wanted)
    return python
