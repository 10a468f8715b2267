"""The dress rehearsal past the data: pretrain-zh's own model and train settings (GPT-2 124M's
12 × 768 shape, context 1024) for a few steps on CPU, on the mix the rehearsal builds, through a
checkpoint, a SIGKILL and a resume, so that the checkpoint's size, the training process's memory
and the resume are measured, not assumed. The embedding has the rehearsal tokenizer's vocab:
32,768 on the 5.6 GB rehearsal (benchmarks/rehearsal.py), fewer on a small `--build` mirror.

    python benchmarks/rehearsal_train.py --work /tmp/rehearsal --build   # builds it first
    python benchmarks/rehearsal_train.py --work /tmp/rehearsal           # an already built one

`--build` does what tests/e2e/test_rehearsal.py does: a `--mb 0.2` Hub mirror on loopback
(benchmarks/hub_mirror.py), then `snakemake` on pretrain-zh.yaml + benchmarks/rehearsal-ci.yaml
with only HF_ENDPOINT pointing at it, then `gpt2zh plan` on the built mix's counts.

Training is `gpt2zh train --config pretrain-zh.yaml --config <overrides>`, with the overrides
written to OUT/cpu-overrides.yaml and printed. They change only what a CPU cannot do:

    accelerate_config cpu.yaml, gpus 0   no GPU here
    precision fp32, compile false        bf16 autocast and torch.compile are the GPU path
    batch_size, grad_accum               16 × 32 rows of 1024 tokens a step is ~0.5M tokens:
                                         hours a step on 2 cores; default 1 × 1 (one row)
    checkpoint_every, log_every          observation only (not in the run's fingerprint): a
                                         checkpoint every 2 steps, a loss record every step

Everything else (12 layers × 768 × 12 heads, vocab from the tokenizer, seq_len 1024, lr, warmup,
cosine over max_steps 19073, AdamW, clipping, seed, eval_batches) is pretrain-zh's. The runs stop
with `--until-step`, so the schedule is the real one. Three processes: a straight run to step N;
a run SIGKILLed as soon as it logs a step after its first checkpoint (so the step after the
checkpoint is lost and redone); its rerun, which resumes. The resumed run's loss curve and its
final checkpoint (weights and AdamW state) must equal the straight run's exactly, the standard of
tests/unit/train/test_train.py. Printed: s/step, steps/s and tokens/s, checkpoint size on disk
(model and optimizer), the peak RSS of each training process (wait4's ru_maxrss) and the resume
time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def build_rehearsal(work: Path, mb: float) -> None:
    """Build pretrain-zh's data target against a loopback Hub mirror, as tests/e2e/test_rehearsal.py
    does, into `work` (the mirror in `work/hub`)."""
    from hub_mirror import HubMirror, build

    build(work / "hub", mb=mb)
    config = work / "pretrain-zh.yaml"  # a copy, so that its lock file is written here
    shutil.copy(REPO / "workflow" / "configs" / "pretrain-zh.yaml", config)
    overlay = REPO / "benchmarks" / "rehearsal-ci.yaml"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work)]
    cmd += ["--workflow-profile", "none", "--cores", "2", "--configfile", str(config), str(overlay)]
    with HubMirror(work / "hub") as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(work / "hf-home")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        env.pop("HF_TOKEN", None)
        subprocess.run(cmd, check=True, env=env, cwd=work)


def cpu_overrides(batch_size: int, grad_accum: int, checkpoint_every: int) -> dict[str, Any]:
    """The only settings changed from pretrain-zh (the module docstring says why each)."""
    return {
        "train": {
            "accelerate_config": "cpu.yaml",
            "gpus": 0,
            "precision": "fp32",
            "compile": False,
            "batch_size": batch_size,
            "grad_accum": grad_accum,
            "checkpoint_every": checkpoint_every,
            "log_every": 1,
        }
    }


class Trainer:
    """`gpt2zh train` on the rehearsal's mix with pretrain-zh.yaml and the overrides."""

    def __init__(self, work: Path, overrides: Path, threads: int, until: int) -> None:
        self.cmd = [sys.executable, "-m", "gpt2zh.cli", "train"]
        self.cmd += ["--config", str(work / "pretrain-zh.yaml"), "--config", str(overrides)]
        self.cmd += ["--mix", str(work / "results" / "mix")]
        self.cmd += ["--tokenizer", str(work / "results" / "tokenizer")]
        self.cmd += ["--threads", str(threads), "--until-step", str(until)]

    def run(self, out: Path, start: str, kill_after: int | None = None) -> dict[str, Any]:
        """Run to the end (or SIGKILL it once it logs step `kill_after`): the process's peak RSS
        (ru_maxrss of wait4), its wall time, the seconds until its start record (`start`:
        scratch or resumed; written once the model, data and any checkpoint are loaded) and
        until its first step after that."""
        out.mkdir(parents=True, exist_ok=True)
        err = open(out.parent / f"{out.name}.stderr.log", "ab")  # noqa: SIM115 (closed below)
        t0 = time.perf_counter()
        proc = subprocess.Popen([*self.cmd, "--out", str(out)], stderr=err)
        times: dict[str, float] = {}
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            since = this_start(records(out), start)
            if since is not None:
                times.setdefault("ready_s", time.perf_counter() - t0)
                steps = [r["step"] for r in since if "train.loss" in r]
                if steps:
                    times.setdefault("first_step_s", time.perf_counter() - t0)
                if kill_after in steps:
                    proc.send_signal(signal.SIGKILL)
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
            time.sleep(0.2)
        err.close()
        return {
            "rc": os.waitstatus_to_exitcode(status),
            "wall_s": time.perf_counter() - t0,
            **times,
            "peak_rss_mb": usage.ru_maxrss / 1024,
        }


def this_start(recs: list[dict[str, Any]], start: str) -> list[dict[str, Any]] | None:
    """The records after the last start record if it is a `start` one (scratch or resumed)."""
    starts = [i for i, r in enumerate(recs) if "run.start" in r]
    if not starts or recs[starts[-1]]["run.start"] != start:
        return None
    return recs[starts[-1] + 1 :]


def records(out: Path) -> list[dict[str, Any]]:
    path = out / "log.jsonl"
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.endswith("}")]


def curve(out: Path) -> list[tuple[int, str, float]]:
    """(step, train.loss | val.loss, value) in order, as tests/helpers/train_fixtures.curve."""
    return [
        (r["step"], k, r[k]) for r in records(out) for k in ("train.loss", "val.loss") if k in r
    ]


def same_checkpoint(a: Path, b: Path) -> bool:
    """Bit-equal weights and AdamW state."""
    import torch
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    if wa.keys() != wb.keys() or not all(torch.equal(wa[k], wb[k]) for k in wa):
        return False
    oa = torch.load(a / "optimizer.pt", map_location="cpu", weights_only=True)
    ob = torch.load(b / "optimizer.pt", map_location="cpu", weights_only=True)
    return tensors_equal(oa, ob)


def tensors_equal(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, dict):
        return a.keys() == b.keys() and all(tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(tensors_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b


def parameter_count(weights: Path) -> int:
    """Parameters in a safetensors file (tied weights are stored once)."""
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 (safe_open is not iterable)


def checkpoint_sizes(ckpt: Path) -> dict[str, float]:
    """MB on disk of each file of a checkpoint and in all."""
    sizes = {p.name: p.stat().st_blocks * 512 / 1e6 for p in sorted(ckpt.iterdir())}
    return {**sizes, "total": sum(sizes.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="rehearsal workdir")
    ap.add_argument("--build", action="store_true", help="build the rehearsal in --work first")
    ap.add_argument("--mb", type=float, default=0.2, help="mirror size for --build")
    ap.add_argument("--out", type=Path, help="where the runs go (default WORK/train-rehearsal)")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--checkpoint-every", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = args.work.resolve()
    if args.build:
        build_rehearsal(work, args.mb)
    out = (args.out or work / "train-rehearsal").resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    manifest = work / "results" / "mix" / "manifest.json"
    plan_cmd = [sys.executable, "-m", "gpt2zh.cli", "plan", "--config"]
    plan_cmd += [str(work / "pretrain-zh.yaml"), "--mix", str(manifest)]
    plan = subprocess.run(plan_cmd, capture_output=True, text=True, check=True).stdout
    print("== gpt2zh plan on the rehearsal's counts\n" + plan)

    overrides = cpu_overrides(args.batch_size, args.grad_accum, args.checkpoint_every)
    overrides_path = out / "cpu-overrides.yaml"
    overrides_path.write_text(yaml.safe_dump(overrides, sort_keys=False), "utf-8")
    print("== overrides of pretrain-zh.yaml\n" + overrides_path.read_text("utf-8"))
    mix = json.loads(manifest.read_text("utf-8"))
    print(f"mix: train {mix['train']['tokens']} tokens, val {mix['val']['tokens']} tokens")

    trainer = Trainer(work, overrides_path, args.threads, args.steps)
    print("$ " + " ".join([*trainer.cmd, "--out", "OUT"]), flush=True)
    straight = trainer.run(out / "straight", "scratch")
    kill_at = args.checkpoint_every + 1  # the first step after the first checkpoint
    killed = trainer.run(out / "resumed", "scratch", kill_after=kill_at)
    ckpts = sorted(p.name for p in (out / "resumed" / "checkpoints").glob("step-*"))
    resumed = trainer.run(out / "resumed", "resumed")

    a, b = curve(out / "straight"), curve(out / "resumed")
    last = f"step-{args.steps:08d}"
    same = same_checkpoint(
        out / "straight" / "checkpoints" / last, out / "resumed" / "checkpoints" / last
    )
    recs = [r for r in records(out / "straight") if "train.tokens_per_s" in r]
    tokens_per_step = recs[0]["tokens"] // recs[0]["step"]
    rates = [r["train.tokens_per_s"] for r in recs if r["step"] > 1]  # step 1 warms up
    rates += [
        r["train.tokens_per_s"] for r in records(out / "resumed") if "train.tokens_per_s" in r
    ]
    tok_s = statistics.median(rates)
    params = parameter_count(out / "straight" / "checkpoints" / last / "model.safetensors")
    start_rec = next(r for r in records(out / "resumed") if r.get("run.start") == "resumed")
    sizes = checkpoint_sizes(out / "straight" / "checkpoints" / last)
    result = {
        "command": trainer.cmd,
        "overrides": overrides,
        "tokens_per_step": tokens_per_step,
        "parameters": params,
        "tokens_per_s_median": tok_s,
        "tokens_per_s_range": [min(rates), max(rates)],
        "s_per_step": tokens_per_step / tok_s,
        "steps_per_s": tok_s / tokens_per_step,
        "checkpoint_mb": sizes,
        "runs": {"straight": straight, "killed": killed, "resumed": resumed},
        "killed_after_step": kill_at,
        "checkpoints_when_killed": ckpts,
        "resumed_from_step": start_rec["step"],
        "curve_equal": a == b,
        "final_checkpoint_equal": same,
        "curve": a,
    }
    (out / "result.json").write_text(json.dumps(result, indent=1), "utf-8")
    print(json.dumps(result, indent=1))
    parts = ", ".join(f"{k} {v:.0f}" for k, v in sizes.items() if k != "total")
    print(
        f"\npretrain-zh's GPT-2 (12 × 768, {params / 1e6:.2f}M parameters at this tokenizer's"
        f" vocab), context 1024, {tokens_per_step} tokens/step, fp32, {args.threads} threads:"
        f" median {tok_s:.0f} tokens/s ({min(rates):.0f}–{max(rates):.0f}),"
        f" {tokens_per_step / tok_s:.1f} s/step;"
        f" checkpoint {sizes['total']:.0f} MB ({parts});"
        f" peak RSS {straight['peak_rss_mb']:.0f} MB straight,"
        f" {resumed['peak_rss_mb']:.0f} MB resumed;"
        f" ready to train {resumed['ready_s']:.1f} s after start when resuming,"
        f" {straight['ready_s']:.1f} s from scratch;"
        f" killed after step {kill_at} with {ckpts}, resumed from step {start_rec['step']};"
        f" curve equal {a == b}, final weights+AdamW equal {same}"
    )
    if not (a == b and same and straight["rc"] == resumed["rc"] == 0 and killed["rc"] == -9):
        sys.exit("resume did not reproduce the straight run")


if __name__ == "__main__":
    main()
