"""The extract stage's contract: the dataset's spec (`config.dataset_spec`), its arguments, its
run."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gpt2zh.config import dataset_spec
from gpt2zh.contract import Stage, add_spec_args, read_named_spec

log = logging.getLogger("gpt2zh")


def _arguments(p: argparse.ArgumentParser) -> None:
    add_spec_args(p, "dataset")
    p.add_argument("--manifest", type=Path, required=True, help="download manifest.json")
    p.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    p.add_argument("--out", type=Path, required=True, help="output shard (.parquet)")


def _run(args: argparse.Namespace) -> None:
    from gpt2zh.extract import check_quarantine_share, extract_shard

    spec = read_named_spec(args, "dataset", dataset_spec)
    stats = extract_shard(spec, args.shard, args.manifest, args.out)
    log.info(
        "%s shard %d: %d docs in, %d out, drops %s",
        stats["dataset"],
        args.shard,
        stats["docs_in"],
        stats["docs_out"],
        stats["drops"],
    )
    check_quarantine_share(spec, stats)


EXTRACT = Stage(
    help="turn a source's files into Parquet document shards",
    description="Read the files of one dataset assigned to one shard, build each document "
    "from the dataset's text template and write a Parquet shard, its .stats.json and its "
    ".quarantine.jsonl (records that could not be read, with the reason).",
    arguments=_arguments,
    run=_run,
    per_shard=True,
)
