"""Digests: sha256 of a file (downloads, mixed shards, checkpoints) and the one stable 64-bit
hash behind every seeded per-document choice (tokenizer sample and hold-out, mix validation
split, mix shuffles), so that those choices depend on ids and seeds only, never on Python's
per-process `hash()` or on a library's version."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in chunks so memory stays flat."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def hash64(text: str, key: str = "") -> int:
    """BLAKE2b-64 of `text` (UTF-8) keyed with `key`, as an unsigned little-endian integer.
    BLAKE2's keyed mode is its own MAC construction, so `key` separates the uses without
    concatenating strings; an empty key is plain BLAKE2b."""
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=key.encode()).digest()
    return int.from_bytes(digest, "little")


def doc_unit(doc_id: str, seed: int, salt: str = "tok") -> float:
    """A stable pseudo-random number in [0, 1) per document id (and seed, salt)."""
    return hash64(doc_id, f"{salt}:{seed}") / 2**64


def stable_int(*parts: object) -> int:
    """A 63-bit integer from strings/ints (joined by U+001F), for seeding numpy generators."""
    return hash64("\x1f".join(map(str, parts))) >> 1
