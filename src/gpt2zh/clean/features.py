"""Vectorised text statistics over a batch of documents, for the quality filters.

Everything here works on one concatenated array of code points per batch (UTF-32 via numpy), so
the cost per document is a few array operations shared by the whole batch instead of Python loops
over characters. Time and memory are linear in the batch's characters (sorts aside, which are
n log n in C), so a 20 MB document takes a fraction of a second.

Character classes (one table lookup per code point): whitespace, Han ideograph, other letter
(Latin, Cyrillic, kana, combining marks), digit, sentence punctuation (the CJK and ASCII
marks that ordinary prose uses), symbol (every other punctuation or symbol: emoji, box drawing,
`#|=*~^…` runs, arrows) and other (controls, format characters, variation selectors).

Tokens, the units of the n-gram statistics: every Han ideograph, punctuation mark or symbol is a
token of its own; a run of other letters and digits (an English word, a number, a kana run) is one
token. For Chinese this is "characters as tokens" (no segmenter needed, so no jieba); for English
it is close to a word tokenizer that splits punctuation off.

N-gram statistics follow Gopher (Rae et al. 2021, table A1) as datatrove implements them, with
two deliberate differences: a "top n-gram" must occur at least twice (datatrove counts a single
occurrence, so every short document "repeats" its only n-gram), and the duplicate n-gram
fraction is the exact share of characters covered by any repeated (not first) occurrence rather
than datatrove's greedy left-to-right scan. Coverage by repeated (n+1)-grams is a subset of
coverage by repeated n-grams, which lets larger n be skipped for documents that cannot fail.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

# Character classes.
SPACE, HAN, LETTER, DIGIT, PUNCT, SYMBOL, OTHER = range(7)
N_CLASSES = 7

#: Punctuation ordinary prose uses; every other punctuation or symbol character is a SYMBOL.
SENTENCE_PUNCT = (
    "，。、；：？！…—–·‧“”‘’「」『』（）《》〈〉【】〔〕〖〗﹏～．"
    "！＂＇（），－．：；？［］｛｝"
    ".,;:?!'\"()[]-"
)

_HAN_RANGES = (
    (0x3400, 0x4DBF),  # Extension A
    (0x4E00, 0x9FFF),  # URO
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x3FFFF),  # planes 2-3: Extensions B-H and compatibility supplement
)
_OTHER_RANGES = (
    (0xFE00, 0xFE0F),  # variation selectors (emoji presentation, ...)
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement (ideographic variants)
)


@cache
def class_table() -> np.ndarray:
    """uint8 class of every code point 0..0x10FFFF (built once, ~50 ms)."""
    table = np.full(0x110000, OTHER, dtype=np.uint8)
    major_to_class = {"L": LETTER, "M": LETTER, "N": DIGIT, "P": SYMBOL, "S": SYMBOL}
    cat = unicodedata.category
    for cp in range(0x20000):  # planes 0-1; planes 2-3 are Han, the rest unassigned or private
        ch = chr(cp)
        if ch.isspace():
            table[cp] = SPACE
        else:
            table[cp] = major_to_class.get(cat(ch)[0], OTHER)
    for lo, hi in _HAN_RANGES:
        table[lo : hi + 1] = HAN
    table[0x3007] = HAN  # 〇
    for lo, hi in _OTHER_RANGES:
        table[lo : hi + 1] = OTHER
    for ch in SENTENCE_PUNCT:
        table[ord(ch)] = PUNCT
    table.flags.writeable = False
    return table


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array (wraps mod 2**64 by design)."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@dataclass
class NgramStats:
    """Per-document repetition statistics for one n (arrays of length n_docs)."""

    #: max over n-grams occurring at least twice of count × characters (0 if none repeats)
    top: np.ndarray
    #: largest count of any n-gram (1 if none repeats, 0 if the document has no n-gram)
    most: np.ndarray
    #: characters covered by repeated (not first) occurrences of n-grams
    covered: np.ndarray


@dataclass
class BatchFeatures:
    """Per-document statistics of one batch (arrays of length n_docs)."""

    n_docs: int
    lengths: np.ndarray  # characters
    counts: np.ndarray  # (n_docs, N_CLASSES) characters per class
    n_tokens: np.ndarray
    n_words: np.ndarray  # tokens made of letters, digits or Han (not punctuation/symbols)
    word_chars: np.ndarray  # characters in those tokens
    alpha_tokens: np.ndarray  # tokens holding at least one letter or Han character
    max_token_chars: np.ndarray  # longest token
    # internal arrays for the n-gram statistics
    _tok_id: np.ndarray
    _tok_len: np.ndarray
    _tok_doc: np.ndarray

    @property
    def nonspace(self) -> np.ndarray:
        return self.lengths - self.counts[:, SPACE]

    def ngram_stats(self, n: int, docs: np.ndarray) -> NgramStats:
        """Repetition statistics of the n-grams of the documents with `docs[d]` True (others
        get zeros), from one sort of (n-gram hash, position) keys."""
        zeros = np.zeros(self.n_docs, dtype=np.int64)
        top, most, covered = zeros, zeros.copy(), zeros.copy()
        keys, pos_bits = self._ngram_keys(n, docs)
        if keys.size == 0:
            return NgramStats(top, most, covered)
        top = zeros.copy()
        keys.sort()
        group = keys >> np.uint64(pos_bits)
        pos_mask = np.uint64((1 << pos_bits) - 1)
        same = group[1:] == group[:-1]
        starts = np.flatnonzero(np.r_[True, ~same])
        sizes = np.diff(np.r_[starts, keys.size])
        first = (keys[starts] & pos_mask).astype(np.int64)
        gdoc = self._tok_doc[first]
        np.maximum.at(most, gdoc, sizes)
        rep = sizes >= 2
        if not rep.any():
            return NgramStats(top, most, covered)
        np.maximum.at(top, gdoc[rep], sizes[rep] * self._window_chars(first[rep], n))
        # within a group keys are in position order: all but the first are repeats
        repeats = (keys[1:][same] & pos_mask).astype(np.int64)
        m = self._tok_id.size
        depth = np.bincount(repeats, minlength=m + 1)[: m + 1]
        depth -= np.bincount(repeats + n, minlength=m + 1)[: m + 1]
        inside = np.flatnonzero(np.cumsum(depth[:m]) > 0)
        covered = np.bincount(
            self._tok_doc[inside], weights=self._tok_len[inside], minlength=self.n_docs
        ).astype(np.int64)
        return NgramStats(top, most, covered)

    # -- helpers -------------------------------------------------------------------------------

    def _valid_windows(self, n: int, docs: np.ndarray) -> np.ndarray:
        """Start indices of n-token windows inside one selected document."""
        m = self._tok_id.size
        if m < n:
            return np.empty(0, dtype=np.int64)
        d = self._tok_doc
        ok = d[: m - n + 1] == d[n - 1 :]
        ok &= docs[d[: m - n + 1]]
        return np.flatnonzero(ok)

    def _window_chars(self, k: np.ndarray, n: int) -> np.ndarray:
        cum = self._cum_len
        return cum[k + n] - cum[k]

    @property
    def _cum_len(self) -> np.ndarray:
        cum = getattr(self, "_cum_cache", None)
        if cum is None:
            cum = np.zeros(self._tok_len.size + 1, dtype=np.int64)
            np.cumsum(self._tok_len, out=cum[1:])
            self._cum_cache = cum
        return cum

    def _ngram_keys(self, n: int, docs: np.ndarray) -> tuple[np.ndarray, int]:
        """Sortable uint64 keys of the valid n-gram windows: a hash of (document, n-gram) in the
        high bits, the window's start in the low bits, so sorting groups equal n-grams of one
        document together in order of position."""
        k = self._valid_windows(n, docs)
        if k.size == 0:
            return np.empty(0, dtype=np.uint64), 1
        t = self._tok_id
        h = t[k].copy()
        mult = np.uint64(0x9E3779B97F4A7C15)
        for j in range(1, n):
            h *= mult
            h += t[k + j]
        h ^= self._tok_doc[k].astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
        _mix(h)
        pos_bits = max(1, int(t.size).bit_length())
        h >>= np.uint64(pos_bits)
        h <<= np.uint64(pos_bits)
        h |= k.astype(np.uint64)
        return h, pos_bits


def batch_features(texts: Sequence[str]) -> BatchFeatures:
    """Class counts and tokens of `texts` (one numpy pass over their concatenation)."""
    n = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    big = "".join(texts)
    cps = np.frombuffer(big.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cls = class_table()[cps]
    doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
    counts = np.bincount(doc * N_CLASSES + cls, minlength=n * N_CLASSES).reshape(n, N_CLASSES)

    # Tokens: a run of letters/digits is one token; every other non-space character is one.
    nonspace = np.flatnonzero(cls != SPACE)
    c_cls = cls[nonspace]
    c_doc = doc[nonspace]
    word = (c_cls == LETTER) | (c_cls == DIGIT)
    start = np.ones(nonspace.size, dtype=bool)
    if nonspace.size > 1:
        start[1:] = ~(
            word[1:]
            & word[:-1]
            & (nonspace[1:] == nonspace[:-1] + 1)  # adjacent in the text (no space between)
            & (c_doc[1:] == c_doc[:-1])
        )
    tok_start = np.flatnonzero(start)
    tok_len = np.diff(np.r_[tok_start, nonspace.size]).astype(np.int64)
    tok_doc = c_doc[tok_start]
    h = cps[nonspace].astype(np.uint64)
    multi_tok = tok_len > 1
    if multi_tok.any():  # hash the characters of multi-character tokens with their offsets
        offset = np.arange(nonspace.size, dtype=np.int64) - np.repeat(tok_start, tok_len)
        multi = np.repeat(multi_tok, tok_len)
        hm = h[multi] ^ (offset[multi].astype(np.uint64) << np.uint64(21))
        h[multi] = _mix(hm)
        tok_id = np.add.reduceat(h, tok_start)
        tok_id[multi_tok] |= np.uint64(1 << 63)  # never equal to a single code point
    else:
        tok_id = h
    tok_cls = c_cls[tok_start]
    is_word = word[tok_start] | (tok_cls == HAN)
    letter = (c_cls == HAN) | (c_cls == LETTER)
    if tok_start.size:
        has_letter = np.add.reduceat(letter.astype(np.int32), tok_start) > 0
    else:
        has_letter = letter
    n_tokens = np.bincount(tok_doc, minlength=n)
    n_words = np.bincount(tok_doc[is_word], minlength=n)
    word_chars = np.bincount(tok_doc[is_word], weights=tok_len[is_word], minlength=n).astype(
        np.int64
    )
    alpha_tokens = np.bincount(tok_doc[has_letter], minlength=n)
    max_token_chars = np.zeros(n, dtype=np.int64)
    np.maximum.at(max_token_chars, tok_doc, tok_len)
    return BatchFeatures(
        n_docs=n,
        lengths=lengths,
        counts=counts,
        n_tokens=n_tokens,
        n_words=n_words,
        word_chars=word_chars,
        alpha_tokens=alpha_tokens,
        max_token_chars=max_token_chars,
        _tok_id=tok_id,
        _tok_len=tok_len,
        _tok_doc=tok_doc,
    )
