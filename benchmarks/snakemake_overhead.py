"""Snakemake's own CPU per job: the whole data workflow on one small file cut into many shards,
once per `--scheduler`, with every job cheap so that what Snakemake spends shows.

The CPU of Snakemake's process tree (its own process, the job shells, the ILP solver it starts,
the `benchmark:` samplers) minus what the jobs report for themselves (each job's last log line,
`done: X CPU-s`), divided by the number of jobs. Jobs here are short, so this shows what
grows with the DAG (the ILP scheduler's program over every remaining job); what grows with wall
time (wake-up timers, `gpt2zh/scheduler_wakeup.py`) is `scheduler_wakeup_bench.py`'s.

    PYTHONPATH=src python benchmarks/snakemake_overhead.py --shards 64 --scheduler ilp greedy
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from split_bench import build_corpus, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mb", type=int, default=16, help="MB of JSON lines before gzip")
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--scheduler", nargs="+", default=["ilp", "greedy"])
    ap.add_argument("--workdir", type=Path, default=Path("results") / "snakemake_overhead")
    args = ap.parse_args()
    work = args.workdir.resolve()
    corpus = work / "corpus" / "big.jsonl.gz"
    if not corpus.exists():
        build_corpus(corpus, args.mb, seed=0)
    out = {}
    print(f"{'scheduler':<10} {'jobs':>5} {'wall s':>7} {'tree CPU-s':>10} {'jobs CPU-s':>10} "
          f"{'Snakemake CPU-s/job':>20}")  # fmt: skip
    for scheduler in args.scheduler:
        t0 = time.perf_counter()
        r = run(work / scheduler, corpus.parent, args.shards, args.cores, [], True,
                ("--scheduler", scheduler))  # fmt: skip
        jobs = int(sum(x["jobs"] for x in r["rules"].values()))
        own = sum(x["cpu"] for x in r["rules"].values())
        per_job = (r["cpu"] - own) / r["snakemake_jobs"]
        out[scheduler] = {**r, "jobs_cpu": own, "per_job": per_job}
        print(f"{scheduler:<10} {r['snakemake_jobs']:>5} {time.perf_counter() - t0:7.1f} "
              f"{r['cpu']:10.1f} {own:10.1f} {per_job:20.3f}   ({jobs} jobs logged their CPU)",
              flush=True)  # fmt: skip
    (work / "results.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
