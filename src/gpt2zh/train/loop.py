"""The training loop: nanoGPT's shape on `accelerate.Accelerator`, resumable to the step.

`train` = `setup` (settings, accelerator, data, model, optimizer, the newest checkpoint, the
log) → `fit` (the loop) → `finish` (samples, the model, summary.json), as litgpt's pretrain
does, so the loop body is all `fit` holds:

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
from gpt2zh.train.data import Data, eval_batches, open_data
from gpt2zh.train.init import initial_model
from gpt2zh.train.log import RunLog
from gpt2zh.train.loss import next_token_loss
from gpt2zh.train.mfu import device_name, mfu, model_flops_per_token, peak_flops
from gpt2zh.train.optim import build_optimizer
from gpt2zh.train.settings import TrainSettings
from gpt2zh.train.trackers import accelerator_kwargs, with_trackers

log = logging.getLogger(__name__)


#: Most steps between two host syncs (loss check, SIGTERM agreement) when log_every is larger:
#: a SIGTERM is acted on within this many steps, and between syncs the GPU never waits for
#: the host.
SYNC_EVERY_MAX = 20


class TrainingStopped(UserError):
    """The run stopped early (non-finite loss, SIGTERM); the message says what to do."""


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
    run = setup(spec, Path(mix_dir), Path(tokenizer_dir), Path(out_dir), threads=threads)
    try:
        paused = fit(run, until_step=until_step, on_step=on_step)
    finally:
        run.log.close()
    if paused:
        return {"step": run.step, "paused": True}
    return finish(run)


@dataclass(eq=False)
class Run:
    """What `setup` builds for `fit` and `finish`; `step`, `tokens` and `elapsed_s` move on."""

    settings: TrainSettings
    acc: Accelerator
    tokenizer: Any
    data: Data
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    ckpts: Checkpoints
    log: Any  # RunLog, or TrackedLog around it
    val: list[torch.Tensor]  # the validation batches, the same at every evaluation
    out_dir: Path
    max_steps: int
    tokens_per_step: int
    flops_per_token: float
    peak_flops: float | None
    step: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0  # training time: not evaluation, checkpoints or restarts

    def save(self) -> Path:
        """A checkpoint of this step: weights, optimizer, and what resuming needs to go on."""
        state = {
            "step": self.step,
            "tokens": self.tokens,
            "elapsed_s": self.elapsed_s,
            "scheduler": self.scheduler.state_dict(),
            "reader": self.data.train.state_dict(),
            "fingerprint": self.ckpts.fingerprint,
        }
        return self.ckpts.save(self.step, self.model, self.optimizer, state)


# --- setup ------------------------------------------------------------------------------------


def setup(
    spec: Mapping[str, Any],
    mix_dir: Path,
    tokenizer_dir: Path,
    out_dir: Path,
    *,
    threads: int | None = None,
) -> Run:
    """Everything before the first step, in the order that makes runs reproducible: the seed
    before the weights, the per-process seed after them, the checkpoint (RNG included) last."""
    s = TrainSettings.from_spec(spec["train"])
    hf_logging.disable_progress_bar()  # "Writing model shards" bars: \r-joined in the job log
    if threads:
        torch.set_num_threads(threads)
    acc = Accelerator(mixed_precision=_precision(s.precision), **accelerator_kwargs(s, out_dir))
    check_world(acc)
    if s.tf32:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    set_seed(s.seed)  # the same initial weights on every process and every rerun

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    data = open_data(
        mix_dir,
        vocab_size=len(tokenizer),
        eos_id=tokenizer.eos_token_id,
        batch_size=s.batch_size,
        seed=s.seed,
        rank=acc.process_index,
        world_size=acc.num_processes,
        check=acc.is_main_process,  # one process reads every byte; the others trust it
    )
    model = initial_model(
        spec["model"],
        s.init_from,
        tokenizer,
        seq_len=data.seq_len,
        eos_id=data.eos_id,
        device=acc.device,
    )
    # dropout streams differ per process (seed + rank, as nanoGPT does): with one seed every
    # process would drop the same units of its rows, a correlation no single process has
    set_seed(s.seed, device_specific=True)
    flops_per_token = model_flops_per_token(model, data.seq_len)
    tokens_per_step = data.train.global_batch * s.grad_accum * data.seq_len
    max_steps = s.steps(tokens_per_step)

    sharded = acc.distributed_type == DistributedType.FSDP
    optimizer = build_optimizer(model, s, acc.device, sharded=sharded)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_at(it, s, max_steps) / s.lr
    )
    model, optimizer = acc.prepare(model, optimizer)  # the scheduler stays ours: one step/step
    if s.compile:
        model = torch.compile(model)

    fingerprint = run_fingerprint(spec, mix_dir, tokenizer_dir, acc.num_processes)
    ckpts = Checkpoints(out_dir / "checkpoints", acc, s.keep_checkpoints, fingerprint)
    step, tokens, elapsed_s = resume(ckpts, model, optimizer, scheduler, data)

    runlog = RunLog(
        out_dir,
        start_step=step,
        max_steps=max_steps,
        enabled=acc.is_main_process,
        tensorboard=s.tensorboard,
    )
    runlog = with_trackers(runlog, acc, s, spec, out_dir.name)  # W&B etc. (train.trackers)
    # one record per (re)start: the report says on what, and from where, each part ran
    runlog.record(
        step,
        **{
            "run.start": "resumed" if step else "scratch",
            "run.processes": acc.num_processes,
            "run.device": device_name(acc.device),
            "run.precision": {"no": "fp32"}.get(acc.mixed_precision, acc.mixed_precision),
            "run.rows_per_step": data.train.global_batch * s.grad_accum,
            "run.tokens_per_step": tokens_per_step,
            "run.max_steps": max_steps,
        },
    )
    return Run(
        settings=s,
        acc=acc,
        tokenizer=tokenizer,
        data=data,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        ckpts=ckpts,
        log=runlog,
        # eval_batches × the rows of an optimizer step, the first of the val split: the same
        # rows however a step is split over processes and micro-batches, so val curves compare
        val=eval_batches(data.val, s.eval_batches * s.grad_accum),
        out_dir=out_dir,
        max_steps=max_steps,
        tokens_per_step=tokens_per_step,
        flops_per_token=flops_per_token,
        peak_flops=peak_flops(acc.device),
        step=step,
        tokens=tokens,
        elapsed_s=elapsed_s,
    )


def resume(
    ckpts: Checkpoints,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    data: Data,
) -> tuple[int, int, float]:
    """Load the newest valid checkpoint, if any (weights, optimizer, RNG, schedule, the
    reader's position); (step, tokens, elapsed_s) to go on from, zeros for a new run."""
    latest = ckpts.latest_valid()
    if latest is None:
        return 0, 0, 0.0
    state = ckpts.load(latest, model, optimizer)
    scheduler.load_state_dict(state["scheduler"])
    try:
        data.train.load_state_dict(state["reader"])
    except ValueError as e:
        raise CheckpointError(f"{latest}: cannot resume with this config: {e}") from e
    log.info("resumed from %s (step %d, %d tokens)", latest, state["step"], state["tokens"])
    return state["step"], state["tokens"], state["elapsed_s"]


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


def lr_at(it: int, s: TrainSettings, max_steps: int) -> float:
    """Learning rate of optimizer step `it` (0-based): linear warmup, then cosine decay to
    min_lr, or WSD (warmup, stable, linear decay over the last `decay_fraction` of steps)."""
    if it < s.warmup_steps:
        return s.lr * (it + 1) / s.warmup_steps
    if s.schedule == "wsd":
        decay = max(1, round(max_steps * s.decay_fraction))
        left = max_steps - it
        return s.lr if left > decay else s.min_lr + (s.lr - s.min_lr) * left / decay
    progress = min(1.0, (it - s.warmup_steps) / max(1, max_steps - s.warmup_steps))
    return s.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (s.lr - s.min_lr)


# --- fit --------------------------------------------------------------------------------------


def fit(
    run: Run,
    *,
    until_step: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> bool:
    """Train from `run.step` to `run.max_steps`; True when it paused after `until_step`.

    The host syncs with the device only at steps that log, evaluate or save, and every
    `SYNC_EVERY_MAX` steps: in between the GPU runs ahead while the next batch is queued."""
    s, acc = run.settings, run.acc
    if run.step == 0:
        run.log.record(0, **{"val.loss": evaluate(run.model, run.val, acc), "tokens": 0})
        run.log.progress(0)
    sync_every = min(s.log_every, SYNC_EVERY_MAX)
    pin = acc.device.type == "cuda"  # from pinned memory the copy to the GPU runs async
    losses: list[torch.Tensor] = []  # since the last sync, still on the device
    window_tokens, window_s = 0, 0.0  # since the last log record: its tokens/s
    with _sigterm_flag() as sigterm:
        t_last = time.perf_counter()
        while run.step < run.max_steps:
            lr = run.scheduler.get_last_lr()[0]
            batches = [run.data.train.next_batch() for _ in range(s.grad_accum)]
            if pin:
                batches = [b.pin_memory() for b in batches]
            loss, norm = train_step(run.model, run.optimizer, batches, acc, s.grad_clip)
            run.scheduler.step()
            run.step, run.tokens = run.step + 1, run.tokens + run.tokens_per_step
            step = run.step
            losses.append(loss.float())
            window_tokens += run.tokens_per_step
            logs = step % s.log_every == 0 or step == 1 or step == run.max_steps
            evals = step % s.eval_every == 0 or step == run.max_steps
            saves = step % s.checkpoint_every == 0 or step == until_step
            if not (logs or evals or saves or step % sync_every == 0):
                if on_step is not None:
                    on_step(step)
                continue  # no host sync

            values, stopping = sync(acc, losses, sigterm)
            check_finite(values, step, run.ckpts.root)
            losses = []
            now = time.perf_counter()
            run.elapsed_s, window_s = run.elapsed_s + now - t_last, window_s + now - t_last
            if logs:
                log_train(run, values[-1], lr, norm, window_tokens / window_s)
                window_tokens, window_s = 0, 0.0
            if evals:
                val_loss = evaluate(run.model, run.val, acc)
                run.log.record(step, **{"val.loss": val_loss, "tokens": run.tokens})
            if logs or evals:
                run.log.progress(step)
            if saves or stopping:
                run.save()
            if stopping:
                by = f"signal {sigterm[0]}" if sigterm else "a signal to another process"
                raise TrainingStopped(
                    f"stopped by {by} after step {step}; checkpoint saved, rerun to resume"
                )
            if step == until_step:
                log.info("paused after step %d (checkpoint saved); rerun to resume", step)
                return True
            if on_step is not None:
                on_step(step)
            t_last = time.perf_counter()  # evaluation and checkpoints are not training time
    return False


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


@contextlib.contextmanager
def _sigterm_flag() -> Iterator[list[int]]:
    """A list that a SIGTERM appends its number to, while the block runs."""
    got: list[int] = []
    old_handler = signal.signal(signal.SIGTERM, lambda signum, _: got.append(signum))
    try:
        yield got
    finally:
        signal.signal(signal.SIGTERM, old_handler)


def sync(
    acc: Accelerator, losses: list[torch.Tensor], sigterm: list[int]
) -> tuple[list[float], bool]:
    """The mean loss of each step since the last sync over all processes, and whether any
    process got SIGTERM. One reduce (it syncs, so timing is honest) carries both, so all
    processes stop after the same step: a process saving while another trains on would leave
    both waiting in different collectives."""
    signalled = torch.tensor([float(bool(sigterm))], device=losses[-1].device)
    synced = acc.reduce(torch.cat([torch.stack(losses), signalled]), reduction="sum")
    return (synced[:-1] / acc.num_processes).tolist(), bool(synced[-1] > 0)


def check_finite(values: list[float], step: int, checkpoints: Path) -> None:
    """Stop, saving nothing, at the first non-finite loss of `values` (the steps up to `step`)."""
    first = step - len(values) + 1
    bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
    if bad is None:
        return
    last = list_checkpoints(checkpoints)
    good = last[0][1].name if last else "none (none saved yet)"
    raise TrainingStopped(
        f"loss is {values[bad]} at step {first + bad}: stopped without saving; the "
        f"last good checkpoint is {good} (lower train.lr, or check the data)"
    )


def log_train(
    run: Run, loss: float, lr: float, norm: torch.Tensor | None, tokens_per_s: float
) -> None:
    """The step's train record: its loss over all processes, the LR it ran with, its grad norm,
    and tokens/s and MFU since the previous record."""
    run.log.record(
        run.step,
        **{
            "train.loss": loss,
            "train.lr": lr,
            "train.grad_norm": float(norm) if norm is not None else None,
            "tokens": run.tokens,
            "train.tokens_per_s": tokens_per_s,
            "train.mfu": mfu(
                tokens_per_s / run.acc.num_processes, run.flops_per_token, run.peak_flops
            ),
            "elapsed_s": run.elapsed_s,
        },
    )


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Sequence[torch.Tensor], acc: Accelerator) -> float:
    model.eval()
    losses = []
    for x in batches:
        x = x.to(acc.device)
        losses.append(next_token_loss(model(input_ids=x, use_cache=False).logits, x))
    losses = torch.stack(losses)
    return float(acc.reduce(losses.mean(), reduction="mean"))


# --- finish -----------------------------------------------------------------------------------


def finish(run: Run) -> dict[str, Any]:
    """Samples, then the final model and tokenizer (`save_pretrained`) and summary.json."""
    acc, model, out_dir = run.acc, run.model, run.out_dir
    summary = {
        "step": run.step,
        "tokens": run.tokens,
        "elapsed_s": run.elapsed_s,
        "flops_per_token": run.flops_per_token,
    }
    # every process generates (under FSDP each forward gathers the weights from all of them)
    summary["samples"] = samples(model, run.tokenizer, run.settings, acc)
    weights, _ = full_state(model, acc.unwrap_model(model))
    if acc.is_main_process:
        acc.unwrap_model(model).save_pretrained(out_dir / "model", state_dict=weights)
        run.tokenizer.save_pretrained(out_dir / "model")
        share_like_umask((out_dir / "model").iterdir())
        (out_dir / "summary.json").write_text(
            json.dumps(summary, ensure_ascii=False, indent=1), "utf-8"
        )
    acc.wait_for_everyone()
    acc.end_training()
    return summary


@torch.no_grad()
def samples(
    model: torch.nn.Module, tokenizer: Any, s: TrainSettings, acc: Accelerator
) -> list[str]:
    """A few seeded samples from the final model, for the log and the summary."""
    plain = acc.unwrap_model(model)
    plain.eval()
    out = []
    for i, prompt in enumerate(s.sample_prompts):
        torch.manual_seed(s.seed + i)
        ids = tokenizer(prompt, return_tensors="pt").input_ids.to(acc.device)
        gen = plain.generate(
            ids,
            max_new_tokens=s.sample_tokens,
            do_sample=True,
            top_k=50,
            temperature=0.8,
            pad_token_id=tokenizer.eos_token_id,
        )
        out.append(tokenizer.decode(gen[0], skip_special_tokens=False))
        if acc.is_main_process:
            log.info("sample %d: %s", i, out[-1].replace("\n", " / "))
    return out
