"""Encode one document shard into a token shard (Arrow IPC), EOS appended to every document.

Token shard: Arrow IPC file, one row per document in input order: `id` (string) and `input_ids`
as `list<uint16>` when every id fits (vocab ≤ 65535), else `list<uint32>`. Beside it
`<shard>.stats.json`: docs, chars, bytes, tokens (EOS included) of the shard.

Encoder (`tokenize.encoder`): `hf` is HF `tokenizers`; `fast` is the tiktoken encoder of
`gpt2zh.tokenize.fast`, token-for-token identical (so the shard bytes are too); `auto` takes
`fast` when the tokenizer is one it reproduces (our byte-level BPE with a known split pattern),
else `hf` (`gpt2zh tokenize --encoder`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh import arrowfn as pc
from gpt2zh.chain import check_input
from gpt2zh.layout import sidecar
from gpt2zh.ledger import write_json
from gpt2zh.tokenize.train_bpe import load_tokenizer

log = logging.getLogger(__name__)

UINT16_MAX_VOCAB = 65535


def token_type(vocab_size: int) -> pa.DataType:
    """uint16 while every token id fits (vocab ≤ 65535), else uint32."""
    return pa.uint16() if vocab_size <= UINT16_MAX_VOCAB else pa.uint32()


def token_schema(vocab_size: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("input_ids", pa.list_(token_type(vocab_size)), nullable=False),
        ]
    )


def encode_batch(tok: Any, texts: list[str], eos_id: int, dtype: np.dtype) -> pa.ListArray:
    """Encodes texts into one Arrow list array (EOS appended to each)."""
    encs = tok.encode_batch_fast(texts, add_special_tokens=False)
    lens = np.fromiter((len(e.ids) + 1 for e in encs), dtype=np.int64, count=len(encs))
    offsets = np.zeros(len(encs) + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    values = np.empty(int(offsets[-1]), dtype=dtype)
    for e, end in zip(encs, offsets[1:], strict=True):
        ids = e.ids
        values[end - 1 - len(ids) : end - 1] = ids
    values[offsets[1:] - 1] = eos_id
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def encode_shard(
    dataset: str,
    shard: int,
    in_path: str | Path,
    tokenizer_dir: str | Path,
    out_path: str | Path,
    *,
    batch_docs: int = 1024,
    encoder: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """`encoder`: auto, hf or fast (default auto); `threads` for the encoder (default:
    $RAYON_NUM_THREADS, which HF tokenizers also reads, else 1)."""
    from gpt2zh.tokenize.fast import make_encoder

    t0 = time.perf_counter()
    chain = check_input(in_path)  # the shard is what the last document stage wrote
    tok, eos_id = load_tokenizer(Path(tokenizer_dir))
    encoder = encoder or "auto"
    threads = threads or int(os.environ.get("RAYON_NUM_THREADS") or 1)
    fast = make_encoder(tokenizer_dir, encoder, hf_tok=tok)
    vocab = tok.get_vocab_size()
    schema = token_schema(vocab)
    dtype = np.dtype(schema.field("input_ids").type.value_type.to_pandas_dtype())
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    docs = chars = nbytes = tokens = 0
    try:
        with (
            pq.ParquetFile(in_path) as pf,
            pa.OSFile(str(tmp), "wb") as sink,
            pa.ipc.new_file(sink, schema) as writer,
        ):
            for batch in pf.iter_batches(batch_size=batch_docs, columns=["id", "text"]):
                text_col = batch.column("text")
                texts = text_col.to_pylist()
                if fast is not None:
                    values, offsets = fast.encode_packed(texts, eos_id, threads)
                    ids_arr = pa.ListArray.from_arrays(
                        pa.array(offsets.astype(np.int32)), pa.array(values.astype(dtype))
                    )
                else:
                    ids_arr = encode_batch(tok, texts, eos_id, dtype)
                writer.write_batch(pa.record_batch([batch.column("id"), ids_arr], schema=schema))
                docs += batch.num_rows
                chars += pc.sum(pc.utf8_length(text_col)).as_py() or 0
                nbytes += pc.sum(pc.binary_length(text_col)).as_py() or 0
                tokens += len(ids_arr.values)
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    stats = {
        "stage": "tokenize",
        "dataset": dataset,
        "shard": shard,
        "docs_in": docs,
        "docs_out": docs,
        "chars_in": chars,
        "chars_out": chars,
        "bytes_in": nbytes,
        "bytes_out": nbytes,
        "tokens": tokens,
        "vocab_size": vocab,
        "token_type": str(schema.field("input_ids").type.value_type),
        "encoder": "hf" if fast is None else "fast",
        "fallback_docs": 0 if fast is None else fast.fallback_docs,
        "drops": {},
        "seconds": round(time.perf_counter() - t0, 3),
        **chain,
    }
    write_json(sidecar(out_path, ".stats.json"), stats)
    log.info(
        "tokenize %s/%d (%s): %d docs, %d tokens, %.2f MB/s",
        dataset,
        shard,
        stats["encoder"],
        docs,
        tokens,
        nbytes / max(stats["seconds"], 1e-9) / 1e6,
    )
    return stats
