"""Normalization, exact document hashes and n-gram shingle hashes, vectorised over a batch.

Everything works on UTF-32 code point arrays (one `str.encode("utf-32-le")` per batch), never on
Python substrings: building sets of 5-gram strings alone caps near 10 MB/s (MEASURED.md).

Normalization (for both the exact hash and the shingles): Latin (and other cased) letters
lowercased, full-width ASCII letters and digits folded, whitespace, punctuation, control and
format characters removed. A document that normalizes to nothing (all punctuation) keeps its raw
code points, so "！！！" and "？？？" stay different documents.

Shingles: with `tokens="chars"` the n-grams of normalized code points; with `tokens="words"`
(English) the n-grams of words (`\\w+` runs of the lowercased text, each word a 32-bit crc + 1).
A document shorter than n units is one shingle: all of it (never zero shingles, and short
documents only collide with the same short text). An n-gram c0..c(n-1) hashes to 32 bits as

    h64 = c0·P^(n-1) + c1·P^(n-2) + ... + c(n-1)  (mod 2^64);   h32 = (h64 · M mod 2^64) >> 32

(`shingle_hash32` is the same function on one shingle, for datasketch's `hashfunc=`). A shorter
shingle is the same sum with fewer terms, i.e. left-padded with code point 0, which normalized
text never holds. The exact hash is 64 bits of BLAKE2b over the normalized code points.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

P = 0x100000001B3  # FNV-64 prime (odd)
M = 0x9E3779B97F4A7C15  # 2^64 / golden ratio (odd): multiply-shift to 32 bits
MASK64 = (1 << 64) - 1
_P = np.uint64(P)
_M = np.uint64(M)
_WORD = re.compile(r"\w+")


@cache
def norm_table() -> np.ndarray:
    """uint32[0x10000]: the normalized code point of each BMP character, 0 = removed."""
    table = np.arange(0x10000, dtype=np.uint32)
    for c in range(0x10000):
        ch = chr(c)
        cat = unicodedata.category(ch)
        if cat[0] in "PZ" or cat in ("Cc", "Cf", "Cs") or ch.isspace():
            table[c] = 0
        elif cat == "Lu":
            low = ch.lower()
            if len(low) == 1:
                table[c] = ord(low)
    table[0xFF10:0xFF1A] = np.arange(ord("0"), ord("9") + 1)
    table[0xFF21:0xFF3B] = np.arange(ord("a"), ord("z") + 1)
    table[0xFF41:0xFF5B] = np.arange(ord("a"), ord("z") + 1)
    return table


def codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts' code points concatenated (uint32) and each text's length."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    raw = "".join(texts).encode("utf-32-le", "surrogatepass")
    return np.frombuffer(raw, dtype=np.uint32), lens


def normalize(cp: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalized code points (concatenated) and per-document lengths; see the module doc."""
    table = norm_table()
    big = cp > 0xFFFF
    m = table[np.where(big, 0, cp)]
    if big.any():
        m = np.where(big, cp, m)
    keep = m != 0
    ends = np.cumsum(lens)
    starts = ends - lens
    ck = np.concatenate(([0], np.cumsum(keep, dtype=np.int64)))
    nlens = ck[ends] - ck[starts]
    fallback = (nlens == 0) & (lens > 0)
    if fallback.any():
        rep = np.repeat(fallback, lens)
        m = np.where(rep & ~keep, cp, m)
        keep |= rep
        nlens = np.where(fallback, lens, nlens)
    return m[keep], nlens


def exact_hashes(vals: np.ndarray, nlens: np.ndarray) -> np.ndarray:
    """uint64 BLAKE2b-64 of each document's normalized code points."""
    buf = memoryview(np.ascontiguousarray(vals, dtype="<u4").tobytes())
    ends = np.cumsum(nlens) * 4
    out = np.empty(len(nlens), dtype=np.uint64)
    start = 0
    for i, end in enumerate(ends.tolist()):
        out[i] = int.from_bytes(hashlib.blake2b(buf[start:end], digest_size=8).digest(), "little")
        start = end
    return out


def word_units(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Word tokens as uint64 units (crc32 + 1, never 0) and per-document counts; a document
    without words is one unit: the crc of its whole text."""
    units: list[int] = []
    counts = np.empty(len(texts), dtype=np.int64)
    crc = zlib.crc32
    for i, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        if not words:
            words = [text]
        units.extend(crc(w.encode("utf-8", "surrogatepass")) + 1 for w in words)
        counts[i] = len(words)
    return np.array(units, dtype=np.uint64), counts


def shingle_hashes(units: np.ndarray, lens: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every n-gram of every document (documents shorter than n: one shingle
    of all of it; empty documents: none) and the number of shingles per document."""
    vals = units.astype(np.uint64, copy=False)
    total = len(vals)
    ends = np.cumsum(lens)
    starts = ends - lens
    offs = np.arange(total, dtype=np.int64) - np.repeat(starts, lens)
    h = vals.copy()
    pk = np.uint64(1)
    shifted = np.empty_like(vals)
    with np.errstate(over="ignore"):
        for k in range(1, n):
            pk = pk * _P
            shifted[:k] = 0
            shifted[k:] = vals[:-k] if k < total else 0
            shifted[offs < k] = 0
            h += shifted * pk
        h32 = ((h * _M) >> np.uint64(32)).astype(np.uint32)
    rep_lens = np.repeat(lens, lens)
    valid = (offs >= n - 1) | ((rep_lens < n) & (offs == rep_lens - 1))
    counts = np.where(lens >= n, lens - n + 1, np.minimum(lens, 1))
    return h32[valid], counts


def shingle_hash32(shingle: Iterable[int]) -> int:
    """One shingle's hash (its code points or word units), equal to `shingle_hashes`."""
    h = 0
    for c in shingle:
        h = (h * P + c) & MASK64
    return ((h * M) & MASK64) >> 32


def char_shingles(text: str, n: int) -> list[str]:
    """Reference (slow) shingling of one text as strings of normalized characters."""
    cp, lens = codepoints([text])
    vals, _ = normalize(cp, lens)
    s = "".join(map(chr, vals.tolist()))
    if not s:
        return []
    if len(s) < n:
        return [s]
    return [s[i : i + n] for i in range(len(s) - n + 1)]
