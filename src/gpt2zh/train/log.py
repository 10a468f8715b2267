"""Training logs: `log.jsonl` (one JSON object per record), TensorBoard scalars, a progress bar.

Only the main process writes. On resume, records after the resumed step are dropped from the
JSONL first, so the file always reads as one run's curve, step by step.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

log = logging.getLogger(__name__)


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
        self.tb = None
        self.bar = None
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
        self.bar = tqdm(
            total=max_steps,
            initial=start_step,
            desc="train",
            unit="step",
            file=sys.stderr,
            mininterval=0.5 if sys.stderr.isatty() else 30.0,
            dynamic_ncols=True,
        )

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
        if self.bar is not None and "train.loss" in rec:
            self.bar.set_postfix(
                loss=f"{rec['train.loss']:.3f}", tok_s=f"{rec.get('train.tokens_per_s', 0):.0f}"
            )

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
        self._file.close()
