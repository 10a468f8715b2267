"""`local` sources: files already on disk (a mirror, a manual download); nothing is copied.

The manifest still hashes every file, so a later change to the folder is visible in the
manifest's sha256s and a run records exactly which bytes it read. The download rule lists the
folder's files as its inputs (`input_files`), so editing one reruns the download and what reads
that source.

Links follow the tarball policy: a file link whose target is outside the folder is refused with
an error naming it (`links_outside: true` allows it), because a link can point anywhere
(`passwd.txt -> /etc/passwd`). Links that are skipped (dangling, to a folder, to something that
is not a regular file) are counted and named in the manifest (`resolved.skipped`) and the log.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpt2zh.globs import as_list, glob_match

from .errors import DownloadError
from .http import Options
from .manifest import SourceFiles, hash_files

log = logging.getLogger(__name__)


@dataclass
class Listing:
    files: list[str] = field(default_factory=list)
    #: reason ("dangling_link", "folder_link", "not_a_file") → relative paths, sorted
    skipped: dict[str, list[str]] = field(default_factory=dict)


def list_files(root: Path, globs: list[str], links_outside: bool = False) -> Listing:
    """Relative POSIX paths of regular files under `root` matching `globs`, and what was skipped.
    Folder links are not followed (a link loop cannot hang the walk); a file link leaving `root`
    raises DownloadError unless `links_outside`."""
    out = Listing()
    real_root = os.path.realpath(root)
    for folder, dirs, names in os.walk(root):
        for name in sorted(dirs):
            full = os.path.join(folder, name)
            if os.path.islink(full):
                out.skipped.setdefault("folder_link", []).append(_rel(full, root))
        for name in names:
            full = os.path.join(folder, name)
            rel = _rel(full, root)
            if not glob_match(globs, rel):
                continue
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not os.path.exists(target):
                    out.skipped.setdefault("dangling_link", []).append(rel)
                    continue
                if not links_outside and os.path.commonpath([real_root, target]) != real_root:
                    raise DownloadError(
                        f"{rel!r} is a link to {target!r}, outside the source folder "
                        f"{str(root)!r}: refused (set `links_outside: true` on the source to "
                        f"read links that leave it)"
                    )
            if not os.path.isfile(full):
                out.skipped.setdefault("not_a_file", []).append(rel)
                continue
            out.files.append(rel)
    out.files.sort()
    for names in out.skipped.values():
        names.sort()
    return out


def _rel(full: str, root: Path) -> str:
    return Path(full).relative_to(root).as_posix()


def input_files(spec: dict[str, Any]) -> list[str]:
    """The folder's files as paths for the download rule's inputs (empty when the folder is
    missing: the download job then says so). Links are listed as they are; refusing them is the
    job's work, where the error can name the source."""
    root = Path(spec["path"])
    if not root.is_dir():
        return []
    listing = list_files(root, as_list(spec.get("patterns", "**/*")), links_outside=True)
    return [(root / rel).as_posix() for rel in listing.files]


def download_local(spec: dict[str, Any], out_dir: Path, options: Options) -> SourceFiles:
    root = Path(spec["path"])
    if not root.is_dir():
        where = f"{spec['path']!r}" + ("" if root.is_absolute() else f" (from {Path.cwd()})")
        raise DownloadError(f"local folder {where} does not exist or is not a folder")
    globs = as_list(spec.get("patterns", "**/*"))
    listing = list_files(root, globs, bool(spec.get("links_outside", False)))
    for reason, names in listing.skipped.items():
        log.warning("skipped %d %s(s): %s", len(names), reason, ", ".join(names[:10]))
    if not listing.files:
        raise DownloadError(f"no files under {spec['path']!r} match {globs}")
    resolved: dict[str, Any] = {"path": root.as_posix(), "patterns": globs}
    if listing.skipped:
        resolved["skipped"] = listing.skipped
    return SourceFiles(
        root=root.as_posix(),
        files=hash_files(root, listing.files, options.chunk_bytes),
        resolved=resolved,
    )
