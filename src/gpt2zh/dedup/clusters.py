"""Stage 3, one gather job: clusters of duplicates, their survivors and the drop list.

1. Candidate pairs of every band group are concatenated and made unique.
2. The documents they name become dense indices (`np.unique` of the uint64 document keys); only
   those documents' `id`, `chars`, `exact` (and, with `verify`, `minhash`) are read back from
   the signature files, as compact numpy / Arrow arrays.
3. With `verify`, a pair survives only if both documents are exact duplicates or their estimated
   Jaccard (share of equal MinHash values) reaches `threshold` (cuts LSH false positives). Only
   the pairs that are not exact duplicates are compared, and the equal values are counted over
   column slices of the signatures (see Memory).
4. Union-find, vectorised: hook every pair's roots to the smaller one, then pointer-jump until
   each index points at its root; repeat until every pair shares a root.
5. Per cluster the survivor is the document of the first dataset in `priority` (datasets not
   listed rank after, equally), then the longest, then the smallest id. Every other member is
   dropped as `exact_duplicate` (same normalized text as the survivor) or `near_duplicate`.

Outputs: the drop list (Parquet sorted by dataset, shard, row: `dataset, shard, row, id, reason,
kept_dataset, kept_id, cluster_size`) and a JSON summary for the reports (`summary.py`: per
dataset drops by reason, duplicates shared with each other dataset, cluster sizes, example
clusters with text).
Memory grows with the number of candidate documents, not with the corpus. Verify needs every
candidate's MinHash values (512 bytes a candidate at 128 permutations, 50 GB at 100M candidates),
so it holds at most `dedup.verify_memory_mb` of them: when all of them do not fit, the values
are read once and written to an unlinked scratch file beside the output in column slices of
`width` permutations (slice-major), and verify makes one pass per slice, adding each pair's
equal values to a uint16 count. `count / num_perm` is the float64 that `.mean` of the equal
values gives (an exact integer sum divided once), so the pairs kept, and the output, are the
same for any budget; a pass costs a read of n × width × 4 bytes and a walk over the pairs. The
rest, ~200 bytes a candidate (ids, a few numpy arrays) plus 8 bytes a pair for the uint32
dense indices, is what the clusters and the per-dataset summary need (numpy over the members,
Python objects only per dataset and example).
"""

from __future__ import annotations

import logging
import os
import resource
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gpt2zh.dedup.bands import ROW_MASK, SHARD_MASK, doc_keys, signature_files, unique_pairs
from gpt2zh.dedup.spec import DATASET_SHIFT, SHARD_SHIFT
from gpt2zh.dedup.summary import REASONS, cluster_summary
from gpt2zh.ledger import write_json

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
VERIFY_CHUNK = 1 << 14  # pairs a step: the two gathered signature blocks are 4 MB each


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


def _row_group_spans(pf: pq.ParquetFile, rows: np.ndarray) -> Iterator[tuple[int, int, int, int]]:
    """(row group, its first row, j0, j1) for each row group that holds some of `rows` (sorted
    row positions): rows[j0:j1]."""
    start = 0
    for g in range(pf.num_row_groups):
        stop = start + pf.metadata.row_group(g).num_rows
        j0, j1 = np.searchsorted(rows, [start, stop]).tolist()
        if j0 < j1:
            yield g, start, j0, j1
        start = stop


class MinHashSlices:
    """The candidates' MinHash values by column slice, so verify never holds them all: in memory
    when one slice is all of them, else in an unlinked scratch file (gone with the process,
    however it ends), slice-major: slice [c0, c1) is an (n, c1 - c0) block at n × c0 values."""

    def __init__(self, n: int, num_perm: int, width: int, scratch_dir: Path) -> None:
        self.n, self.num_perm = n, num_perm
        self.bounds = [(c, min(c + width, num_perm)) for c in range(0, num_perm, width)]
        one = len(self.bounds) == 1
        self.whole = np.empty((n, num_perm), np.uint32) if one else None
        self.file = None
        if not one:  # closed by __exit__
            self.file = tempfile.TemporaryFile(dir=scratch_dir, suffix=".minhash")  # noqa: SIM115

    def put(self, at: int, values: np.ndarray) -> None:
        """Store the (rows, num_perm) values of candidates at..at + rows."""
        if self.file is None:
            self.whole[at : at + len(values)] = values
            return
        for c0, c1 in self.bounds:
            self.file.seek((self.n * c0 + at * (c1 - c0)) * 4)
            self.file.write(np.ascontiguousarray(values[:, c0:c1], np.uint32))

    def slices(self) -> Iterator[np.ndarray]:
        """Each slice's (n, width) block in turn, all read into one buffer: the caller still
        holds the last block when the next one is read."""
        if self.file is None:
            yield self.whole
            return
        buffer = np.empty(self.n * (self.bounds[0][1] - self.bounds[0][0]), np.uint32)
        for c0, c1 in self.bounds:
            block = buffer[: self.n * (c1 - c0)].reshape(self.n, c1 - c0)
            self.file.seek(self.n * c0 * 4)
            if self.file.readinto(block) != block.nbytes:
                raise RuntimeError("clusters: the MinHash scratch file is short")
            yield block

    def __enter__(self) -> MinHashSlices:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.whole = None
        if self.file is not None:
            self.file.close()


def verify_width(n: int, num_perm: int, budget_mb: float) -> int:
    """Permutations a verify pass compares: the fewest passes whose (n, width) uint32 slice fits
    `budget_mb`, with the permutations spread evenly over them (at least one a pass)."""
    fit = min(max(int(budget_mb * (1 << 20)) // (4 * max(n, 1)), 1), num_perm)
    passes = -(-num_perm // fit)
    return -(-num_perm // passes)


def _read_members(
    spec: Mapping[str, Any],
    sig_dir: str | Path,
    nodes: np.ndarray,
    minhash: MinHashSlices | None,
) -> dict[str, Any]:
    """id, chars, exact of the documents in `nodes` (sorted keys), in that order (and their
    MinHash values into `minhash`).

    The numeric columns go straight into arrays sized for `nodes`, read one row group at a time
    and only for the row groups that hold candidates, so nothing else of that size is ever
    held."""
    n = len(nodes)
    cols = ["id", "chars", "exact"] + (["minhash"] if minhash is not None else [])
    chars = np.empty(n, np.uint32)
    exact = np.empty(n, np.uint64)
    ids: list[pa.Array] = []
    total = filled = 0
    for ds_idx, _name, shard, path in signature_files(spec, sig_dir):
        lo = doc_keys(ds_idx, shard, np.zeros(1, np.uint32))[0]
        i0 = int(np.searchsorted(nodes, lo, side="left"))
        i1 = int(np.searchsorted(nodes, lo | ROW_MASK, side="right"))
        with pq.ParquetFile(path) as pf:
            total += pf.metadata.num_rows
            rows = (nodes[i0:i1] & ROW_MASK).astype(np.int64)
            for g, start, j0, j1 in _row_group_spans(pf, rows):
                t = pf.read_row_group(g, columns=cols).take(pa.array(rows[j0:j1] - start))
                at = slice(i0 + j0, i0 + j1)
                ids.append(t.column("id").combine_chunks())
                chars[at] = t.column("chars").to_numpy()
                exact[at] = t.column("exact").to_numpy()
                if minhash is not None:
                    mh, width = t.column("minhash").combine_chunks(), minhash.num_perm
                    raw = np.frombuffer(mh.buffers()[1], dtype="<u4")
                    minhash.put(
                        i0 + j0,
                        raw[mh.offset * width : (mh.offset + len(mh)) * width].reshape(-1, width),
                    )
                filled += j1 - j0
    if filled != n:
        raise RuntimeError("clusters: candidate pairs name documents missing from the signatures")
    return {
        "ids": pa.concat_arrays(ids) if ids else pa.array([], pa.string()),
        "chars": chars,
        "exact": exact,
        "total_docs": total,
    }


def _read_pairs(pair_paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """All groups' pairs, unique; read into arrays sized from the files' metadata, so the only
    copies are the ones `unique_pairs` makes."""
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in pair_paths]
    a, b = np.empty(sum(sizes), np.uint64), np.empty(sum(sizes), np.uint64)
    at = 0
    for p, size in zip(pair_paths, sizes, strict=True):
        t = pq.read_table(p)
        a[at : at + size] = t.column("a").to_numpy()
        b[at : at + size] = t.column("b").to_numpy()
        at += size
    return unique_pairs(a, b)


def _verify(
    ia: np.ndarray, ib: np.ndarray, exact: np.ndarray, minhash: MinHashSlices, threshold: float
) -> np.ndarray:
    """Exact duplicates are kept unread; the other pairs count their equal values slice by
    slice. `equal / num_perm` is the float64 `(sigs[x] == sigs[y]).mean(axis=1)` gives (an
    exact integer sum divided once), so every slice width keeps the same pairs."""
    keep = np.empty(len(ia), dtype=bool)
    for s in range(0, len(ia), VERIFY_CHUNK):
        keep[s : s + VERIFY_CHUNK] = (
            exact[ia[s : s + VERIFY_CHUNK]] == exact[ib[s : s + VERIFY_CHUNK]]
        )
    todo = np.flatnonzero(~keep)
    x, y = ia[todo], ib[todo]
    equal = np.zeros(len(todo), np.uint16)  # num_perm <= 1024
    for block in minhash.slices():
        for s in range(0, len(todo), VERIFY_CHUNK):
            bx, by = block[x[s : s + VERIFY_CHUNK]], block[y[s : s + VERIFY_CHUNK]]
            equal[s : s + VERIFY_CHUNK] += (bx == by).sum(axis=1, dtype=np.uint16)
    keep[todo] = equal / np.float64(minhash.num_perm) >= threshold
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
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    a, b = _read_pairs(pair_paths)
    nodes = np.unique(np.concatenate([a, b]))
    index = np.uint32 if len(nodes) <= 1 << 32 else np.int64  # dense indices: 8 bytes a pair
    ia = np.searchsorted(nodes, a).astype(index)
    del a
    ib = np.searchsorted(nodes, b).astype(index)
    del b
    candidates = len(ia)
    if spec["verify"] and len(ia):
        num_perm = int(spec["num_perm"])
        width = verify_width(len(nodes), num_perm, float(spec["verify_memory_mb"]))
        log.info("clusters: verify in %d passes", -(-num_perm // width))
        with MinHashSlices(len(nodes), num_perm, width, out_path.parent) as minhash:
            m = _read_members(spec, sig_dir, nodes, minhash)
            keep = _verify(ia, ib, m["exact"], minhash, float(spec["threshold"]))
        ia, ib = ia[keep], ib[keep]
        del keep
    else:
        m = _read_members(spec, sig_dir, nodes, None)
    verified = len(ia)
    labels = components(len(nodes), ia, ib)
    del ia, ib
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

    dkeys = nodes[dropped]
    shard = ((dkeys >> np.uint64(SHARD_SHIFT)) & SHARD_MASK).astype(np.int32)
    row = (dkeys & ROW_MASK).astype(np.uint32)
    names_arr = pa.array(names, pa.string())
    table = pa.table(
        {
            "dataset": names_arr.take(ds_idx[dropped]),
            "shard": shard,
            "row": row,
            "id": m["ids"].take(pa.array(dropped)),
            "reason": pa.array(REASONS, pa.string()).take(exact_dup.view(np.uint8)),
            "kept_dataset": names_arr.take(ds_idx[kept]),
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
    tmp = out_path.with_name(out_path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 17)
    os.replace(tmp, out_path)

    summary = cluster_summary(spec, names, nodes, m, order, first, kept, exact_dup, docs_dir)
    summary.update(
        candidate_pairs=candidates,
        verified_pairs=verified,
        seconds=round(time.perf_counter() - t0, 3),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )
    write_json(summary_path, summary)
    log.info(
        "clusters: %d documents, %d candidate pairs (%d verified), %d clusters, %d dropped",
        summary["docs"],
        candidates,
        verified,
        summary["clusters"],
        len(dropped),
    )
    return summary
