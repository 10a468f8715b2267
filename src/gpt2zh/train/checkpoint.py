"""Resumable checkpoints: `checkpoints/step-NNNNNNNN/`, written so that no crash can spoil one.

A checkpoint holds `model.safetensors` (weights), `optimizer.pt` (AdamW state: tensors and
numbers only, read back with `torch.load(weights_only=True)`), `rng-<rank>.pt` (torch CPU/CUDA and
Python RNG of each process), `state.json` (step, tokens, scheduler, data-reader position) and,
written last, `manifest.json` with the sha256 of every file. It is built in a hidden temp folder
and renamed into place only when complete, so a full disk or a `kill -9` mid-save leaves the
previous checkpoint untouched. Loading takes the newest checkpoint whose files match its manifest
and falls back to older ones, with a warning naming what was wrong.

Weights and optimizer are saved as the full, unsharded state (torch.distributed.checkpoint's
state-dict API gathers it under FSDP and strips DDP/compile wrappers), so one checkpoint resumes
with one process, DDP or FSDP alike and `model.safetensors` opens as a plain GPT-2. Every process
must call `save` and `load` (under FSDP they are collectives); only the main one writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import broadcast
from safetensors.torch import load_file, save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from gpt2zh.digest import sha256_of
from gpt2zh.errors import UserError

log = logging.getLogger(__name__)

NAME = re.compile(r"^step-(\d{8})$")
#: Layout of the files in a checkpoint; part of the run fingerprint, so checkpoints of another
#: layout (2: optimizer state keyed by parameter name) are set aside rather than misread.
FORMAT = 2
#: What `latest_valid`'s main process sends when there is no checkpoint / none verifies.
NONE, ALL_CORRUPT = -1, -2


class CheckpointError(UserError):
    """A checkpoint could not be written, or no readable one is left."""


def share_like_umask(paths: Iterable[Path]) -> None:
    """Gives files the mode an ordinary write would (0666 less the umask): safetensors writes
    0600, which teammates sharing a results folder on a cluster cannot read."""
    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        if p.is_file():
            p.chmod(0o666 & ~umask)


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:08d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, newest first (temp folders of interrupted saves are ignored)."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := NAME.match(p.name))]
    return sorted(found, reverse=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify(path: Path) -> str | None:
    """None when every file matches the manifest, else what is wrong."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return "no manifest.json"
    try:
        files = json.loads(manifest.read_text("utf-8"))["files"]
    except (ValueError, KeyError) as e:
        return f"unreadable manifest.json ({e})"
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            return f"{name} missing"
        if sha256_of(f)[1] != digest:
            return f"{name} does not match its sha256"
    return None


#: Settings that change how a run is observed, not its trajectory: a checkpoint made under other
#: values still resumes exactly.
OBSERVATION_KEYS = frozenset(
    {"checkpoint_every", "keep_checkpoints", "log_every", "eval_every", "eval_batches",
     "tensorboard", "trackers", "tracker_project", "sample_prompts", "sample_tokens"}
)  # fmt: skip


#: How a step's rows are spread over processes and micro-batches. They leave the run's
#: trajectory alone as long as the rows per optimizer step stay the same (each step reads the
#: same rows of the same epoch order, however split), so only that product is fingerprinted:
#: a run preempted on 8 GPUs goes on on 4 with grad_accum doubled.
LAYOUT_KEYS = frozenset({"gpus", "accelerate_config", "batch_size", "grad_accum"})


def run_fingerprint(
    spec: Mapping[str, Any], mix_dir: Path, tokenizer_dir: Path, world_size: int = 1
) -> str:
    """What a checkpoint belongs to: the model and training settings, the mixed shards (their
    sha256 from the manifest) and the tokenizer. Another fingerprint is another run."""
    t = spec["train"]
    train = {k: v for k, v in t.items() if k not in OBSERVATION_KEYS | LAYOUT_KEYS}
    train["rows_per_step"] = int(t["batch_size"]) * int(t["grad_accum"]) * world_size
    manifest = json.loads((Path(mix_dir) / "manifest.json").read_text("utf-8"))
    shards = [s["sha256"] for s in manifest["train"]["shards"]]
    tokenizer = sha256_of(Path(tokenizer_dir) / "tokenizer.json")[1]
    blob = json.dumps([FORMAT, spec["model"], train, shards, tokenizer], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def tied_aliases(module: torch.nn.Module) -> dict[str, str]:
    """Second names of shared parameters (`lm_head.weight` → `transformer.wte.weight` with tied
    embeddings): safetensors stores a tensor once, so these are dropped on save, put back on
    load."""
    first = {id(p): name for name, p in module.named_parameters()}
    return {
        name: first[id(p)]
        for name, p in module.named_parameters(remove_duplicate=False)
        if first[id(p)] != name
    }


def full_state(
    model: torch.nn.Module, plain: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The unsharded weights (without tied aliases) and optimizer state of `model` (wrapped for
    DDP, FSDP or compile; `plain` is it unwrapped), on the CPU of the main process, the others
    getting empty dicts. A collective under FSDP: call it on every process."""
    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    if optimizer is None:
        weights, optim = get_model_state_dict(model, options=opts), {}
    else:
        weights, optim = get_state_dict(model, optimizer, options=opts)
    for alias in tied_aliases(plain):
        weights.pop(alias, None)
    return weights, optim


def _await_files(folder: Path, names: list[str], timeout_s: float = 120.0) -> None:
    """Waits until every process's file is visible here: on a network filesystem another
    node's file can appear seconds after it was closed, and a manifest written before would
    leave that process's RNG out of the checkpoint."""
    deadline = time.monotonic() + timeout_s
    while missing := [n for n in names if not (folder / n).is_file()]:
        if time.monotonic() > deadline:
            raise CheckpointError(
                f"{folder}: {', '.join(missing)} not visible after {timeout_s:.0f} s: is the "
                "checkpoint folder on a filesystem every node shares?"
            )
        time.sleep(0.5)


class Checkpoints:
    """Save and restore the training state under `root`; `accelerator` coordinates processes."""

    def __init__(self, root: Path, accelerator: Any, keep: int, fingerprint: str) -> None:
        self.root, self.acc, self.keep = Path(root), accelerator, keep
        self.fingerprint = fingerprint  # what every checkpoint saved here records
        if self.acc.is_main_process:
            self._set_aside_foreign(fingerprint)
            self.root.mkdir(parents=True, exist_ok=True)
            for stale in self.root.glob(".step-*.tmp"):  # left by a crash mid-save
                shutil.rmtree(stale, ignore_errors=True)
        self.acc.wait_for_everyone()

    def _set_aside_foreign(self, fingerprint: str) -> None:
        """Checkpoints of another config or other data cannot resume this run (and Snakemake
        reruns train exactly when those change): move them to `<root>.stale/<theirs>/`, never
        delete them, and start from scratch."""
        found = list_checkpoints(self.root)
        if not found:
            return
        state = found[0][1] / "state.json"
        theirs = (
            json.loads(state.read_text("utf-8")).get("fingerprint") if state.is_file() else None
        )
        if theirs == fingerprint:
            return
        dest = self.root.with_name(self.root.name + ".stale") / str(theirs)
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root, dest)
        log.warning(
            "checkpoints in %s belong to another config or other data (run %s, this one %s): "
            "moved to %s; training from scratch",
            self.root,
            theirs,
            fingerprint,
            dest,
        )

    def save(
        self,
        step: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        state: dict[str, Any],
        write: Callable[[Any, Path], None] = torch.save,
    ) -> Path:
        """Writes the checkpoint of `step` atomically; raises CheckpointError (previous ones
        intact) when it cannot. `write` is torch.save (a seam for the disk-full test)."""
        final, tmp = step_dir(self.root, step), self.root / f".step-{step:08d}.tmp"
        acc = self.acc
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        weights, optim = full_state(model, acc.unwrap_model(model), optimizer)
        try:
            write(rng_state(), tmp / f"rng-{acc.process_index}.pt")
            if acc.is_main_process:
                save_file(weights, str(tmp / "model.safetensors"))
                share_like_umask([tmp / "model.safetensors"])
                write(optim, tmp / "optimizer.pt")
                (tmp / "state.json").write_text(json.dumps(state, indent=1), "utf-8")
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            last = list_checkpoints(self.root)
            keep = f"step {last[0][0]} is intact" if last else "none saved yet"
            raise CheckpointError(
                f"could not write the checkpoint of step {step} ({e}); last checkpoint: {keep}"
            ) from e
        acc.wait_for_everyone()
        if acc.is_main_process:
            _await_files(tmp, [f"rng-{r}.pt" for r in range(acc.num_processes)])
            files = {p.name: sha256_of(p)[1] for p in sorted(tmp.iterdir())}
            with open(tmp / "manifest.json", "w", encoding="utf-8") as f:
                json.dump({"step": step, "files": files}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            for p in tmp.iterdir():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(self.root)
            for _, old in list_checkpoints(self.root)[self.keep :]:
                shutil.rmtree(old, ignore_errors=True)
            log.info("checkpoint: %s", final)
        acc.wait_for_everyone()
        return final

    def latest_valid(self) -> Path | None:
        """The newest checkpoint that verifies; warns about each corrupt one it skips. The main
        process hashes and tells the others which one (hashing a 1.5 GB checkpoint once, not
        once per GPU); all of them raise when every checkpoint is corrupt."""
        acc = self.acc
        choice = torch.tensor([NONE], dtype=torch.int64, device=acc.device)
        if acc.is_main_process:
            choice[0] = self._newest_valid_step()
        choice = broadcast(choice, from_process=0) if acc.num_processes > 1 else choice
        step = int(choice[0])
        if step == ALL_CORRUPT:
            raise CheckpointError(
                f"every checkpoint in {self.root} is corrupt; delete the folder to start over"
            )
        return None if step == NONE else step_dir(self.root, step)

    def _newest_valid_step(self) -> int:
        found = list_checkpoints(self.root)
        for step, path in found:
            problem = verify(path)
            if problem is None:
                return step
            log.warning(
                "checkpoint step %d is corrupt (%s): falling back to an older one", step, problem
            )
        return ALL_CORRUPT if found else NONE

    def load(
        self, path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
    ) -> dict[str, Any]:
        """Restores weights, optimizer and this process's RNG; returns state.json. Each process
        reads the full state from the shared folder (as it reads its own RNG file) and keeps its
        part (broadcasting it from rank 0 instead hung under DDP here, torch 2.13)."""
        acc = self.acc
        weights = load_file(str(path / "model.safetensors"))
        for alias, name in tied_aliases(acc.unwrap_model(model)).items():
            weights[alias] = weights[name]
        optim = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        set_state_dict(
            model,
            optimizer,
            model_state_dict=weights,
            optim_state_dict=optim,
            options=StateDictOptions(full_state_dict=True),
        )
        rng = path / f"rng-{acc.process_index}.pt"
        if rng.is_file():
            set_rng_state(torch.load(rng, weights_only=True))
        else:  # resumed on more processes than saved it
            log.warning(
                "%s has no RNG state for process %d (saved by fewer processes): its dropout "
                "stream starts afresh from seed + rank",
                path,
                acc.process_index,
            )
        return json.loads((path / "state.json").read_text("utf-8"))
