"""The dedup part of the config, resolved once for every dedup job (pure Python, no numpy).

`dedup_spec(cfg)` returns a JSON-able dict: the `dedup:` block with `bands` and `rows` resolved
(datasketch's optimal-parameter routine for `threshold` and `num_perm`, unless both are given),
plus, per dataset in sorted order, its shard count and n-gram unit. The dataset's position in
that order is its index in the 64-bit document keys the later stages use (see `doc_key`).
`dedup_job_spec(spec, job)` is the part of it one of the four jobs reads; `DEDUP` the CLI's
`gpt2zh dedup STEP` (gpt2zh.contract).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from gpt2zh.config import ConfigError
from gpt2zh.contract import Stage, add_spec_args, read_spec

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


#: Settings only some dedup jobs read, and those jobs. Every other job leaves them out of its
#: spec, a param whose change reruns the job. bucket_partitions and verify_memory_mb change how
#: a job runs, never what it writes, so raising one after an out-of-memory job reruns only that
#: job; band_groups, priority and verify are read after the signatures, so changing them does
#: not recompute the signatures (the costly per-shard pass).
JOB_KEYS: dict[str, tuple[str, ...]] = {
    "bucket_partitions": ("buckets",),
    "verify_memory_mb": ("clusters",),
    "band_groups": ("buckets", "clusters", "filter"),
    "priority": ("clusters", "filter"),
    "verify": ("clusters", "filter"),
}


def dedup_job_spec(spec: Mapping[str, Any], job: str) -> dict[str, Any]:
    """The keys of `dedup_spec(cfg)` that `job` (signatures, buckets, clusters, filter) reads."""
    return {k: v for k, v in spec.items() if job in JOB_KEYS.get(k, (job,))}


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


def _spec(args: argparse.Namespace) -> Any:
    return read_spec(args, dedup_spec)


def _signatures(args: argparse.Namespace) -> None:
    from .signatures import signature_shard

    signature_shard(_spec(args), args.dataset, args.inp, args.out)


def _buckets(args: argparse.Namespace) -> None:
    from .bands import bucket_pairs

    bucket_pairs(_spec(args), args.group, args.signatures, args.out)


def _clusters(args: argparse.Namespace) -> None:
    from .clusters import build_clusters

    build_clusters(_spec(args), args.signatures, args.pairs, args.docs, args.out, args.summary)


def _filter(args: argparse.Namespace) -> None:
    from .filter import filter_shard

    filter_shard(_spec(args), args.dataset, args.shard, args.inp, args.clusters, args.out)


def _arguments(p: argparse.ArgumentParser) -> None:
    dsub = p.add_subparsers(dest="dedup_command", required=True, metavar="STEP")
    d = dsub.add_parser(
        "signatures",
        help="exact hash, MinHash and LSH band keys of one shard",
        description="Normalize every document of one shard, hash it whole and compute its "
        "datasketch-compatible (affine32) MinHash over character or word n-grams, vectorised; "
        "write one row per document: id, length, exact hash, band keys, full signature.",
    )
    add_spec_args(d)
    d.add_argument("--dataset", required=True, help="dataset of the shard")
    d.add_argument("--in", dest="inp", type=Path, required=True, help="document shard (.parquet)")
    d.add_argument("--out", type=Path, required=True, help="output signature file (.parquet)")
    d.set_defaults(func=_signatures, per_shard=True)
    d = dsub.add_parser(
        "buckets",
        help="candidate pairs from one band group (scatter)",
        description="Read one group's band columns (and, for group 0, the exact hashes) of "
        "every signature file, sort them and write the pairs of documents sharing a bucket.",
    )
    add_spec_args(d)
    d.add_argument("--group", type=int, required=True, help="band group index (0-based)")
    d.add_argument("--signatures", type=Path, required=True, help="folder of signature files")
    d.add_argument("--out", type=Path, required=True, help="output pairs (.parquet)")
    d.set_defaults(func=_buckets)
    d = dsub.add_parser(
        "clusters",
        help="union-find over candidate pairs; survivors and the drop list (gather)",
        description="Merge all candidate pairs, optionally verify each pair's Jaccard estimate, "
        "form clusters, keep one document per cluster (dataset priority, then longest, then "
        "smallest id) and write the drop list plus a JSON summary for the reports.",
    )
    add_spec_args(d)
    d.add_argument("--signatures", type=Path, required=True, help="folder of signature files")
    d.add_argument("--pairs", type=Path, nargs="+", required=True, help="pair files (.parquet)")
    d.add_argument("--docs", type=Path, required=True, help="folder of the input document shards")
    d.add_argument("--out", type=Path, required=True, help="output drop list (.parquet)")
    d.add_argument("--summary", type=Path, required=True, help="output summary (.json)")
    d.set_defaults(func=_clusters)
    d = dsub.add_parser(
        "filter",
        help="drop one shard's duplicates (reasons exact_duplicate, near_duplicate)",
        description="Copy one shard without the documents the drop list names, with stats.",
    )
    add_spec_args(d)
    d.add_argument("--dataset", required=True, help="dataset of the shard")
    d.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    d.add_argument("--in", dest="inp", type=Path, required=True, help="document shard (.parquet)")
    d.add_argument("--clusters", type=Path, required=True, help="drop list (.parquet)")
    d.add_argument("--out", type=Path, required=True, help="output shard (.parquet)")
    d.set_defaults(func=_filter, per_shard=True)


DEDUP = Stage(
    help="exact + MinHash near-duplicate removal across datasets (4 steps)",
    description="Dedup runs in four steps, each its own job: signatures (per shard) → "
    "buckets (per band group) → clusters (one gather job) → filter (per shard).",
    arguments=_arguments,
)
