"""Stage 2, one job per band group (scatter): candidate pairs from shared LSH buckets.

For each bucket column of the group (`exact` and/or `band_NNN`), the column of every signature
file is read (key + document key: 16 bytes a document), sorted, and each run of equal keys
becomes pairs (first document of the run, each other one): a star per bucket, which is all
union-find needs. Output: `a`, `b` (uint64 document keys, a < b, unique, sorted).

Memory: sorting one column costs about 50 bytes per document of the corpus (keys, document keys,
the sort order and the run bookkeeping; measured 81 MB per million documents with the pairs), so
a job would need ~17 GB for the sort alone at 350M documents. With
`dedup.bucket_partitions` P the column is sorted in P passes, pass p keeping only the keys with
key mod P == p as each file is read: a bucket's documents all share one key, so they land in the
same pass and the pairs are the same for any P, while ~1/P of the column is held at once (each
pass reads the column again; P = 16: 30 MB per million documents, 2x the time). The candidate
pairs are made unique after every column, so on top of that the job holds the group's unique
pairs (16 bytes each, ~5x while merging), which grow with the duplicated documents, not with the
corpus, and whatever P.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh.dedup.spec import DATASET_SHIFT, SHARD_SHIFT, band_groups
from gpt2zh.shards import shard_name

log = logging.getLogger(__name__)

PAIR_SCHEMA = pa.schema(
    [pa.field("a", pa.uint64(), nullable=False), pa.field("b", pa.uint64(), nullable=False)]
)


def signature_path(sig_dir: str | Path, dataset: str, shard: int) -> Path:
    return Path(sig_dir) / dataset / f"{shard_name(shard)}.parquet"


def signature_files(
    spec: Mapping[str, Any], sig_dir: str | Path
) -> Iterator[tuple[int, str, int, Path]]:
    """(dataset index, dataset, shard, path) of every signature file, in key order."""
    for ds_idx, (name, ds) in enumerate(spec["datasets"].items()):
        for shard in range(ds["shards"]):
            yield ds_idx, name, shard, signature_path(sig_dir, name, shard)


#: A document key's row and shard fields (see `doc_keys`), for taking keys apart.
ROW_MASK = np.uint64((1 << SHARD_SHIFT) - 1)
SHARD_MASK = np.uint64((1 << (DATASET_SHIFT - SHARD_SHIFT)) - 1)


def doc_keys(ds_idx: int, shard: int, rows: np.ndarray) -> np.ndarray:
    base = (np.uint64(ds_idx) << np.uint64(DATASET_SHIFT)) | (
        np.uint64(shard) << np.uint64(SHARD_SHIFT)
    )
    return base | rows.astype(np.uint64)


def run_pairs(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (first of run, member) for every run of equal `keys` (docs ordered within runs)."""
    if len(keys) < 2:
        return np.empty(0, np.uint64), np.empty(0, np.uint64)
    order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    same = np.concatenate(([False], k[1:] == k[:-1]))
    idx = np.arange(len(k))
    first = np.maximum.accumulate(np.where(same, 0, idx))
    members = np.flatnonzero(same)
    return d[first[members]], d[members]


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(a):
        return a, b
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((hi, lo))
    lo, hi = lo[order], hi[order]
    keep = np.concatenate(([True], (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])))
    return lo[keep], hi[keep]


def _key_slice(
    files: list[tuple[int, str, int, Path]], col: str, part: int, parts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keys of `col` with key mod `parts` == `part`, and their document keys, over all files;
    each file's column is cut to the slice as it is read, so only the slice is ever held. A
    signature file's `row` is its position, so the rows come from the mask, not from reading
    the `row` column (half the decoding when the column is read P times)."""
    keys, docs = [], []
    for ds_idx, _name, shard, path in files:
        k = pq.read_table(path, columns=[col]).column(col).to_numpy()
        rows = np.flatnonzero(k % np.uint64(parts) == np.uint64(part))
        keys.append(k[rows])
        docs.append(doc_keys(ds_idx, shard, rows))
    if not keys:
        return np.empty(0, np.uint64), np.empty(0, np.uint64)
    return np.concatenate(keys), np.concatenate(docs)


def bucket_pairs(
    spec: Mapping[str, Any], group: int, sig_dir: str | Path, out_path: str | Path
) -> dict[str, Any]:
    columns = band_groups(spec)[group]
    parts = int(spec["bucket_partitions"])
    files = list(signature_files(spec, sig_dir))
    a = b = np.empty(0, np.uint64)
    for col in columns:
        found = [run_pairs(*_key_slice(files, col, p, parts)) for p in range(parts)]
        new = sum(len(x) for x, _ in found)
        a = np.concatenate([a, *(x for x, _ in found)])
        b = np.concatenate([b, *(y for _, y in found)])
        del found  # before the merge sorts: it needs ~5x the pairs it is given
        a, b = unique_pairs(a, b)
        log.info("bucket column %s: %d candidate pairs (%d passes)", col, new, parts)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    pq.write_table(pa.table({"a": a, "b": b}, schema=PAIR_SCHEMA), tmp, compression="zstd")
    os.replace(tmp, out_path)
    log.info("band group %d (%s): %d unique pairs", group, ", ".join(columns), len(a))
    return {"columns": columns, "pairs": len(a)}
