"""The character unigram baseline: what a model that ignores all context would score.

Fitted on the train split's text (decoded from its tokens, so it sees exactly what the model
trained on) with add-one smoothing over every character seen in training, one end-of-document
symbol and one bucket for all unseen characters; the bucket's mass is shared evenly by the
Unicode scalar values never seen, so the model is a proper distribution over all text and an
unseen character costs about log2(N) + 20 bits instead of infinity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from gpt2zh.eval.text import TokenBytes, Utf8Stream

#: Code points 0..U+10FFFF; the 2,048 surrogates are not characters.
CODE_POINTS = 0x110000
SCALARS = CODE_POINTS - 0x800


@dataclass(frozen=True)
class Unigram:
    """Cost in bits of each code point (dense table) and of a document end."""

    cost: np.ndarray
    eos_cost: float
    seen: int
    total: int

    @classmethod
    def fit(cls, counts: np.ndarray, eos: int) -> Unigram:
        """`counts[cp]`: training occurrences of each code point; `eos`: documents ended."""
        seen_mask = counts > 0
        seen = int(seen_mask.sum())
        total = int(counts.sum()) + eos
        denom = total + seen + 2  # add one to each seen char, EOS and the unseen bucket
        unseen_bits = math.log2(denom) + math.log2(max(1, SCALARS - seen))
        cost = np.full(CODE_POINTS, unseen_bits, dtype=np.float64)
        cost[seen_mask] = np.log2(denom) - np.log2(counts[seen_mask] + 1.0)
        return cls(cost, math.log2(denom) - math.log2(eos + 1), seen, total)

    def bits(self, code_points: np.ndarray, eos: int) -> float:
        """Total cost in bits of these characters and `eos` document ends."""
        return float(self.cost[code_points].sum()) + eos * self.eos_cost


def count_chars(rows: Iterable[np.ndarray], token_bytes: TokenBytes) -> tuple[np.ndarray, int]:
    """Occurrences of every code point, and of document ends, in a stream of token rows."""
    counts = np.zeros(CODE_POINTS, dtype=np.int64)
    eos = 0
    stream = Utf8Stream()
    for batch in rows:
        ids = batch.reshape(-1)
        flat, _ = token_bytes.flat(ids)
        counts += np.bincount(stream.feed(flat, np.ones(len(flat), bool)), minlength=CODE_POINTS)
        eos += int(np.count_nonzero(token_bytes.special[ids]))
    counts += np.bincount(stream.close(), minlength=CODE_POINTS)
    return counts, eos
