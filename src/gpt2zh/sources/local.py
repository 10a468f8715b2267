"""`local` sources: files already on disk (a mirror, a manual download); nothing is copied.

The manifest still hashes every file, so a later change to the folder is visible in the
manifest's sha256s and a run records exactly which bytes it read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gpt2zh.globs import as_list, glob_match

from .errors import DownloadError
from .http import Options
from .manifest import SourceFiles, hash_files


def list_files(root: Path, globs: list[str]) -> list[str]:
    """Relative POSIX paths of regular files under `root` matching `globs` (symlinked folders are
    not followed, so a link loop cannot hang the walk)."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            full = Path(folder, name)
            rel = full.relative_to(root).as_posix()
            if full.is_file() and glob_match(globs, rel):
                found.append(rel)
    return sorted(found)


def download_local(spec: dict[str, Any], out_dir: Path, options: Options) -> SourceFiles:
    root = Path(spec["path"])
    if not root.is_dir():
        where = f"{spec['path']!r}" + ("" if root.is_absolute() else f" (from {Path.cwd()})")
        raise DownloadError(f"local folder {where} does not exist or is not a folder")
    globs = as_list(spec.get("patterns", "**/*"))
    rels = list_files(root, globs)
    if not rels:
        raise DownloadError(f"no files under {spec['path']!r} match {globs}")
    return SourceFiles(
        root=root.as_posix(),
        files=hash_files(root, rels, options.chunk_bytes),
        resolved={"path": root.as_posix(), "patterns": globs},
    )
