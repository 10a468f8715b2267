"""Stage 1, per shard: exact hash, MinHash signature and LSH band keys of every document.

Output (`results/dedup_work/signatures/<dataset>/shard-NNNNN.parquet`), one row per input
document in input order: `row` (position in the shard), `id`, `chars` (length of the text, for
the survivor rule), `exact` (uint64), `band_000..` (uint64 bucket key per band) and `minhash`
(num_perm × uint32 little-endian: a datasketch affine32 signature, see `load_minhash`). Memory is
one batch of documents, whatever the shard size.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh import arrowfn as pc
from gpt2zh.chain import check_input
from gpt2zh.dedup import minhash as mh
from gpt2zh.dedup import shingles
from gpt2zh.dedup.spec import band_column

log = logging.getLogger(__name__)

BATCH_DOCS = 4096
#: A batch is cut into pieces of at most this many characters (bounds the numpy temporaries).
PIECE_CHARS = 1 << 21


def signature_schema(spec: Mapping[str, Any]) -> pa.Schema:
    return pa.schema(
        [
            pa.field("row", pa.uint32(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("chars", pa.uint32(), nullable=False),
            pa.field("exact", pa.uint64(), nullable=False),
            *(pa.field(band_column(i), pa.uint64(), nullable=False) for i in range(spec["bands"])),
            pa.field("minhash", pa.binary(4 * spec["num_perm"]), nullable=False),
        ],
        metadata={
            "num_perm": str(spec["num_perm"]),
            "seed": str(spec["seed"]),
            "ngram": str(spec["ngram"]),
            "scheme": "affine32",
        },
    )


def signatures(
    texts: list[str], spec: Mapping[str, Any], tokens: str = "chars"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact uint64[D], signatures uint32[D, num_perm], band keys uint64[D, bands])."""
    cp, lens = shingles.codepoints(texts)
    vals, nlens = shingles.normalize(cp, lens)
    exact = shingles.exact_hashes(vals, nlens)
    if tokens == "words":
        vals, nlens = shingles.word_units(texts)
    h32, counts = shingles.shingle_hashes(vals, nlens, spec["ngram"])
    sig = mh.minhash_batch(h32, counts, spec["num_perm"], spec["seed"])
    return exact, sig, mh.band_keys(sig, spec["bands"], spec["rows"])


def _pieces(lens: list[int]) -> list[tuple[int, int]]:
    out, start, acc = [], 0, 0
    for i, n in enumerate(lens):
        if acc and acc + n > PIECE_CHARS:
            out.append((start, i))
            start, acc = i, 0
        acc += n
    out.append((start, len(lens)))
    return out


def signature_shard(
    spec: Mapping[str, Any], dataset: str, in_path: str | Path, out_path: str | Path
) -> dict[str, Any]:
    check_input(in_path)  # the shard is what convert wrote (dedup's filter checks it again)
    tokens = spec["datasets"][dataset]["tokens"]
    schema = signature_schema(spec)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    t0 = time.perf_counter()
    docs = nbytes = 0
    with (
        pq.ParquetFile(in_path) as pf,
        pq.ParquetWriter(tmp, schema, compression="zstd", compression_level=1) as writer,
    ):
        for batch in pf.iter_batches(batch_size=BATCH_DOCS, columns=["id", "text"]):
            texts = batch.column("text").to_pylist()
            if not texts:
                continue
            lens = [len(t) for t in texts]
            parts = [signatures(texts[a:b], spec, tokens) for a, b in _pieces(lens)]
            exact = np.concatenate([p[0] for p in parts])
            sig = np.concatenate([p[1] for p in parts])
            bands = np.concatenate([p[2] for p in parts])
            n = len(texts)
            cols: dict[str, Any] = {
                "row": pa.array(np.arange(docs, docs + n, dtype=np.uint32)),
                "id": batch.column("id"),
                "chars": pa.array(np.asarray(lens, dtype=np.uint32)),
                "exact": pa.array(exact),
            }
            for i in range(spec["bands"]):
                cols[band_column(i)] = pa.array(bands[:, i])
            flat = np.ascontiguousarray(sig, dtype="<u4").view(np.uint8).reshape(-1)
            cols["minhash"] = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(4 * spec["num_perm"]), n, [None, pa.py_buffer(flat)]
            )
            writer.write_table(pa.table(cols, schema=schema))
            docs += n
            nbytes += pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0
    os.replace(tmp, out_path)
    secs = time.perf_counter() - t0
    log.info(
        "signatures %s %s: %d docs, %.1f MB in %.2f s (%.1f MB/s)",
        dataset,
        out_path.name,
        docs,
        nbytes / 1e6,
        secs,
        nbytes / 1e6 / secs if secs else 0.0,
    )
    return {"docs": docs, "bytes": nbytes, "seconds": secs}


def load_minhash(blob: bytes, seed: int = 1) -> Any:
    """One stored signature as a `datasketch.LeanMinHash` (affine32)."""
    from datasketch import LeanMinHash

    values = np.frombuffer(blob, dtype="<u4")
    return LeanMinHash(seed=seed, hashvalues=values, scheme="affine32")
