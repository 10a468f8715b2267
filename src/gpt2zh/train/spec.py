"""The train stage's contract: its spec (the `model:` and `train:` blocks), `train` (run under
`accelerate launch`), `launch` (builds that command for the job) and `plan` (scaling laws)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpt2zh.config import load_config
from gpt2zh.contract import Stage, add_spec_args, read_spec

log = logging.getLogger("gpt2zh")


def train_spec(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {"model": cfg["model"], "train": cfg["train"]}


def _train_args(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument("--mix", type=Path, required=True, help="mix folder (manifest.json, train/)")
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer folder")
    p.add_argument("--out", type=Path, required=True, help="run folder (results/train/<run>)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--until-step", type=int, help="checkpoint and stop after this step")


def _train(args: argparse.Namespace) -> None:
    from .loop import train

    summary = train(
        read_spec(args, train_spec),
        args.mix,
        args.tokenizer,
        args.out,
        threads=args.threads,
        until_step=args.until_step,
    )
    log.info("train: %s", {k: v for k, v in summary.items() if k != "samples"})


TRAIN = Stage(
    help="train GPT-2 on the mixed shards (run it under `accelerate launch`)",
    description="Train GPT-2 on the packed mix with a plain loop on accelerate.Accelerator: "
    "checkpoints (exact resume) under OUT/checkpoints, log.jsonl and TensorBoard under OUT, "
    "the final model + tokenizer (save_pretrained) in OUT/model. A rerun resumes from the "
    "newest valid checkpoint; SIGTERM saves one and stops. Several processes: "
    "`accelerate launch --config_file workflow/accelerate/X.yaml -m gpt2zh.train ARGS`.",
    arguments=_train_args,
    run=_train,
)


def _launch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-file", type=Path, required=True, help="accelerate config (YAML)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs of the job on one node (0: CPU)")
    p.add_argument("--gres", default="", help="SLURM gres per node for several nodes (gpu:4)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per process (CPU only)")
    p.add_argument("--port", type=int, help="rendezvous port (default: 29500 + job id %% 1000)")
    p.add_argument("--print", action="store_true", help="print the command instead of running")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then gpt2zh train's args")


def _launch(args: argparse.Namespace) -> None:
    import os
    import shlex

    from .launch import Request, launch_command

    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    req = Request(args.config_file, args.gpus, args.gres, args.threads, args.port)
    cmd = launch_command(req, train_args)
    if args.print:
        sys.stdout.write(shlex.join(cmd) + "\n")
        return
    log.info("launch: %s", shlex.join(cmd))
    os.execvp(cmd[0], cmd)


LAUNCH = Stage(
    help="run `accelerate launch -m gpt2zh.train ARGS` for this job (CPU, GPUs, SLURM nodes)",
    description="Build the accelerate launch command from the job's GPUs and threads and, "
    "inside a multi-node SLURM step (one task per node), from SLURM_NNODES, SLURM_NODEID "
    "and the first host of the step's node list (c10d rendezvous), then exec it. "
    "Example: gpt2zh launch --config-file workflow/accelerate/multi_gpu.yaml --gpus 4 "
    "--print -- --config config.yaml --mix results/mix --tokenizer results/tokenizer "
    "--out results/train/demo",
    arguments=_launch_args,
    run=_launch,
)


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", action="append", type=Path, required=True, metavar="YAML", help="config"
    )
    p.add_argument("--mix", type=Path, help="mix manifest.json (the corpus's token count)")
    p.add_argument("--compute", type=float, help="compute budget in FLOPs (default: config's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _plan(args: argparse.Namespace) -> None:
    from .plan import load_manifest, plan, render

    p = plan(load_config(args.config), load_manifest(args.mix), compute=args.compute)
    sys.stdout.write(json.dumps(p, indent=1) + "\n" if args.json else render(p))


PLAN = Stage(
    help="scaling-law estimate: model size, tokens, batch, lr (DeepSeek LLM)",
    description="DeepSeek LLM scaling laws: M = 72·n_layer·d² + 12·n_layer·d·seq "
    "(non-embedding FLOPs/token), C = M·D; optimal M, D, batch (tokens) and lr for the "
    "config's compute (or --compute), against the corpus's token count from the mix "
    "manifest. Flags budgets far (> 3×) from optimal.",
    arguments=_plan_args,
    run=_plan,
)
