"""The lock file: which commit each Hub source's branch meant, so a rebuild never changes data.

Hub repos move (a branch is rewritten, a folder renamed), so `revision: main` alone would let a
rebuild months later read other bytes. The lock, `<config stem>.lock.yaml` beside the config,
records for every `hf` source the commit its branch resolved to the first time it was
downloaded; from then on downloads fetch exactly that commit. `gpt2zh lock --config CONFIG`
resolves the branches again and rewrites the lock (the one command to take upstream changes).

Only commits a Hub answered are ever written (a first download's, or `gpt2zh lock`'s), never a
guess. An entry whose repo, repo_type or revision no longer match the config is not used: the
config asks for something else, which is resolved and recorded anew. A revision that is already a
40-hex commit needs no lock entry. Several download jobs may record at once, so every
read-modify-write holds an exclusive `flock` on the lock's folder, and the file is replaced
atomically.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .errors import DownloadError

COMMIT = re.compile(r"[0-9a-f]{40}")
HEADER = """\
# Hub commits the branches of {config} resolved to: downloads fetch exactly these commits, so a
# rebuild reads the same bytes. Written on a source's first download; to take upstream changes:
#   gpt2zh lock --config {config}
"""


def lock_path_for(config_path: str | Path) -> Path:
    """`workflow/configs/pretrain-zh.yaml` → `workflow/configs/pretrain-zh.lock.yaml`."""
    p = Path(config_path)
    return p.with_name(p.stem + ".lock.yaml")


def with_lock(spec: Mapping[str, Any], config_path: str | Path) -> dict[str, Any]:
    """An `hf` source's spec with `lock_file` beside `config_path`; other sources unchanged."""
    if spec.get("type") != "hf":
        return dict(spec)
    return {**spec, "lock_file": lock_path_for(config_path).as_posix()}


def is_commit(revision: str) -> bool:
    return COMMIT.fullmatch(revision) is not None


def _key(spec: Mapping[str, Any]) -> dict[str, str]:
    return {
        "repo": spec["repo"],
        "repo_type": spec.get("repo_type", "dataset"),
        "revision": spec.get("revision", "main"),
    }


def read_lock(path: Path) -> dict[str, dict[str, str]]:
    """The lock's `sources` mapping ({} when there is no lock yet)."""
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as e:
        raise DownloadError(f"{path}: not a valid lock file ({e}); delete it to re-resolve") from e
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, dict):
        raise DownloadError(f"{path}: no `sources:` mapping; delete it to re-resolve")
    return sources


def locked_commit(path: Path, name: str, spec: Mapping[str, Any]) -> str | None:
    """The commit the lock holds for source `name`, if its entry still matches the config."""
    entry = read_lock(path).get(name)
    if not isinstance(entry, dict) or any(entry.get(k) != v for k, v in _key(spec).items()):
        return None
    commit = entry.get("commit")
    if not isinstance(commit, str) or not is_commit(commit):
        raise DownloadError(f"{path}: sources.{name}.commit is not a 40-hex commit: {commit!r}")
    return commit


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Holds an exclusive flock on the lock's folder (the file itself is replaced, not edited,
    and a sidecar lock file would litter the config folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def record(path: Path, entries: Mapping[str, tuple[Mapping[str, Any], str]]) -> None:
    """Writes `{name: (spec, commit)}` into the lock, keeping every other entry."""
    for name, (_, commit) in entries.items():
        if not is_commit(commit):  # the Hub's answer, but check: the lock must hold only commits
            raise DownloadError(f"source {name!r}: the Hub resolved to {commit!r}, not a commit")
    with _locked(path):
        sources = read_lock(path)
        for name, (spec, commit) in entries.items():
            sources[name] = {**_key(spec), "commit": commit}
        text = HEADER.format(config=path.name.replace(".lock.yaml", ".yaml")) + yaml.safe_dump(
            {"sources": dict(sorted(sources.items()))}, allow_unicode=True, sort_keys=True
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)


def update(
    path: Path, specs: Mapping[str, Mapping[str, Any]], resolve: Any
) -> list[tuple[str, str | None, str]]:
    """Resolves every branch/tag source in `specs` now (`resolve(spec) -> commit`, a Hub call)
    and records the answers: `[(name, old commit or None, new commit)]`. Sources pinned to a
    commit in the config are left out: they need no lock."""
    current = read_lock(path)
    changes, entries = [], {}
    for name, spec in sorted(specs.items()):
        if is_commit(spec.get("revision", "main")):
            continue
        commit = resolve(spec)
        old = current.get(name) if isinstance(current.get(name), dict) else None
        same_key = old is not None and all(old.get(k) == v for k, v in _key(spec).items())
        changes.append((name, old.get("commit") if same_key else None, commit))
        entries[name] = (spec, commit)
    if entries:
        record(path, entries)
    return changes
