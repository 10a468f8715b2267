"""The mix stage: hold out validation by document, select train documents by budget, pack.

1. Per dataset, validation documents are the first ones in an order keyed by a hash of their id
   (stable when shard counts change) until the dataset's `val_tokens` (rounded up to whole rows,
   capped at `max_val_fraction` of the dataset) are reached. They never enter train.
2. Train budgets come from `plan.plan_budgets`. A dataset is repeated `floor(budget/size)` times,
   each repeat in a fresh seeded shuffle, and the remainder is a seeded subset; the last document
   of a subset is cut to hit the budget exactly and still ends with EOS.
3. All selected documents of all datasets are shuffled together (seeded) and packed end to end
   into rows of `seq_len` tokens: no padding, no truncation; only the final partial row
   (< seq_len tokens) is dropped.

Outputs (Arrow IPC stream format, one `input_ids` column of
`fixed_size_list<uint16|uint32>[seq_len]`, each loadable with `datasets.Dataset.from_file`):
`train/shard-NNNNN.arrow`, `val/shard-NNNNN.arrow`
(all datasets' validation rows), `val_by_dataset/<dataset>/shard-NNNNN.arrow`; `docs.arrow` (every
selected document: split, dataset, id, repeat, tokens, in packing order) and `manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gpt2zh.ledger import write_json
from gpt2zh.mix.plan import MixError, plan_budgets, stable_int
from gpt2zh.shards import shard_name
from gpt2zh.tokenize.encode import tokens_path_stats
from gpt2zh.tokenize.train_bpe import doc_unit

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass
class DatasetDocs:
    """Every document of one dataset's token shards, memory-mapped: per document the record
    batch it lives in and its [start, end) within that batch's flat token values."""

    name: str
    values: list[np.ndarray] = field(default_factory=list)  # per record batch
    ids: list[str] = field(default_factory=list)
    batch: list[np.ndarray] = field(default_factory=list)
    start: list[np.ndarray] = field(default_factory=list)
    end: list[np.ndarray] = field(default_factory=list)
    dtype: np.dtype | None = None

    def add_shard(self, path: Path) -> None:
        source = pa.memory_map(str(path))
        reader = pa.ipc.open_file(source)
        if self.dtype is None:
            self.dtype = np.dtype(
                reader.schema.field("input_ids").type.value_type.to_pandas_dtype()
            )
        for i in range(reader.num_record_batches):
            rb = reader.get_batch(i)
            col = rb.column("input_ids")
            offsets = col.offsets.to_numpy()
            values = col.values.to_numpy(zero_copy_only=True)
            base = offsets[0]
            self.values.append(values)
            self.ids.extend(rb.column("id").to_pylist())
            n = len(col)
            self.batch.append(np.full(n, len(self.values) - 1, dtype=np.int32))
            self.start.append((offsets[:-1] - base).astype(np.int64))
            self.end.append((offsets[1:] - base).astype(np.int64))

    def finish(self) -> None:
        cat = np.concatenate if self.batch else (lambda _: np.zeros(0, np.int64))
        self.batch_ = cat(self.batch)
        self.start_ = cat(self.start)
        self.end_ = cat(self.end)
        self.lengths = (self.end_ - self.start_) if self.batch else np.zeros(0, np.int64)

    def tokens(self, doc: int) -> np.ndarray:
        return self.values[self.batch_[doc]][self.start_[doc] : self.end_[doc]]


@dataclass
class Piece:
    """One document (or the cut head of one) in a split's stream."""

    dataset: str
    doc: int
    repeat: int
    length: int  # tokens taken (≤ the document's length; a cut piece ends with EOS)


def take_until(order: np.ndarray, lengths: np.ndarray, target: int) -> tuple[np.ndarray, int]:
    """Leading documents of `order` whose tokens reach `target`; the last one's length is cut
    to hit it exactly. Returns (docs, tokens taken of the last doc)."""
    if target <= 0 or len(order) == 0:
        return order[:0], 0
    cum = np.cumsum(lengths[order])
    k = int(np.searchsorted(cum, target)) + 1
    k = min(k, len(order))
    before = int(cum[k - 2]) if k >= 2 else 0
    return order[:k], min(int(lengths[order[k - 1]]), target - before)


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng([seed, stable_int(*parts)])


class ShardSink:
    """Writes packed rows of `seq_len` tokens into Arrow IPC shards of `shard_rows` rows."""

    def __init__(self, folder: Path, seq_len: int, dtype: np.dtype, shard_rows: int) -> None:
        self.folder, self.seq_len, self.dtype = folder, seq_len, dtype
        self.shard_rows = max(1, shard_rows)
        self.buf = np.empty(self.shard_rows * seq_len, dtype=dtype)
        self.pos = 0
        self.rows = 0
        self.shards: list[dict[str, Any]] = []
        self.type = pa.list_(pa.from_numpy_dtype(dtype), seq_len)
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, tokens: np.ndarray) -> None:
        i = 0
        while i < len(tokens):
            n = min(len(tokens) - i, len(self.buf) - self.pos)
            self.buf[self.pos : self.pos + n] = tokens[i : i + n]
            self.pos += n
            i += n
            if self.pos == len(self.buf):
                self._flush(self.shard_rows)

    def _flush(self, rows: int) -> None:
        path = self.folder / f"{shard_name(len(self.shards))}.arrow"
        flat = pa.array(self.buf[: rows * self.seq_len])
        arr = pa.FixedSizeListArray.from_arrays(flat, self.seq_len)
        schema = pa.schema([pa.field("input_ids", self.type, nullable=False)])
        tmp = path.with_name(path.name + ".tmp")
        # IPC *stream* format: what `datasets.Dataset.from_file` reads (and memory-maps).
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
            batch_rows = max(1, 8192 // max(1, self.seq_len // 128))
            for s in range(0, rows, batch_rows):
                w.write_batch(pa.record_batch([arr.slice(s, batch_rows)], schema=schema))
        tmp.replace(path)
        self.shards.append({"path": path, "rows": rows, "sha256": sha256(path)})
        self.rows += rows
        self.pos = 0

    def close(self) -> int:
        """Writes the last full rows; returns the dropped tail (tokens of the partial row)."""
        rows, tail = divmod(self.pos, self.seq_len)
        if rows or not self.shards:  # always at least one (maybe empty) shard
            self._flush(rows)
        return tail


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_stream(
    pieces: Sequence[Piece], docs: Mapping[str, DatasetDocs], sink: ShardSink, eos: int
) -> int:
    for p in pieces:
        t = docs[p.dataset].tokens(p.doc)
        if p.length < len(t):
            t = np.concatenate([t[: p.length - 1], np.array([eos], dtype=t.dtype)])
        sink.add(t)
    return sink.close()


def build_mix(spec: Mapping[str, Any], token_shards: Sequence[Path], out_dir: Path) -> dict:
    """The `gpt2zh mix` stage. `spec`: `{"mix": <config mix block>, "weights": {d: w}
    (normalised), "stage": <last document stage>}`."""
    t0 = time.perf_counter()
    cfg = spec["mix"]
    weights: dict[str, float] = dict(spec["weights"])
    seq_len, seed = int(cfg["seq_len"]), int(cfg["seed"])
    out_dir = Path(out_dir)
    docs: dict[str, DatasetDocs] = {d: DatasetDocs(d) for d in weights}
    for path in map(Path, token_shards):
        st = json.loads(tokens_path_stats(path).read_text("utf-8"))
        if st["dataset"] in docs:
            docs[st["dataset"]].add_shard(path)
    dtype = next((d.dtype for d in docs.values() if d.dtype is not None), np.dtype(np.uint16))
    eos = None
    for d in docs.values():
        d.finish()
        if eos is None and len(d.lengths) and d.lengths[0] > 0:
            eos = int(d.tokens(0)[-1])  # every document ends with EOS
    val_cfg = cfg["val_tokens"]
    val_pieces: dict[str, list[Piece]] = {}
    train_pool: dict[str, np.ndarray] = {}
    available: dict[str, int] = {}
    val_planned: dict[str, int] = {}
    warnings: list[str] = []
    for name, d in sorted(docs.items()):
        n, total = len(d.lengths), int(d.lengths.sum())
        want = int(val_cfg.get(name, 0) if isinstance(val_cfg, dict) else val_cfg)
        rows = math.ceil(want / seq_len)
        cap_rows = int(total * float(cfg["max_val_fraction"])) // seq_len
        if rows > cap_rows:
            if want:
                warnings.append(
                    f"mix: {name}: val_tokens {want} capped to {cap_rows * seq_len} "
                    f"(max_val_fraction {cfg['max_val_fraction']} of {total} tokens)"
                )
            rows = cap_rows
        keys = np.array([doc_unit(i, seed, "val") for i in d.ids], dtype=np.float64)
        order = np.argsort(keys, kind="stable")
        vdocs, last = take_until(order, d.lengths, rows * seq_len)
        val_pieces[name] = [Piece(name, int(i), 0, int(d.lengths[i])) for i in vdocs[:-1]] + (
            [Piece(name, int(vdocs[-1]), 0, last)] if len(vdocs) else []
        )
        val_planned[name] = rows * seq_len
        is_val = np.zeros(n, dtype=bool)
        is_val[vdocs] = True
        if len(vdocs) and last < d.lengths[vdocs[-1]]:
            is_val[vdocs[-1]] = True  # a cut val document's tail is not reused in train
        train_pool[name] = np.flatnonzero(~is_val)
        available[name] = int(d.lengths[train_pool[name]].sum())

    budgets, plan_warnings = plan_budgets(
        weights,
        available,
        total_tokens=cfg.get("total_tokens"),
        epochs=cfg.get("epochs") or {},
        on_empty=cfg["on_empty"],
        stage=spec.get("stage", "the last document stage"),
    )
    warnings += plan_warnings

    train: list[Piece] = []
    for name, b in budgets.items():
        d, pool = docs[name], train_pool[name]
        full, rest = divmod(b.planned, b.available)
        for r in range(full + (1 if rest else 0)):
            perm = pool[_rng(seed, "repeat", name, r).permutation(len(pool))]
            if r < full:
                train += [Piece(name, int(i), r, int(d.lengths[i])) for i in perm]
            else:
                sel, last = take_until(perm, d.lengths, rest)
                train += [Piece(name, int(i), r, int(d.lengths[i])) for i in sel[:-1]]
                train.append(Piece(name, int(sel[-1]), r, last))
    order = _rng(seed, "interleave").permutation(len(train))
    train = [train[i] for i in order]

    shard_rows = max(1, int(cfg["shard_tokens"]) // seq_len)
    eos_id = eos if eos is not None else 0
    sink = ShardSink(out_dir / "train", seq_len, dtype, shard_rows)
    train_tail = _write_stream(train, docs, sink, eos_id)
    train_info = _split_info(sink, out_dir, train_tail)
    # Tokens per dataset actually in packed train rows: the dropped tail comes off the end.
    actual = {name: 0 for name in budgets}
    for p in train:
        actual[p.dataset] += p.length
    left = train_tail
    for p in reversed(train):
        if left <= 0:
            break
        cut = min(left, p.length)
        actual[p.dataset] -= cut
        left -= cut

    val_sink = ShardSink(out_dir / "val", seq_len, dtype, shard_rows)
    by_dataset = {}
    for name in sorted(val_pieces):
        s = ShardSink(out_dir / "val_by_dataset" / name, seq_len, dtype, shard_rows)
        tail = _write_stream(val_pieces[name], docs, s, eos_id)
        by_dataset[name] = _split_info(s, out_dir, tail)
        for p in val_pieces[name]:  # the combined val set: the same rows, dataset by dataset
            t = docs[name].tokens(p.doc)
            if p.length < len(t):
                t = np.concatenate([t[: p.length - 1], np.array([eos_id], dtype=t.dtype)])
            val_sink.add(t)
    val_info = _split_info(val_sink, out_dir, val_sink.close())

    _write_docs_index(out_dir / "docs.arrow", train, val_pieces, docs)
    manifest = {
        "seq_len": seq_len,
        "seed": seed,
        "token_type": str(pa.from_numpy_dtype(dtype)),
        "eos_id": eos_id,
        "stage": spec.get("stage"),
        "datasets": {
            name: {
                "weight": round(b.weight, 6),
                "docs": len(docs[name].lengths),
                "tokens": int(docs[name].lengths.sum()),
                "available_tokens": b.available,
                "planned_tokens": b.planned,
                "selected_tokens": sum(p.length for p in train if p.dataset == name),
                "train_tokens": actual[name],
                "epochs": round(b.epochs, 4),
                "val_docs": len(val_pieces[name]),
                "val_planned_tokens": val_planned[name],
                "val_tokens": by_dataset[name]["tokens"],
            }
            for name, b in budgets.items()
        },
        "train": train_info,
        "val": val_info,
        "val_by_dataset": by_dataset,
        "total_tokens": train_info["tokens"] + val_info["tokens"],
        "warnings": warnings,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if not train_info["rows"]:
        warnings.append(f"mix: fewer than seq_len={seq_len} train tokens; train/ is empty")
        log.warning("%s", warnings[-1])
    write_json(out_dir / MANIFEST, manifest)
    log.info(
        "mix: %d train rows (%d tokens), %d val rows, seq_len %d, %.1f s",
        train_info["rows"],
        train_info["tokens"],
        val_info["rows"],
        seq_len,
        manifest["seconds"],
    )
    return manifest


def _split_info(sink: ShardSink, out_dir: Path, tail: int) -> dict[str, Any]:
    return {
        "rows": sink.rows,
        "tokens": sink.rows * sink.seq_len,
        "dropped_tail_tokens": tail,
        "shards": [
            {"path": str(s["path"].relative_to(out_dir)), "rows": s["rows"], "sha256": s["sha256"]}
            for s in sink.shards
        ],
    }


def _write_docs_index(
    path: Path,
    train: Sequence[Piece],
    val: Mapping[str, Sequence[Piece]],
    docs: Mapping[str, DatasetDocs],
) -> None:
    pieces = [("train", p) for p in train] + [("val", p) for name in sorted(val) for p in val[name]]
    table = pa.table(
        {
            "split": pa.array([s for s, _ in pieces], pa.string()).dictionary_encode(),
            "dataset": pa.array([p.dataset for _, p in pieces], pa.string()).dictionary_encode(),
            "id": pa.array([docs[p.dataset].ids[p.doc] for _, p in pieces], pa.string()),
            "repeat": pa.array([p.repeat for _, p in pieces], pa.int32()),
            "tokens": pa.array([p.length for _, p in pieces], pa.int64()),
        }
    )
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table, max_chunksize=65536)
    tmp.replace(path)


def check_no_leak(index_path: Path) -> None:
    """Raises MixError if a document id is in both train and val (used by tests, and cheap)."""
    with pa.memory_map(str(index_path)) as src:
        t = pa.ipc.open_file(src).read_all()
    split = t["split"].to_pylist()
    ids = t["id"].to_pylist()
    val = {i for s, i in zip(split, ids, strict=True) if s == "val"}
    both = {i for s, i in zip(split, ids, strict=True) if s == "train" and i in val}
    if both:
        raise MixError(f"mix: {len(both)} documents in train and val, e.g. {sorted(both)[:3]}")
