"""Degeneration measures on characters: how much a text repeats itself.

A model that "只会复读" produces few distinct characters and long repeated runs. distinct-n is
the share of distinct character n-grams among all of them (1.0: nothing repeats); the repeat
ratio is the length of the longest substring occurring at least twice (occurrences may
overlap) divided by the text's length: "abababab" repeats "ababab" and scores 0.75. The same
measures on real text of the same length say what "normal" is.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

MEASURES = ("distinct_1", "distinct_2", "repeat_ratio")


def distinct_n(text: str, n: int) -> float:
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def longest_repeat(text: str) -> int:
    """Length of the longest substring that occurs at least twice: the longest common prefix of
    two suffixes neighbouring in sorted order."""
    suffixes = sorted(range(len(text)), key=lambda i: text[i:])
    best = 0
    for a, b in itertools.pairwise(suffixes):
        n = 0
        while a + n < len(text) and b + n < len(text) and text[a + n] == text[b + n]:
            n += 1
        best = max(best, n)
    return best


def repeat_ratio(text: str) -> float:
    return longest_repeat(text) / len(text) if text else 0.0


def measures(text: str) -> dict[str, float]:
    return {
        "distinct_1": distinct_n(text, 1),
        "distinct_2": distinct_n(text, 2),
        "repeat_ratio": repeat_ratio(text),
    }


def mean_measures(rows: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Unweighted mean of each measure over texts (0.0 for none)."""
    rows = list(rows)
    return {k: sum(r[k] for r in rows) / len(rows) if rows else 0.0 for k in MEASURES}
