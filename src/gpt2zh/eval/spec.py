"""The eval stage's contract: its spec (the run, the `eval:` block, the training seed for the
untrained baseline and the attention kernel), its arguments, its run."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpt2zh import layout
from gpt2zh.contract import Stage, add_spec_args, read_spec

log = logging.getLogger("gpt2zh")


def eval_spec(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run": cfg["run"],
        "eval": cfg["eval"],
        "seed": cfg["train"]["seed"],
        "attention": cfg["model"]["attention"],
    }


def _arguments(p: argparse.ArgumentParser) -> None:
    add_spec_args(p)
    p.add_argument(
        "--model",
        type=Path,
        help=f"saved model folder (default: {layout.train_model('<run>')})",
    )
    p.add_argument(
        "--mix",
        type=Path,
        default=Path(layout.MIX_DIR),
        help=f"mix folder (default: {layout.MIX_DIR})",
    )
    p.add_argument("--tokenizer", type=Path, help="tokenizer folder (default: the model's)")
    p.add_argument("--out", type=Path, help=f"output folder (default: {layout.eval_dir('<run>')})")
    p.add_argument("--threads", type=int, help="CPU threads for torch")


def _run(args: argparse.Namespace) -> None:
    from .run import evaluate

    spec = read_spec(args, eval_spec)
    r = evaluate(
        spec,
        args.model or Path(layout.train_model(spec["run"])),
        args.mix,
        args.out or Path(layout.eval_dir(spec["run"])),
        tokenizer_dir=args.tokenizer,
        threads=args.threads,
    )
    if "all" in r["splits"]:
        s = r["splits"]["all"]
        log.info(
            "eval: bits/char %.3f (untrained %.3f, unigram %.3f), lm_eval %s",
            s["model"]["bits_per_char"],
            s["untrained"]["bits_per_char"],
            s["unigram"]["bits_per_char"],
            r["lm_eval"] and r["lm_eval"]["acc"],
        )


EVAL = Stage(
    help="evaluate the trained model: bits/char vs baselines, samples, lm-eval cloze",
    description="Validation loss, perplexity and bits per character / per UTF-8 byte on the "
    "combined val set and per dataset, beside the untrained model (training seed) and a "
    "character unigram fitted on the train split; seeded samples for eval.prompts with "
    "distinct-1/2 and repeat ratio, and the same on validation text; a next-line cloze "
    "task for lm-evaluation-harness (run when lm_eval is installed). Writes OUT/eval.json, "
    "OUT/eval.md and OUT/lm_eval/.",
    arguments=_arguments,
    run=_run,
)
