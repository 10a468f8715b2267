"""Stage stats: every document that enters a stage leaves it or is counted under a drop reason.

One `Ledger` per (stage, dataset, shard). It is written beside the output shard as
`<shard>.stats.json` and refuses to be written when `docs_in != docs_out + sum(drops)`, so an
accounting bug fails the job instead of silently losing documents. A few truncated examples per
drop reason are kept so reports can show *why* something was dropped, not only how often.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXAMPLES_PER_REASON = 5
EXAMPLE_CHARS = 300


class AccountingError(RuntimeError):
    """A stage's counts do not add up: documents were lost or invented."""


def excerpt(text: str, limit: int = EXAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [+{len(text) - limit} chars]"


@dataclass
class Ledger:
    stage: str
    dataset: str
    shard: int
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Named counts of things a stage did to documents it kept (e.g. `bom_stripped`).
    changes: Counter[str] = field(default_factory=Counter)
    #: Document lengths in chars, bucketed by `length_bucket`, of documents in and out.
    lengths_in: Counter[int] = field(default_factory=Counter)
    lengths_out: Counter[int] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def seen(self, chars: int = 0, nbytes: int = 0) -> None:
        self.docs_in += 1
        self.chars_in += chars
        self.bytes_in += nbytes
        self.lengths_in[chars.bit_length()] += 1

    def kept(self, chars: int, nbytes: int) -> None:
        self.docs_out += 1
        self.chars_out += chars
        self.bytes_out += nbytes
        self.lengths_out[chars.bit_length()] += 1

    def add_lengths(self, chars: Iterable[int], out: bool) -> None:
        """Length histogram update for stages that count documents in bulk."""
        (self.lengths_out if out else self.lengths_in).update(c.bit_length() for c in chars)

    def seen_bulk(self, chars: Sequence[int], nbytes: int) -> None:
        """`seen` for a whole batch: per-document char lengths, total UTF-8 bytes."""
        self.docs_in += len(chars)
        self.chars_in += sum(chars)
        self.bytes_in += nbytes
        self.add_lengths(chars, out=False)

    def kept_bulk(self, chars: Sequence[int], nbytes: int) -> None:
        self.docs_out += len(chars)
        self.chars_out += sum(chars)
        self.bytes_out += nbytes
        self.add_lengths(chars, out=True)

    def dropped(self, reason: str, example: str | None = None, **where: Any) -> None:
        self.drops[reason] += 1
        samples = self.examples.setdefault(reason, [])
        if len(samples) < EXAMPLES_PER_REASON:
            samples.append({**where, "text": excerpt(example or "")})

    def changed(self, what: str, n: int = 1) -> None:
        if n:
            self.changes[what] += n

    def check(self) -> None:
        dropped = sum(self.drops.values())
        if self.docs_in != self.docs_out + dropped:
            raise AccountingError(
                f"{self.stage}/{self.dataset}/shard {self.shard}: docs_in={self.docs_in} != "
                f"docs_out={self.docs_out} + drops={dropped} {dict(self.drops)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "dataset": self.dataset,
            "shard": self.shard,
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "chars_in": self.chars_in,
            "chars_out": self.chars_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "drops": dict(sorted(self.drops.items())),
            "examples": {k: self.examples[k] for k in sorted(self.examples)},
            "changes": dict(sorted(self.changes.items())),
            "lengths": {"in": _hist(self.lengths_in), "out": _hist(self.lengths_out)},
            "seconds": round(time.perf_counter() - self._t0, 3),
            **self.extra,
        }

    def write(self, path: str | Path) -> dict[str, Any]:
        self.check()
        data = self.to_dict()
        write_json(path, data)
        return data


def length_bucket_label(bucket: int) -> str:
    """Bucket b holds lengths in [2**(b-1), 2**b); bucket 0 holds empty documents."""
    return "0" if bucket == 0 else f"{1 << (bucket - 1)}–{(1 << bucket) - 1}"


def _hist(counts: Counter[int]) -> dict[str, int]:
    return {str(b): counts[b] for b in sorted(counts)}


def write_text(path: str | Path, text: str) -> None:
    """Writes atomically: a reader (Snakemake, a person reloading a page) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


SUMMED = ("docs_in", "docs_out", "chars_in", "chars_out", "bytes_in", "bytes_out", "seconds")
#: Summed too where a stage writes them (extract: the source files it read and their bytes).
SUMMED_IF_PRESENT = ("file_bytes",)


def merge_stats(stats: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sums shard stats of one stage and dataset into one record (examples capped again)."""
    total: dict[str, Any] = {k: 0 for k in SUMMED}
    drops: Counter[str] = Counter()
    changes: Counter[str] = Counter()
    lengths: dict[str, Counter[str]] = {"in": Counter(), "out": Counter()}
    examples: dict[str, list[dict[str, Any]]] = {}
    shards = 0
    for s in stats:
        shards += 1
        total.setdefault("stage", s["stage"])
        total.setdefault("dataset", s["dataset"])
        for k in SUMMED:
            total[k] += s.get(k, 0)
        for k in SUMMED_IF_PRESENT:
            if k in s:
                total[k] = total.get(k, 0) + s[k]
        if "files" in s:  # a file split over shards counts once, with its first piece
            later_pieces = sum(1 for lo, _ in s.get("pieces", {}).values() if lo)
            total["files"] = total.get("files", 0) + len(s["files"]) - later_pieces
        drops.update(s.get("drops", {}))
        changes.update(s.get("changes", {}))
        for side, hist in s.get("lengths", {}).items():
            lengths[side].update(hist)
        for reason, samples in s.get("examples", {}).items():
            kept = examples.setdefault(reason, [])
            kept.extend(samples[: EXAMPLES_PER_REASON - len(kept)])
    total["seconds"] = round(total["seconds"], 3)
    total.update(
        shards=shards,
        drops=dict(sorted(drops.items())),
        changes=dict(sorted(changes.items())),
        lengths={k: {b: v[b] for b in sorted(v, key=int)} for k, v in lengths.items()},
        examples={k: examples[k] for k in sorted(examples)},
    )
    return total
