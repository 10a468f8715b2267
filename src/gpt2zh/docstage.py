"""The runner every shard-to-shard text stage shares (clean, convert, dedup's filter).

A stage supplies one pure function over a batch of documents that returns, per document, either
its (possibly changed) text or a `Drop` with a snake_case reason. The runner owns everything
else, identically for every stage: the check that the input shard is what the previous stage
wrote (`gpt2zh.chain`), streaming the input shard batch by batch, the ledger (`in == out + drops`,
examples, length histograms, the output's sha256), the optional full copy of dropped documents,
progress and the atomic output. Stages therefore cannot lose a document without it showing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh import arrowfn as pc
from gpt2zh.chain import check_input, output_record
from gpt2zh.layout import sidecar
from gpt2zh.ledger import Ledger
from gpt2zh.progress import Progress
from gpt2zh.shards import DOC_SCHEMA, Doc, ShardWriter

log = logging.getLogger(__name__)

BATCH_DOCS = 4096


@dataclass(frozen=True, slots=True)
class Drop:
    """A document leaves the stage for this reason (snake_case, shown in reports)."""

    reason: str


class DocBatch:
    """One record batch of a shard as a step sees it: texts always, other columns on demand."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.texts: list[str] = batch.column("text").to_pylist()

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def ids(self) -> list[str]:
        return self.batch.column("id").to_pylist()


#: Maps a batch to one verdict per document (its text, changed or not, or a Drop), counting
#: what it changed in the ledger. Returning the very input string object means "unchanged".
Step = Callable[[DocBatch, Ledger], Sequence["str | Drop"]]


def run_doc_stage(
    stage: str,
    in_path: str | Path,
    out_path: str | Path,
    step: Step,
    *,
    dataset: str,
    shard: int,
    keep_dropped: bool = False,
    extra: dict[str, Any] | None = None,
    finish: Callable[[Ledger], None] | None = None,
) -> dict[str, Any]:
    """Streams `in_path` through `step` into `out_path` and writes `<out>.stats.json` (and, with
    `keep_dropped`, `<out>.dropped.parquet` holding every dropped document with its reason).
    `finish` runs once after the last batch, before the stats are written (stage summaries)."""
    ledger = Ledger(stage, dataset, shard)
    ledger.extra.update(check_input(in_path))
    ledger.extra.update(extra or {})
    dropped_path = sidecar(out_path, ".dropped.parquet")
    with (
        pq.ParquetFile(in_path) as pf,
        ShardWriter(Path(out_path)) as out,
        ShardWriter(dropped_path) if keep_dropped else nullcontext() as dropped,
    ):
        bar = Progress(pf.metadata.num_rows, f"{stage} {dataset}/{shard}", "doc", log_interval=30)
        for record_batch in pf.iter_batches(batch_size=BATCH_DOCS, columns=DOC_SCHEMA.names):
            batch = DocBatch(record_batch)
            verdicts = step(batch, ledger)
            if len(verdicts) != len(batch):
                raise RuntimeError(
                    f"{stage}: step returned {len(verdicts)} verdicts for {len(batch)} documents"
                )
            _account(batch, verdicts, ledger, out, dropped)
            bar.update(len(batch))
        bar.close()
        if finish is not None:
            finish(ledger)
    ledger.extra.update(output_record(out_path))
    stats = ledger.write(sidecar(out_path, ".stats.json"))
    log.info(
        "%s %s/%d: %d in, %d out, drops %s",
        stage,
        dataset,
        shard,
        ledger.docs_in,
        ledger.docs_out,
        dict(ledger.drops),
    )
    return stats


def _account(
    batch: DocBatch,
    verdicts: Sequence[str | Drop],
    ledger: Ledger,
    out: ShardWriter,
    dropped: ShardWriter | None,
) -> None:
    """Counts a batch column-wise and writes its kept documents as one Arrow table."""
    texts = batch.texts
    text_col = batch.batch.column("text")
    ledger.seen_bulk(
        pc.utf8_length(text_col).to_pylist(), pc.sum(pc.binary_length(text_col)).as_py() or 0
    )
    keep: list[bool] = []
    kept_texts: list[str] = []
    changed = False
    for i, verdict in enumerate(verdicts):
        if verdict.__class__ is Drop:
            keep.append(False)
            ledger.dropped(verdict.reason, texts[i], id=batch.ids[i])
            if dropped is not None:
                dropped.write(_with_reason(batch, i, verdict.reason))
        else:
            keep.append(True)
            kept_texts.append(verdict)
            changed = changed or verdict is not texts[i]
    table = pa.Table.from_batches([batch.batch])
    if not all(keep):
        table = pc.filter(table, pa.array(keep))
    new_text = pa.array(kept_texts, pa.string()) if changed else table.column("text")
    if changed:
        table = table.set_column(DOC_SCHEMA.get_field_index("text"), "text", new_text)
    ledger.kept_bulk(
        pc.utf8_length(new_text).to_pylist(), pc.sum(pc.binary_length(new_text)).as_py() or 0
    )
    out.write_table(table)


def _with_reason(batch: DocBatch, i: int, reason: str) -> Doc:
    row = batch.batch.slice(i, 1).to_pylist()[0]
    meta = json.loads(row["meta"] or "{}")
    meta["drop_reason"] = reason
    return Doc.make(row["id"], row["text"], row["dataset"], meta)
