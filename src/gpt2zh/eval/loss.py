"""Validation NLL of several models over one packed split, with the characters and bytes scored.

A packed row is `seq_len` consecutive tokens of the split's stream (documents end to end, EOS
after each). The model predicts tokens 1..seq_len-1 of a row from the ones before them within
the row, as in training, so the first token of every row is context only: its bytes and the
characters that start in it are not counted. EOS targets are scored (predicting where a document
ends is part of modelling text) and count as one character and one byte (see `text`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
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


def document_ids(rows: Iterable[np.ndarray], is_end: np.ndarray) -> Iterator[np.ndarray]:
    """The token ids of each complete document of a packed split, EOS left out (every document
    ends with one; a tail the split cut off is left out)."""
    pending: list[np.ndarray] = []
    for batch in rows:
        ids = batch.reshape(-1)
        start = 0
        for end in np.flatnonzero(is_end[ids]).tolist():
            yield np.concatenate([*pending, ids[start:end]])
            pending, start = [], end + 1
        pending.append(ids[start:])


def windows(length: int, context: int) -> list[tuple[int, int, int]]:
    """(start, end, first scored target) of the windows that score targets 1..length-1 of a
    sequence with at most `context` tokens each: one window when it fits, else windows half a
    context apart, each scoring only the targets the previous ones did not (every target keeps
    at least half a context before it)."""
    if length <= context:
        return [(0, length, 1)]
    stride = max(1, context // 2)
    out, scored = [], 1
    for start in range(0, length - 1, stride):
        end = min(start + context, length)
        out.append((start, end, scored))
        scored = end
        if end == length:
            break
    return out


@dataclass
class DocScore:
    """Sums over whole documents, each scored from its start: `[EOS] + doc + [EOS]`, every
    token and the closing EOS predicted with all of the document before it as context."""

    docs: int = 0
    tokens: int = 0
    chars: int = 0
    bytes: int = 0
    nll: float = 0.0

    def result(self) -> dict[str, float]:
        return {
            "docs": self.docs,
            "tokens": self.tokens,
            "chars": self.chars,
            "bytes": self.bytes,
            "bits_per_char": bits(self.nll, self.chars),
            "bits_per_byte": bits(self.nll, self.bytes),
        }


@torch.no_grad()
def _window_nll(
    model: torch.nn.Module, pieces: list[tuple[np.ndarray, int]], eos: int, device: torch.device
) -> float:
    """Summed NLL of `pieces` (token ids, index of the first scored target), right-padded."""
    longest = max(len(ids) for ids, _ in pieces)
    x = np.full((len(pieces), longest), eos, dtype=np.int64)
    scored = np.zeros((len(pieces), longest - 1), dtype=bool)
    for i, (ids, first) in enumerate(pieces):
        x[i, : len(ids)] = ids
        scored[i, first - 1 : len(ids) - 1] = True
    rows = torch.from_numpy(x).to(device)
    logits = model(input_ids=rows).logits[:, :-1].float()
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1), reduction="none"
    )
    return float(nll[torch.from_numpy(scored.reshape(-1)).to(device)].double().sum())


def score_documents(
    rows: Iterable[np.ndarray],
    model: torch.nn.Module,
    token_bytes: TokenBytes,
    eos_id: int,
    context: int,
    batch_rows: int,
    device: torch.device,
    chunk_docs: int = 4096,
) -> DocScore:
    """Scores every complete document of a split on its own with full context (no packing:
    nothing of another document before it, no row cut through it). Characters and bytes count
    as in `score_split` (the closing EOS is one of each). Documents are batched by length,
    `chunk_docs` at a time (bounded memory)."""
    score = DocScore()
    pieces: list[tuple[np.ndarray, int]] = []

    def flush() -> None:
        pieces.sort(key=lambda p: len(p[0]))  # similar lengths together: little padding
        for i in range(0, len(pieces), batch_rows):
            score.nll += _window_nll(model, pieces[i : i + batch_rows], eos_id, device)
        pieces.clear()

    for n, doc in enumerate(document_ids(rows, token_bytes.special), start=1):
        seq = np.concatenate([[eos_id], doc, [eos_id]]).astype(np.int64)
        for start, end, first in windows(len(seq), context):
            pieces.append((seq[start:end], first - start))
        flat, _ = token_bytes.flat(doc)
        score.docs += 1
        score.tokens += len(seq) - 1
        score.chars += int(np.count_nonzero((flat & 0xC0) != 0x80)) + 1
        score.bytes += len(flat) + 1
        if n % chunk_docs == 0:
            flush()
    if pieces:
        flush()
    return score
