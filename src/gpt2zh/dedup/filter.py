"""Stage 4, per shard: drop the documents the clusters stage listed, through the shared runner.

Reasons: `exact_duplicate` (same normalized text as the kept document) and `near_duplicate`.
Rows are matched by position and checked by id, so a drop list from another run of the
signatures (stale input) fails the job instead of dropping the wrong documents. Memory: the
drop list of this one shard: the row groups of the sorted Parquet file whose statistics admit it,
read with `ParquetFile` (`read_table(filters=...)` would import pyarrow.dataset and pandas, ~0.2
CPU-s per job before any data).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh import arrowfn as pc
from gpt2zh.docstage import DocBatch, Drop, run_doc_stage
from gpt2zh.ledger import Ledger

REASONS = {"exact_duplicate": Drop("exact_duplicate"), "near_duplicate": Drop("near_duplicate")}


class StaleDropListError(RuntimeError):
    """The drop list names a row whose id differs from the shard's: inputs out of sync."""


COLUMNS = ["dataset", "shard", "row", "id", "reason", "kept_dataset", "kept_id"]


def _may_hold(stats: Any, value: Any) -> bool:
    """Whether a row group whose column statistics are `stats` may hold `value`."""
    return stats is None or not stats.has_min_max or stats.min <= value <= stats.max


def _shard_drops(path: str | Path, dataset: str, shard: int) -> pa.Table:
    """The drop-list rows of one shard, reading only the row groups that may hold them."""
    with pq.ParquetFile(path) as pf:
        names = pf.schema_arrow.names
        i_ds, i_shard = names.index("dataset"), names.index("shard")
        parts = []
        for g in range(pf.num_row_groups):
            meta = pf.metadata.row_group(g)
            if _may_hold(meta.column(i_ds).statistics, dataset) and _may_hold(
                meta.column(i_shard).statistics, shard
            ):
                parts.append(pf.read_row_group(g, columns=COLUMNS))
        table = pa.concat_tables(parts) if parts else pf.schema_arrow.empty_table().select(COLUMNS)
    mask = pc.and_(pc.equal(table["dataset"], dataset), pc.equal(table["shard"], shard))
    return pc.filter(table, mask)


def filter_shard(
    spec: Mapping[str, Any],
    dataset: str,
    shard: int,
    in_path: str | Path,
    clusters_path: str | Path,
    out_path: str | Path,
) -> dict[str, Any]:
    t = _shard_drops(clusters_path, dataset, shard)
    drops = {
        r: (i, reason)
        for r, i, reason in zip(
            t.column("row").to_pylist(),
            t.column("id").to_pylist(),
            t.column("reason").to_pylist(),
            strict=False,
        )
    }
    cross = sum(1 for k in t.column("kept_dataset").to_pylist() if k != dataset)
    offset = 0

    def step(batch: DocBatch, ledger: Ledger) -> list[str | Drop]:
        nonlocal offset
        out: list[str | Drop] = list(batch.texts)
        for j in range(len(batch)):
            hit = drops.get(offset + j)
            if hit is not None:
                if batch.ids[j] != hit[0]:
                    raise StaleDropListError(
                        f"dedup filter {dataset}/{shard}: row {offset + j} is {batch.ids[j]!r}, "
                        f"the drop list says {hit[0]!r}; rerun the dedup stages"
                    )
                out[j] = REASONS[hit[1]]
        offset += len(batch)
        return out

    def finish(ledger: Ledger) -> None:
        if offset < len(drops) and any(r >= offset for r in drops):
            raise StaleDropListError(f"dedup filter {dataset}/{shard}: drop list past shard end")
        ledger.extra["dropped_kept_in_other_dataset"] = cross

    params = {k: spec[k] for k in ("threshold", "ngram", "num_perm", "bands", "rows", "verify")}
    return run_doc_stage(
        "dedup",
        in_path,
        out_path,
        step,
        dataset=dataset,
        shard=shard,
        extra={"dedup": params},
        finish=finish,
    )
