"""The dress rehearsal at full size: pretrain-zh as shipped, against a multi-GB loopback Hub mirror.

Serves a mirror built by `hub_mirror.py build` and runs, in a clone of this project (so the lock
file that the first download writes beside the config stays out of the working tree), exactly
the user's command with only the endpoint changed:

    HF_ENDPOINT=http://127.0.0.1:PORT snakemake --cores 2 \\
        --configfile workflow/configs/pretrain-zh.yaml

It records what the issue asks of the run: wall time; per stage the jobs' own CPU seconds (each
job's last log line, `done: X CPU-s … peak RSS Y MB`: exact, where Snakemake's benchmark files
undercount short jobs), the stage's input bytes from its shards' `.stats.json`, hence MB/s per
core, and the peak RSS of its largest job; and the peak disk of the project folder (results/
and the Hugging Face cache under it), sampled every few seconds. Writes `rehearsal.json`.

    python benchmarks/hub_mirror.py build HUB --mb 260 --first-mb 585
    python benchmarks/rehearsal.py HUB --work WORK
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_mirror import HubMirror
from split_bench import DiskPeak, job_usage

REPO = Path(__file__).resolve().parents[1]
COMMAND = "snakemake --cores 2 --configfile workflow/configs/pretrain-zh.yaml"


def clone(work: Path) -> None:
    """A fresh clone of this project's HEAD, sharing its virtual environment."""
    if work.exists():
        shutil.rmtree(work)
    subprocess.run(["git", "clone", "-q", str(REPO), str(work)], check=True)
    venv = REPO / ".venv"
    if venv.exists():
        (work / ".venv").symlink_to(venv)


#: Rule (log folder) → the results/ folder whose shards' `bytes_in` is that rule's input: the
#: signatures read what the dedup filter reads (convert's output).
INPUT_OF = {
    "extract": "extract",
    "clean": "clean",
    "convert": "convert",
    "dedup signatures": "dedup",
    "dedup filter": "dedup",
    "tokenize": "tokens",
}


def stage_bytes(results: Path) -> dict[str, int]:
    """Input bytes per per-shard rule (its shards' `bytes_in`), for MB/s per core."""
    folder: dict[str, int] = defaultdict(int)
    for stats in results.glob("*/*/*.stats.json"):
        s = json.loads(stats.read_text("utf-8"))
        folder[stats.relative_to(results).parts[0]] += int(s.get("bytes_in", 0))
    return {rule: folder[f] for rule, f in INPUT_OF.items() if folder.get(f)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("hub", type=Path, help="a mirror built by hub_mirror.py build")
    ap.add_argument("--work", type=Path, required=True, help="where the project clone runs")
    ap.add_argument("--keep", action="store_true", help="reuse an existing clone (resume a run)")
    args = ap.parse_args()
    work = args.work.resolve()
    if not args.keep:
        clone(work)
    disk = DiskPeak(work, every=5.0)
    with HubMirror(args.hub) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(work / "hf-home")}
        env.pop("HF_TOKEN", None)
        if (REPO / ".venv" / "bin").is_dir():
            env["PATH"] = f"{work / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
        print(f"HF_ENDPOINT={hub.endpoint} {COMMAND}", flush=True)
        disk.start()
        t0 = time.perf_counter()
        cpu0 = os.times()
        with open(work / "rehearsal.log", "w") as log:
            proc = subprocess.run(
                COMMAND.split(), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work
            )
        wall = time.perf_counter() - t0
        cpu1 = os.times()
    peak = disk.stop()
    rules = job_usage(work / "logs")
    sizes = stage_bytes(work / "results")
    report = {
        "command": COMMAND,
        "returncode": proc.returncode,
        "wall_s": wall,
        "cpu_s": (cpu1.children_user - cpu0.children_user)
        + (cpu1.children_system - cpu0.children_system),
        "disk_peak_bytes": peak,
        "mirror_bytes": sum(f.stat().st_size for f in args.hub.rglob("*") if f.is_file()),
        "rules": rules,
        "bytes_in": sizes,
    }
    (work / "rehearsal.json").write_text(json.dumps(report, indent=1))
    print(f"exit {proc.returncode}, wall {wall:.0f} s, CPU {report['cpu_s']:.0f} s, "
          f"disk peak {peak / 1e9:.2f} GB")  # fmt: skip
    head = ("rule", "jobs", "CPU-s", "max job", "peak MB", "MB in", "MB/s/core")
    print(f"{head[0]:<22}" + "".join(f"{h:>10}" for h in head[1:]))
    for name, r in sorted(rules.items()):
        mb = sizes.get(name, 0) / 1e6
        rate = f"{mb / r['cpu']:.1f}" if mb and r["cpu"] else "—"
        print(f"{name:<22}{r['jobs']:>10}{r['cpu']:>10.1f}{r['max_cpu']:>10.1f}"
              f"{r['max_rss_mb']:>10.0f}{mb:>10.0f}{rate:>10}")  # fmt: skip
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
