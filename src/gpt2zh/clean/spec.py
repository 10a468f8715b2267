"""The clean stage's contract: the dataset's spec (`config.dataset_spec`, its `clean` section
and `lang`), the shard-to-shard arguments, its run."""

from __future__ import annotations

import argparse

from gpt2zh.config import dataset_spec
from gpt2zh.contract import Stage, add_doc_shard_args, read_named_spec


def _run(args: argparse.Namespace) -> None:
    from gpt2zh.clean import clean_shard

    clean_shard(read_named_spec(args, "dataset", dataset_spec), args.shard, args.inp, args.out)


CLEAN = Stage(
    help="normalize, redact PII and filter documents of one shard",
    description="Normalize text (Unicode, invisible characters, HTML, full-width, whitespace), "
    "redact PII (e-mail, phone, ID card, IPv4) and drop low-quality documents with a named "
    "reason. Writes the shard, its .stats.json and, with clean.keep_dropped, .dropped.parquet.",
    arguments=add_doc_shard_args,
    run=_run,
    per_shard=True,
)
