"""The mixed shards as training and validation batches, checked against the tokenizer first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from gpt2zh.errors import UserError
from gpt2zh.mix.reader import PackedReader, shard_paths
from gpt2zh.mix.verify import check_verified, default_threads

#: Token ids scanned per shard for the vocab check (the whole shard when smaller).
SCAN_TOKENS = 1 << 24


class DataError(UserError):
    """The mix is missing, empty, or does not match the tokenizer or the batch shape."""


@dataclass
class Data:
    train: PackedReader
    val: PackedReader
    seq_len: int
    eos_id: int
    train_tokens: int


def _paths(mix_dir: Path, split: str) -> list[Path]:
    paths = shard_paths(mix_dir, split)
    if not paths:
        raise DataError(f"{mix_dir}: the mix has no {split} shards (manifest lists none)")
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: {split} shard listed in the mix manifest is missing")
    return paths


def max_token_id(paths: list[Path], limit: int = SCAN_TOKENS) -> tuple[int, Path | None]:
    """The largest token id in the first `limit` tokens of each shard, and where it was."""
    best, where = -1, None
    for path in paths:
        with pa.memory_map(str(path)) as src:
            seen = 0
            for batch in pa.ipc.open_stream(src):
                flat = batch.column("input_ids").values.to_numpy(zero_copy_only=True)
                if len(flat) and int(flat.max()) > best:
                    best, where = int(flat.max()), path
                seen += len(flat)
                if seen >= limit:
                    break
    return best, where


def open_data(
    mix_dir: Path,
    *,
    vocab_size: int,
    eos_id: int,
    batch_size: int,
    seed: int,
    rank: int,
    world_size: int,
    check: bool = True,
) -> Data:
    """The train and val readers of this process. `check` hashes the shards and scans their
    token ids against the vocab (reads the data once); the structure is always checked."""
    manifest_path = Path(mix_dir) / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path} not found: build the mix first (snakemake mix)")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    train_paths, val_paths = _paths(mix_dir, "train"), _paths(mix_dir, "val")
    # before any byte is read: a flipped bit would otherwise train silently on wrong tokens
    if check:
        read = [str(p.relative_to(mix_dir)) for p in train_paths + val_paths]
        check_verified(mix_dir, read, threads=default_threads())
    if manifest.get("eos_id") is not None and manifest["eos_id"] != eos_id:
        raise DataError(
            f"the mix was built with EOS id {manifest['eos_id']}, the tokenizer's is {eos_id}: "
            "tokenizer and mix do not belong together; rebuild the mix"
        )
    top, where = max_token_id(train_paths + val_paths) if check else (-1, None)
    if top >= vocab_size:
        raise DataError(
            f"token id {top} in {where} is outside the tokenizer's vocab ({vocab_size}): the "
            "mix was built with another tokenizer; rebuild the mix"
        )
    try:
        train = PackedReader(
            train_paths, batch_size, seed=seed, rank=rank, world_size=world_size, as_torch=True
        )
    except ValueError as e:
        raise DataError(f"{mix_dir}: train split: {e} (lower train.batch_size)") from e
    val_rows = int(manifest["val"]["rows"])
    val_batch = max(1, min(batch_size, val_rows // world_size))
    try:
        val = PackedReader(
            val_paths, val_batch, shuffle=False, rank=rank, world_size=world_size, as_torch=True
        )
    except ValueError as e:
        raise DataError(f"{mix_dir}: val split: {e}") from e
    return Data(train, val, train.seq_len, eos_id, int(manifest["train"]["tokens"]))


def eval_batches(reader: PackedReader, n: int) -> list[np.ndarray]:
    """The first `n` validation batches (the same ones at every evaluation)."""
    reader.epoch = reader.step = 0
    return [reader.next_batch() for _ in range(min(n, reader.steps_per_epoch))]
