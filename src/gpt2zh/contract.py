"""What every stage exposes: its spec from the config, its CLI arguments and its run.

Each stage package has a `spec.py` that holds its contract: the function that builds the stage's
spec (the part of the config it reads, resolved into a JSON-able dict) and one `Stage` per
subcommand. The rules call the spec builders (`spec=spec_json(mix_spec(CFG))`), the CLI builds
its parser from the `Stage`s (`gpt2zh.cli.STAGES`), and both meet at the same dict: a job run by
Snakemake and the same command run by hand with `--config` read the config the same way.

Entry points (`Stage.run` calls one) take their arguments in one order:
`(spec, which, inputs, outputs, *, optional)`: the spec first (absent for stages without one),
then what names the unit of work (dataset, shard, group, run), then input paths, then output
paths, then, keyword-only, what may be left out: optional inputs (a report's mix manifest) and
settings that change how a job runs, never what it writes (threads, batch sizes).

A contract module imports only argparse, pathlib and the config helpers at the top: the CLI
imports the chosen stage's contract in every job, and the rules import spec builders into the
Snakemake scheduler. `run` imports the stage's code when it runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt2zh.config import ConfigError, load_config


@dataclass(frozen=True)
class Stage:
    """One `gpt2zh` subcommand. `arguments` adds its options to the subcommand's parser (and may
    add sub-subcommands, each setting its own `func`); `run`, when given, is the default `func`.
    `per_shard` marks jobs started once per shard, whose start-up cost is paid thousands of
    times (the CLI refuses pandas in them)."""

    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None] | None = None
    per_shard: bool = False

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        self.arguments(parser)
        if self.run is not None:
            parser.set_defaults(func=self.run, per_shard=self.per_shard)


def add_spec_args(p: argparse.ArgumentParser, what: str | None = None) -> None:
    """Stages take their part of the config either resolved (`--spec`, from a rule) or from
    config files (`--config`); per-dataset and per-source stages also need `--<what> NAME`."""
    title = "configuration (give --spec, or --config" + (f" with --{what})" if what else ")")
    g = p.add_argument_group(title)
    g.add_argument("--spec", help="the stage's resolved config as JSON, or @file.json")
    g.add_argument(
        "--config", action="append", type=Path, metavar="YAML", help="config file (repeatable)"
    )
    if what:
        g.add_argument(f"--{what}", help=f"{what} name in the config")


def parse_spec(spec: str) -> Any:
    """`--spec`: JSON, or `@file.json`."""
    return json.loads(Path(spec[1:]).read_text("utf-8") if spec.startswith("@") else spec)


def read_spec(args: argparse.Namespace, build: Callable[[Mapping[str, Any]], Any]) -> Any:
    """A stage's spec: `--spec` JSON (from a rule) or `build(config)` from `--config` files."""
    if args.spec:
        return parse_spec(args.spec)
    if not args.config:
        raise ConfigError("give --spec, or --config FILE")
    return build(load_config(args.config))


def read_named_spec(
    args: argparse.Namespace, what: str, build: Callable[[Mapping[str, Any], str], Any]
) -> Any:
    """The spec of one dataset or source: `--spec`, or `build(config, name)` from `--config`
    files and `--<what> NAME`."""
    if args.spec:
        return parse_spec(args.spec)
    name = getattr(args, what)
    if not (args.config and name):
        raise ConfigError(f"give --spec, or --config FILE together with --{what} NAME")
    return build(load_config(args.config), name)


def add_doc_shard_args(p: argparse.ArgumentParser) -> None:
    """A shard-to-shard text stage (clean, convert): the same arguments for every one of them."""
    add_spec_args(p, "dataset")
    p.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    p.add_argument("--in", dest="inp", type=Path, required=True, help="input shard (.parquet)")
    p.add_argument("--out", type=Path, required=True, help="output shard (.parquet)")
