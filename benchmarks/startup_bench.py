"""Per-job start-up: CPU seconds each per-shard subcommand spends on a one-document input.

Every per-shard job is its own process (one Snakemake job per shard), so what a job spends before
it touches data is paid once per shard and stage. This runs each per-shard subcommand exactly as
its rule does (`gpt2zh <stage> --spec JSON ...`) on an input of one document (so every code path
that converts data runs once: pyarrow, for one, imports pandas on its first conversion of a Python
list), `--repeats` times, and prints
the least and the median user+sys CPU of the child, with `OPENBLAS_NUM_THREADS=1` as Snakemake
sets it for a `threads: 1` job (numpy's OpenBLAS otherwise starts a thread per core on import).

    PYTHONPATH=src python benchmarks/startup_bench.py [--repeats 7] [--check]

`--check` also lists the modules each job imported and fails (exit 1) when one of `HEAVY` is
among them: those are imports no per-shard job needs, and each costs 0.05-0.4 CPU-s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]

#: Modules a per-shard job must not import (measured cost in a fresh process on the 2-core VM:
#: datasketch with scipy 0.45 CPU-s, pyarrow.dataset with pandas 0.20, jsonschema 0.07,
#: tqdm 0.04 (`gpt2zh.progress` imports it once a job runs long), pyarrow.compute 0.03 (its
#: kernel wrappers; `gpt2zh.arrowfn` calls the kernels without it), yaml 0.02, torch seconds).
HEAVY = ("datasketch", "scipy", "pandas", "pyarrow.dataset", "pyarrow.compute", "jsonschema",
         "tqdm", "yaml", "torch")  # fmt: skip

DOC_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("meta", pa.string(), nullable=False),
    ]
)

#: As Snakemake runs a `threads: 1` job.
JOB_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
#: Rows printed before the jobs: the interpreter alone, then the imports every job pays.
FLOORS = ("pass", "import numpy", "import pyarrow", "import pyarrow.parquet")

TEXT = "北京时间今天上午，新的城市公园正式向市民开放。公园占地约二十公顷，设有步道和湖面。"

# Runs the CLI as the console script does, then writes the heavy modules it imported.
WRAPPER = """
import atexit, json, sys
out = sys.argv.pop(1)
def _mods():
    with open(out, "w") as f:
        json.dump(sorted(m for m in sys.modules if m.split(".")[0] in {top}
                         or m in {heavy}), f)
atexit.register(_mods)
from gpt2zh.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _fixtures(tmp: Path) -> dict[str, list[str]]:
    """One-document inputs for every per-shard stage and the command line its rule runs."""
    from gpt2zh.config import dataset_spec, load_config, spec_json
    from gpt2zh.dedup.clusters import DROP_SCHEMA
    from gpt2zh.dedup.spec import dedup_job_spec, dedup_spec

    cfg = load_config([REPO / "workflow" / "configs" / "tiny.yaml"])
    name = "news"
    spec = spec_json(dataset_spec(cfg, name))
    dspec = dedup_spec(cfg)
    src = tmp / "src"
    src.mkdir()
    record = {"title": "标题", "Content": TEXT, "url": "https://example.org/1"}
    (src / "news.jsonl").write_text(json.dumps(record, ensure_ascii=False) + "\n")
    manifest = tmp / "manifest.json"
    files = [{"path": "news.jsonl", "bytes": (src / "news.jsonl").stat().st_size}]
    manifest.write_text(json.dumps({"source": "tiny", "root": str(src), "files": files}))
    docs = tmp / "docs.parquet"
    doc = {"id": ["news/news.jsonl#0"], "text": [TEXT], "dataset": [name], "meta": ["{}"]}
    pq.write_table(pa.table(doc, schema=DOC_SCHEMA), docs)
    drops = tmp / "clusters.parquet"
    pq.write_table(DROP_SCHEMA.empty_table(), drops)
    tok = tmp / "tokenizer"
    _tiny_tokenizer(tok, cfg["tokenizer"])
    out = tmp / "out"

    def dj(job: str) -> str:
        return spec_json(dedup_job_spec(dspec, job))  # the spec the rule passes

    shard = ["--shard", "0"]
    return {
        "extract": ["extract", "--spec", spec, "--manifest", str(manifest), *shard,
                    "--out", str(out / "extract.parquet")],
        "clean": ["clean", "--spec", spec, *shard, "--in", str(docs),
                  "--out", str(out / "clean.parquet")],
        "convert": ["convert", "--spec", spec, *shard, "--in", str(docs),
                    "--out", str(out / "convert.parquet")],
        "dedup signatures": ["dedup", "signatures", "--spec", dj("signatures"),
                             "--dataset", name, "--in", str(docs),
                             "--out", str(out / "sig" / name / "shard-00000.parquet")],
        "dedup filter": ["dedup", "filter", "--spec", dj("filter"), "--dataset", name,
                         *shard, "--in", str(docs), "--clusters", str(drops),
                         "--out", str(out / "dedup.parquet")],
        "tokenize": ["tokenize", "--tokenizer", str(tok), "--dataset", name, *shard,
                     "--in", str(docs), "--out", str(out / "tokens.arrow"),
                     "--batch-docs", "1024", "--threads", "1", "--encoder", "auto"],
    }  # fmt: skip


def _tiny_tokenizer(folder: Path, cfg: dict) -> None:
    """A byte-level BPE saved the way the tokenizer stage saves one."""
    from gpt2zh.tokenize.train_bpe import build_tokenizer

    docs = folder.parent / "tok-docs.parquet"
    texts = ["床前明月光，疑是地上霜。举头望明月，低头思故乡。"] * 50
    table = pa.table(
        {"id": [f"t#{i}" for i in range(50)], "text": texts, "dataset": ["t"] * 50,
         "meta": ["{}"] * 50},
        schema=DOC_SCHEMA,
    )  # fmt: skip
    pq.write_table(table, docs)
    stats = {"dataset": "t", "bytes_out": sum(len(t.encode()) for t in texts)}
    (folder.parent / "tok-docs.stats.json").write_text(json.dumps(stats))
    spec = {"tokenizer": {**cfg, "vocab_size": 300}, "weights": {"t": 1.0}}
    build_tokenizer(spec, [docs], folder)


def _run(argv: list[str], mods_file: Path) -> float:
    """CPU seconds (user + sys) of one job run in a fresh interpreter."""
    wrapper = WRAPPER.format(top={m.split(".")[0] for m in HEAVY} - {"pyarrow"}, heavy=set(HEAVY))
    cmd = [sys.executable, "-c", wrapper, str(mods_file), *argv]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=JOB_ENV, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv[:2])} failed:\n{err.read().decode()[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--check", action="store_true", help="fail if a job imports a HEAVY module")
    args = ap.parse_args()
    bad = []
    with tempfile.TemporaryDirectory(prefix="gpt2zh-startup-") as d:
        tmp = Path(d)
        jobs = _fixtures(tmp)
        print(f"{'job':<36} {'min CPU-s':>9} {'median':>7}  heavy imports")
        for floor in FLOORS:  # what any job pays before its own code: the interpreter, imports
            base = _cpu_of([sys.executable, "-c", floor], args.repeats)
            print(f"{f'(python -c {floor})':<36} {min(base):>9.3f} {statistics.median(base):>7.3f}")
        for stage, argv in jobs.items():
            mods = tmp / "mods.json"
            runs = [_run(argv, mods) for _ in range(args.repeats)]
            heavy = [m for m in HEAVY if any(x == m or x.startswith(m + ".") for x in
                     json.loads(mods.read_text()))]  # fmt: skip
            if heavy:
                bad.append(stage)
            shown = ", ".join(heavy)
            print(
                f"{stage:<36} {min(runs):>9.3f} {statistics.median(runs):>7.3f}  {shown or '-'}",
                flush=True,
            )
    if args.check and bad:
        print(f"heavy imports in: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _cpu_of(cmd: list[str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        proc = subprocess.Popen(cmd, env=JOB_ENV)
        _, _, usage = os.wait4(proc.pid, 0)
        out.append(usage.ru_utime + usage.ru_stime)
    return out


if __name__ == "__main__":
    sys.exit(main())
