"""Validation NLL of several models over one packed split, with the characters and bytes scored.

A packed row is `seq_len` consecutive tokens of the split's stream (documents end to end, EOS
after each). The model predicts tokens 1..seq_len-1 of a row from the ones before them within
the row, as in training, so the first token of every row is context only: its bytes and the
characters that start in it are not counted. EOS targets are scored (predicting where a document
ends is part of modelling text) and count as one character and one byte (see `text`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gpt2zh.eval.text import TokenBytes, Utf8Stream
from gpt2zh.mix.reader import PackedReader


def iter_rows(
    paths: list[Path], batch_rows: int, max_rows: int | None = None
) -> Iterator[np.ndarray]:
    """The rows of a split in stream order (the first `max_rows`, or all), `batch_rows` at a
    time (the last batch shorter)."""
    try:
        reader = PackedReader(paths, 1, shuffle=False)
    except ValueError:  # no rows at all
        return
    end = min(reader.num_rows, max_rows if max_rows is not None else reader.num_rows)
    for start in range(0, end, batch_rows):
        yield reader.rows(np.arange(start, min(start + batch_rows, end)))


def bits(nll_nats: float, units: int) -> float:
    """Total NLL in nats as bits per unit (character or byte)."""
    return nll_nats / (units * math.log(2)) if units else math.nan


@dataclass
class SplitScore:
    """Sums over one split: scored tokens, their characters and bytes, NLL per model (nats) and
    the cost of the same characters under `char_bits` (a per-character baseline, in bits)."""

    tokens: int = 0
    chars: int = 0
    bytes: int = 0
    nll: dict[str, float] = field(default_factory=dict)
    char_bits: float = 0.0

    def loss(self, name: str) -> float:
        return self.nll[name] / self.tokens if self.tokens else math.nan

    def bits_per_char(self, name: str) -> float:
        return bits(self.nll[name], self.chars)

    def bits_per_byte(self, name: str) -> float:
        return bits(self.nll[name], self.bytes)


@torch.no_grad()
def row_nll(model: torch.nn.Module, rows: torch.Tensor) -> float:
    """Summed NLL (nats) of tokens 1.. of every row given the tokens before them."""
    logits = model(input_ids=rows).logits[:, :-1].float()
    return float(
        torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1), reduction="sum"
        )
    )


def score_split(
    rows: Iterator[np.ndarray],
    models: Mapping[str, torch.nn.Module],
    token_bytes: TokenBytes,
    char_bits: Callable[[np.ndarray, int], float],
    device: torch.device,
) -> SplitScore:
    """Streams `rows` once through every model. `char_bits(code_points, eos_count)` is the
    baseline's cost in bits of the scored characters and document ends."""
    score = SplitScore(nll=dict.fromkeys(models, 0.0))
    chars = Utf8Stream()
    for batch in rows:
        scored = np.ones(batch.shape, dtype=bool)
        scored[:, 0] = False
        ids, scored = batch.reshape(-1), scored.reshape(-1)
        flat, owner = token_bytes.flat(ids)
        cps = chars.feed(flat, scored[owner])
        ends = int(np.count_nonzero(token_bytes.special[ids] & scored))
        score.tokens += int(scored.sum())
        score.bytes += int(token_bytes.length[ids][scored].sum()) + ends
        score.chars += len(cps) + ends
        score.char_bits += char_bits(cps, ends)
        x = torch.from_numpy(batch).to(device)
        for name, model in models.items():
            score.nll[name] += row_nll(model, x)
    cps = chars.close()
    score.chars += len(cps)
    score.char_bits += char_bits(cps, 0)
    return score
