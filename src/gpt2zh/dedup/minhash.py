"""Vectorised MinHash, bit-identical to datasketch 2.x's default `affine32` scheme.

For a shingle hash h (32 bits) datasketch computes, per permutation k,
`phv_k = a_k * fmix32(h) + b_k (mod 2^32)` and keeps the minimum over a document's shingles;
`a, b` come from `numpy.random.RandomState(seed)`, drawn here exactly as datasketch draws them
(importing datasketch for two arrays would cost each job ~0.4 CPU-s of scipy and pandas imports;
a test checks the arrays equal `datasketch.MinHash(...).permutations`). Here that runs over all
shingles of a batch at once, laid out (permutation, shingle) so that the per-document minimum is
one `minimum.reduceat` along the fast axis, in chunks of `CHUNK` shingles (bounded memory for any
document size). The resulting rows load as
`datasketch.LeanMinHash(seed=seed, hashvalues=row, scheme="affine32")`.
"""

from __future__ import annotations

from functools import cache

import numpy as np

CHUNK = 1 << 14
EMPTY = np.uint32(0xFFFFFFFF)


@cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 parameters: odd `a` (a bijection mod 2^32), any `b`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix)."""
    h = h.astype(np.uint32, copy=True)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def minhash_batch(h32: np.ndarray, counts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """(documents, num_perm) uint32 signatures; document i owns the next `counts[i]` hashes.
    A document without shingles gets the empty signature (all 2^32 - 1), as datasketch does."""
    a, b = permutations(num_perm, seed)
    ndocs = len(counts)
    out = np.full((num_perm, ndocs), EMPTY, dtype=np.uint32)
    hv = fmix32(h32)
    ends = np.cumsum(counts)
    starts = ends - counts
    nz = np.flatnonzero(counts)
    nz_starts, nz_ends = starts[nz], ends[nz]
    total = len(hv)
    a_col, b_col = a[:, None], b[:, None]
    buf = np.empty((num_perm, min(CHUNK, max(total, 1))), dtype=np.uint32)
    for s0 in range(0, total, CHUNK):
        s1 = min(total, s0 + CHUNK)
        i0 = np.searchsorted(nz_ends, s0, side="right")
        i1 = np.searchsorted(nz_starts, s1, side="left")
        docs = nz[i0:i1]
        seg = np.maximum(nz_starts[i0:i1], s0) - s0
        phv = buf[:, : s1 - s0]
        np.multiply(a_col, hv[None, s0:s1], out=phv)
        phv += b_col
        red = np.minimum.reduceat(phv, seg, axis=1)
        out[:, docs] = np.minimum(out[:, docs], red)
    return np.ascontiguousarray(out.T)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents, bands) uint64: one hash per band of `rows` consecutive hash values (the LSH
    bucket a document falls into in that band)."""
    ndocs = sig.shape[0]
    s = sig[:, : bands * rows].reshape(ndocs, bands, rows).astype(np.uint64)
    k = np.full((ndocs, bands), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    m = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for j in range(rows):
            k ^= s[:, :, j]
            k *= m
            k ^= k >> np.uint64(29)
    return k
