"""CPU training throughput: the whole `gpt2zh train` loop against a plain-PyTorch reference.

Both train the config's model (the demo's: 4 layers × 96, context 128, batch 8) on the same
batches — the mix's train split in the loop's order, read by the same reader with the same
seed — with the same thread count, the same optimizer settings and schedule, in one process,
alternating (reference, ours, reference, ours, ...) so that a machine shared with other jobs
slows both alike. The reference is a nanoGPT-style training loop written out in plain PyTorch
(`train_gpu.RefGPT`, AdamW, clipping, a loss `.item()` every `log_every` steps); ours is
`gpt2zh.train.loop.train` itself, timed by its own clock (training steps only, like the
reference: not the step-0 evaluation, the final save or the samples).

Both clocks are the process's CPU time, not wall time: on a machine shared with other jobs,
wall time measures the neighbours (runs of either side varied 2× in wall tokens/s here), CPU
seconds much less. The figures are tokens per CPU-second; the ratio is the median of the
per-pair ratios.

    python benchmarks/train_cpu_bench.py --mix results/mix --tokenizer results/tokenizer
    python benchmarks/train_cpu_bench.py --steps 300 --repeats 3 --threads 1

Prints tokens/s of each run, the medians and the ratio ours / reference (≥ 1.0: ours is as fast).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from transformers import AutoTokenizer

from gpt2zh.config import load_config
from gpt2zh.train import loop
from gpt2zh.train.data import open_data
from gpt2zh.train.loop import lr_at
from gpt2zh.train.model import padded_vocab
from gpt2zh.train.settings import TrainSettings
from train_gpu import RefGPT

REPO = Path(__file__).resolve().parent.parent


def reference(spec: dict[str, Any], mix: Path, tokenizer: Path, threads: int) -> float:
    """Trains the reference for `max_steps` steps; returns tokens/s over the training steps."""
    m, s = spec["model"], TrainSettings.from_spec(spec["train"])
    torch.set_num_threads(threads)
    torch.manual_seed(s.seed)
    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    data = open_data(
        mix,
        vocab_size=len(tok),
        eos_id=tok.eos_token_id,
        batch_size=s.batch_size,
        seed=s.seed,
        rank=0,
        world_size=1,
        check=False,
    )
    vocab = padded_vocab(len(tok), int(m["pad_vocab_multiple"]))
    model = RefGPT(vocab, data.seq_len, int(m["n_layer"]), int(m["n_embd"]), int(m["n_head"]))
    decay = [p for p in model.parameters() if p.dim() >= 2 and p is not model.wte.weight]
    other = [p for p in model.parameters() if p.dim() < 2 or p is model.wte.weight]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": s.weight_decay},
            {"params": other, "weight_decay": 0.0},
        ],
        lr=s.lr,
        betas=(s.beta1, s.beta2),
        eps=s.eps,
    )
    steps, accum, every = s.max_steps, s.grad_accum, s.log_every
    model.train()
    t0 = time.process_time()
    for it in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(it, s, steps)
        for _ in range(accum):
            loss = model(data.train.next_batch()) / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (it + 1) % every == 0 or it + 1 == steps:
            loss.item()  # nanoGPT reads the loss at log steps only
    dt = time.process_time() - t0
    return steps * accum * s.batch_size * data.seq_len / dt


def ours(spec: dict[str, Any], mix: Path, tokenizer: Path, threads: int) -> float:
    """Runs `gpt2zh.train.loop.train` into a temporary folder; tokens/s by its own clock, set
    to CPU time."""
    loop.time = SimpleNamespace(perf_counter=time.process_time)
    try:
        with tempfile.TemporaryDirectory() as out:
            summary = loop.train(spec, mix, tokenizer, Path(out), threads=threads)
    finally:
        loop.time = time
    return summary["tokens"] / summary["elapsed_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", type=Path, default=REPO / "config.yaml")
    p.add_argument("--mix", type=Path, default=Path("results/mix"))
    p.add_argument("--tokenizer", type=Path, default=Path("results/tokenizer"))
    p.add_argument("--steps", type=int, default=100, help="optimizer steps per run")
    p.add_argument("--repeats", type=int, default=5, help="runs of each, alternating")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    cfg = load_config([args.config])
    spec = {"model": dict(cfg["model"]), "train": dict(cfg["train"])}
    spec["train"].update(
        max_steps=args.steps,
        eval_every=10**9,  # the loop evaluates at the last step anyway (not timed)
        checkpoint_every=10**9,
        sample_prompts=spec["train"]["sample_prompts"][:1],
        sample_tokens=1,
    )
    m = spec["model"]
    print(
        f"model {m['n_layer']} × {m['n_embd']}, {m['n_head']} heads; batch "
        f"{spec['train']['batch_size']} × accum {spec['train']['grad_accum']}; {args.steps} steps; "
        f"{args.threads} thread(s); torch {torch.__version__}"
    )
    runs: dict[str, list[float]] = {"reference": [], "gpt2zh": []}
    for r in range(args.repeats):
        for name, fn in (("reference", reference), ("gpt2zh", ours)):
            tok_s = fn(spec, args.mix, args.tokenizer, args.threads)
            runs[name].append(tok_s)
            print(f"run {r + 1} {name:>9}: {tok_s:9,.0f} tokens/CPU-s", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    pairs = [o / r for o, r in zip(runs["gpt2zh"], runs["reference"], strict=True)]
    ratio = statistics.median(pairs)
    print(f"median reference {med['reference']:,.0f} tokens/s, gpt2zh {med['gpt2zh']:,.0f}")
    print(
        f"ratio gpt2zh / reference: {ratio:.3f} (per pair: {', '.join(f'{x:.3f}' for x in pairs)})"
    )
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": med, "ratio": ratio}, indent=1))


if __name__ == "__main__":
    main()
