"""The clusters job's summary for the reports: per dataset its drops by reason, the duplicates
it shares with each other dataset, its cluster sizes and a few example clusters with their text
(the kept document beside up to three dropped ones, each with its true n-gram Jaccard).

Counted with numpy over the clustered documents, so a corpus with 100M duplicates costs arrays,
not 100M Python objects; only the example documents' texts are read back from the document
shards, one column read per shard that holds any.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh.dedup.bands import ROW_MASK, SHARD_MASK
from gpt2zh.dedup.spec import DATASET_SHIFT, SHARD_SHIFT
from gpt2zh.ledger import excerpt
from gpt2zh.shards import shard_name

EXAMPLES_PER_DATASET = 4
EXAMPLE_CHARS = 400
#: The drop reason of a dropped document, indexed by "same exact hash as its survivor" (the drop
#: list's `reason` column and the examples').
REASONS = ["near_duplicate", "exact_duplicate"]


def cluster_summary(
    spec: Mapping[str, Any],
    names: list[str],
    nodes: np.ndarray,
    m: dict[str, Any],
    order: np.ndarray,
    first: np.ndarray,
    kept: np.ndarray,
    exact_dup: np.ndarray,
    docs_dir: str | Path,
) -> dict[str, Any]:
    """The summary of `clusters.build_clusters`' result: `nodes` the candidate documents' keys,
    `m` their members' columns (`ids`, `chars`, `exact`, `total_docs`), `order` the clustered
    documents grouped by cluster, survivor first (`first` marks the survivors), `kept` each
    dropped document's survivor and `exact_dup` whether it is an exact duplicate of it. Python
    only touches one entry per dataset, pair of datasets or example."""
    nd = len(names)
    ds_idx = (nodes >> np.uint64(DATASET_SHIFT)).astype(np.int64)
    member_ds = ds_idx[order]
    dropped_ds, kept_ds = member_ds[~first], ds_idx[kept]
    starts = np.flatnonzero(first)
    cluster_size = np.diff(np.append(starts, len(order)))
    cluster_of = np.cumsum(first) - 1
    # (cluster, dataset) once for each dataset a cluster touches, datasets ascending
    touch = np.unique(cluster_of * nd + member_ds)
    touch_cluster, touch_ds = touch // nd, touch % nd
    exact = np.bincount(dropped_ds[exact_dup], minlength=nd)
    near = np.bincount(dropped_ds[~exact_dup], minlength=nd)
    survivors = np.bincount(member_ds[first], minlength=nd)
    per: dict[str, dict[str, Any]] = {}
    for d, name in enumerate(names):
        per[name] = {
            "exact_duplicate": int(exact[d]),
            "near_duplicate": int(near[d]),
            "survivors": int(survivors[d]),
            "shared_with": {},
            "cluster_sizes": _size_counts(cluster_size[touch_cluster[touch_ds == d]]),
            "examples": [],
        }
    cross = dropped_ds != kept_ds
    shared, count = np.unique(dropped_ds[cross] * nd + kept_ds[cross], return_counts=True)
    for code, n in zip(shared.tolist(), count.tolist(), strict=True):
        d, k = divmod(code, nd)
        per[names[d]]["shared_with"].setdefault(names[k], {"dropped_here": 0, "kept_here": 0})[
            "dropped_here"
        ] += n
        per[names[k]]["shared_with"].setdefault(names[d], {"dropped_here": 0, "kept_here": 0})[
            "kept_here"
        ] += n
    for entry in per.values():
        entry["shared_with"] = dict(sorted(entry["shared_with"].items()))
    is_exact = np.zeros(len(nodes), bool)
    is_exact[order[~first]] = exact_dup
    # examples: cross-dataset clusters first, then by the survivor's document key
    touched = np.bincount(touch_cluster, minlength=len(starts))
    rank = np.empty(len(starts), np.int64)
    rank[np.lexsort((nodes[order[starts]], -touched))] = np.arange(len(starts))
    chosen = {}
    for d, name in enumerate(names):
        mine = touch_cluster[touch_ds == d]
        chosen[name] = mine[np.argsort(rank[mine])[:EXAMPLES_PER_DATASET]].tolist()
    members = {
        c: order[starts[c] : starts[c] + cluster_size[c]].tolist()
        for cs in chosen.values()
        for c in cs
    }
    _examples(per, names, nodes, m, chosen, members, ds_idx, is_exact, docs_dir, spec["ngram"])
    return {
        "params": {
            k: spec[k]
            for k in ("threshold", "ngram", "num_perm", "seed", "bands", "rows", "verify")
            if k in spec
        }
        | {"priority": list(spec.get("priority", []))},
        "docs": int(m["total_docs"]),
        "clusters": len(starts),
        "docs_in_clusters": len(order),
        "dropped": {"exact_duplicate": int(exact.sum()), "near_duplicate": int(near.sum())},
        "cluster_sizes": _size_counts(cluster_size),
        "datasets": per,
    }


def _size_counts(sizes: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(sizes, return_counts=True)
    return {str(v): c for v, c in zip(values.tolist(), counts.tolist(), strict=True)}


def _examples(
    per: dict[str, dict[str, Any]],
    names: list[str],
    nodes: np.ndarray,
    m: dict[str, Any],
    chosen: dict[str, list[int]],
    members: dict[int, list[int]],
    ds_idx: np.ndarray,
    is_exact: np.ndarray,
    docs_dir: str | Path,
    spec_ngram: int,
) -> None:
    """A few clusters per dataset (`chosen`), kept text beside dropped text."""
    wanted = sorted({i for ms in members.values() for i in ms[:4]})
    texts = _read_texts(names, nodes, wanted, docs_dir)
    ngram = int(spec_ngram)

    def doc(i: int) -> dict[str, Any]:
        return {
            "dataset": names[int(ds_idx[i])],
            "id": m["ids"][i].as_py(),
            "text": excerpt(texts.get(i, ""), EXAMPLE_CHARS),
        }

    for name, clusters in chosen.items():
        for c in clusters:
            survivor, others = members[c][0], members[c][1:4]
            per[name]["examples"].append(
                {
                    "size": len(members[c]),
                    "kept": doc(survivor),
                    "dropped": [
                        doc(i)
                        | {
                            "reason": REASONS[int(is_exact[i])],
                            "jaccard": round(
                                _jaccard(texts.get(survivor, ""), texts.get(i, ""), ngram), 3
                            ),
                        }
                        for i in others
                    ],
                }
            )


def _jaccard(x: str, y: str, n: int) -> float:
    from gpt2zh.dedup.shingles import char_shingles

    sx, sy = set(char_shingles(x, n)), set(char_shingles(y, n))
    return len(sx & sy) / len(sx | sy) if sx or sy else 1.0


def _read_texts(
    names: list[str], nodes: np.ndarray, wanted: list[int], docs_dir: str | Path
) -> dict[int, str]:
    by_file: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in wanted:
        key = nodes[i]
        d = int(key >> np.uint64(DATASET_SHIFT))
        s = int((key >> np.uint64(SHARD_SHIFT)) & SHARD_MASK)
        by_file[d, s].append(i)
    out: dict[int, str] = {}
    for (d, s), idxs in sorted(by_file.items()):
        path = Path(docs_dir) / names[d] / f"{shard_name(s)}.parquet"
        rows = [int(nodes[i] & ROW_MASK) for i in idxs]
        col = pq.read_table(path, columns=["text"]).column("text").take(pa.array(rows))
        out.update(zip(idxs, col.to_pylist(), strict=False))
    return out
