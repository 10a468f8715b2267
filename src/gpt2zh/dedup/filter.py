"""Stage 4, per shard: drop the documents the clusters stage listed, through the shared runner.

Reasons: `exact_duplicate` (same normalized text as the kept document) and `near_duplicate`.
Rows are matched by position and checked by id, so a drop list from another run of the
signatures (stale input) fails the job instead of dropping the wrong documents. Memory: the
drop list of this one shard (read with a filter on the sorted Parquet file).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gpt2zh.docstage import DocBatch, Drop, run_doc_stage
from gpt2zh.ledger import Ledger

REASONS = {"exact_duplicate": Drop("exact_duplicate"), "near_duplicate": Drop("near_duplicate")}


class StaleDropListError(RuntimeError):
    """The drop list names a row whose id differs from the shard's: inputs out of sync."""


def filter_shard(
    spec: Mapping[str, Any],
    dataset: str,
    shard: int,
    in_path: str | Path,
    clusters_path: str | Path,
    out_path: str | Path,
) -> dict[str, Any]:
    t = pq.read_table(
        clusters_path,
        columns=["row", "id", "reason", "kept_dataset", "kept_id"],
        filters=[("dataset", "=", dataset), ("shard", "=", shard)],
    )
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
