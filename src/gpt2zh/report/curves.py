"""Training curves from the run's `log.jsonl` (written by gpt2zh.train.log.RunLog).

Records are sparse by design: training records carry `train.*` keys every `log_every` steps,
validation records carry `val.loss` every `eval_every` steps, and `train.mfu` is absent where the
device's peak FLOP/s is unknown (CPU). A chart is drawn for each curve that has points, and the
page names the curves that have none instead of drawing empty axes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gpt2zh.report.plots import Point, line_svg

#: (title, y-axis label, [(series name, log key, scale)]): one chart each.
CHARTS: tuple[tuple[str, str, tuple[tuple[str, str, float], ...]], ...] = (
    ("Loss", "cross-entropy (nats/token)", (("train", "train.loss", 1), ("val", "val.loss", 1))),
    ("Learning rate", "lr", (("lr", "train.lr", 1),)),
    ("Throughput", "tokens / s", (("tokens/s", "train.tokens_per_s", 1),)),
    ("Model FLOPs utilisation", "MFU (%)", (("MFU", "train.mfu", 100),)),
)


def _points(records: Sequence[dict[str, Any]], key: str, scale: float) -> list[Point]:
    return [
        (float(r["step"]), float(r[key]) * scale)
        for r in records
        if isinstance(r.get(key), int | float) and math.isfinite(r[key])
    ]


def training_curves(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`charts`: [{title, svg}] for curves with points; `missing`: titles of those without."""
    charts, missing = [], []
    for title, y_label, keys in CHARTS:
        series = [(name, _points(records, key, scale)) for name, key, scale in keys]
        series = [(name, pts) for name, pts in series if pts]
        if series:
            charts.append({"title": title, "svg": line_svg(series, "step", y_label)})
        else:
            missing.append(title)
    return {"charts": charts, "missing": missing}
