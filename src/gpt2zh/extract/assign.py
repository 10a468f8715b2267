"""Which files of a dataset, and which records of them, each extract shard reads.

Every shard job computes the same assignment from the manifest alone (no shared state, no
checkpoint): the dataset's files are the manifest files matching a reader's globs (first matching
reader wins), sorted by path. `plan_shards` then gives every shard its part:

- whole files, by longest-processing-time greedy on byte size (largest file first, ties by path;
  each goes to the least-loaded shard, ties by lower index), when that leaves no shard empty and
  none more than `BALANCE_TOLERANCE` above the mean (many files: the common case, each read once);
- otherwise (fewer or larger files than shards) the files laid end to end in path order and cut
  into `shards` equal byte ranges: a file inside one range is read whole by its shard, a file
  that straddles cuts is split into pieces, one per shard it overlaps, in proportion to the
  bytes each shard takes of it.

A piece is a span `[lo, hi)` of `SPAN`: record n of the file belongs to the piece holding
`n * GOLDEN mod SPAN` (a Weyl sequence, equidistributed for any number of records), so pieces
partition the records exactly and take shares close to their spans from the first records on.
Compressed streams cannot be seeked, so every piece job reads the whole file and keeps its own
records (JSON lines and Parquet rows it does not own are skipped unparsed): see docs/DESIGN.md.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from gpt2zh.errors import UserError
from gpt2zh.globs import as_list, glob_regex

log = logging.getLogger(__name__)


class ExtractError(UserError):
    """A dataset's config and its download manifest do not fit together."""


#: Records of a split file are placed on [0, SPAN) by `position`; pieces are spans of it.
SPAN = 1 << 32
#: 2^32 / golden ratio, odd: n * GOLDEN mod 2^32 spreads any run of ordinals evenly.
GOLDEN = 0x9E3779B9
#: Whole-file assignment is kept while its fullest shard is at most this much above the mean.
BALANCE_TOLERANCE = 0.10
#: Below this many source bytes per shard a warning suggests fewer shards: each per-shard job
#: costs ~0.2 CPU-s to start (docs/SHARDING.md), about 1 CPU-s per shard over the stages.
MIN_SHARD_BYTES = 4 << 20


def position(n: int) -> int:
    """Where record `n` of a file falls on [0, SPAN)."""
    return (n * GOLDEN) & (SPAN - 1)


def positions(start: int, count: int) -> Any:
    """`position` of records start..start+count-1, as a numpy array (for Parquet batches)."""
    import numpy as np

    n = np.arange(start, start + count, dtype=np.uint64)
    return (n * np.uint64(GOLDEN)) & np.uint64(SPAN - 1)


@dataclass(frozen=True, slots=True)
class FileTask:
    relpath: str
    nbytes: int
    reader: int  # index into spec["read"]
    lo: int = 0  # the piece of the file this task reads: records n with lo <= position(n) < hi
    hi: int = SPAN

    @property
    def whole(self) -> bool:
        return self.lo == 0 and self.hi == SPAN

    @property
    def share(self) -> int:
        """The task's part of `nbytes`; the pieces of a file sum to it exactly."""
        return self.nbytes * self.hi // SPAN - self.nbytes * self.lo // SPAN


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


def split_evenly(tasks: Sequence[FileTask], shards: int) -> list[list[FileTask]]:
    """The files end to end in path order, cut into `shards` equal byte ranges; a file that
    straddles a cut becomes one piece per shard it overlaps (empty files join the shard whose
    range holds their offset)."""
    if shards < 1:
        raise ValueError("shards must be >= 1")
    ordered = sorted(tasks, key=lambda t: t.relpath)
    total = sum(t.nbytes for t in ordered)
    cuts = [k * total // shards for k in range(shards + 1)]
    out: list[list[FileTask]] = [[] for _ in range(shards)]
    start = 0
    for task in ordered:
        end = start + task.nbytes
        first = min(shards - 1, bisect.bisect_right(cuts, start) - 1)
        if task.nbytes == 0:
            out[first].append(task)
            continue
        for k in range(first, shards):
            a, b = max(start, cuts[k]) - start, min(end, cuts[k + 1]) - start
            if a >= task.nbytes:
                break
            lo, hi = a * SPAN // task.nbytes, b * SPAN // task.nbytes
            if lo < hi:
                out[k].append(task if (lo, hi) == (0, SPAN) else replace(task, lo=lo, hi=hi))
        start = end
    return out


def plan_shards(tasks: Sequence[FileTask], shards: int) -> list[list[FileTask]]:
    """Every shard's files or file pieces (see the module docstring)."""
    whole = assign_shards(tasks, shards)
    total = sum(t.nbytes for t in tasks)
    loads = [sum(t.nbytes for t in s) for s in whole]
    if total == 0 or (min(loads) > 0 and max(loads) <= (1 + BALANCE_TOLERANCE) * total / shards):
        return whole
    return split_evenly(tasks, shards)


def shard_files(spec: Mapping[str, Any], manifest: Mapping[str, Any], shard: int) -> list[FileTask]:
    shards = int(spec.get("shards", 1))
    if not 0 <= shard < shards:
        raise ExtractError(f"dataset {spec.get('name')!r}: shard {shard} not in 0..{shards - 1}")
    tasks = match_files(spec, manifest)
    total = sum(t.nbytes for t in tasks)
    if shard == 0 and shards > 1 and total < MIN_SHARD_BYTES * shards:
        log.warning(
            "dataset %r: %d shards of %.1f MB of source files each; jobs this small spend much "
            "of their CPU starting up: %d shard(s) would give each at least %d MB "
            "(docs/SHARDING.md)",
            spec.get("name"),
            shards,
            total / shards / 1e6,
            max(1, total // MIN_SHARD_BYTES),
            MIN_SHARD_BYTES >> 20,
        )
    return plan_shards(tasks, shards)[shard]
