"""Experiment trackers besides our own log.jsonl and TensorBoard: Weights & Biases (and the
other trackers accelerate integrates: MLflow, Comet, Aim, ClearML, DVCLive, SwanLab, Trackio),
through accelerate's tracking API, switched on by `train.trackers: [wandb]`.

Each tracker's own settings come from its usual environment (WANDB_API_KEY, WANDB_MODE=offline,
WANDB_ENTITY, MLFLOW_TRACKING_URI, ...); the config names only the project
(`train.tracker_project`) and the run (the config's `run`). They get exactly the records
log.jsonl gets, as `train/loss`, `val/loss`, ... at the same steps, from the main process only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.tracking import get_available_trackers

from gpt2zh.errors import UserError
from gpt2zh.train.settings import TrainSettings

#: pip package that provides each tracker, for the error when it is missing
PACKAGES = {"comet_ml": "comet-ml", "dvclive": "dvclive", "aim": "aim"}


def accelerator_kwargs(s: TrainSettings, out_dir: Path) -> dict[str, Any]:
    """`log_with` and `project_dir` for `Accelerator(...)`; refuses a tracker that is not
    installed (accelerate would silently drop it)."""
    names = list(s.trackers)
    if not names:
        return {}
    available = {str(name) for name in get_available_trackers()}
    missing = [n for n in names if n not in available]
    if missing:
        pkgs = " ".join(PACKAGES.get(n, n) for n in missing)
        raise UserError(
            f"train.trackers: {', '.join(missing)} not installed in this environment "
            f"(pip install {pkgs}, or remove it from train.trackers)"
        )
    return {"log_with": names, "project_dir": str(Path(out_dir) / "trackers")}


class TrackedLog:
    """The run log, with every record also sent to the accelerate trackers (everything else,
    including whatever the run log grows later, passes through unchanged)."""

    def __init__(self, runlog: Any, acc: Accelerator) -> None:
        self._runlog = runlog
        self._acc = acc

    def record(self, step: int, **values: Any) -> None:
        self._runlog.record(step, **values)
        scalars = {
            key.replace(".", "/", 1): v
            for key, v in values.items()
            if not key.startswith("run.") and isinstance(v, int | float) and math.isfinite(v)
        }
        if scalars:
            self._acc.log(scalars, step=step)

    def close(self) -> None:
        self._runlog.close()
        self._acc.end_training()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runlog, name)


def with_trackers(
    runlog: Any, acc: Accelerator, s: TrainSettings, spec: Mapping[str, Any], run: str
) -> Any:
    """`runlog` as is without trackers; else the trackers started (config: the model and train
    blocks of `spec`, as written) and a TrackedLog."""
    if not s.trackers:
        return runlog
    acc.init_trackers(
        s.tracker_project,
        config=_flat({"model": spec["model"], "train": spec["train"]}),
        init_kwargs={"wandb": {"name": run}},
    )
    return TrackedLog(runlog, acc)


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as `model.n_layer: 4`, lists as text (trackers take plain values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v if v is None or isinstance(v, bool | int | float | str) else str(v)
    return out
