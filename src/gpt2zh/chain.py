"""The chain between document stages: what one stage wrote is what the next one read.

Each stage's ledger balances on its own (`in == out + drops`), which says nothing about the
handover: a shard replaced by a valid copy of its first half balances at every later stage. So a
stage records the sha256 of the shard it wrote (`output_sha256` in its stats), and the next stage,
before reading its input shard, checks that the file is that very file and holds the documents
the writer counted (`docs_out`); it records the input's sha256 (`input_sha256`). The report
compares the two records shard by shard (`chain_breaks`) and shows the chain red where they
differ.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gpt2zh.digest import sha256_of
from gpt2zh.layout import sidecar

log = logging.getLogger(__name__)


class ChainError(RuntimeError):
    """A stage's input shard is not what the previous stage wrote."""


def output_record(out_path: str | Path) -> dict[str, str]:
    """What a stage adds to its stats about the shard it wrote."""
    return {"output_sha256": sha256_of(out_path)[1]}


def check_input(in_path: str | Path) -> dict[str, str]:
    """Checks `in_path` against the stats its writer left beside it and returns what the reading
    stage records (`input_sha256`). Raises ChainError naming the file and both records."""
    in_path = Path(in_path)
    stats_path = sidecar(in_path, ".stats.json")
    sha = sha256_of(in_path)[1]
    if not stats_path.exists():
        log.warning("%s: no stats beside it (%s): cannot check the chain", in_path, stats_path)
        return {"input_sha256": sha}
    prev = json.loads(stats_path.read_text("utf-8"))
    with pq.ParquetFile(in_path) as pf:
        rows = pf.metadata.num_rows
    writer = f"{prev.get('stage', 'the previous stage')}"
    if rows != prev.get("docs_out"):
        raise ChainError(
            f"{in_path}: holds {rows} documents but {writer} wrote {prev.get('docs_out')} "
            f"(per {stats_path}): the shard changed after {writer} wrote it; rerun {writer} "
            f"(snakemake --forcerun {writer})"
        )
    want = prev.get("output_sha256")
    if want is None:
        log.warning(
            "%s: %s recorded no sha256 (older stats): only the count is checked",
            in_path,
            stats_path,
        )
    elif want != sha:
        raise ChainError(
            f"{in_path}: sha256 {sha} is not the {want} that {writer} wrote (per {stats_path}): "
            f"the shard changed after {writer} wrote it; rerun {writer} "
            f"(snakemake --forcerun {writer})"
        )
    return {"input_sha256": sha}


def chain_breaks(
    stages: Sequence[str], by_stage: Mapping[str, Iterable[Mapping[str, Any]]]
) -> dict[str, list[str]]:
    """For each stage after the first, the shards whose input does not match what the previous
    stage wrote: `docs_in` against `docs_out`, and `input_sha256` against `output_sha256` (a
    stage that records neither, such as older stats, is compared by count only), plus shards
    one of the two stages lacks."""
    out: dict[str, list[str]] = {}
    for prev_name, name in itertools.pairwise(stages):
        prev = {s["shard"]: s for s in by_stage.get(prev_name, [])}
        cur = {s["shard"]: s for s in by_stage.get(name, [])}
        broken = []
        for shard in sorted(prev.keys() | cur.keys()):
            a, b = prev.get(shard), cur.get(shard)
            if a is None or b is None:
                broken.append(f"shard {shard}: only in {prev_name if b is None else name}")
            elif a["docs_out"] != b["docs_in"]:
                broken.append(f"shard {shard}: {prev_name} out {a['docs_out']} ≠ in {b['docs_in']}")
            elif a.get("output_sha256") and b.get("input_sha256") != a["output_sha256"]:
                broken.append(f"shard {shard}: {name} read another file than {prev_name} wrote")
        out[name] = broken
    return out
