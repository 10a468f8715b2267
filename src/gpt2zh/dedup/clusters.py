"""Stage 3, one gather job: clusters of duplicates, their survivors and the drop list.

1. Candidate pairs of every band group are concatenated and made unique.
2. The documents they name become dense indices (`np.unique` of the uint64 document keys); only
   those documents' `id`, `chars`, `exact` (and, with `verify`, `minhash`) are read back from
   the signature files, as compact numpy / Arrow arrays.
3. With `verify`, a pair survives only if both documents are exact duplicates or their estimated
   Jaccard (share of equal MinHash values) reaches `threshold` (cuts LSH false positives).
4. Union-find, vectorised: hook every pair's roots to the smaller one, then pointer-jump until
   each index points at its root; repeat until every pair shares a root.
5. Per cluster the survivor is the document of the first dataset in `priority` (datasets not
   listed rank after, equally), then the longest, then the smallest id. Every other member is
   dropped as `exact_duplicate` (same normalized text as the survivor) or `near_duplicate`.

Outputs: the drop list (Parquet sorted by dataset, shard, row: `dataset, shard, row, id, reason,
kept_dataset, kept_id, cluster_size`) and a JSON summary for the reports (per dataset: drops by
reason, duplicates shared with each other dataset, cluster sizes, example clusters with text).
Memory grows with the number of candidate documents (not with the corpus): see RESULTS.md.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gpt2zh.dedup.bands import doc_keys, signature_files, unique_pairs
from gpt2zh.dedup.spec import DATASET_SHIFT, SHARD_SHIFT
from gpt2zh.ledger import excerpt, write_json
from gpt2zh.shards import shard_name

log = logging.getLogger(__name__)

DROP_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("shard", pa.int32(), nullable=False),
        pa.field("row", pa.uint32(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("kept_dataset", pa.string(), nullable=False),
        pa.field("kept_id", pa.string(), nullable=False),
        pa.field("cluster_size", pa.int32(), nullable=False),
    ]
)
EXAMPLES_PER_DATASET = 4
EXAMPLE_CHARS = 400
VERIFY_CHUNK = 1 << 16
ROW_MASK = np.uint64((1 << SHARD_SHIFT) - 1)
SHARD_MASK = np.uint64((1 << (DATASET_SHIFT - SHARD_SHIFT)) - 1)


def components(n: int, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Connected components of n nodes under edges (ia, ib): each node's label is the smallest
    node index of its component."""
    parent = np.arange(n, dtype=np.int64)
    if not len(ia):
        return parent
    while True:
        ra, rb = parent[ia], parent[ib]
        if (ra == rb).all():
            return parent
        low = np.minimum(ra, rb)
        np.minimum.at(parent, ra, low)
        np.minimum.at(parent, rb, low)
        while True:
            jumped = parent[parent]
            if (jumped == parent).all():
                break
            parent = jumped


def _read_members(
    spec: Mapping[str, Any], sig_dir: str | Path, nodes: np.ndarray, with_minhash: bool
) -> dict[str, Any]:
    """id, chars, exact (and minhash) of the documents in `nodes` (sorted keys), in that order."""
    cols = ["row", "id", "chars", "exact"] + (["minhash"] if with_minhash else [])
    keys, ids, chars, exact, sigs = [], [], [], [], []
    total = 0
    for ds_idx, _name, shard, path in signature_files(spec, sig_dir):
        lo = doc_keys(ds_idx, shard, np.zeros(1, np.uint32))[0]
        hi = lo | ROW_MASK
        i0 = int(np.searchsorted(nodes, lo, side="left"))
        i1 = int(np.searchsorted(nodes, hi, side="right"))
        with pq.ParquetFile(path) as pf:
            total += pf.metadata.num_rows
        if i0 == i1:
            continue
        want = (nodes[i0:i1] & ROW_MASK).astype(np.int64)
        t = pq.read_table(path, columns=cols).take(pa.array(want))
        keys.append(nodes[i0:i1])
        ids.append(t.column("id").combine_chunks())
        chars.append(t.column("chars").to_numpy())
        exact.append(t.column("exact").to_numpy())
        if with_minhash:
            mh = t.column("minhash").combine_chunks()
            raw = np.frombuffer(mh.buffers()[1], dtype="<u4")
            width = spec["num_perm"]
            sigs.append(raw[mh.offset * width : (mh.offset + len(mh)) * width].reshape(-1, width))
    return {
        "keys": np.concatenate(keys) if keys else np.empty(0, np.uint64),
        "ids": pa.concat_arrays(ids) if ids else pa.array([], pa.string()),
        "chars": np.concatenate(chars) if chars else np.empty(0, np.uint32),
        "exact": np.concatenate(exact) if exact else np.empty(0, np.uint64),
        "minhash": np.concatenate(sigs) if sigs else None,
        "total_docs": total,
    }


def _read_pairs(pair_paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    a, b = [], []
    for p in pair_paths:
        t = pq.read_table(p)
        a.append(t.column("a").to_numpy())
        b.append(t.column("b").to_numpy())
    if not a:
        return np.empty(0, np.uint64), np.empty(0, np.uint64)
    return unique_pairs(np.concatenate(a), np.concatenate(b))


def _verify(
    ia: np.ndarray, ib: np.ndarray, exact: np.ndarray, sigs: np.ndarray, threshold: float
) -> np.ndarray:
    keep = np.empty(len(ia), dtype=bool)
    for s in range(0, len(ia), VERIFY_CHUNK):
        x, y = ia[s : s + VERIFY_CHUNK], ib[s : s + VERIFY_CHUNK]
        est = (sigs[x] == sigs[y]).mean(axis=1)
        keep[s : s + VERIFY_CHUNK] = (exact[x] == exact[y]) | (est >= threshold)
    return keep


def build_clusters(
    spec: Mapping[str, Any],
    sig_dir: str | Path,
    pair_paths: list[Path],
    docs_dir: str | Path,
    out_path: str | Path,
    summary_path: str | Path,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    names = list(spec["datasets"])
    a, b = _read_pairs(pair_paths)
    nodes = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    m = _read_members(spec, sig_dir, nodes, bool(spec["verify"]))
    if len(m["keys"]) != len(nodes) or not np.array_equal(m["keys"], nodes):
        raise RuntimeError("clusters: candidate pairs name documents missing from the signatures")
    candidates = len(ia)
    if spec["verify"] and len(ia):
        keep = _verify(ia, ib, m["exact"], m["minhash"], float(spec["threshold"]))
        ia, ib = ia[keep], ib[keep]
    labels = components(len(nodes), ia, ib)
    sizes = np.bincount(labels, minlength=len(nodes))
    in_cluster = sizes[labels] > 1
    ds_idx = (nodes >> np.uint64(DATASET_SHIFT)).astype(np.int64)
    priority = {name: i for i, name in enumerate(spec.get("priority", []))}
    rank = np.array([priority.get(n, len(priority)) for n in names], dtype=np.int64)[ds_idx]
    id_rank = np.empty(len(nodes), dtype=np.int64)
    id_rank[pc.sort_indices(m["ids"]).to_numpy()] = np.arange(len(nodes))
    order = np.lexsort((id_rank, -m["chars"].astype(np.int64), rank, labels))
    order = order[in_cluster[order]]
    lab = labels[order]
    first = np.concatenate(([True], lab[1:] != lab[:-1])) if len(lab) else np.empty(0, bool)
    survivor_of = np.full(len(nodes), -1, dtype=np.int64)
    survivor_of[lab[first]] = order[first]
    dropped = order[~first]
    kept = survivor_of[labels[dropped]]
    exact_dup = m["exact"][dropped] == m["exact"][kept]
    reasons = np.where(exact_dup, "exact_duplicate", "near_duplicate")

    dkeys = nodes[dropped]
    shard = ((dkeys >> np.uint64(SHARD_SHIFT)) & SHARD_MASK).astype(np.int32)
    row = (dkeys & ROW_MASK).astype(np.uint32)
    names_arr = np.array(names, dtype=object)
    table = pa.table(
        {
            "dataset": pa.array(names_arr[ds_idx[dropped]].tolist(), pa.string()),
            "shard": shard,
            "row": row,
            "id": m["ids"].take(pa.array(dropped)),
            "reason": pa.array(reasons.tolist(), pa.string()),
            "kept_dataset": pa.array(names_arr[ds_idx[kept]].tolist(), pa.string()),
            "kept_id": m["ids"].take(pa.array(kept)),
            "cluster_size": sizes[labels[dropped]].astype(np.int32),
        },
        schema=DROP_SCHEMA,
    )  # rows follow `order` within clusters; sort for the per-shard filter reads
    table = table.take(
        pc.sort_indices(
            table, [("dataset", "ascending"), ("shard", "ascending"), ("row", "ascending")]
        )
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 17)
    os.replace(tmp, out_path)

    summary = _summary(
        spec, names, nodes, m, labels, sizes, order, first, dropped, kept, reasons, docs_dir
    )
    summary.update(
        candidate_pairs=candidates,
        verified_pairs=len(ia),
        seconds=round(time.perf_counter() - t0, 3),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )
    write_json(summary_path, summary)
    log.info(
        "clusters: %d documents, %d candidate pairs (%d verified), %d clusters, %d dropped",
        summary["docs"],
        candidates,
        len(ia),
        summary["clusters"],
        len(dropped),
    )
    return summary


def _summary(
    spec: Mapping[str, Any],
    names: list[str],
    nodes: np.ndarray,
    m: dict[str, Any],
    labels: np.ndarray,
    sizes: np.ndarray,
    order: np.ndarray,
    first: np.ndarray,
    dropped: np.ndarray,
    kept: np.ndarray,
    reasons: np.ndarray,
    docs_dir: str | Path,
) -> dict[str, Any]:
    ds_idx = (nodes >> np.uint64(DATASET_SHIFT)).astype(np.int64)
    per: dict[str, dict[str, Any]] = {
        n: {
            "exact_duplicate": 0,
            "near_duplicate": 0,
            "survivors": 0,
            "shared_with": {},
            "cluster_sizes": Counter(),
            "examples": [],
        }
        for n in names
    }
    for d, k, r in zip(
        ds_idx[dropped].tolist(), ds_idx[kept].tolist(), reasons.tolist(), strict=False
    ):
        entry = per[names[d]]
        entry[r] += 1
        if d != k:
            sw = entry["shared_with"].setdefault(names[k], {"dropped_here": 0, "kept_here": 0})
            sw["dropped_here"] += 1
            sw2 = per[names[k]]["shared_with"].setdefault(
                names[d], {"dropped_here": 0, "kept_here": 0}
            )
            sw2["kept_here"] += 1
    survivors = order[first]
    for s in ds_idx[survivors].tolist():
        per[names[s]]["survivors"] += 1
    # cluster sizes: each cluster counted once per dataset it touches
    members_by_label: dict[int, list[int]] = defaultdict(list)
    for i in order.tolist():
        members_by_label[int(labels[i])].append(i)
    all_sizes: Counter[int] = Counter()
    for members in members_by_label.values():
        size = len(members)
        all_sizes[size] += 1
        for d in {int(ds_idx[i]) for i in members}:
            per[names[d]]["cluster_sizes"][size] += 1
    _examples(
        per,
        names,
        nodes,
        m,
        labels,
        members_by_label,
        ds_idx,
        reasons,
        dropped,
        docs_dir,
        spec["ngram"],
    )
    for entry in per.values():
        entry["cluster_sizes"] = {str(k): v for k, v in sorted(entry["cluster_sizes"].items())}
        entry["shared_with"] = dict(sorted(entry["shared_with"].items()))
    return {
        "params": {
            k: spec[k]
            for k in ("threshold", "ngram", "num_perm", "seed", "bands", "rows", "verify")
            if k in spec
        }
        | {"priority": list(spec.get("priority", []))},
        "docs": int(m["total_docs"]),
        "clusters": len(members_by_label),
        "docs_in_clusters": len(order),
        "dropped": {
            "exact_duplicate": int((reasons == "exact_duplicate").sum()),
            "near_duplicate": int((reasons == "near_duplicate").sum()),
        },
        "cluster_sizes": {str(k): v for k, v in sorted(all_sizes.items())},
        "datasets": per,
    }


def _examples(
    per: dict[str, dict[str, Any]],
    names: list[str],
    nodes: np.ndarray,
    m: dict[str, Any],
    labels: np.ndarray,
    members_by_label: dict[int, list[int]],
    ds_idx: np.ndarray,
    reasons: np.ndarray,
    dropped: np.ndarray,
    docs_dir: str | Path,
    spec_ngram: int,
) -> None:
    """A few clusters per dataset (cross-dataset ones first), kept text beside dropped text."""
    reason_of = dict(zip(dropped.tolist(), reasons.tolist(), strict=False))
    chosen: dict[str, list[list[int]]] = {n: [] for n in names}
    clusters = sorted(
        members_by_label.values(),
        key=lambda ms: (-len({int(ds_idx[i]) for i in ms}), int(nodes[ms[0]])),
    )
    for members in clusters:
        for d in sorted({int(ds_idx[i]) for i in members}):
            if len(chosen[names[d]]) < EXAMPLES_PER_DATASET:
                chosen[names[d]].append(members)
    wanted = sorted({i for lists in chosen.values() for ms in lists for i in ms[:4]})
    texts = _read_texts(names, nodes, wanted, docs_dir)
    ngram = int(spec_ngram)
    for name, lists in chosen.items():
        for members in lists:
            survivor, others = members[0], members[1:4]

            def doc(i: int) -> dict[str, Any]:
                return {
                    "dataset": names[int(ds_idx[i])],
                    "id": m["ids"][i].as_py(),
                    "text": excerpt(texts.get(i, ""), EXAMPLE_CHARS),
                }

            per[name]["examples"].append(
                {
                    "size": len(members),
                    "kept": doc(survivor),
                    "dropped": [
                        doc(i)
                        | {
                            "reason": reason_of.get(i, ""),
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
