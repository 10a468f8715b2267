"""Resumable reader of packed mix shards for the training loop.

Memory-maps every shard (no copy), indexes rows per record batch (not `Table.take`, which is
slow on many-chunk memory-mapped tables) and yields `(batch_size, seq_len)` int64 arrays in a
deterministic order: epoch e visits all rows in the permutation seeded by (seed, e). Its
position is `(epoch, step)`; `state_dict()` / `load_state_dict()` resume exactly, and
`rank`/`world_size` give each data-parallel process a disjoint part of every global batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from gpt2zh.digest import stable_int


def shard_paths(mix_dir: str | Path, split: str = "train") -> list[Path]:
    """The shards of a split (`train`, `val` or `val_by_dataset/<d>`) listed in the manifest."""
    mix_dir = Path(mix_dir)
    manifest = json.loads((mix_dir / "manifest.json").read_text("utf-8"))
    info = manifest[split] if "/" not in split else manifest["val_by_dataset"][split.split("/")[1]]
    return [mix_dir / s["path"] for s in info["shards"]]


class PackedReader:
    def __init__(
        self,
        paths: Sequence[str | Path],
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        as_torch: bool = False,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.rank, self.world_size, self.as_torch = rank, world_size, as_torch
        self._sources = []
        views: list[np.ndarray] = []
        self.seq_len = 0
        for path in map(Path, paths):
            src = pa.memory_map(str(path))
            self._sources.append(src)
            reader = pa.ipc.open_stream(src)  # batches stay views into the mapping
            seq_len = reader.schema.field("input_ids").type.list_size
            if self.seq_len and seq_len != self.seq_len:
                raise ValueError(f"{path}: seq_len {seq_len} != {self.seq_len}")
            self.seq_len = seq_len
            for batch in reader:
                col = batch.column("input_ids")
                flat = col.values.to_numpy(zero_copy_only=True)
                views.append(flat.reshape(len(col), seq_len))
        self._views = [v for v in views if len(v)]
        sizes = np.array([len(v) for v in self._views], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes)])
        self.num_rows = int(self._starts[-1])
        self.global_batch = batch_size * world_size
        self.steps_per_epoch = self.num_rows // self.global_batch
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{self.num_rows} rows are fewer than one global batch ({self.global_batch})"
            )
        self.epoch = 0
        self.step = 0
        self._order: np.ndarray | None = None
        self._order_epoch = -1

    # --- position -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "seed": self.seed,
            "num_rows": self.num_rows,
            "global_batch": self.global_batch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resumes at the saved position, also under another global batch (another number of
        processes or micro-batches): the rows already read this epoch must then be a whole
        number of the new batches, and the order is the same (it depends on seed and epoch)."""
        for key in ("seed", "num_rows"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"reader state has {key}={state[key]}, reader {getattr(self, key)}"
                )
        rows = int(state["step"]) * int(state["global_batch"])
        if rows % self.global_batch:
            raise ValueError(
                f"the run stopped {rows} rows into epoch {state['epoch']}, not a whole number "
                f"of global batches of {self.global_batch} rows"
            )
        self.epoch, self.step = int(state["epoch"]), rows // self.global_batch

    # --- data -----------------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self._order_epoch != epoch:
            if self.shuffle:
                rng = np.random.default_rng([self.seed, stable_int("reader", epoch)])
                self._order = rng.permutation(self.num_rows)
            else:
                self._order = np.arange(self.num_rows)
            self._order_epoch = epoch
        assert self._order is not None
        return self._order

    def rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), self.seq_len), dtype=np.int64)
        chunk = np.searchsorted(self._starts, indices, side="right") - 1
        local = indices - self._starts[chunk]
        for j, (c, r) in enumerate(zip(chunk.tolist(), local.tolist(), strict=True)):
            out[j] = self._views[c][r]
        return out

    def next_batch(self) -> Any:
        """The batch at the current position (this rank's part), then advances the position."""
        order = self._epoch_order(self.epoch)
        start = self.step * self.global_batch + self.rank * self.batch_size
        batch = self.rows(order[start : start + self.batch_size])
        self.step += 1
        if self.step >= self.steps_per_epoch:
            self.epoch, self.step = self.epoch + 1, 0
        if self.as_torch:
            import torch

            return torch.from_numpy(batch)
        return batch

    def __iter__(self) -> Iterator[Any]:
        """Endless: the training loop decides how many steps to take."""
        while True:
            yield self.next_batch()
