"""Scale check: the data pipeline on 1×, 2×, 4× the default corpus, time and memory per stage.

For factor k the corpus is the default config's files k times over: copy 0 as published, copies
1..k-1 with a share of characters of every line replaced by other characters of the same poem
(`--edit-rate`), so that dedup meets real near duplicates and not only exact ones. Shard
counts scale with k, as a user would scale them. Each factor runs the real workflow
(`snakemake --cores N`, default target: every data product up to the packed mix) in its own
folder; per rule it sums the CPU-seconds and takes the peak RSS of Snakemake's `benchmark:`
files, then prints how each grew from 1×.

    python benchmarks/scale_check.py PATH/TO/chinese-poetry/package --factors 1 2 4
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

from benchlib import add_corpus_arg, corpus_root

REPO = Path(__file__).resolve().parents[1]


def build_corpus(root: Path, out: Path, cfg: dict, k: int, rate: float, seed: int) -> None:
    """k copies of every file the default datasets read; copies after the first are edited."""
    import json

    from gpt2zh.globs import as_list, glob_match

    globs = [g for ds in cfg["datasets"].values() for r in ds["read"] for g in as_list(r["files"])]
    files = sorted(
        p.relative_to(root).as_posix()
        for p in (root / "dist").rglob("*.json")
        if glob_match(globs, p.relative_to(root).as_posix())
    )
    rng = random.Random(seed)
    for copy in range(k):
        for rel in files:
            dest = out / f"copy{copy}" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if copy == 0:
                shutil.copyfile(root / rel, dest)
                continue
            data = json.loads((root / rel).read_text("utf-8"))
            dest.write_text(json.dumps(_edit(data, rate, rng), ensure_ascii=False), "utf-8")


def _edit(node: object, rate: float, rng: random.Random) -> object:
    """Replaces ~`rate` of the characters of every string under `paragraphs`/`content`."""
    if isinstance(node, dict):
        return {
            key: _edit_lines(v, rate, rng)
            if key in ("paragraphs", "content")
            else _edit(v, rate, rng)
            for key, v in node.items()
        }
    if isinstance(node, list):
        return [_edit(v, rate, rng) for v in node]
    return node


def _edit_lines(value: object, rate: float, rng: random.Random) -> object:
    if isinstance(value, str):
        chars = list(value)
        for i in range(len(chars)):
            if rng.random() < rate:
                chars[i] = rng.choice(value)
        return "".join(chars)
    if isinstance(value, list):
        return [_edit_lines(v, rate, rng) for v in value]
    return _edit(value, rate, rng)


def scaled_config(cfg: dict, corpus: Path, k: int) -> dict:
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    cfg["sources"] = {"chinese_poetry": {"type": "local", "path": str(corpus)}}
    for ds in cfg["datasets"].values():
        ds["shards"] = ds.get("shards", 1) * k
        for reader in ds["read"]:
            files = reader["files"]
            files = [files] if isinstance(files, str) else files
            reader["files"] = [f"copy*/{f}" for f in files]
    return cfg


def run_factor(root: Path, work: Path, k: int, args: argparse.Namespace) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text("utf-8"))
    work = work.resolve()
    if work.exists():
        shutil.rmtree(work)
    build_corpus(root, work / "corpus", cfg, k, args.edit_rate, args.seed)
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(scaled_config(cfg, work / "corpus", k), allow_unicode=True))
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
        "--workflow-profile", "none", "--cores", str(args.cores), "--configfile", str(config),
    ]  # fmt: skip
    t0 = time.perf_counter()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with open(work / "snakemake.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - t0
    per_rule: dict[str, dict[str, float]] = defaultdict(lambda: {"s": 0.0, "rss": 0.0, "jobs": 0})
    for tsv in (work / "logs" / "benchmarks").rglob("*.tsv"):
        stage = tsv.relative_to(work / "logs" / "benchmarks").parts[0]
        with open(tsv) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        r = per_rule[stage]
        r["s"] += float(row["s"])
        r["rss"] = max(r["rss"], float(row["max_rss"]) if row["max_rss"] != "NA" else 0.0)
        r["jobs"] += 1
    corpus_mb = sum(p.stat().st_size for p in (work / "corpus").rglob("*.json")) / 1e6
    return {"wall": wall, "corpus_mb": corpus_mb, "rules": dict(per_rule)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_corpus_arg(ap)
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--edit-rate", type=float, default=0.02, help="characters replaced per copy")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path("results") / "scale_check")
    args = ap.parse_args()
    root = corpus_root(ap, args)
    results = {}
    for k in args.factors:
        print(f"factor {k}: building and running…", flush=True)
        results[k] = run_factor(root, args.workdir / f"x{k}", k, args)
        print(f"  {results[k]['corpus_mb']:.0f} MB of JSON, wall {results[k]['wall']:.0f} s")
    base = results[args.factors[0]]
    stages = sorted({s for r in results.values() for s in r["rules"]})
    print(
        "\nstage        " + "".join(f"  {k}×: CPU-s  peak MB" for k in args.factors) + "   growth"
    )
    for stage in stages:
        cells, first = [], base["rules"].get(stage)
        for k in args.factors:
            r = results[k]["rules"].get(stage, {"s": 0.0, "rss": 0.0})
            cells.append(f"  {r['s']:9.1f} {r['rss']:8.0f}")
        last = results[args.factors[-1]]["rules"].get(stage)
        growth = f"{last['s'] / first['s']:.2f}× time" if first and last and first["s"] else "–"
        print(f"{stage:12s}" + "".join(cells) + f"   {growth}")
    walls = "  ".join(f"{k}×: {results[k]['wall']:.0f} s" for k in args.factors)
    print(f"\nwall time {walls}")


if __name__ == "__main__":
    main()
