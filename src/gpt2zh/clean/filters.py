"""Quality filters with the datatrove contract: each check keeps a document (returns None) or
drops it with a short snake_case reason, and the first failing check names the drop.

Checks run cheapest first. Per-document checks read counts that `features.batch_features`
computed for the whole batch at once, plus the document's lines; the repetition checks over
n-grams run last, vectorised over the documents still standing, and skip documents that provably
cannot fail (see `features`). Thresholds come from `profiles.resolve` (a dict; None = off).

Reasons, in the order they are checked:

    empty                  nothing but whitespace left after normalization
    too_short / too_long   characters < min_chars / > max_chars
    too_few_words / too_many_words      word tokens < min_words / > max_words
    short_words / long_words            mean word-token length outside [min, max]_avg_word_length
    low_cjk_ratio          Han characters / non-space characters < min_cjk_ratio
    high_symbol_ratio      symbols (not letters, digits, Han or sentence punctuation) /
                           non-space characters > max_symbol_ratio
    too_many_hashes        '#' per token > max_hash_ratio
    too_many_ellipses      '...'/'…' per token > max_ellipsis_ratio
    bullet_lines           lines starting with a bullet / lines > max_bullet_line_ratio
    ellipsis_lines         lines ending with '...'/'…' / lines > max_ellipsis_line_ratio
    low_alpha_words        tokens with a letter or Han character / tokens < min_alpha_word_ratio
    lorem_ipsum, curly_bracket          C4: 'lorem ipsum' anywhere / a '{' anywhere
    dup_paragraphs, dup_paragraph_chars repeated paragraphs (blank-line separated): share of
                           paragraphs > dup_para_frac, share of characters > dup_para_char_frac
    dup_lines, dup_line_chars           the same for lines (dup_line_frac, dup_line_char_frac)
    low_line_punct         lines ending in terminal punctuation / lines < min_line_punct_ratio
    list_like              line breaks per word token > max_newline_ratio
    few_stopwords          distinct stopwords present < min_stopwords
    top_2gram … top_4gram  characters of the most repeated n-gram × its count / characters >
                           top_<n>gram_frac
    dup_5gram … dup_10gram characters covered by repeated n-grams / characters > dup_<n>gram_frac
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .features import HAN, SPACE, SYMBOL, BatchFeatures, batch_features

KEEP = None
#: Documents are measured together in chunks of about this many characters (bounds memory).
CHUNK_CHARS = 1 << 20

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

#: A line "ends a sentence" if, after closing quotes and brackets, it ends with one of these.
TERMINAL_PUNCT = "。！？；….!?;"
CLOSERS = "”’」』）)】》〉\"'"
#: A line starting with one of these (after spaces) is a bullet line.
BULLETS = "•\\-●·◆■▪◦*"

# Line-shape counts as one C-level regex scan per document, not a Python loop over lines.
_NONBLANK_LINE = re.compile(r"^[^\S\n]*\S[^\n]*", re.MULTILINE)
#: ... optionally followed by an attribution ("。——李白", "！——《论语》").
_TERMINAL_LINE = re.compile(
    rf"[{TERMINAL_PUNCT}][{CLOSERS}]*(?:[^\S\n]*——[^\n]{{1,20}}?)?[^\S\n]*$", re.MULTILINE
)
_BULLET_LINE = re.compile(rf"^[^\S\n]*[{BULLETS}]", re.MULTILINE)
_ELLIPSIS_LINE = re.compile(r"(?:\.\.\.|…)[^\S\n]*$", re.MULTILINE)
_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*\n\s*")
_LOREM = re.compile("lorem ipsum", re.IGNORECASE)


class DocView:
    """One document as the per-document checks see it: its text and batch-computed counts."""

    __slots__ = ("_lines", "alpha", "chars", "han", "n_tokens", "n_words", "nonspace", "symbols",
                 "text", "word_chars")  # fmt: skip

    def __init__(self, text: str, stats: tuple[int, ...]) -> None:
        self.text = text
        (self.chars, self.nonspace, self.han, self.symbols, self.n_tokens, self.n_words,
         self.word_chars, self.alpha) = stats  # fmt: skip
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        """Non-blank lines."""
        if self._lines is None:
            self._lines = _NONBLANK_LINE.findall(self.text)
        return self._lines


def _doc_stats(f: BatchFeatures) -> list[tuple[int, ...]]:
    """Per-document scalars for DocView, converted to Python ints once per batch."""
    return list(
        zip(
            f.lengths.tolist(),
            (f.lengths - f.counts[:, SPACE]).tolist(),
            f.counts[:, HAN].tolist(),
            f.counts[:, SYMBOL].tolist(),
            f.n_tokens.tolist(),
            f.n_words.tolist(),
            f.word_chars.tolist(),
            f.alpha_tokens.tolist(),
            strict=True,
        )
    )


Check = Callable[[DocView, Mapping[str, Any]], str | None]


def check_length(d: DocView, p: Mapping[str, Any]) -> str | None:
    if d.nonspace == 0:
        return "empty"
    if p["min_chars"] is not None and d.chars < p["min_chars"]:
        return "too_short"
    if p["max_chars"] is not None and d.chars > p["max_chars"]:
        return "too_long"
    return KEEP


def check_words(d: DocView, p: Mapping[str, Any]) -> str | None:
    if p["min_words"] is not None and d.n_words < p["min_words"]:
        return "too_few_words"
    if p["max_words"] is not None and d.n_words > p["max_words"]:
        return "too_many_words"
    if d.n_words:
        mean = d.word_chars / d.n_words
        if p["min_avg_word_length"] is not None and mean < p["min_avg_word_length"]:
            return "short_words"
        if p["max_avg_word_length"] is not None and mean > p["max_avg_word_length"]:
            return "long_words"
    return KEEP


def check_charset(d: DocView, p: Mapping[str, Any]) -> str | None:
    if p["min_cjk_ratio"] is not None and d.han < p["min_cjk_ratio"] * d.nonspace:
        return "low_cjk_ratio"
    if p["max_symbol_ratio"] is not None and d.symbols > p["max_symbol_ratio"] * d.nonspace:
        return "high_symbol_ratio"
    return KEEP


def check_symbols(d: DocView, p: Mapping[str, Any]) -> str | None:
    tokens = max(d.n_tokens, 1)
    if p["max_hash_ratio"] is not None and d.text.count("#") > p["max_hash_ratio"] * tokens:
        return "too_many_hashes"
    if p["max_ellipsis_ratio"] is not None:
        ellipses = d.text.count("...") + d.text.count("…")
        if ellipses > p["max_ellipsis_ratio"] * tokens:
            return "too_many_ellipses"
    return KEEP


def check_line_shapes(d: DocView, p: Mapping[str, Any]) -> str | None:
    if p["max_bullet_line_ratio"] is not None or p["max_ellipsis_line_ratio"] is not None:
        lines = len(d.lines)
        if not lines:
            return KEEP
        limit = p["max_bullet_line_ratio"]
        if limit is not None and len(_BULLET_LINE.findall(d.text)) > limit * lines:
            return "bullet_lines"
        limit = p["max_ellipsis_line_ratio"]
        if limit is not None and len(_ELLIPSIS_LINE.findall(d.text)) > limit * lines:
            return "ellipsis_lines"
    return KEEP


def check_alpha(d: DocView, p: Mapping[str, Any]) -> str | None:
    if p["min_alpha_word_ratio"] is not None and d.alpha < p["min_alpha_word_ratio"] * max(
        d.n_tokens, 1
    ):
        return "low_alpha_words"
    return KEEP


def check_c4(d: DocView, p: Mapping[str, Any]) -> str | None:
    if p["lorem_ipsum"] and _LOREM.search(d.text) is not None:
        return "lorem_ipsum"
    if p["curly_bracket"] and "{" in d.text:
        return "curly_bracket"
    return KEEP


def _duplicates(parts: list[str]) -> tuple[int, int]:
    """(repeated elements, characters in them), first occurrences not counted (as datatrove)."""
    if len(parts) < 2:
        return 0, 0
    seen: set[str] = set()
    dup = dup_chars = 0
    for part in parts:
        if part in seen:
            dup += 1
            dup_chars += len(part)
        else:
            seen.add(part)
    return dup, dup_chars


def check_repeated_parts(d: DocView, p: Mapping[str, Any]) -> str | None:
    if p["dup_para_frac"] is not None or p["dup_para_char_frac"] is not None:
        paragraphs = [x for x in _PARAGRAPH_SPLIT.split(d.text.strip()) if x]
        dup, dup_chars = _duplicates(paragraphs)
        if p["dup_para_frac"] is not None and dup > p["dup_para_frac"] * len(paragraphs):
            return "dup_paragraphs"
        if p["dup_para_char_frac"] is not None and dup_chars > p["dup_para_char_frac"] * d.chars:
            return "dup_paragraph_chars"
    if p["dup_line_frac"] is not None or p["dup_line_char_frac"] is not None:
        lines = d.lines
        if len(lines) > 1 and len(set(lines)) < len(lines):
            dup, dup_chars = _duplicates(lines)
            if p["dup_line_frac"] is not None and dup > p["dup_line_frac"] * len(lines):
                return "dup_lines"
            limit = p["dup_line_char_frac"]
            if limit is not None and dup_chars > limit * d.chars:
                return "dup_line_chars"
    return KEEP


def check_prose(d: DocView, p: Mapping[str, Any]) -> str | None:
    if p["min_line_punct_ratio"] is not None:
        ended = len(_TERMINAL_LINE.findall(d.text))
        if ended < p["min_line_punct_ratio"] * len(d.lines):
            return "low_line_punct"
    limit = p["max_newline_ratio"]
    if limit is not None and d.text.count("\n") > limit * max(d.n_words, 1):
        return "list_like"
    if p["min_stopwords"]:
        need = p["min_stopwords"]
        found: set[str] = set()
        latin = p["_latin_stopwords"]
        if latin is not None:
            for m in latin.finditer(d.text):
                found.add(m.group(1).lower())
                if len(found) >= need:
                    return KEEP
        for word in p["_other_stopwords"]:
            if word in d.text:
                found.add(word)
                if len(found) >= need:
                    return KEEP
        return "few_stopwords"
    return KEEP


CHECKS: tuple[Check, ...] = (
    check_length,
    check_words,
    check_charset,
    check_symbols,
    check_line_shapes,
    check_alpha,
    check_c4,
    check_repeated_parts,
    check_prose,
)


def filter_batch(texts: Sequence[str], params: Mapping[str, Any]) -> list[str | None]:
    """One verdict per text: None (keep) or the drop reason."""
    p = _prepared(params)
    reasons: list[str | None] = [KEEP] * len(texts)
    measure = list(range(len(texts)))
    if p["max_chars"] is not None:  # never measure what is dropped for its length anyway
        measure = []
        for i, t in enumerate(texts):
            if len(t) <= p["max_chars"]:
                measure.append(i)
            else:
                reasons[i] = "too_long" if t.strip() else "empty"
    for idx in _chunks(texts, measure):
        chunk = [texts[i] for i in idx]
        feats = batch_features(chunk)
        alive = np.ones(len(chunk), dtype=bool)
        for j, (text, stats) in enumerate(zip(chunk, _doc_stats(feats), strict=True)):
            view = DocView(text, stats)
            for check in CHECKS:
                reason = check(view, p)
                if reason is not None:
                    reasons[idx[j]] = reason
                    alive[j] = False
                    break
        if alive.any():
            for j, reason in _ngram_checks(feats, alive, p):
                reasons[idx[j]] = reason
    return reasons


def _prepared(params: Mapping[str, Any]) -> dict[str, Any]:
    """Thresholds plus precompiled helpers. ASCII stopwords match whole words, case-insensitively
    (`to` is not in `tomato`); others (Chinese has no spaces between words) match as substrings."""
    p = dict(params)
    words = list(dict.fromkeys(p.get("stopwords") or []))
    latin = [w for w in words if w.isascii()]
    p["_other_stopwords"] = [w for w in words if not w.isascii()]
    p["_latin_stopwords"] = None
    if latin:
        p["_latin_stopwords"] = re.compile(
            r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, latin)) + r")(?![A-Za-z0-9])",
            re.IGNORECASE,
        )
    return p


def _chunks(texts: Sequence[str], indices: list[int]) -> Iterator[list[int]]:
    """`indices` in chunks of about CHUNK_CHARS characters; a text longer than that is a chunk
    of its own."""
    chunk: list[int] = []
    size = 0
    for i in indices:
        t = texts[i]
        if chunk and size + len(t) > CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += len(t)
    if chunk:
        yield chunk


def _ngram_checks(
    f: BatchFeatures, alive: np.ndarray, p: Mapping[str, Any]
) -> Iterator[tuple[int, str]]:
    """top_<n>gram for n = 2..4, then dup_<n>gram for n = 5..10, each n from one sort, skipping
    documents that cannot fail: an n-gram occurs at most as often as the most frequent shorter
    n-gram, and characters covered by repeated n-grams never grow with n."""
    lengths = f.lengths.astype(np.float64)
    max_tok = f.max_token_chars
    most: np.ndarray | None = None
    covered = lengths.copy()  # upper bound on characters covered by repeated n-grams
    for n in (*TOP_NGRAMS, *DUP_NGRAMS):
        if n in TOP_NGRAMS:
            thr = p[f"top_{n}gram_frac"]
            if thr is None:
                continue
            sel = alive.copy()
            if most is not None:  # count <= most; characters <= n * longest token
                sel &= most * n * max_tok > thr * lengths
            reason = f"top_{n}gram"
        else:
            thr = p[f"dup_{n}gram_frac"]
            if thr is None:
                continue
            sel = alive & (covered > thr * lengths)
            reason = f"dup_{n}gram"
        if not sel.any():
            continue
        stats = f.ngram_stats(n, sel)
        most = stats.most if most is None else np.where(sel, stats.most, most)
        covered = np.where(sel, np.minimum(covered, stats.covered), covered)
        value = stats.top if n in TOP_NGRAMS else stats.covered
        fail = np.flatnonzero(sel & (value > thr * lengths))
        for j in fail:
            yield int(j), reason
        alive[fail] = False
