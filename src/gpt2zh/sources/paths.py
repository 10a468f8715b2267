"""Paths inside a source root: glob matching and refusing paths that would escape the root.

Config globs (`include`, `patterns`) and names that come from outside (URL names, Hub tree paths,
tarball members) all pass through here, so the rules are the same for every source type.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from .errors import DownloadError


def as_globs(globs: str | Iterable[str] | None) -> list[str]:
    """The schema allows one glob or a list; callers always want a list."""
    if globs is None:
        return []
    if isinstance(globs, str):
        return [globs]
    return list(globs)


def glob_match(path: str, pattern: str) -> bool:
    """fnmatch semantics (as the Hub's allow_patterns: `*` also crosses `/`), plus two habits
    from shell globs that fnmatch alone gets wrong: `**/` may match zero folders (so `**/*`
    matches a top-level file and `a/**/b` matches `a/b`), and a trailing `/` means everything
    below that folder."""
    if pattern.endswith("/"):
        pattern += "*"
    return any(fnmatchcase(path, p) for p in _zero_folder_variants(pattern))


def _zero_folder_variants(pattern: str) -> set[str]:
    """`pattern` with every subset of its `**/` segments removed."""
    i = pattern.find("**/")
    if i < 0 or (i > 0 and pattern[i - 1] != "/"):
        return {pattern}
    head, rest = pattern[:i], pattern[i + 3 :]
    return {head + "**/" + v for v in _zero_folder_variants(rest)} | {
        head + v for v in _zero_folder_variants(rest)
    }


def match_any(path: str, globs: Iterable[str]) -> bool:
    return any(glob_match(path, g) for g in globs)


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
