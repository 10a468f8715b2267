"""Snakemake's job count and DAG-build time for a corpus of a given size, without the data.

Shard counts are fixed in the config, so the whole DAG of a terabyte corpus plans from the
config alone (extract's inputs are download manifests; the files a shard reads are chosen
inside its job). This scales a config's shard counts to `--tb` terabytes of text at
`--gb-per-shard`, keeping each dataset's share, and times `snakemake -n` on it in a scratch
folder: jobs per rule, total, DAG seconds and the scheduler overhead at ~17 ms a job.

    python benchmarks/dag_scale.py --tb 1 10 --gb-per-shard 1.5
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MS_PER_JOB = 17  # MEASURED.md: Snakemake's scheduler cost per job


def scaled_config(cfg: dict, shards: int) -> dict:
    """The config with `shards` shards in all, dealt to datasets by their current share."""
    base = {d: ds["shards"] for d, ds in cfg["datasets"].items()}
    total = sum(base.values())
    out = yaml.safe_load(yaml.safe_dump(cfg))
    for d, n in base.items():
        out["datasets"][d]["shards"] = max(1, round(shards * n / total))
    return out


def dry_run(config: dict, work: Path, targets: list[str]) -> tuple[dict[str, int], float]:
    configfile = work / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work)]
    # targets first: --quiet and --configfile take several values and would swallow them
    cmd += [*targets, "--workflow-profile", "none", "-n", "--quiet", "rules"]
    cmd += ["--configfile", str(configfile)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=work)
    seconds = time.perf_counter() - start
    counts = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, re.M)
    }
    counts.pop("total", None)
    return counts, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=REPO / "workflow/configs/pretrain-zh.yaml")
    p.add_argument("--tb", type=float, nargs="+", default=[1.0], help="corpus sizes, TB of text")
    p.add_argument("--gb-per-shard", type=float, default=1.5)
    p.add_argument("--targets", nargs="*", default=["all", "train"])
    args = p.parse_args()
    cfg = yaml.safe_load(args.config.read_text("utf-8"))
    for tb in args.tb:
        shards = round(tb * 1000 / args.gb_per_shard)
        scaled = scaled_config(cfg, shards)
        with tempfile.TemporaryDirectory() as tmp:
            counts, seconds = dry_run(scaled, Path(tmp), args.targets)
        total = sum(counts.values())
        per_dataset = {d: ds["shards"] for d, ds in scaled["datasets"].items()}
        print(f"\n{tb:g} TB, {sum(per_dataset.values())} shards {per_dataset}")
        for rule, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {rule:18s} {n:7d}")
        print(f"  {'total':18s} {total:7d}")
        print(
            f"  dry run (DAG build): {seconds:.1f} s; scheduler at {MS_PER_JOB} ms/job: "
            f"{total * MS_PER_JOB / 1000:.0f} s"
        )


if __name__ == "__main__":
    main()
