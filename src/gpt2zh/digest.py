"""sha256 of a file, streamed: one implementation for downloads, mixed shards and checkpoints."""

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
