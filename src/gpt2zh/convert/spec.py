"""The convert stage's contract (gpt2zh.contract): the dataset's spec, the shard-to-shard
arguments, the run."""

from __future__ import annotations

import argparse

from gpt2zh.config import dataset_spec
from gpt2zh.contract import Stage, add_doc_shard_args, read_named_spec


def _run(args: argparse.Namespace) -> None:
    from gpt2zh.convert import convert_shard

    convert_shard(read_named_spec(args, "dataset", dataset_spec), args.shard, args.inp, args.out)


CONVERT = Stage(
    help="convert Traditional Chinese to Simplified (OpenCC) in one shard",
    description="Convert one shard with OpenCC (t2s, tw2sp, hk2s or none, from the dataset's "
    "`convert`) and count the documents and characters changed.",
    arguments=add_doc_shard_args,
    run=_run,
    per_shard=True,
)
