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

Memory. The interleave is one seeded permutation of every selected piece (a document in one
repeat), and a Fisher–Yates shuffle can only be drawn whole, so the job keeps O(pieces) state; it
keeps no more: per document its token count (uint32, 4 B), per piece its document number and its
place in the permutation (uint32 each below 2^32, else uint64). That is 12 B per document at one
epoch, 4 + 8 × epochs in general. Token values, offsets and ids stay in the memory-mapped token
shards (page cache, not the job's own memory); validation is chosen by a running top-k over the
id hashes, not a sort of every key; rows and `docs.arrow` are written as the permutation is walked,
in fixed-size chunks.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gpt2zh.digest import doc_unit, sha256_of, stable_int
from gpt2zh.layout import sidecar
from gpt2zh.ledger import write_json
from gpt2zh.mix.plan import Budget, MixError, plan_budgets
from gpt2zh.shards import shard_name

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Pieces per step of the streaming passes, and docs.arrow's rows per record batch: a multiple of
# 16, so that its int32/int64 columns fill whole 64-byte blocks as the whole table's slices did.
CHUNK = 65536
PAD = 63  # bytes of the following ids in a docs.arrow batch's id data (see DocsIndex._flush)
HASH_CHUNK = 1 << 16  # id hashes gathered before the validation top-k is pruned again


def index_dtype(n: int) -> np.dtype:
    """The narrowest unsigned type that numbers `n` things: half the bytes of numpy's int64."""
    return np.dtype(np.uint32 if n <= 2**32 else np.uint64)


@dataclass
class Batch:
    """One record batch of a token shard, as zero-copy views into its memory mapping."""

    values: np.ndarray  # flat token values
    offsets: (
        np.ndarray
    )  # document i is values[offsets[i] - offsets[0] : offsets[i + 1] - offsets[0]]
    id_offsets: np.ndarray
    id_data: np.ndarray  # utf-8 bytes of the ids

    @classmethod
    def of(cls, rb: pa.RecordBatch) -> Batch:
        col, ids = rb.column("input_ids"), rb.column("id")
        _, id_offsets, id_data = ids.buffers()
        return cls(
            values=col.values.to_numpy(zero_copy_only=True),
            offsets=col.offsets.to_numpy(),
            id_offsets=np.frombuffer(id_offsets, np.int32)[ids.offset : ids.offset + len(ids) + 1],
            id_data=np.frombuffer(id_data, np.uint8),
        )

    def tokens(self, row: int) -> np.ndarray:
        base = self.offsets[0]
        return self.values[self.offsets[row] - base : self.offsets[row + 1] - base]

    def doc_id(self, row: int) -> bytes:
        return self.id_data[self.id_offsets[row] : self.id_offsets[row + 1]].tobytes()


@dataclass
class Corpus:
    """Every document of the mixed datasets' token shards, numbered dataset by dataset (in weight
    order), shard by shard as given. Only the token counts are copied out of the mappings."""

    names: list[str]
    batches: list[Batch]
    ids: list[pa.Array]  # per batch, for the validation hashes
    batch_base: np.ndarray  # batch b holds documents [batch_base[b], batch_base[b + 1])
    doc_base: np.ndarray  # dataset d holds documents [doc_base[d], doc_base[d + 1])
    lengths: np.ndarray  # uint32 tokens per document
    dtype: np.dtype

    @classmethod
    def open(cls, names: Sequence[str], token_shards: Iterable[Path]) -> Corpus:
        per: dict[str, list[pa.RecordBatch]] = {d: [] for d in names}
        dtypes: dict[str, np.dtype] = {}
        for path in token_shards:
            name = json.loads(sidecar(path, ".stats.json").read_text("utf-8"))["dataset"]
            if name not in per:
                continue
            reader = pa.ipc.open_file(pa.memory_map(str(path)))
            value_type = reader.schema.field("input_ids").type.value_type
            dtypes.setdefault(name, np.dtype(value_type.to_pandas_dtype()))
            for i in range(reader.num_record_batches):
                rb = reader.get_batch(i)
                if rb.num_rows:
                    per[name].append(rb)
        rbs = [rb for d in names for rb in per[d]]
        counts = np.array([rb.num_rows for rb in rbs], dtype=np.int64)
        batch_base = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        per_dataset = [sum(rb.num_rows for rb in per[d]) for d in names]
        lengths = np.empty(int(batch_base[-1]), dtype=np.uint32)
        batches = [Batch.of(rb) for rb in rbs]
        for b, batch in enumerate(batches):
            lengths[batch_base[b] : batch_base[b + 1]] = np.diff(batch.offsets)
        return cls(
            names=list(names),
            batches=batches,
            ids=[rb.column("id") for rb in rbs],
            batch_base=batch_base,
            doc_base=np.concatenate([[0], np.cumsum(per_dataset)]).astype(np.int64),
            lengths=lengths,
            dtype=next((dtypes[d] for d in names if d in dtypes), np.dtype(np.uint16)),
        )

    def docs(self, d: int) -> range:
        return range(int(self.doc_base[d]), int(self.doc_base[d + 1]))

    def tokens(self, d: int) -> int:
        return int(self.lengths[self.doc_base[d] : self.doc_base[d + 1]].sum(dtype=np.int64))

    def locate(self, docs: np.ndarray) -> tuple[list[int], list[int]]:
        """(batch, row) of each document, as lists for the per-piece loops."""
        b = np.searchsorted(self.batch_base, docs, side="right") - 1
        return b.tolist(), (docs - self.batch_base[b]).tolist()

    def first_eos(self) -> int | None:
        """Every document ends with EOS: the last token of the first one."""
        for d in range(len(self.names)):
            first = int(self.doc_base[d])
            if first < self.doc_base[d + 1] and self.lengths[first] > 0:
                b, row = self.locate(np.array([first]))
                return int(self.batches[b[0]].tokens(row[0])[-1])
        return None


def take_until(order: np.ndarray, lengths: np.ndarray, target: int) -> tuple[np.ndarray, int]:
    """Leading documents of `order` whose tokens reach `target`; the last one's length is cut
    to hit it exactly. Returns (docs, tokens taken of the last doc). Walks `order` in chunks so
    that a large subset costs no running sum per document."""
    if target <= 0 or len(order) == 0:
        return order[:0], 0
    before = 0
    for s in range(0, len(order), CHUNK * 16):
        cum = np.cumsum(lengths[order[s : s + CHUNK * 16]], dtype=np.int64) + before
        k = int(np.searchsorted(cum, target))
        if k < len(cum):
            prev = int(cum[k - 1]) if k else before
            return order[: s + k + 1], min(int(lengths[order[s + k]]), target - prev)
        before = int(cum[-1])
    last = int(lengths[order[-1]])
    return order, min(last, target - (before - last))


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng([seed, stable_int(*parts)])


def _permutation(rng: np.random.Generator, n: int, dtype: np.dtype) -> np.ndarray:
    """`rng.permutation(n)` as `dtype` (uint32 where it fits): shuffle draws the same swaps
    whatever the item size, so the order is the same and the array half the size."""
    perm = np.arange(n, dtype=dtype)
    rng.shuffle(perm)
    return perm


def hold_out(corpus: Corpus, d: int, target: int, seed: int) -> tuple[np.ndarray, int]:
    """Dataset `d`'s validation documents: `take_until` over its documents in the stable order of
    their id hash. Only the running prefix that can still reach `target` is kept (a later document
    only pushes documents of equal or larger key further back), not a key per document."""
    docs = corpus.docs(d)
    if target <= 0 or not len(docs):
        return np.zeros(0, np.int64), 0
    keys, cand = np.zeros(0, np.float64), np.zeros(0, np.int64)
    pending_keys: list[np.ndarray] = []
    pending_docs: list[np.ndarray] = []
    first = np.searchsorted(corpus.batch_base, docs.start, side="right") - 1
    last = np.searchsorted(corpus.batch_base, docs.stop, side="left")
    for b in range(int(first), int(last)):
        ids = corpus.ids[b].to_pylist()
        pending_keys.append(np.array([doc_unit(i, seed, "val") for i in ids], dtype=np.float64))
        pending_docs.append(np.arange(corpus.batch_base[b], corpus.batch_base[b + 1]))
        if sum(map(len, pending_docs)) >= HASH_CHUNK or b == last - 1:
            keys = np.concatenate([keys, *pending_keys])
            cand = np.concatenate([cand, *pending_docs])
            pending_keys, pending_docs = [], []
            order = np.lexsort((cand, keys))  # by key, ties by document: a stable argsort
            sel, _ = take_until(order, corpus.lengths[cand], target)
            keys, cand = keys[sel], cand[sel]
    return take_until(cand, corpus.lengths, target)


@dataclass
class Stream:
    """Selected pieces as segments of document numbers (one per dataset and repeat), end to
    end. `cut[s]` is how many tokens segment s takes of its last document."""

    segments: list[np.ndarray] = field(default_factory=list)
    dataset: list[int] = field(default_factory=list)
    repeat: list[int] = field(default_factory=list)
    cut: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # per segment

    def add(
        self, docs: np.ndarray, last: int, dataset: int, repeat: int, lengths: np.ndarray
    ) -> None:
        if not len(docs):
            return
        self.segments.append(docs)
        self.dataset.append(dataset)
        self.repeat.append(repeat)
        self.cut.append(last)
        full = int(lengths[docs].sum(dtype=np.int64))
        self.tokens.append(full - int(lengths[docs[-1]]) + last)

    def __len__(self) -> int:
        return sum(map(len, self.segments))

    def segment_of(self, pos: np.ndarray) -> np.ndarray:
        bounds = np.cumsum([len(s) for s in self.segments], dtype=np.int64)
        return np.searchsorted(bounds, pos, side="right")

    def pieces(self, pos: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
        """(document, tokens taken, dataset, repeat) of the pieces at positions `pos`."""
        seg = self.segment_of(pos)
        start = np.concatenate([[0], np.cumsum([len(s) for s in self.segments])]).astype(np.int64)
        docs = np.empty(len(pos), dtype=np.int64)
        for s in np.unique(seg).tolist():
            here = seg == s
            docs[here] = self.segments[s][pos[here] - start[s]]
        tokens = lengths[docs].astype(np.int64)
        is_last = pos == start[seg + 1] - 1
        tokens[is_last] = np.asarray(self.cut, dtype=np.int64)[seg[is_last]]
        return (
            docs,
            tokens,
            np.asarray(self.dataset, dtype=np.int32)[seg],
            np.asarray(self.repeat, dtype=np.int32)[seg],
        )

    def tokens_of(self, dataset: int) -> int:
        return sum(t for t, d in zip(self.tokens, self.dataset, strict=True) if d == dataset)


def select_train(
    corpus: Corpus, d: int, val: np.ndarray, budget: Budget, seed: int, out: Stream
) -> None:
    """Dataset `d`'s repeats into `out`: each a seeded shuffle of its train documents, the last
    one cut to the budget. The shuffle is drawn over positions in the train pool, then mapped to
    document numbers around the held-out ones (no pool array)."""
    docs, name = corpus.docs(d), corpus.names[d]
    held = np.sort(val) - docs.start
    shift = held - np.arange(len(held))  # pool position p is document p + #(shift ≤ p)
    full, rest = divmod(budget.planned, budget.available)
    dtype = index_dtype(len(corpus.lengths))  # global document numbers
    for r in range(full + (1 if rest else 0)):
        perm = _permutation(_rng(seed, "repeat", name, r), len(docs) - len(held), dtype)
        for s in range(0, len(perm), CHUNK * 16):
            part = perm[s : s + CHUNK * 16]
            part += (np.searchsorted(shift, part, side="right") + docs.start).astype(part.dtype)
        if r < full:
            out.add(perm, int(corpus.lengths[perm[-1]]), d, r, corpus.lengths)
        else:
            sel, last = take_until(perm, corpus.lengths, rest)
            out.add(sel.copy(), last, d, r, corpus.lengths)  # not a view pinning all of perm


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
        self.shards.append({"path": path, "rows": rows, "sha256": sha256_of(path)[1]})
        self.rows += rows
        self.pos = 0

    def close(self) -> int:
        """Writes the last full rows; returns the dropped tail (tokens of the partial row)."""
        rows, tail = divmod(self.pos, self.seq_len)
        if rows or not self.shards:  # always at least one (maybe empty) shard
            self._flush(rows)
        return tail


class DocsIndex:
    """`docs.arrow`, written in record batches of CHUNK rows as the pieces are packed, so that it
    is never a table in memory. Its dictionaries (split, dataset) are known up front, in order of
    first appearance, as `dictionary_encode` of the whole columns gives them."""

    def __init__(
        self, path: Path, splits: Sequence[str], datasets: Sequence[str], names: Sequence[str]
    ) -> None:
        self.path, self.tmp = path, path.with_name(path.name + ".tmp")
        self.splits = pa.array(splits, pa.string())
        self.datasets = pa.array(datasets, pa.string())
        self.code = np.array([list(datasets).index(n) if n in datasets else -1 for n in names])
        dictionary = pa.dictionary(pa.int32(), pa.string())
        self.schema = pa.schema(
            [
                ("split", dictionary),
                ("dataset", dictionary),
                ("id", pa.string()),
                ("repeat", pa.int32()),
                ("tokens", pa.int64()),
            ]
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.sink = pa.OSFile(str(self.tmp), "wb")
        self.writer = pa.ipc.new_file(self.sink, self.schema)
        self.columns: list[list[np.ndarray]] = [[], [], [], []]  # split, dataset, repeat, tokens
        self.ids: list[bytes] = []

    def add(
        self,
        split: str,
        datasets: np.ndarray,
        ids: list[bytes],
        repeats: np.ndarray,
        tokens: np.ndarray,
    ) -> None:
        """Rows of one split; `datasets` as indices into `Corpus.names`."""
        code = self.splits.to_pylist().index(split)
        for col, part in zip(
            self.columns,
            (np.full(len(ids), code, np.int32), self.code[datasets], repeats, tokens),
            strict=True,
        ):
            col.append(part)
        self.ids += ids
        while len(self.ids) >= CHUNK and len(self._bytes_from(CHUNK)) >= PAD:
            self._flush(CHUNK)

    def _flush(self, rows: int) -> None:
        split, datasets, repeats, tokens = (np.concatenate(c) for c in self.columns)
        self.columns = [[c[rows:]] for c in (split, datasets, repeats, tokens)]
        ids, self.ids = self.ids[:rows], self.ids[rows:]
        offsets = np.cumsum([0, *map(len, ids)], dtype=np.int64).astype(np.int32)
        # Arrow writes a slice's string data up to the next multiple of 64 bytes, so the batches
        # sliced from one whole column carried the next ids' first bytes: so do these.
        data = b"".join(ids)
        data += self._bytes_from(0)[: -len(data) % 64]
        id_array = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
        batch = pa.record_batch(
            [
                pa.DictionaryArray.from_arrays(pa.array(split[:rows], pa.int32()), self.splits),
                pa.DictionaryArray.from_arrays(
                    pa.array(datasets[:rows], pa.int32()), self.datasets
                ),
                id_array,
                pa.array(repeats[:rows], pa.int32()),
                pa.array(tokens[:rows], pa.int64()),
            ],
            schema=self.schema,
        )
        self.writer.write_batch(batch)

    def _bytes_from(self, row: int) -> bytes:
        """Up to PAD bytes of the pending ids from `row` on (fewer only at the end)."""
        out = b""
        for doc_id in itertools.islice(self.ids, row, None):
            if len(out) >= PAD:
                break
            out += doc_id
        return out[:PAD]

    def close(self) -> None:
        while self.ids:
            self._flush(min(CHUNK, len(self.ids)))
        self.writer.close()
        self.sink.close()
        self.tmp.replace(self.path)


def _pack(
    corpus: Corpus,
    stream: Stream,
    order: np.ndarray | None,
    sinks: Sequence[ShardSink],
    index: DocsIndex,
    split: str,
    eos: int,
) -> None:
    """Writes the pieces of `stream` (in `order`, else as selected) into every sink, CHUNK at a
    time, and their rows into docs.arrow."""
    for s in range(0, len(stream), CHUNK):
        pos = (
            order[s : s + CHUNK] if order is not None else np.arange(s, min(s + CHUNK, len(stream)))
        )
        docs, tokens, datasets, repeats = stream.pieces(pos, corpus.lengths)
        ids: list[bytes] = []
        for b, row, taken in zip(*corpus.locate(docs), tokens.tolist(), strict=True):
            batch = corpus.batches[b]
            t = batch.tokens(row)
            if taken < len(t):
                t = np.concatenate([t[: taken - 1], np.array([eos], dtype=t.dtype)])
            for sink in sinks:
                sink.add(t)
            ids.append(batch.doc_id(row))
        index.add(split, datasets, ids, repeats, tokens)


def _first_seen(train: Stream, order: np.ndarray) -> list[int]:
    """Datasets in order of their first piece in the interleaved train stream."""
    seen: list[int] = []
    for s in range(0, len(order), CHUNK):
        if len(seen) == len(set(train.dataset)):
            break
        codes = np.asarray(train.dataset)[train.segment_of(order[s : s + CHUNK])]
        found, first = np.unique(codes, return_index=True)
        seen += [c for c in found[np.argsort(first)].tolist() if c not in seen]
    return seen


def build_mix(spec: Mapping[str, Any], token_shards: Sequence[Path], out_dir: Path) -> dict:
    """The `gpt2zh mix` stage. `spec`: `{"mix": <config mix block>, "weights": {d: w}
    (normalised), "stage": <last document stage>}`."""
    t0 = time.perf_counter()
    cfg = spec["mix"]
    weights: dict[str, float] = dict(spec["weights"])
    seq_len, seed = int(cfg["seq_len"]), int(cfg["seed"])
    out_dir = Path(out_dir)
    corpus = Corpus.open(list(weights), map(Path, token_shards))
    code = {name: d for d, name in enumerate(corpus.names)}
    dtype, eos = corpus.dtype, corpus.first_eos()
    val_cfg = cfg["val_tokens"]
    val: dict[str, Stream] = {}
    held: dict[str, np.ndarray] = {}
    available: dict[str, int] = {}
    val_planned: dict[str, int] = {}
    warnings: list[str] = []
    for name in sorted(weights):
        total = corpus.tokens(code[name])
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
        held[name], last = hold_out(corpus, code[name], rows * seq_len, seed)
        val[name] = Stream()
        val[name].add(held[name], last, code[name], 0, corpus.lengths)
        val_planned[name] = rows * seq_len
        available[name] = total - int(corpus.lengths[held[name]].sum(dtype=np.int64))

    budgets, plan_warnings = plan_budgets(
        weights,
        available,
        total_tokens=cfg.get("total_tokens"),
        epochs=cfg.get("epochs") or {},
        on_empty=cfg["on_empty"],
        stage=spec.get("stage", "the last document stage"),
    )
    warnings += plan_warnings

    train = Stream()
    for name, b in budgets.items():
        select_train(corpus, code[name], held[name], b, seed, train)
    order = _permutation(_rng(seed, "interleave"), len(train), index_dtype(len(train)))
    val_names = [name for name in sorted(val) if len(val[name])]
    seen = [corpus.names[d] for d in _first_seen(train, order)]
    index = DocsIndex(
        out_dir / "docs.arrow",
        [s for s, n in (("train", len(train)), ("val", len(val_names))) if n],
        seen + [name for name in val_names if name not in seen],
        corpus.names,
    )

    shard_rows = max(1, int(cfg["shard_tokens"]) // seq_len)
    eos_id = eos if eos is not None else 0
    sink = ShardSink(out_dir / "train", seq_len, dtype, shard_rows)
    _pack(corpus, train, order, [sink], index, "train", eos_id)
    train_tail = sink.close()
    train_info = _split_info(sink, out_dir, train_tail)
    # Tokens per dataset actually in packed train rows: the dropped tail comes off the end.
    actual = {name: train.tokens_of(code[name]) for name in budgets}
    left, end = train_tail, len(order)
    while left > 0 and end > 0:
        start = max(0, end - seq_len)
        _, tokens, datasets, _ = train.pieces(order[start:end], corpus.lengths)
        for taken, d in zip(tokens[::-1].tolist(), datasets[::-1].tolist(), strict=True):
            cut = min(left, taken)
            actual[corpus.names[d]] -= cut
            left -= cut
            if left <= 0:
                break
        end = start
    del order

    val_sink = ShardSink(out_dir / "val", seq_len, dtype, shard_rows)
    by_dataset = {}
    for name in sorted(val):  # the combined val set: the same rows, dataset by dataset
        s = ShardSink(out_dir / "val_by_dataset" / name, seq_len, dtype, shard_rows)
        _pack(corpus, val[name], None, [s, val_sink], index, "val", eos_id)
        by_dataset[name] = _split_info(s, out_dir, s.close())
    val_info = _split_info(val_sink, out_dir, val_sink.close())
    index.close()

    manifest = {
        "seq_len": seq_len,
        "seed": seed,
        "token_type": str(pa.from_numpy_dtype(dtype)),
        "eos_id": eos_id,
        "stage": spec.get("stage"),
        "datasets": {
            name: {
                "weight": round(b.weight, 6),
                "docs": len(corpus.docs(code[name])),
                "tokens": corpus.tokens(code[name]),
                "available_tokens": b.available,
                "planned_tokens": b.planned,
                "selected_tokens": train.tokens_of(code[name]),
                "train_tokens": actual[name],
                "epochs": round(b.epochs, 4),
                "val_docs": len(val[name]),
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
