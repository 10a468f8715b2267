"""A tiny tokenizer and packed mix written directly (no Snakemake), for the training tests."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gpt2zh.config import load_config
from helpers import REPO

POEMS = [
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。",
    "红豆生南国，春来发几枝。愿君多采撷，此物最相思。",
]


def make_tokenizer(out: Path, vocab_size: int = 300) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(POEMS * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    fast.save_pretrained(str(out))
    return fast


def _write_split(folder: Path, rows: np.ndarray, rows_per_shard: int) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    seq = rows.shape[1]
    shards = []
    for i, start in enumerate(range(0, max(len(rows), 1), rows_per_shard)):
        part = rows[start : start + rows_per_shard]
        flat = pa.array(part.reshape(-1), type=pa.uint16())
        col = pa.FixedSizeListArray.from_arrays(flat, seq)
        path = folder / f"shard-{i:05d}.arrow"
        table = pa.table({"input_ids": col})
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        shards.append({"path": f"{folder.name}/{path.name}", "rows": len(part), "sha256": digest})
    return {"shards": shards, "rows": len(rows), "tokens": int(rows.size)}


def make_mix(
    out: Path, tokenizer: Any, seq_len: int = 32, train_rows: int = 64, val_rows: int = 8
) -> Path:
    """Poems encoded, EOS between them, packed into rows of seq_len (like `gpt2zh mix`)."""
    eos = tokenizer.eos_token_id
    stream = []
    for text in POEMS:
        stream += [*tokenizer(text).input_ids, eos]
    need = (train_rows + val_rows) * seq_len
    tokens = np.resize(np.array(stream, dtype=np.uint16), need).reshape(-1, seq_len)
    manifest = {
        "seq_len": seq_len,
        "eos_id": eos,
        "token_type": "uint16",
        "datasets": {"poems": {"tokens": int(tokens.size)}},
        "train": _write_split(out / "train", tokens[:train_rows], 16),
        "val": _write_split(out / "val", tokens[train_rows:], 16),
    }
    (out / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    return out


def spec(**train: Any) -> dict[str, Any]:
    """The tiny config's model and train blocks, with overrides."""
    cfg = load_config([REPO / "workflow" / "configs" / "tiny.yaml"])
    out = {"model": copy.deepcopy(cfg["model"]), "train": copy.deepcopy(cfg["train"])}
    for key, value in train.items():
        block = "model" if key in out["model"] else "train"
        out[block][key] = value
    return out


def curve(out: Path) -> list[tuple[int, str, float]]:
    """(step, train.loss | val.loss, value) of a run's log, in order."""
    from gpt2zh.train.log import read_jsonl

    return [
        (r["step"], k, r[k])
        for r in read_jsonl(out / "log.jsonl")
        for k in ("train.loss", "val.loss")
        if k in r
    ]
