"""Extract reads only the bytes the download stage recorded.

A file edited after its manifest was written (a `local` source changed in place, a mirror
updated) would otherwise be read as new content under the old size and sha256, and the run's
record of what it read would be false. Each shard hashes its files before reading them (sha256
runs at GB/s, extract at tens of MB/s) and refuses one whose sha256 is not the manifest's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from gpt2zh.digest import sha256_of

from .assign import ExtractError


def verify_files(root: str, manifest: Mapping[str, Any], relpaths: Iterable[str]) -> None:
    """Raises ExtractError naming the first file whose size or sha256 differs from the manifest
    entry (a missing file is left to the reader, which names it)."""
    entries = {e["path"]: e for e in manifest.get("files", [])}
    for rel in dict.fromkeys(relpaths):
        entry = entries.get(rel)
        path = os.path.join(root, rel)
        if entry is None or "sha256" not in entry or not os.path.exists(path):
            continue
        size, sha = sha256_of(path)
        if sha != entry["sha256"]:
            raise ExtractError(
                f"{rel!r} under {root!r} changed after the download stage recorded it "
                f"({entry.get('bytes')} bytes, sha256 {entry['sha256']}; now {size} bytes, "
                f"sha256 {sha}): re-run the download stage "
                f"(snakemake --forcerun download) so the manifest matches what is read"
            )
