"""`gpt2zh`: one subcommand per stage, each defined by its stage's contract (gpt2zh.contract).

Rules call these subcommands (`shell:`), so every job is its own process, can be rerun by hand,
and never loads torch into the Snakemake scheduler. This module is only the registry: `STAGES`
names where each stage's contract lives, and a job imports only its own stage's contract, so
`gpt2zh extract` pays neither for the training stack nor for any other stage's imports.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from gpt2zh import __version__
from gpt2zh.contract import Stage
from gpt2zh.errors import UserError

log = logging.getLogger("gpt2zh")

#: Every subcommand, in pipeline order, and the `module:NAME` of its `Stage`.
STAGES: dict[str, str] = {
    "download": "gpt2zh.sources.spec:DOWNLOAD",
    "lock": "gpt2zh.sources.spec:LOCK",
    "extract": "gpt2zh.extract.spec:EXTRACT",
    "clean": "gpt2zh.clean.spec:CLEAN",
    "convert": "gpt2zh.convert.spec:CONVERT",
    "dedup": "gpt2zh.dedup.spec:DEDUP",
    "tokenizer": "gpt2zh.tokenize.spec:TOKENIZER",
    "tokenize": "gpt2zh.tokenize.spec:TOKENIZE",
    "count": "gpt2zh.tokenize.spec:COUNT",
    "mix": "gpt2zh.mix.spec:MIX",
    "verify": "gpt2zh.mix.spec:VERIFY",
    "report": "gpt2zh.report.spec:REPORT",
    "train": "gpt2zh.train.spec:TRAIN",
    "launch": "gpt2zh.train.spec:LAUNCH",
    "plan": "gpt2zh.train.spec:PLAN",
    "eval": "gpt2zh.eval.spec:EVAL",
}


def stage(name: str) -> Stage:
    module, _, attr = STAGES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every stage, or, with `only`, of that stage alone: what a job parses, since
    the other stages' contracts would import their packages (the training stack among them)."""
    parser = argparse.ArgumentParser(
        prog="gpt2zh",
        description="Build a Chinese pretraining corpus and train GPT-2 on it. Each subcommand "
        "is one pipeline stage; Snakemake calls them, and so can you.",
    )
    parser.add_argument("--version", action="version", version=f"gpt2zh {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")
    for name in [only] if only in STAGES else STAGES:
        s = stage(name)
        s.add_to(sub.add_parser(name, help=s.help, description=s.description))
    return parser


class _NoPandas:
    """A meta path finder that makes `import pandas` fail (see `_without_pandas`)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"{name} is not imported by per-shard jobs", name=name)


def _without_pandas() -> None:
    """pyarrow imports pandas (~0.17 CPU-s) on its first conversion of a Python list, only to
    ask whether the list is a pandas object. Per-shard jobs never hold one and start once per
    shard and stage, so their process refuses the import (pyarrow's shim reads the ImportError
    as "no pandas"); a pandas imported already is left alone."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(named).parse_args(argv)
    if getattr(args, "per_shard", False):
        _without_pandas()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except UserError as e:
        log.error("%s", e)
        return 2
    _log_usage()
    return 0


def _log_usage() -> None:
    """The job's own CPU time and peak memory, last line of its log: Snakemake's `benchmark:`
    files sample and undercount short jobs, this is exact (start-up included)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    log.info(
        "done: %.3f CPU-s (user %.3f, sys %.3f), peak RSS %.0f MB",
        r.ru_utime + r.ru_stime,
        r.ru_utime,
        r.ru_stime,
        r.ru_maxrss / 1024,
    )


if __name__ == "__main__":
    sys.exit(main())
