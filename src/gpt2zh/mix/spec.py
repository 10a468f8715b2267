"""The mix stage's contract: its spec (the `mix:` block, the normalised weights and the document
stage the tokens come from), `mix` and `verify`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpt2zh.contract import Stage, add_spec_args, read_spec


def mix_spec(cfg: Mapping[str, Any]) -> dict[str, Any]:
    from gpt2zh.layout import DOC_STAGES

    from .plan import mix_weights

    return {"mix": cfg["mix"], "weights": mix_weights(cfg), "stage": DOC_STAGES[-1]}


def _mix_args(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--inputs", type=Path, nargs="*", help="token shards (.arrow)")
    p.add_argument("--out", type=Path, required=True, help="output folder")


def _mix(args: argparse.Namespace) -> None:
    from .pack import build_mix

    build_mix(read_spec(args, mix_spec), args.inputs or [], args.out)


MIX = Stage(
    help="hold out validation, mix datasets by weight and pack rows of seq_len",
    description="Hold out validation documents per dataset, take each dataset's token budget "
    "(repeats reshuffled, subsets seeded), interleave and pack end to end into rows of "
    "seq_len; write train/, val/, val_by_dataset/<d>/ Arrow shards, docs.arrow, manifest.json.",
    arguments=_mix_args,
    run=_mix,
)


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mix", type=Path, required=True, help="mix folder (manifest.json)")
    p.add_argument("--out", type=Path, required=True, help="output record (verified.json)")
    p.add_argument("--threads", type=int, default=1, help="files hashed at once")


def _verify(args: argparse.Namespace) -> None:
    from .verify import verify_mix

    verify_mix(args.mix, args.out, threads=args.threads)


VERIFY = Stage(
    help="check every mixed shard against the sha256 in the mix manifest",
    description="Hash every shard the mix manifest lists (in parallel, streamed) and fail "
    "naming each missing or corrupted one; write OUT (sizes and mtimes) so that training "
    "only stats the shards instead of hashing them again.",
    arguments=_verify_args,
    run=_verify,
)
