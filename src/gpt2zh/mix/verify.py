"""The packed shards checked against the sha256 in the mix manifest before training reads them.

A flipped bit in a shard does not crash training: it becomes a wrong token id (or an id past the
vocab, caught late and far from its cause). So the bytes are checked before the first step.

Where the cost lands. At 1 TB of text the mix is ~500 GB of shards: hashing it takes minutes
(sha256 runs at ~0.5–2 GB/s per core; a parallel filesystem caps the total). That work belongs in a
CPU job, not on GPU nodes at every (re)start, so `verify_mix` runs as its own Snakemake job
(`mix_verify`, before `train`): files hashed in parallel threads (hashlib releases the GIL), each
streamed in 1 MiB chunks, so memory stays at threads × 1 MiB whatever the shard size. It writes
`verified.json` with each shard's size and mtime. Training then only `stat`s the shards against
that record (`check_verified`, milliseconds for thousands of files) and rehashes just the files
changed since; with no record (a run by hand) it hashes every shard once at start-up.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gpt2zh.digest import sha256_of
from gpt2zh.errors import UserError
from gpt2zh.ledger import write_json
from gpt2zh.mix.pack import MANIFEST

log = logging.getLogger(__name__)

VERIFIED = "verified.json"


class CorruptShardError(UserError):
    """A packed shard is missing or its bytes differ from the sha256 in the mix manifest."""


def listed_shards(mix_dir: Path) -> dict[str, str]:
    """Every shard the manifest lists (train, val, val_by_dataset), relative path → sha256."""
    path = mix_dir / MANIFEST
    if not path.is_file():
        raise CorruptShardError(f"{path} not found: build the mix first (snakemake mix)")
    m = json.loads(path.read_text("utf-8"))
    splits = [m["train"], m["val"], *m.get("val_by_dataset", {}).values()]
    return {s["path"]: s["sha256"] for split in splits for s in split["shards"]}


def _stat(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _hash_all(mix_dir: Path, expected: dict[str, str], threads: int) -> dict[str, dict[str, int]]:
    """Hashes `expected`'s files in parallel; raises naming every bad one, else their stats."""
    rels = sorted(expected)

    def one(rel: str) -> str | None:
        path = mix_dir / rel
        if not path.is_file():
            return f"{path}: listed in {mix_dir / MANIFEST} but missing"
        got = sha256_of(path)[1]
        if got != expected[rel]:
            return f"{path}: sha256 {got} != {expected[rel]} in {MANIFEST} (corrupted)"
        return None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        errors = [e for e in pool.map(one, rels) if e]
    if errors:
        raise CorruptShardError(
            f"{len(errors)} of {len(rels)} mix shards fail their checksum; rebuild the mix "
            "(snakemake --forcerun mix) or restore the files:\n  " + "\n  ".join(errors)
        )
    return {rel: _stat(mix_dir / rel) for rel in rels}


def verify_mix(mix_dir: str | Path, out: str | Path, *, threads: int = 1) -> dict[str, Any]:
    """Hashes every listed shard; writes `out` (the record `check_verified` trusts) if all match."""
    mix_dir = Path(mix_dir)
    expected = listed_shards(mix_dir)
    shards = _hash_all(mix_dir, expected, threads)
    record = {"manifest": _stat(mix_dir / MANIFEST), "shards": shards}
    write_json(out, record)
    total = sum(s["bytes"] for s in shards.values())
    log.info("mix: %d shards, %d bytes, every sha256 matches the manifest", len(expected), total)
    return record


def check_verified(mix_dir: str | Path, rels: Iterable[str] | None = None, threads: int = 1) -> int:
    """Checks the shards `rels` (default: all listed) before training: a shard whose size or mtime
    differs from `verified.json` (or every shard, without that record) is hashed against the
    manifest. Returns how many were hashed; raises CorruptShardError naming the bad files."""
    mix_dir = Path(mix_dir)
    expected = listed_shards(mix_dir)
    wanted = set(expected if rels is None else rels)
    record_path = mix_dir / VERIFIED
    record = json.loads(record_path.read_text("utf-8")) if record_path.is_file() else {}
    if record.get("manifest") != _stat(mix_dir / MANIFEST):
        record = {}  # a mix rebuilt after verification: its record no longer speaks for it
    known = record.get("shards", {})
    stale = {
        rel: expected[rel]
        for rel in sorted(wanted)
        if not (mix_dir / rel).is_file() or known.get(rel) != _stat(mix_dir / rel)
    }
    if stale:
        log.info("mix: hashing %d of %d shards not verified as they are", len(stale), len(wanted))
        _hash_all(mix_dir, stale, threads)
    return len(stale)


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
