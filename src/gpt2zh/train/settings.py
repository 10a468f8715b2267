"""The `train:` block as one frozen, typed object: read once, at the start of a run.

The CLI hands training the spec dict it builds from the validated config (`{"model": ...,
"train": ...}`). The loop used to read that dict where it needed a value and cast it there
(`float(t["lr"])`, `int(t["log_every"])`, two dozen times); `TrainSettings.from_spec` does each
conversion once, so the loop reads `s.lr` and a type checker knows what it gets. A key missing
from the dict, or a choice outside its set, is an error naming the key before anything starts.

The dict itself stays what it is: the checkpoint fingerprint hashes it and the trackers show it
as written, so a run that resumes an older run's checkpoints sees the same fingerprint.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from gpt2zh.errors import UserError


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """What the training loop reads of `train:` (the schema describes each key). The launcher's
    keys (`accelerate_config`, `gpus`) are not here: they choose the processes, not the run."""

    seed: int
    batch_size: int  # rows per micro-batch per process
    grad_accum: int  # micro-batches per optimizer step
    max_steps: int | None  # None: from `tokens`
    tokens: int | None
    # optimizer and schedule
    optimizer: Literal["adamw", "muon"]
    lr: float
    min_lr: float
    warmup_steps: int
    schedule: Literal["cosine", "wsd"]
    decay_fraction: float
    weight_decay: float
    beta1: float
    beta2: float
    eps: float
    grad_clip: float  # 0: no clipping
    # numerics
    precision: Literal["auto", "bf16", "fp16", "fp32"]
    tf32: bool
    compile: bool
    # what the run writes, and when
    log_every: int
    eval_every: int
    eval_batches: int
    checkpoint_every: int
    keep_checkpoints: int
    tensorboard: bool
    trackers: tuple[str, ...]
    tracker_project: str
    init_from: Path | None
    sample_prompts: tuple[str, ...]
    sample_tokens: int

    @classmethod
    def from_spec(cls, train: Mapping[str, Any]) -> TrainSettings:
        """The settings of a `train:` block (schema-validated, defaults filled in)."""
        hints = get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            if field.name not in train:
                raise UserError(f"train.{field.name}: missing from the train settings")
            values[field.name] = _typed(f"train.{field.name}", hints[field.name], train[field.name])
        settings = cls(**values)
        if settings.max_steps is None and settings.tokens is None:
            raise UserError("train: set max_steps or tokens (both are null)")
        return settings

    def steps(self, tokens_per_step: int) -> int:
        """Optimizer steps of the run: `max_steps`, or as many as `tokens` takes."""
        if self.max_steps is not None:
            return self.max_steps
        assert self.tokens is not None  # from_spec refuses both null
        return math.ceil(self.tokens / tokens_per_step)


def _typed(key: str, hint: Any, value: Any) -> Any:
    """`value` as `hint` says: YAML writes `lr: 1` as an int, lists come as lists."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):  # `X | None`
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _typed(key, hint, value)
    if origin is Literal:
        if value not in args:
            raise UserError(f"{key}: {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if value is None:
        raise UserError(f"{key}: null is not allowed here")
    if origin is tuple:
        return tuple(value)
    return hint(value)
