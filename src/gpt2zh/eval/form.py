"""Verse form: how much of a text falls into clauses of five or seven characters.

The default corpus is classical poetry, where a regulated line is two clauses of five or seven
Han characters (床前明月光，疑是地上霜。). A model that has learned the form writes such clauses;
one that has learned only the characters and that punctuation exists cuts clauses at random
lengths. The share of 5- or 7-character clauses turns "do the samples look like verse" into a
number, measured the same way on real validation text (Tang poems score ~0.9, Song ci ~0.4, the
prose classics ~0.25).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Clause ends: Chinese and ASCII sentence and clause punctuation, and line breaks.
BREAK = re.compile(r"[，。！？；：、,.!?;:\n]")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]")
VERSE_CLAUSE = (5, 7)


def clause_lengths(text: str, start: int = 0, skip_first: bool = False) -> list[int]:
    """Han characters of each complete clause ending after `start` (the prompt's length: a
    clause the prompt opened counts whole). The text's last clause is left out when no break
    ends it (generation stopped mid-clause), and so is the first with `skip_first` (a window cut
    from running text starts mid-clause); clauses without Han characters (titles' blank lines,
    stray punctuation) are not clauses."""
    lengths, begin, first = [], 0, True
    for m in BREAK.finditer(text):
        n = len(HAN.findall(text, begin, m.start()))
        if m.end() > start and n and not (first and skip_first):
            lengths.append(n)
        first = first and not n
        begin = m.end()
    return lengths


def form(lengths: Iterable[int]) -> dict[str, float]:
    """Share of 5- or 7-character clauses, the clause count and the mean clause length."""
    lengths = list(lengths)
    return {
        "verse_clauses": sum(n in VERSE_CLAUSE for n in lengths) / len(lengths) if lengths else 0.0,
        "clauses": len(lengths),
        "clause_chars": sum(lengths) / len(lengths) if lengths else 0.0,
    }
