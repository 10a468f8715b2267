"""Training logs: `log.jsonl` (one JSON object per record), TensorBoard scalars, progress lines.

Only the main process writes. On resume, records after the resumed step are dropped from the
JSONL first, so the file always reads as one run's curve, step by step.

Progress is one plain line per report (step, train and val loss, tokens/s, elapsed, ETA), on
stdout and stderr: under Snakemake stdout is the console and stderr the job's log file, so both
show the same lines (once, when both are one terminal). Lines come at the first step, at every
validation, at the last step and otherwise at most every `PROGRESS_EVERY_S` seconds.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

#: Most seconds between two progress lines (validations and the last step always print).
PROGRESS_EVERY_S = 10.0


def clock(seconds: float) -> str:
    """`1:02:03` or `2:03`."""
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _streams() -> list[TextIO]:
    """stdout, and stderr too unless both are the same file (a terminal running the command)."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
        same = (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)
    except (AttributeError, OSError, ValueError):  # captured streams without a file
        same = False
    return [sys.stdout] if same else [sys.stdout, sys.stderr]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


class RunLog:
    def __init__(
        self,
        out_dir: Path,
        *,
        start_step: int,
        max_steps: int,
        enabled: bool,
        tensorboard: bool,
    ) -> None:
        self.enabled = enabled
        self.path = Path(out_dir) / "log.jsonl"
        self.name = Path(out_dir).name
        self.tb = None
        self.start_step, self.max_steps = start_step, max_steps
        self.latest: dict[str, Any] = {}  # the newest value of every key, for progress lines
        self._val_step = -1
        self._started = self._shown = time.monotonic()
        if not enabled:
            return
        # a run from scratch (start_step 0) keeps nothing of an older run's curve
        kept = [
            r for r in read_jsonl(self.path) if start_step > 0 and r.get("step", 0) <= start_step
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), "utf-8")
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(Path(out_dir) / "tensorboard"), purge_step=start_step + 1)

    def record(self, step: int, **values: Any) -> None:
        """One JSONL record and TensorBoard scalars (`train/loss`, `val/loss`, …)."""
        if not self.enabled:
            return
        rec = {"step": step, **{k: v for k, v in values.items() if v is not None}}
        self._file.write(json.dumps(rec) + "\n")
        self._file.flush()
        if self.tb is not None:
            for key, v in rec.items():
                if (
                    key != "step"
                    and not key.startswith("run.")  # the run's set-up, not a curve
                    and isinstance(v, int | float)
                    and math.isfinite(v)
                ):
                    self.tb.add_scalar(key.replace(".", "/", 1), v, step)
        self.latest.update(rec)
        if "val.loss" in rec:
            self._val_step = step

    def progress(self, step: int) -> str | None:
        """Prints (and returns) the progress line of `step` when one is due."""
        if not self.enabled:
            return None
        now = time.monotonic()
        due = step in (self.start_step, self.start_step + 1, self.max_steps, self._val_step)
        if not due and now - self._shown < PROGRESS_EVERY_S:
            return None
        self._shown = now
        v = self.latest
        parts = [f"train {self.name}: step {step:,}/{self.max_steps:,}"]
        if step > 0 and "train.loss" in v:
            parts.append(f"loss {v['train.loss']:.3f}")
        if "val.loss" in v:
            at = "" if self._val_step == step else f" (step {self._val_step:,})"
            parts.append(f"val loss {v['val.loss']:.3f}{at}")
        if step > 0 and v.get("train.tokens_per_s"):
            parts.append(f"{v['train.tokens_per_s']:,.0f} tokens/s")
        done = step - self.start_step
        if done > 0:
            spent = now - self._started
            parts.append(f"{clock(spent)} elapsed")
            if step < self.max_steps:
                parts.append(f"ETA {clock(spent / done * (self.max_steps - step))}")
        line = " · ".join(parts)
        for stream in _streams():
            stream.write(line + "\n")
            stream.flush()
        return line

    def close(self) -> None:
        if not self.enabled:
            return
        if self.tb is not None:
            self.tb.close()
        self._file.close()
