"""Our data pipeline and datatrove 0.10.1 end to end, side by side, on all of chinese-poetry.

    python benchmarks/datatrove_compare.py PATH/TO/chinese-poetry/package [--cores 2]

Corpus: every poem collection and the classics of the chinese-poetry@2.0.1 npm package, as
configured in benchmarks/poetry-all.yaml (86 MB of text, 390k documents). Get the whole package
with `npm pack chinese-poetry@2.0.1 && tar xzf chinese-poetry-2.0.1.tgz` (it unpacks to
package/); the default config's download holds only part of it, and the script stops naming the
first file pattern that matches nothing. It hard-links the files the config reads into
WORK/corpus, and both sides read exactly those files.

Ours: the real `snakemake --cores N` on poetry-all.yaml (a config a user would write for ~90 MB
on 2 cores), from the download rule to the token shards. Datatrove: the closest equivalent
pipeline (benchmarks/dt_pipeline.py: same files and templates, Gopher filters with each
dataset's thresholds over character tokens, OpenCC t2s in a custom step, MinHash with our bands
× rows and no verify, DocumentTokenizer with the tokenizer.json our run trained), with
`LocalPipelineExecutor(workers=N)`, in a throwaway venv (created on first use).

CPU is measured per process the /usr/bin/time way: every `gpt2zh` job Snakemake starts runs under
GNU time (a wrapper earlier on PATH), and each side's whole process tree is reaped by this script
(a child subreaper, so even datatrove's forkserver workers are counted) for its total. Snakemake's
own CPU is the tree's total minus its jobs'. Datatrove runs several steps in one process: each
step is charged the CPU time spent in it (dt_pipeline.Timed), and a process's CPU outside every
step (interpreter start-up, imports, the executor) is a row of its own.

Not compared: training the BPE tokenizer (datatrove has no trainer; it reads ours). Its CPU is
listed but left out of our total, and its wall time (the job holds all cores, nothing runs beside
it) is subtracted from our wall time.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from benchlib import CACHE, add_corpus_arg, corpus_root, peer_python

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
DATATROVE_PACKAGES = [
    "datatrove[processing]==0.10.1",
    "xxhash<4",
    "regex",
    "tokenizers==0.23.3",
    "OpenCC==1.4.2",
    "pyarrow",
]
#: Rows of the table: the pipeline's functions, in order.
ROWS = [
    "reading",
    "cleaning",
    "conversion",
    "signatures",
    "buckets",
    "clustering",
    "dedup filter",
    "tokenizing",
    "writing (datatrove step)",
    "start-up outside steps",
    "scheduler (snakemake)",
]
#: Our jobs (the CLI's subcommand) → row; `tokenizer` is not compared.
OUR_ROWS = {
    "download": "reading",
    "extract": "reading",
    "clean": "cleaning",
    "convert": "conversion",
    "dedup signatures": "signatures",
    "dedup buckets": "buckets",
    "dedup clusters": "clustering",
    "dedup filter": "dedup filter",
    "tokenize": "tokenizing",
}
DT_STAGES = ["docs", "buckets", "clusters", "filter"]

#: Runs every `gpt2zh` job under GNU time: "<subcommand> <start> <wall> <user> <sys>" per line.
WRAPPER = """#!/bin/sh
start=$(date +%s.%N)
case "$1" in dedup|count|report) job="$1 $2" ;; *) job="$1" ;; esac
exec /usr/bin/time -a -o "$GPT2ZH_TIMES" -f "$job $start %e %U %S" "$GPT2ZH_REAL" "$@"
"""


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_corpus_arg(ap)
    ap.add_argument("--cores", type=int, default=2, help="snakemake --cores and datatrove workers")
    ap.add_argument(
        "--config",
        type=Path,
        default=HERE / "poetry-all.yaml",
        help="our config (its local source's path is replaced by the package folder)",
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=CACHE / "datatrove-compare",
        help="scratch folder (emptied first; default under the user cache folder)",
    )
    ap.add_argument(
        "--venv",
        type=Path,
        default=CACHE / "datatrove-e2e-0.10.1",
        help="the throwaway datatrove venv (created on first use)",
    )
    ap.add_argument(
        "--tasks",
        type=int,
        default=None,
        help="datatrove tasks of the per-document stages (default: our total shard count)",
    )
    ap.add_argument(
        "--shards",
        default="",
        metavar="NAME=N,...",
        help="override datasets' shards (the issue's 17-shard layout: "
        "tang=4,song_shi=6,tang_yuding=4,songci=2,classics=1)",
    )
    ap.add_argument("--max-files", type=int, default=None, help="(development) files per glob")
    args = ap.parse_args()
    root = corpus_root(ap, args).resolve()
    _become_subreaper()
    print("command:", shlex.join([sys.executable, *sys.argv]), flush=True)

    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    shards = {k: int(v) for k, v in (p.split("=") for p in args.shards.split(",") if p)}
    cfg_path, cfg = _our_config(args.config, root, args.work, args.max_files, shards)
    files, mb = _corpus_size(cfg)
    print(f"corpus: {files} files, {mb:.1f} MB of JSON under {args.work / 'corpus'}", flush=True)

    ours = run_ours(cfg_path, cfg, args.work / "ours", args.cores)
    (args.work / "ours.json").write_text(json.dumps(ours, default=str, indent=1))
    python = peer_python(args.venv, DATATROVE_PACKAGES)
    plan = _plan(cfg, args, ours["tokenizer"])
    theirs = run_datatrove(python, plan, args.work / "dt")
    (args.work / "datatrove.json").write_text(json.dumps(theirs, indent=1))
    report(ours, theirs, args.cores)
    return 0


def _become_subreaper() -> None:
    """Orphaned descendants (datatrove's forkserver workers) are re-parented to this process, so
    reaping them adds their CPU to ours (PR_SET_CHILD_SUBREAPER, Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed: this benchmark needs Linux")


def _measure(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall s, CPU s) of `cmd` and every process it left behind, reaped here."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    while True:  # orphans (re-parented to us): wait for them and add their CPU
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += usage.ru_utime + usage.ru_stime
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{cmd[0]} failed (exit {os.waitstatus_to_exitcode(status)}): see {log}")
    return wall, cpu


def _our_config(
    path: Path, root: Path, work: Path, max_files: int | None, shards: dict[str, int]
) -> tuple[Path, dict[str, Any]]:
    """The config with its source on WORK/corpus: hard links of the files its readers name."""
    sys.path.insert(0, str(REPO / "src"))
    from gpt2zh.config import load_config
    from gpt2zh.globs import as_list

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, n in shards.items():
        raw["datasets"][name]["shards"] = n
    corpus = work / "corpus"
    for ds in raw["datasets"].values():
        for reader in ds["read"]:
            for pattern in as_list(reader["files"]):
                found = sorted(root.glob(pattern))
                if not found:
                    sys.exit(f"no file under {root} matches {pattern}: give the unpacked package")
                for src in found[:max_files]:
                    dst = corpus / src.relative_to(root)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    if not dst.exists():
                        try:
                            os.link(src, dst)
                        except OSError:
                            shutil.copyfile(src, dst)
    (source,) = raw["sources"].values()
    source["path"] = str(corpus)
    out = work / "config.yaml"
    out.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out, load_config([out])


def _corpus_size(cfg: dict[str, Any]) -> tuple[int, float]:
    (source,) = cfg["sources"].values()
    files = [p for p in Path(source["path"]).rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 1e6


def run_ours(cfg_path: Path, cfg: dict[str, Any], work: Path, cores: int) -> dict[str, Any]:
    """`snakemake --cores N` to every token shard, each job under GNU time."""
    from gpt2zh.shards import shard_name

    work.mkdir(parents=True)
    bindir = work / "bin"
    bindir.mkdir()
    (bindir / "gpt2zh").write_text(WRAPPER)
    (bindir / "gpt2zh").chmod(0o755)
    venv_bin = Path(sys.executable).parent
    times = work / "times.txt"
    env = {
        **os.environ,
        "PATH": f"{bindir}:{venv_bin}:{os.environ['PATH']}",
        "GPT2ZH_TIMES": str(times),
        "GPT2ZH_REAL": shutil.which("gpt2zh", path=str(venv_bin)) or "gpt2zh",
        "PYTHONPATH": str(REPO / "src"),
    }
    targets = [
        f"results/tokens/{d}/{shard_name(i)}.arrow"
        for d, spec in cfg["datasets"].items()
        for i in range(spec["shards"])
    ]
    cmd = [
        str(venv_bin / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(cfg_path),
        "--cores",
        str(cores),
        "--quiet",
        "all",
        "--",
        *targets,
    ]
    print("ours:", shlex.join([*cmd[:1], "--cores", str(cores), "..."]), flush=True)
    wall, cpu = _measure(cmd, env, work / "snakemake.log")
    jobs = []
    for line in times.read_text().splitlines():
        *name, start, w, u, s = line.split()
        if not name or not re.fullmatch(r"[\d.]+", w):
            continue  # GNU time's "Command exited with non-zero status" lines
        jobs.append((" ".join(name), float(start), float(w), float(u) + float(s)))
    cpu_rows: dict[str, float] = defaultdict(float)
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    tok_wall = tok_cpu = 0.0
    for name, start, w, c in jobs:
        if name == "tokenizer":
            tok_wall, tok_cpu = tok_wall + w, tok_cpu + c
            continue
        row = OUR_ROWS.get(name, f"other ({name})")
        cpu_rows[row] += c
        counts[row] += 1
        spans[row].append((start, start + w))
    job_cpu = sum(c for _, _, _, c in jobs)
    cpu_rows["scheduler (snakemake)"] = cpu - job_cpu
    counts["scheduler (snakemake)"] = 1
    extracted = [
        json.loads(p.read_text()) for p in (work / "results" / "extract").glob("*/*.stats.json")
    ]
    deduped = [
        json.loads(p.read_text()) for p in (work / "results" / "dedup").glob("*/*.stats.json")
    ]
    return {
        "dedup": (sum(x["docs_in"] for x in deduped), sum(x["docs_out"] for x in deduped)),
        "text": (sum(x["bytes_out"] for x in extracted), sum(x["docs_out"] for x in extracted)),
        "wall": wall - tok_wall,
        "cpu": cpu - tok_cpu,
        "rows": dict(cpu_rows),
        "jobs": dict(counts),
        "walls": {r: _union(s) for r, s in spans.items()},
        "tokenizer": work / "results" / "tokenizer" / "tokenizer.json",
        "tokenizer_cost": (tok_wall, tok_cpu),
        "shards": len(targets),
    }


def _union(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the intervals: a stage's wall time on the clock."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _plan(cfg: dict[str, Any], args: argparse.Namespace, tokenizer: Path) -> dict[str, Any]:
    """What dt_pipeline.py needs, derived from our config so both sides do the same work."""
    from gpt2zh.clean import resolve
    from gpt2zh.config import dataset_spec
    from gpt2zh.dedup.spec import dedup_spec

    readers, filters, convert = [], {}, []
    for name in cfg["datasets"]:
        spec = dataset_spec(cfg, name)
        fields = [re.findall(r"\{(\w+)\??\}", r["text"]) for r in spec["read"]]
        readers += [
            {
                "dataset": name,
                "files": [r["files"]] if isinstance(r["files"], str) else r["files"],
                "records": re.findall(r"(\w+)\[\]", r["records"] or ""),
                "heads": f[:-1],
                "body": f[-1],
            }
            for r, f in zip(spec["read"], fields, strict=True)
        ]
        filters[name] = resolve(spec["lang"], spec["clean"]["filters"])
        if spec["script"] in ("traditional", "mixed"):
            convert.append(name)
    dd = dedup_spec(cfg)
    (source,) = cfg["sources"].values()
    shards = sum(d["shards"] for d in cfg["datasets"].values())
    return {
        "root": source["path"],
        "readers": readers,
        "filters": filters,
        "convert": convert,
        "ngram": dd["ngram"],
        "bands": dd["bands"],
        "rows": dd["rows"],
        "tasks": args.tasks or shards,
        "workers": args.cores,
        "tokenizer": str(tokenizer),
        "work": str(args.work / "dt"),
    }


def run_datatrove(python: Path, plan: dict[str, Any], work: Path) -> dict[str, Any]:
    """The four executor runs of dt_pipeline.py, each measured as one process tree."""
    work.mkdir(parents=True)
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan, ensure_ascii=False))
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "RAYON_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("VIRTUAL_ENV", None)
    rows: dict[str, float] = defaultdict(float)
    walls: dict[str, float] = {}
    wall = cpu = 0.0
    for stage in DT_STAGES:
        cmd = [str(python), "-c", "import dt_pipeline; dt_pipeline.main()", str(plan_path), stage]
        tasks = {"buckets": plan["bands"], "clusters": 1}.get(stage, plan["tasks"])
        print(f"datatrove: {stage} ({tasks} tasks, {plan['workers']} workers)", flush=True)
        w, c = _measure(cmd, env, work / f"{stage}.log")
        wall, cpu = wall + w, cpu + c
        walls[stage] = w
        steps = 0.0
        for ledger in (work / "ledger").glob(f"{stage}-*.json"):
            for label, sec in json.loads(ledger.read_text()).items():
                row = "writing (datatrove step)" if label == "writing" else label
                rows[row] += sec
                steps += sec
        rows["start-up outside steps"] += c - steps
    return {
        "wall": wall,
        "cpu": cpu,
        "rows": dict(rows),
        "walls": walls,
        "dedup": _dt_dedup_counts(work),
    }


def _dt_dedup_counts(work: Path) -> tuple[int, int]:
    """(documents into the MinHash filter, documents it kept), from datatrove's own stats; stops
    the benchmark if the filter did not read back every document the docs stage wrote."""

    def step_stats(stage: str, prefix: str) -> dict[str, Any]:
        steps = json.loads((work / "logs" / stage / "stats.json").read_text())
        return next(s["stats"] for s in steps if s["name"].startswith(prefix))

    written = step_stats("docs", "💽 - WRITER")["total"]
    dedup = step_stats("filter", "🫂 - DEDUP")
    if dedup.get("total") != written:
        sys.exit(f"datatrove's filter read {dedup.get('total')} documents of {written} written")
    return written, dedup["forwarded"]


def report(ours: dict[str, Any], theirs: dict[str, Any], cores: int) -> None:
    nbytes, docs = ours["text"]
    print(f"\ntext extracted: {nbytes / 1e6:.1f} MB, {docs:,} documents")
    for side, (n_in, n_out) in (("ours", ours["dedup"]), ("datatrove", theirs["dedup"])):
        print(f"into dedup, {side}: {n_in:,} documents, {n_in - n_out:,} dropped as duplicates")
    print(f"\nCPU seconds per function (per process, /usr/bin/time style), {cores} cores")
    print(f"{'function':<28} {'ours':>8} {'jobs':>5} {'datatrove':>10} {'ratio':>7}")
    extra = sorted(set(ours["rows"]) - set(ROWS))
    for row in ROWS + extra:
        o, t = ours["rows"].get(row), theirs["rows"].get(row)
        if o is None and t is None:
            continue
        ratio = f"{t / o:6.2f}x" if o and t else ""
        fo = f"{o:8.1f}" if o is not None else f"{'-':>8}"
        ft = f"{t:10.1f}" if t is not None else f"{'-':>10}"
        print(f"{row:<28} {fo} {ours['jobs'].get(row, ''):>5} {ft} {ratio:>7}")
    print(f"{'total':<28} {ours['cpu']:8.1f} {'':>5} {theirs['cpu']:10.1f}")
    tw, tc = ours["tokenizer_cost"]
    print(f"(not compared: our BPE tokenizer training, {tc:.1f} CPU-s, {tw:.1f} s wall)")
    print("\nwall seconds: ours per stage (clock time covered by its jobs):")
    print("  " + ", ".join(f"{r} {w:.1f}" for r, w in ours["walls"].items()))
    runs = ", ".join(f"{s} {w:.1f}" for s, w in theirs["walls"].items())
    print(f"datatrove per executor run: {runs}")
    print(f"\n{'':<10} {'wall s':>8} {'CPU s':>8}")
    print(f"{'ours':<10} {ours['wall']:8.1f} {ours['cpu']:8.1f}   ({ours['shards']} shards)")
    print(f"{'datatrove':<10} {theirs['wall']:8.1f} {theirs['cpu']:8.1f}")
    print(
        f"datatrove / ours: CPU {theirs['cpu'] / ours['cpu']:.2f}x, "
        f"wall {theirs['wall'] / ours['wall']:.2f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
