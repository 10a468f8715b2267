"""Snakemake's scheduler wake-up timers: its CPU and threads over many one-second jobs, without
and with `gpt2zh.scheduler_wakeup.one_pending_wakeup` (rules/common.smk installs it).

A Snakefile of `--jobs` jobs that each read one small input and sleep one second runs with
`--cores 2`, once as Snakemake ships and once with the guard installed. Printed per run: wall
time, the CPU of Snakemake's process tree (the jobs themselves only sleep), and the most threads
its process held (sampled every 0.5 s): Snakemake 9 gains one wake-up timer thread per finished
job, each waking the scheduler once a second for a round over every ready job's inputs.

    PYTHONPATH=src python benchmarks/scheduler_wakeup_bench.py [--jobs 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SNAKEFILE = """
import os
if os.environ.get("GUARD") == "1":
    from gpt2zh.scheduler_wakeup import one_pending_wakeup
    one_pending_wakeup()
N = int(os.environ["JOBS"])
rule all:
    input: expand("out/{i}.txt", i=range(N))
rule job:
    input: "in/{i}.txt"
    output: "out/{i}.txt"
    shell: "sleep 1; touch {output}"
"""


def run(work: Path, jobs: int, guard: bool) -> dict[str, float]:
    shutil.rmtree(work / "out", ignore_errors=True)
    shutil.rmtree(work / ".snakemake", ignore_errors=True)
    env = {**os.environ, "GUARD": "1" if guard else "0", "JOBS": str(jobs),
           "PYTHONPATH": str(REPO / "src")}  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    log = open(work / "snakemake.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "-q"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, len(os.listdir(f"/proc/{proc.pid}/task")))
        except FileNotFoundError:
            break
        time.sleep(0.5)
    status = proc.wait()
    log.close()
    if status != 0:
        sys.exit(f"snakemake failed: {work / 'snakemake.log'}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "threads": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--workdir", type=Path, default=Path("results") / "scheduler_wakeup_bench")
    args = ap.parse_args()
    work = args.workdir.resolve()
    (work / "in").mkdir(parents=True, exist_ok=True)
    (work / "Snakefile").write_text(SNAKEFILE)
    for i in range(args.jobs):
        (work / "in" / f"{i}.txt").write_text("x\n")
    for guard in (False, True):
        r = run(work, args.jobs, guard)
        name = "one pending wake-up" if guard else "Snakemake as shipped"
        print(f"{name:<22} wall {r['wall']:6.1f} s  Snakemake CPU {r['cpu']:5.1f} s  "
              f"peak threads {r['threads']}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
