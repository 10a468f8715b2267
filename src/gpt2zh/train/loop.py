"""The training loop: nanoGPT's shape on `accelerate.Accelerator`, resumable to the step.

    for step in start+1 .. max_steps:
        grad_accum micro-batches → forward (bf16 autocast on GPU, fp32 on CPU) → backward
        clip → AdamW (fused on CUDA), or Muon + AdamW → LR schedule (warmup + cosine or WSD)
        log (loss, lr, grad norm, tokens, tokens/s, MFU) · val loss · checkpoint
A non-finite loss stops the run before anything is saved; SIGTERM saves and stops; a rerun
resumes from the newest valid checkpoint with the same batches, RNG and schedule.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, get_int_from_env, set_seed
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

from gpt2zh.errors import UserError
from gpt2zh.train.checkpoint import (
    CheckpointError,
    Checkpoints,
    full_state,
    list_checkpoints,
    run_fingerprint,
    share_like_umask,
)
from gpt2zh.train.data import eval_batches, open_data
from gpt2zh.train.init import initial_model
from gpt2zh.train.log import RunLog
from gpt2zh.train.loss import next_token_loss
from gpt2zh.train.mfu import device_name, mfu, model_flops_per_token, peak_flops
from gpt2zh.train.optim import build_optimizer
from gpt2zh.train.trackers import accelerator_kwargs, with_trackers

log = logging.getLogger(__name__)


#: Most steps between two host syncs (loss check, SIGTERM agreement) when log_every is larger:
#: a SIGTERM is acted on within this many steps, and between syncs the GPU never waits for
#: the host.
SYNC_EVERY_MAX = 20


class TrainingStopped(UserError):
    """The run stopped early (non-finite loss, SIGTERM); the message says what to do."""


def lr_at(it: int, t: Mapping[str, Any], max_steps: int) -> float:
    """Learning rate of optimizer step `it` (0-based): linear warmup, then cosine decay to
    min_lr, or WSD (warmup, stable, linear decay over the last `decay_fraction` of steps)."""
    lr, min_lr, warmup = float(t["lr"]), float(t["min_lr"]), int(t["warmup_steps"])
    if it < warmup:
        return lr * (it + 1) / warmup
    if t["schedule"] == "wsd":
        decay = max(1, round(max_steps * float(t["decay_fraction"])))
        left = max_steps - it
        return lr if left > decay else min_lr + (lr - min_lr) * left / decay
    progress = min(1.0, (it - warmup) / max(1, max_steps - warmup))
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Sequence[torch.Tensor],
    accelerator: Accelerator,
    grad_clip: float,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimizer step over `len(batches)` micro-batches; returns (mean loss, grad norm)."""
    model.train()
    total = torch.zeros((), device=accelerator.device)
    for i, x in enumerate(batches):
        x = x.to(accelerator.device, non_blocking=True)
        last = i == len(batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            # no KV cache: training never reuses it, and building one costs a concat per layer
            logits = model(input_ids=x, use_cache=False).logits
            loss = next_token_loss(logits, x) / len(batches)
            accelerator.backward(loss)
        total += loss.detach()
    norm = accelerator.clip_grad_norm_(model.parameters(), grad_clip) if grad_clip else None
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total, norm


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Sequence[torch.Tensor], acc: Accelerator) -> float:
    model.eval()
    losses = []
    for x in batches:
        x = x.to(acc.device)
        losses.append(next_token_loss(model(input_ids=x, use_cache=False).logits, x))
    losses = torch.stack(losses)
    return float(acc.reduce(losses.mean(), reduction="mean"))


def check_world(acc: Accelerator) -> None:
    """A launcher that started N processes which each see a world of one (a MULTI_GPU config
    on a machine without CUDA) would train N independent models into one folder: refuse."""
    # the variables accelerate itself reads: torchrun's, then MPI launchers'
    launched = get_int_from_env(
        ["WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"], 1
    )
    if launched > 1 and launched != acc.num_processes:
        raise UserError(
            f"the launcher started {launched} processes but accelerate runs each as its own "
            f"{acc.distributed_type.value} job (world of {acc.num_processes}): the accelerate "
            "config asks for devices this machine does not have (use cpu.yaml without GPUs)"
        )


def _precision(requested: str) -> str:
    if requested == "auto":
        cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return "bf16" if cuda_bf16 else "no"
    return {"fp32": "no"}.get(requested, requested)


def train(
    spec: Mapping[str, Any],
    mix_dir: Path,
    tokenizer_dir: Path,
    out_dir: Path,
    *,
    threads: int | None = None,
    until_step: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train `spec` (`{"model": ..., "train": ...}` from the config) and write the model to
    `out_dir/model`. `until_step` pauses (checkpoint, return) after that step; `on_step` is
    called after every step (tests send signals from it)."""
    t = spec["train"]
    out_dir = Path(out_dir)
    hf_logging.disable_progress_bar()  # "Writing model shards" bars: \r-joined in the job log
    if threads:
        torch.set_num_threads(threads)
    acc = Accelerator(mixed_precision=_precision(t["precision"]), **accelerator_kwargs(t, out_dir))
    check_world(acc)
    if t["tf32"]:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    set_seed(int(t["seed"]))  # the same initial weights on every process and every rerun

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    data = open_data(
        Path(mix_dir),
        vocab_size=len(tokenizer),
        eos_id=tokenizer.eos_token_id,
        batch_size=int(t["batch_size"]),
        seed=int(t["seed"]),
        rank=acc.process_index,
        world_size=acc.num_processes,
        check=acc.is_main_process,  # one process reads every byte; the others trust it
    )
    model = initial_model(
        spec, tokenizer, seq_len=data.seq_len, eos_id=data.eos_id, device=acc.device
    )
    # dropout streams differ per process (seed + rank, as nanoGPT does): with one seed every
    # process would drop the same units of its rows, a correlation no single process has
    set_seed(int(t["seed"]), device_specific=True)
    flops_token = model_flops_per_token(model, data.seq_len)
    accum = int(t["grad_accum"])
    tokens_per_step = data.train.global_batch * accum * data.seq_len
    if not (t["max_steps"] or t["tokens"]):
        raise UserError("train: set max_steps or tokens (both are null)")
    max_steps = int(t["max_steps"] or math.ceil(int(t["tokens"]) / tokens_per_step))

    sharded = acc.distributed_type == DistributedType.FSDP
    optimizer = build_optimizer(model, t, acc.device, sharded=sharded)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_at(it, t, max_steps) / float(t["lr"])
    )
    model, optimizer = acc.prepare(model, optimizer)  # the scheduler stays ours: one step/step
    if t["compile"]:
        model = torch.compile(model)

    fingerprint = run_fingerprint(spec, Path(mix_dir), Path(tokenizer_dir), acc.num_processes)
    ckpts = Checkpoints(out_dir / "checkpoints", acc, int(t["keep_checkpoints"]), fingerprint)
    step, tokens, elapsed = 0, 0, 0.0
    if (latest := ckpts.latest_valid()) is not None:
        state = ckpts.load(latest, model, optimizer)
        step, tokens, elapsed = state["step"], state["tokens"], state["elapsed_s"]
        scheduler.load_state_dict(state["scheduler"])
        try:
            data.train.load_state_dict(state["reader"])
        except ValueError as e:
            raise CheckpointError(f"{latest}: cannot resume with this config: {e}") from e
        log.info("resumed from %s (step %d, %d tokens)", latest, step, tokens)

    runlog = RunLog(
        out_dir,
        start_step=step,
        max_steps=max_steps,
        enabled=acc.is_main_process,
        tensorboard=bool(t["tensorboard"]),
    )
    runlog = with_trackers(runlog, acc, spec, out_dir.name)  # W&B etc. (train.trackers)
    # one record per (re)start: the report says on what, and from where, each part ran
    runlog.record(
        step,
        **{
            "run.start": "resumed" if step else "scratch",
            "run.processes": acc.num_processes,
            "run.device": device_name(acc.device),
            "run.precision": {"no": "fp32"}.get(acc.mixed_precision, acc.mixed_precision),
            "run.rows_per_step": data.train.global_batch * accum,
            "run.tokens_per_step": tokens_per_step,
            "run.max_steps": max_steps,
        },
    )
    # eval_batches × the rows of an optimizer step, the first of the val split: the same rows
    # however a step is split over processes and micro-batches, so val curves stay comparable
    val = eval_batches(data.val, int(t["eval_batches"]) * accum)
    peak = peak_flops(acc.device)

    def save() -> Path:
        state = {
            "step": step,
            "tokens": tokens,
            "elapsed_s": elapsed,
            "scheduler": scheduler.state_dict(),
            "reader": data.train.state_dict(),
            "fingerprint": fingerprint,
        }
        return ckpts.save(step, model, optimizer, state)

    pin = acc.device.type == "cuda"
    stop: list[int] = []
    old_handler = signal.signal(signal.SIGTERM, lambda signum, _: stop.append(signum))
    try:
        if step == 0:
            runlog.record(0, **{"val.loss": evaluate(model, val, acc), "tokens": 0})
            runlog.progress(0)
        window_tokens, window_s, pending = 0, 0.0, []
        sync_every = max(1, min(int(t["log_every"]), SYNC_EVERY_MAX))
        t_last = time.perf_counter()
        while step < max_steps:
            lr = scheduler.get_last_lr()[0]
            batches = [data.train.next_batch() for _ in range(accum)]
            if pin:  # from pinned memory the copy to the GPU runs async (non_blocking)
                batches = [b.pin_memory() for b in batches]
            loss, norm = train_step(model, optimizer, batches, acc, float(t["grad_clip"]))
            scheduler.step()
            step, tokens = step + 1, tokens + tokens_per_step
            pending.append(loss.float())
            window_tokens += tokens_per_step
            logs = step % int(t["log_every"]) == 0 or step == 1 or step == max_steps
            evals = step % int(t["eval_every"]) == 0 or step == max_steps
            saves = step % int(t["checkpoint_every"]) == 0 or step == until_step
            if not (logs or evals or saves or step % sync_every == 0):
                if on_step is not None:
                    on_step(step)
                continue  # no host sync: the GPU runs ahead while the next batch is queued
            # one reduce (it syncs: timing is honest) carries the losses since the last one and
            # whether any process got SIGTERM, so all stop after the same step: a process
            # saving while another trains on would leave both waiting in different collectives
            signalled = torch.tensor([float(bool(stop))], device=loss.device)
            synced = acc.reduce(torch.cat([torch.stack(pending), signalled]), reduction="sum")
            values = (synced[:-1] / acc.num_processes).tolist()
            stopping, loss_value, first = bool(synced[-1] > 0), values[-1], step - len(values) + 1
            pending = []
            bad = next((first + i for i, v in enumerate(values) if not math.isfinite(v)), None)
            if bad is not None:
                last = list_checkpoints(ckpts.root)
                good = last[0][1].name if last else "none (none saved yet)"
                raise TrainingStopped(
                    f"loss is {values[bad - first]} at step {bad}: stopped without saving; the "
                    f"last good checkpoint is {good} (lower train.lr, or check the data)"
                )
            now = time.perf_counter()
            elapsed, window_s = elapsed + now - t_last, window_s + now - t_last
            if logs:
                tok_s = window_tokens / window_s
                runlog.record(
                    step,
                    **{
                        "train.loss": loss_value,
                        "train.lr": lr,
                        "train.grad_norm": float(norm) if norm is not None else None,
                        "tokens": tokens,
                        "train.tokens_per_s": tok_s,
                        "train.mfu": mfu(tok_s / acc.num_processes, flops_token, peak),
                        "elapsed_s": elapsed,
                    },
                )
                window_tokens, window_s = 0, 0.0
            if evals:
                runlog.record(step, **{"val.loss": evaluate(model, val, acc), "tokens": tokens})
            if logs or evals:
                runlog.progress(step)
            if saves or stopping:
                save()
            if stopping:
                by = f"signal {stop[0]}" if stop else "a signal to another process"
                raise TrainingStopped(
                    f"stopped by {by} after step {step}; checkpoint saved, rerun to resume"
                )
            if step == until_step:
                log.info("paused after step %d (checkpoint saved); rerun to resume", step)
                return {"step": step, "paused": True}
            if on_step is not None:
                on_step(step)
            t_last = time.perf_counter()  # evaluation and checkpoints are not training time
    finally:
        signal.signal(signal.SIGTERM, old_handler)
        runlog.close()

    summary = {"step": step, "tokens": tokens, "elapsed_s": elapsed, "flops_per_token": flops_token}
    # every process generates (under FSDP each forward gathers the weights from all of them)
    summary["samples"] = samples(model, tokenizer, t, acc)
    weights, _ = full_state(model, acc.unwrap_model(model))
    if acc.is_main_process:
        acc.unwrap_model(model).save_pretrained(out_dir / "model", state_dict=weights)
        tokenizer.save_pretrained(out_dir / "model")
        share_like_umask((out_dir / "model").iterdir())
        (out_dir / "summary.json").write_text(
            json.dumps(summary, ensure_ascii=False, indent=1), "utf-8"
        )
    acc.wait_for_everyone()
    acc.end_training()
    return summary


@torch.no_grad()
def samples(
    model: torch.nn.Module, tokenizer: Any, t: Mapping[str, Any], acc: Accelerator
) -> list[str]:
    """A few seeded samples from the final model, for the log and the summary."""
    plain = acc.unwrap_model(model)
    plain.eval()
    out = []
    for i, prompt in enumerate(t["sample_prompts"]):
        torch.manual_seed(int(t["seed"]) + i)
        ids = tokenizer(prompt, return_tensors="pt").input_ids.to(acc.device)
        gen = plain.generate(
            ids,
            max_new_tokens=int(t["sample_tokens"]),
            do_sample=True,
            top_k=50,
            temperature=0.8,
            pad_token_id=tokenizer.eos_token_id,
        )
        out.append(tokenizer.decode(gen[0], skip_special_tokens=False))
        if acc.is_main_process:
            log.info("sample %d: %s", i, out[-1].replace("\n", " / "))
    return out
