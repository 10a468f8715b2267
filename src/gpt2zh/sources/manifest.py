"""The download stage's output contract: `manifest.json` listing every file of a source.

Downstream stages read only `root` and `files`, so they never care how a source was fetched;
each file carries its size and sha256 so a later run (or a person) can tell whether the bytes an
extract job read are the bytes that were downloaded.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..digest import sha256_of
from ..ledger import write_json
from .errors import DownloadError

MANIFEST_NAME = "manifest.json"


@dataclass
class SourceFiles:
    """What a source handler hands back to the dispatcher."""

    #: Folder the file paths are relative to, as the user gave it (relative stays relative).
    root: str
    #: `file_entry` dicts.
    files: list[dict[str, Any]]
    #: Type-specific facts worth recording: resolved commit, integrity, URLs, versions.
    resolved: dict[str, Any] = field(default_factory=dict)


def file_entry(path: str, nbytes: int, sha256: str) -> dict[str, Any]:
    return {"path": path, "bytes": nbytes, "sha256": sha256}


def hash_files(root: Path, rel_paths: Iterable[str], chunk_bytes: int = 1 << 20) -> list[dict]:
    """Manifest entries for files already on disk under `root`."""
    entries = []
    for rel in rel_paths:
        nbytes, digest = sha256_of(root / rel, chunk_bytes)
        entries.append(file_entry(rel, nbytes, digest))
    return entries


def build_manifest(spec: Mapping[str, Any], result: SourceFiles, seconds: float) -> dict[str, Any]:
    """The manifest dict: files sorted by path; duplicate paths (one would shadow the other) are
    refused."""
    for entry in result.files:
        if not _is_utf8(entry["path"]):
            raw = os.fsencode(entry["path"])
            raise DownloadError(
                f"source {spec['name']!r}: file name {raw!r} is not UTF-8 (manifests and "
                f"document ids are): rename the file"
            )
    files = sorted(result.files, key=lambda e: e["path"])
    for a, b in itertools.pairwise(files):
        if a["path"] == b["path"]:
            raise DownloadError(f"source {spec['name']!r}: two files map to {a['path']!r}")
    return {
        "source": spec["name"],
        "type": spec["type"],
        "root": result.root,
        "files": files,
        "resolved": result.resolved,
        "seconds": round(seconds, 3),
    }


def _is_utf8(name: str) -> bool:
    """False for names holding lone surrogates: bytes the file system did not decode."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def write_manifest(out_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Written last and atomically: its presence means every listed file is complete."""
    path = Path(out_dir) / MANIFEST_NAME
    write_json(path, dict(manifest))
    return path
