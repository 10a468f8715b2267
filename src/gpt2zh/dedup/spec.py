"""The dedup part of the config, resolved once for every dedup job (pure Python, no numpy).

`dedup_spec(cfg)` returns a JSON-able dict: the `dedup:` block with `bands` and `rows` resolved
(datasketch's optimal-parameter routine for `threshold` and `num_perm`, unless both are given),
plus, per dataset in sorted order, its shard count and n-gram unit. The dataset's position in
that order is its index in the 64-bit document keys the later stages use (see `doc_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from gpt2zh.config import ConfigError

#: Bits of a document key: dataset index | shard | row within the shard.
DATASET_BITS, SHARD_BITS, ROW_BITS = 16, 20, 28
SHARD_SHIFT = ROW_BITS
DATASET_SHIFT = ROW_BITS + SHARD_BITS


@cache
def lsh_params(threshold: float, num_perm: int, recall_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + false negative probabilities with
    datasketch's own routine; `recall_weight=0.5` is what `datasketch.MinHashLSH(threshold,
    num_perm)` chooses."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 1.0 - recall_weight, recall_weight)
    return int(bands), int(rows)


def dedup_spec(cfg: Mapping[str, Any]) -> dict[str, Any]:
    d = dict(cfg["dedup"])
    datasets = sorted(cfg["datasets"])
    if len(datasets) >= 1 << DATASET_BITS:
        raise ConfigError(f"dedup: at most {(1 << DATASET_BITS) - 1} datasets")
    unknown = [p for p in d.get("priority", []) if p not in cfg["datasets"]]
    if unknown:
        raise ConfigError(
            f"invalid config:\n  - dedup.priority: no dataset named {', '.join(map(repr, unknown))}"
        )
    if d.get("bands") and d.get("rows"):
        bands, rows = d["bands"], d["rows"]
        if bands * rows > d["num_perm"]:
            raise ConfigError(
                f"invalid config:\n  - dedup: bands × rows = {bands * rows} > num_perm "
                f"{d['num_perm']}"
            )
    else:
        bands, rows = lsh_params(
            float(d["threshold"]), int(d["num_perm"]), float(d.get("recall_weight", 0.5))
        )
    d.update(bands=bands, rows=rows)
    d["datasets"] = {
        name: {
            "shards": cfg["datasets"][name]["shards"],
            "tokens": cfg["datasets"][name].get("dedup_tokens", "chars"),
        }
        for name in datasets
    }
    return d


def band_groups(spec: Mapping[str, Any]) -> list[list[str]]:
    """The bucket columns each band-group job handles: `exact` goes to group 0, band i to group
    i mod band_groups."""
    n = spec["band_groups"]
    groups: list[list[str]] = [[] for _ in range(n)]
    groups[0].append("exact")
    for i in range(spec["bands"]):
        groups[i % n].append(band_column(i))
    return groups


def band_column(i: int) -> str:
    return f"band_{i:03d}"
