"""Refusing paths that would escape a source root.

Names that come from outside (URL names, Hub tree paths, tarball members) all pass through here,
so the rules are the same for every source type. Config globs are `gpt2zh.globs`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from .errors import DownloadError


def safe_relpath(name: str, what: str) -> str:
    """Returns `name` as a clean relative POSIX path, or raises DownloadError when it is absolute,
    climbs with `..`, or is empty, because writing it would land outside the destination."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise DownloadError(f"{what}: refusing absolute path {name!r}")
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if ".." in parts:
        raise DownloadError(f"{what}: refusing path with a '..' component {name!r}")
    if not parts:
        raise DownloadError(f"{what}: empty path {name!r}")
    return "/".join(parts)
