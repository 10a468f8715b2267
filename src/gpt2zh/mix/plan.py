"""Mix plan: which datasets go into pretraining, with what weight, and how many tokens each.

Budgets: with `total_tokens` set, dataset d gets `weight_d × total_tokens`; without it the total
is the size of the pretraining corpus (every train token once), split by weight. `epochs.<d>`
overrides a dataset's budget as a multiple of its size. A budget above a dataset's size repeats
it (effective epochs > 1), below takes a deterministic subset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpt2zh.errors import UserError

log = logging.getLogger(__name__)


#: More passes over one dataset than this stop paying (Muennighoff et al., 2023, "Scaling
#: Data-Constrained Language Models": up to ~4 epochs cost little, far beyond that adds nothing).
MAX_GOOD_REPEATS = 4.0


def repeat_warnings(repeats: Mapping[str, float], what: str = "the mix") -> list[str]:
    """One warning per dataset `what` passes over more than MAX_GOOD_REPEATS times: a small
    source with a large weight (zhihu at 0.33 of a whole-corpus mix) is read ~10× over."""
    return [
        f"{what} repeats dataset {d!r} {r:.1f}×: beyond ~{MAX_GOOD_REPEATS:.0f} passes repeated "
        "data stops helping; lower its weight, add data, or cap it with mix.epochs"
        for d, r in sorted(repeats.items())
        if r > MAX_GOOD_REPEATS
    ]


class MixError(UserError):
    """The mix cannot be built as configured (e.g. a weighted dataset has no documents)."""


def mix_weights(cfg: Mapping[str, Any]) -> dict[str, float]:
    """Normalised weights of the datasets that go into the mix (pretrain role, weight > 0).
    Without `mix.weights`, every pretraining dataset weighs the same."""
    pretrain = [d for d, ds in cfg["datasets"].items() if ds.get("role", "pretrain") == "pretrain"]
    given = cfg.get("mix", {}).get("weights") or dict.fromkeys(pretrain, 1.0)
    weights = {d: float(w) for d, w in given.items() if w > 0 and d in pretrain}
    total = sum(weights.values())
    return {d: w / total for d, w in sorted(weights.items())} if total else {}


@dataclass
class Budget:
    dataset: str
    weight: float
    available: int  # train tokens after holding out validation
    planned: int  # train tokens to take

    @property
    def epochs(self) -> float:
        return self.planned / self.available if self.available else 0.0


def plan_budgets(
    weights: Mapping[str, float],
    available: Mapping[str, int],
    *,
    total_tokens: int | None = None,
    epochs: Mapping[str, float] | None = None,
    on_empty: str = "error",
    stage: str = "the last document stage",
) -> tuple[dict[str, Budget], list[str]]:
    """Token budgets per dataset, and warnings. Datasets with no tokens are an error, or with
    `on_empty: warn` are left out and the other weights renormalised."""
    warnings = []
    weights = dict(weights)
    for d in sorted(weights):
        if available.get(d, 0) <= 0:
            msg = f"mix: dataset {d!r} has no training tokens after {stage} (weight {weights[d]:g})"
            if on_empty == "error":
                raise MixError(msg + "; drop it from mix.weights or set mix.on_empty: warn")
            warnings.append(msg + "; left out of the mix")
            log.warning("%s", warnings[-1])
            del weights[d]
    total_w = sum(weights.values())
    if not weights or total_w <= 0:
        raise MixError("mix: no dataset with documents and a positive weight to mix")
    weights = {d: w / total_w for d, w in weights.items()}
    total = total_tokens if total_tokens is not None else sum(available[d] for d in weights)
    budgets = {}
    for d, w in sorted(weights.items()):
        planned = round(w * total)
        if epochs and d in epochs:
            planned = round(epochs[d] * available[d])
        budgets[d] = Budget(d, w, int(available[d]), int(planned))
    for w in repeat_warnings({d: b.epochs for d, b in budgets.items()}):
        warnings.append(w)
        log.warning("%s", w)
    return budgets, warnings
