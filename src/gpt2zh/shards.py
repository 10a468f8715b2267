"""Document shards: the one on-disk format every text stage reads and writes.

A shard is a zstd Parquet file with one row per document (`id`, `text`, `dataset`, `meta`).
Stages stream through shards in record batches so memory stays flat in corpus size, and write
through a temporary file renamed on success, so a killed job never leaves a shard that looks whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh import arrowfn as pc

DOC_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("meta", pa.string(), nullable=False),
    ]
)

#: Rows are flushed to a row group once this many text bytes are buffered: bounds memory for
#: any document size mix while keeping row groups large enough to read fast.
ROW_GROUP_BYTES = 32 * 1024 * 1024
ROW_GROUP_DOCS = 50_000


@dataclass(frozen=True, slots=True)
class Doc:
    id: str
    text: str
    dataset: str
    meta: str = "{}"

    @staticmethod
    def make(id: str, text: str, dataset: str, meta: Mapping[str, Any] | None = None) -> Doc:
        return Doc(id, text, dataset, json.dumps(meta or {}, ensure_ascii=False, sort_keys=True))


def shard_name(index: int) -> str:
    """File stem of shard `index`; shared by rules and code so names never drift apart."""
    return f"shard-{index:05d}"


@dataclass
class ShardWriter:
    """Streams documents into a Parquet shard, atomically (tmp file + rename on close)."""

    path: Path
    #: zstd level; 3 by default. Producers of short-lived shards may trade size for speed.
    compression_level: int = 3
    _tmp: Path = field(init=False)
    _writer: pq.ParquetWriter = field(init=False)
    _cols: dict[str, list[str]] = field(init=False)
    _tables: list[pa.Table] = field(init=False, default_factory=list)
    _buffered_bytes: int = field(init=False, default=0)
    _buffered_docs: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._writer = pq.ParquetWriter(
            self._tmp,
            DOC_SCHEMA,
            compression="zstd",
            compression_level=self.compression_level,
            use_dictionary=["dataset"],
        )
        self._cols = {name: [] for name in DOC_SCHEMA.names}

    def write(self, doc: Doc) -> None:
        cols = self._cols
        cols["id"].append(doc.id)
        cols["text"].append(doc.text)
        cols["dataset"].append(doc.dataset)
        cols["meta"].append(doc.meta)
        self._buffered_bytes += len(doc.text) * 3
        self._buffered_docs += 1
        if self._buffered_bytes >= ROW_GROUP_BYTES or self._buffered_docs >= ROW_GROUP_DOCS:
            self._flush()

    def write_batch(
        self,
        ids: Sequence[str] | pa.Array,
        texts: Sequence[str] | pa.Array,
        dataset: str,
        metas: Sequence[str] | pa.Array,
    ) -> int:
        """Writes many documents of one dataset at once (the fast path for producers that build
        columns anyway: lists of str or Arrow string arrays); returns the UTF-8 byte size of
        `texts`. Order relative to `write` is kept."""
        n = len(ids)
        if not (len(texts) == len(metas) == n):
            raise ValueError("write_batch: ids, texts and metas differ in length")
        if not n:
            return 0
        id_arr, text_arr, meta_arr = (
            x if isinstance(x, pa.Array) else pa.array(x, pa.string()) for x in (ids, texts, metas)
        )
        nbytes = pc.sum(pc.binary_length(text_arr)).as_py() or 0
        self.write_table(
            pa.Table.from_arrays(
                [id_arr, text_arr, pa.repeat(dataset, n), meta_arr], schema=DOC_SCHEMA
            )
        )
        return nbytes

    def write_table(self, table: pa.Table) -> None:
        """Writes documents already in Arrow form (DOC_SCHEMA columns); order with `write` kept."""
        if table.schema != DOC_SCHEMA:
            table = table.select(DOC_SCHEMA.names).cast(DOC_SCHEMA)
        self._table_pending_docs()
        n, start = table.num_rows, 0
        while start < n:  # row groups stay near ROW_GROUP_DOCS however large the batch
            take = min(n - start, max(1, ROW_GROUP_DOCS - self._buffered_docs))
            part = table.slice(start, take)
            self._tables.append(part)
            self._buffered_docs += take
            self._buffered_bytes += part.column(1).nbytes
            start += take
            if self._buffered_bytes >= ROW_GROUP_BYTES or self._buffered_docs >= ROW_GROUP_DOCS:
                self._flush()

    def _table_pending_docs(self) -> None:
        if self._cols["id"]:
            self._tables.append(pa.table(self._cols, schema=DOC_SCHEMA))
            self._cols = {name: [] for name in DOC_SCHEMA.names}

    def _flush(self) -> None:
        self._table_pending_docs()
        if self._tables:
            table = self._tables[0] if len(self._tables) == 1 else pa.concat_tables(self._tables)
            self._writer.write_table(table)
            self._tables = []
        self._buffered_bytes = 0
        self._buffered_docs = 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def iter_docs(path: str | Path, batch_size: int = 8192) -> Iterator[Doc]:
    """Yields the documents of a shard one at a time, reading one record batch at a time."""
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=batch_size, columns=DOC_SCHEMA.names):
            cols = batch.to_pydict()
            yield from map(Doc, cols["id"], cols["text"], cols["dataset"], cols["meta"])
