"""The contracts of the token stages: `tokenizer` (its spec: the tokenizer settings and the mix
weights it samples by), `tokenize` (per shard, no spec: its options are command-line flags) and
`count`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpt2zh.contract import Stage, add_spec_args, read_spec

log = logging.getLogger("gpt2zh")


def tokenizer_spec(cfg: Mapping[str, Any]) -> dict[str, Any]:
    from gpt2zh.mix.plan import mix_weights

    return {"tokenizer": cfg["tokenizer"], "weights": mix_weights(cfg)}


def _tokenizer_args(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--inputs", type=Path, nargs="*", help="document shards (.parquet)")
    p.add_argument("--out", type=Path, required=True, help="output tokenizer folder")


def _tokenizer(args: argparse.Namespace) -> None:
    from .train_bpe import build_tokenizer

    build_tokenizer(read_spec(args, tokenizer_spec), args.inputs or [], args.out)


TOKENIZER = Stage(
    help="train the byte-level BPE tokenizer (or copy a pretrained one)",
    description="Train a byte-level BPE on a sample of the last document stage drawn by mix "
    "weight (tokenizer.sample_bytes), with the Chinese-aware pre-tokenizer, and save it with "
    "save_pretrained (AutoTokenizer loads it) plus training.json (sample, seconds, peak RSS).",
    arguments=_tokenizer_args,
    run=_tokenizer,
)


def _tokenize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer folder")
    p.add_argument("--dataset", required=True)
    p.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    p.add_argument("--in", dest="inp", type=Path, required=True, help="document shard (.parquet)")
    p.add_argument("--out", type=Path, required=True, help="token shard (.arrow)")
    p.add_argument("--batch-docs", type=int, default=1024, help="documents per encode batch")
    p.add_argument("--threads", type=int, default=1, help="encoder threads")
    p.add_argument(
        "--encoder",
        choices=["auto", "hf", "fast"],
        default="auto",
        help="fast = tiktoken over our merges (token-identical to HF, verified at load); "
        "auto = fast when the tokenizer allows it",
    )


def _tokenize(args: argparse.Namespace) -> None:
    import os

    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before tokenizers starts its pool
    from .encode import encode_shard

    encode_shard(
        args.dataset,
        args.shard,
        args.inp,
        args.tokenizer,
        args.out,
        batch_docs=args.batch_docs,
        encoder=args.encoder,
        threads=args.threads,
    )


TOKENIZE = Stage(
    help="encode one document shard into an Arrow token shard",
    description="Batch-encode one shard, EOS appended to each document; write an Arrow IPC "
    "shard (id, input_ids list<uint16>, uint32 if the vocab needs it) and .stats.json.",
    arguments=_tokenize_args,
    run=_tokenize,
    per_shard=True,
)


def _count(args: argparse.Namespace) -> None:
    from .count import write_counts, write_table

    if args.count_command == "dataset":
        c = write_counts(args.dataset, args.role, args.stats, args.out)
        log.info("%s: %d docs, %d tokens", c["dataset"], c["docs"], c["tokens"])
    else:
        sys.stdout.write(write_table(args.counts, args.mix, args.out))


def _count_args(p: argparse.ArgumentParser) -> None:
    csub = p.add_subparsers(dest="count_command", required=True, metavar="KIND")
    c = csub.add_parser("dataset", help="one dataset's counts.json", description="counts.json")
    c.add_argument("--dataset", required=True)
    c.add_argument("--role", default="pretrain", choices=["pretrain", "sft"])
    c.add_argument("--stats", type=Path, nargs="+", required=True, help="token shard stats")
    c.add_argument("--out", type=Path, required=True, help="output counts.json")
    c.set_defaults(func=_count)
    c = csub.add_parser("table", help="the corpus table", description="the corpus token table")
    c.add_argument("--counts", type=Path, nargs="+", required=True, help="counts.json files")
    c.add_argument("--mix", type=Path, help="mix manifest.json (share, epochs)")
    c.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    c.set_defaults(func=_count)


COUNT = Stage(
    help="token counts per dataset, and the table of the corpus",
    description="`count dataset` sums a dataset's token shard stats into counts.json; "
    "`count table` prints per dataset docs, tokens, chars/token, share of the mix, "
    "effective epochs and the totals.",
    arguments=_count_args,
)
