"""Scaling model: per-stage throughput per core and memory from the scale check, projected.

Reads the folders `benchmarks/scale_check.py` leaves (one per factor: Snakemake's `benchmark:`
files and every stage's `.stats.json`), fits each stage's seconds per GB of its own input and
its peak memory against the documents it holds, and projects wall time and memory for larger
corpora on more cores. Sharded stages run `ceil(GB / shard_gb)` jobs of bounded memory; the
three single jobs (tokenizer training on a fixed sample, dedup's cluster gather and the mix)
do not parallelize, so they set the floor of the wall time and the memory of the biggest node.

    python benchmarks/scaling_model.py results/scale_check --doc-bytes 3000

Corpus size means UTF-8 text after extraction (a JSONL corpus is close to that on disk).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

GB = 1e9
#: Sharded stages: the stats folder whose per-shard file says what entered the job, and the key.
SHARDED = {
    "extract": ("extract", "file_bytes"),
    "clean": ("clean", "bytes_in"),
    "convert": ("convert", "bytes_in"),
    "dedup/signatures": ("convert", "bytes_out"),
    "dedup/filter": ("dedup", "bytes_in"),
    "tokenize": ("tokens", "bytes_in"),
}
#: Jobs that see the whole corpus: tokenizer training (a fixed sample), dedup's band scatter
#: (one job per band group), its cluster gather and the mix.
WHOLE = ("tokenizer", "dedup/buckets", "dedup/clusters", "mix")


def _bench(tsv: Path) -> dict[str, float]:
    with open(tsv) as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    return {"s": float(row["s"]), "rss": float(row["max_rss"]) if row["max_rss"] != "NA" else 0.0}


def measure(work: Path) -> dict[str, Any]:
    """Per sharded job its input bytes, seconds and RSS; per whole-corpus stage its totals."""
    root = work / "logs" / "benchmarks"
    jobs: dict[str, list[dict[str, float]]] = defaultdict(list)
    for stage, (folder, key) in SHARDED.items():
        for tsv in sorted((root / stage).rglob("*.tsv")):
            rel = tsv.relative_to(root / stage).with_suffix(".stats.json")
            stats = json.loads((work / "results" / folder / rel).read_text("utf-8"))
            # in-process seconds where the stage records them (not signatures): no start-up
            inner = float(stats["seconds"]) if folder != "convert" or stage == "convert" else None
            jobs[stage].append({**_bench(tsv), "bytes": float(stats[key]), "inner": inner})
    whole: dict[str, dict[str, float]] = {}
    for stage in WHOLE:
        rows = [
            _bench(t)
            for t in sorted((root / stage).parent.glob(Path(stage).name + "*"))
            for t in ([t] if t.is_file() else sorted(t.rglob("*.tsv")))
        ]
        whole[stage] = {
            "s": sum(r["s"] for r in rows),
            "rss": max(r["rss"] for r in rows),
            "jobs": len(rows),
        }
    text, docs = 0.0, 0
    for path in (work / "results" / "clean").rglob("*.stats.json"):
        stats = json.loads(path.read_text("utf-8"))
        text, docs = text + stats["bytes_in"], docs + stats["docs_in"]
    clusters = json.loads((work / "results" / "dedup_work" / "clusters.json").read_text("utf-8"))
    return {
        "jobs": jobs,
        "whole": whole,
        "text": text,
        "docs": docs,
        "candidates": clusters["docs_in_clusters"],
    }


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares line y = a + b·x (memory has a fixed base; time is checked for a ≈ 0)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return my - b * mx, b


def _joined(rows: list[dict[str, float]], key: str, digits: int) -> str:
    return " / ".join(f"{r[key]:.{digits}f}" for r in rows)


def project(
    factors: dict[int, dict[str, Any]],
    sizes_gb: list[float],
    cores: list[int],
    shard_gb: float,
    doc_bytes: float,
    band_groups: int,
    dup_share: float,
) -> None:
    ks = sorted(factors)
    print("Sharded stages: throughput from the in-process seconds each shard's stats record,")
    print("start-up = job seconds minus those (median); peak RSS of the largest job.\n")
    print("| stage | jobs 1×/2×/4× | MB/s per core 1×/2×/4× | start-up s | peak MB 1×/2×/4× |")
    print("|---|---|---|---|---|")
    startups = sorted(
        j["s"] - j["inner"]
        for k in ks
        for st in SHARDED
        for j in factors[k]["jobs"][st]
        if j["inner"] is not None
    )
    startup = startups[len(startups) // 2]
    per_gb: dict[str, float] = {}
    for stage in SHARDED:
        rates = []
        for k in ks:
            jobs = factors[k]["jobs"][stage]
            secs = sum(j["inner"] if j["inner"] is not None else j["s"] - startup for j in jobs)
            rates.append({"r": sum(j["bytes"] for j in jobs) / secs / 1e6})
        every = [j for k in ks for j in factors[k]["jobs"][stage]]
        # at scale a stage's input relates to the corpus text as it did here
        share = sum(j["bytes"] for j in every) / sum(factors[k]["text"] for k in ks)
        per_gb[stage] = share * GB / 1e6 / (sum(r["r"] for r in rates) / len(rates))
        counts = "/".join(str(len(factors[k]["jobs"][stage])) for k in ks)
        peaks = [{"rss": max(j["rss"] for j in factors[k]["jobs"][stage])} for k in ks]
        note = "" if every[0]["inner"] is not None else " (job s − start-up)"
        print(
            f"| {stage}{note} | {counts} | {_joined(rates, 'r', 1)} | "
            f"{startup:.2f} | {_joined(peaks, 'rss', 0)} |"
        )
    print("\nWhole-corpus jobs: seconds and peak RSS against the documents of the corpus (the")
    print("gather: against the documents in duplicate clusters, the ones it holds).\n")
    print("| stage | jobs | seconds 1×/2×/4× | peak MB 1×/2×/4× | s per 1M docs | MB per 1M docs |")
    print("|---|---|---|---|---|---|")
    docs_m = [factors[k]["docs"] / 1e6 for k in ks]
    cand_m = [factors[k]["candidates"] / 1e6 for k in ks]
    time_fit: dict[str, tuple[float, float]] = {}
    mem_fit: dict[str, tuple[float, float]] = {}
    for stage in WHOLE:
        rows = [factors[k]["whole"][stage] for k in ks]
        x = cand_m if stage == "dedup/clusters" else docs_m
        time_fit[stage] = fit(x, [r["s"] for r in rows])
        mem_fit[stage] = fit(x, [r["rss"] for r in rows])
        print(
            f"| {stage} | {rows[0]['jobs']:.0f} | {_joined(rows, 's', 1)} | "
            f"{_joined(rows, 'rss', 0)} | {time_fit[stage][1]:.0f} | "
            f"{mem_fit[stage][1]:.0f} |"
        )
    measured = factors[ks[0]]["text"] / factors[ks[0]]["docs"]
    print(
        f"\nProjection: shards of {shard_gb:g} GB of text, documents of {doc_bytes:.0f} B "
        f"(measured here: {measured:.0f} B), {dup_share:.0%} of them in duplicate clusters, "
        f"dedup.band_groups {band_groups}, one core a job.\n"
    )
    print(
        "| corpus | cores | sharded stages | band scatter | dedup gather | mix | total | "
        "RAM GB: gather / scatter job / mix |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in sizes_gb:
        shards = max(1, math.ceil(size / shard_gb))
        docs = size * GB / doc_bytes / 1e6
        for n in cores:
            sharded = sum(
                max(g * size / min(n, shards), g * min(size, shard_gb)) + startup
                for g in per_gb.values()
            )
            # each scatter job sorts one band column of the whole corpus at a time: its memory
            # follows the corpus, not the number of groups; its time is split across the groups
            held = {"dedup/clusters": docs * dup_share}
            scatter = time_fit["dedup/buckets"][1] * docs / min(n, band_groups)
            gather, mix = (
                time_fit[s][0] + time_fit[s][1] * held.get(s, docs)
                for s in ("dedup/clusters", "mix")
            )
            total = sharded + scatter + gather + mix + time_fit["tokenizer"][0]
            ram = " / ".join(
                f"{(mem_fit[s][0] + mem_fit[s][1] * held.get(s, docs)) / 1e3:.0f}"
                for s in ("dedup/clusters", "dedup/buckets", "mix")
            )
            print(
                f"| {size:g} GB | {n} | {sharded / 3600:.1f} h ({shards} shards) | "
                f"{scatter / 3600:.1f} h | {gather / 3600:.1f} h | {mix / 3600:.1f} h | "
                f"{total / 3600:.1f} h | {ram} |"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("workdir", type=Path, help="scale_check.py's folder (x1/, x2/, x4/ inside)")
    ap.add_argument("--sizes-gb", type=float, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--cores", type=int, nargs="+", default=[64, 512, 4096])
    ap.add_argument("--shard-gb", type=float, default=1.0, help="text per shard at scale")
    ap.add_argument("--doc-bytes", type=float, default=3000, help="mean document size at scale")
    ap.add_argument("--band-groups", type=int, default=16, help="dedup.band_groups at scale")
    ap.add_argument("--dup-share", type=float, default=0.3, help="documents in clusters at scale")
    args = ap.parse_args()
    factors = {
        int(d.name[1:]): measure(d)
        for d in sorted(args.workdir.glob("x*"))
        if d.name[1:].isdigit() and (d / "logs" / "benchmarks").is_dir()
    }
    if len(factors) < 2:
        ap.error(f"{args.workdir}: need at least two factor folders (run scale_check.py first)")
    project(
        factors,
        args.sizes_gb,
        args.cores,
        args.shard_gb,
        args.doc_bytes,
        args.band_groups,
        args.dup_share,
    )


if __name__ == "__main__":
    main()
