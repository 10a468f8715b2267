"""Which files of a dataset each extract shard reads.

Every shard job computes the same assignment from the manifest alone (no shared state, no
checkpoint): the dataset's files are the manifest files matching a reader's globs (first matching
reader wins), sorted by path, then spread over the shards by longest-processing-time greedy on byte
size (largest file first, ties by path; each goes to the least-loaded shard, ties by lower index).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gpt2zh.errors import UserError
from gpt2zh.globs import as_list, glob_regex

log = logging.getLogger(__name__)


class ExtractError(UserError):
    """A dataset's config and its download manifest do not fit together."""


@dataclass(frozen=True, slots=True)
class FileTask:
    relpath: str
    nbytes: int
    reader: int  # index into spec["read"]


def _check_relpath(relpath: str) -> None:
    p = PurePosixPath(relpath)
    if p.is_absolute() or ".." in p.parts or not relpath:
        raise ExtractError(f"manifest path {relpath!r} is not a relative path inside the source")


def match_files(spec: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[FileTask]:
    """The dataset's files, sorted by path, each with the index of the first reader matching it."""
    readers = spec["read"]
    patterns = [[glob_regex(g) for g in as_list(r["files"])] for r in readers]
    tasks: list[FileTask] = []
    used = [0] * len(readers)
    for entry in manifest.get("files", []):
        rel = entry["path"]
        for k, regexes in enumerate(patterns):
            if any(rx.fullmatch(rel) for rx in regexes):
                _check_relpath(rel)
                tasks.append(FileTask(rel, int(entry.get("bytes") or 0), k))
                used[k] += 1
                break
    name = spec.get("name", "?")
    if not tasks:
        globs = [g for r in readers for g in as_list(r["files"])]
        sample = ", ".join(f["path"] for f in manifest.get("files", [])[:5])
        raise ExtractError(
            f"dataset {name!r}: its reader globs {globs} match none of the "
            f"{len(manifest.get('files', []))} files of source {manifest.get('source', '?')!r}"
            + (f" (e.g. {sample})" if sample else "")
        )
    for k, count in enumerate(used):
        if count == 0:
            log.warning(
                "dataset %r: reader %d (files %s) matches no file", name, k, readers[k]["files"]
            )
    tasks.sort(key=lambda t: t.relpath)
    return tasks


def assign_shards(tasks: Sequence[FileTask], shards: int) -> list[list[FileTask]]:
    """Longest-processing-time greedy: deterministic, every file in exactly one shard."""
    if shards < 1:
        raise ValueError("shards must be >= 1")
    heap = [(0, s) for s in range(shards)]
    out: list[list[FileTask]] = [[] for _ in range(shards)]
    for task in sorted(tasks, key=lambda t: (-t.nbytes, t.relpath)):
        load, s = heapq.heappop(heap)
        out[s].append(task)
        heapq.heappush(heap, (load + task.nbytes, s))
    for files in out:
        files.sort(key=lambda t: t.relpath)
    return out


def shard_files(spec: Mapping[str, Any], manifest: Mapping[str, Any], shard: int) -> list[FileTask]:
    shards = int(spec.get("shards", 1))
    if not 0 <= shard < shards:
        raise ExtractError(f"dataset {spec.get('name')!r}: shard {shard} not in 0..{shards - 1}")
    return assign_shards(match_files(spec, manifest), shards)[shard]
