"""Peak memory and time of dedup's whole-corpus jobs (bucket scatter, cluster gather) on a
synthetic signature set, so their growth per document can be measured far past the test corpus.

    python benchmarks/dedup_memory.py --docs 1000000 4000000 [--dup 0.3] [--shards 16]
        [--bucket-partitions 1] [--verify-memory-mb 2048] [--work DIR]

For each `--docs` N: N signature rows over `--shards` files (4096-row groups, like the
signature stage), of which a `--dup` share copies another document's bucket keys (each band
with probability 0.7, the exact hash with 0.5) and 90 % of its MinHash values, so most
candidate pairs pass verify. Every bucket group and then the gather run in a fresh process
each; the report gives the peak RSS (MB) and seconds of the largest bucket group and of the
gather, and, with several N, the gather's growth in MB per million clustered documents (the
slope between the smallest and the largest N, which leaves out the interpreter and libraries).
The synthetic files are written under `--work` (a temporary folder by default, removed after).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpt2zh.config import validate_config
from gpt2zh.dedup.bands import signature_path
from gpt2zh.dedup.signatures import BATCH_DOCS, signature_schema
from gpt2zh.dedup.spec import band_column, dedup_spec
from gpt2zh.shards import shard_name

DATASET = "syn"
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a document's keys and MinHash values are a function of its index, so each
    shard is generated alone and copies only need the source index."""
    x = x + GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _spec(args: argparse.Namespace) -> dict[str, Any]:
    cfg = {
        "sources": {"s": {"type": "local", "path": "x"}},
        "datasets": {
            DATASET: {"source": "s", "shards": args.shards, "read": [{"files": "*", "text": "t"}]}
        },
        "dedup": {
            "bucket_partitions": args.bucket_partitions,
            "verify_memory_mb": args.verify_memory_mb,
        },
    }
    return dedup_spec(validate_config(cfg))


def _copied(src: np.ndarray, own: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Per (document, column): the source's index where a duplicate copies it, else its own."""
    take = rng.random((len(src), 1 if own.ndim == 1 else own.shape[1])) < p
    return np.where(take, src[:, None], own.reshape(len(own), -1))


def write_signatures(spec: dict[str, Any], n: int, dup: float, out: Path) -> None:
    """Signature files for `n` documents, plus a one-character text per document (the gather
    reads a few texts back for its examples)."""
    rng = np.random.default_rng(0)
    src = np.arange(n, dtype=np.uint64)
    dups = np.flatnonzero(rng.random(n) < dup)
    src[dups] = rng.integers(0, n, len(dups)).astype(np.uint64)
    schema, per = signature_schema(spec), -(-n // spec["datasets"][DATASET]["shards"])
    num_perm, ncol = spec["num_perm"], spec["bands"] + 1
    for s in range(spec["datasets"][DATASET]["shards"]):
        docs = np.arange(s * per, min((s + 1) * per, n), dtype=np.uint64)
        m = len(docs)
        own = np.repeat(docs[:, None], ncol, axis=1)
        owner = own.copy()
        owner[:, 0] = _copied(src[docs], docs, 0.5, rng)[:, 0]
        owner[:, 1:] = _copied(src[docs], own[:, 1:], 0.7, rng)
        keys = _mix(owner * np.uint64(1 << 11) + np.arange(ncol, dtype=np.uint64))
        values = _copied(src[docs], np.repeat(docs[:, None], num_perm, axis=1), 0.9, rng)
        values = _mix(values * np.uint64(1 << 11) + np.uint64(1 << 10))
        minhash = np.ascontiguousarray(values.astype(np.uint32), "<u4").view(np.uint8)
        cols: dict[str, Any] = {
            "row": pa.array(np.arange(m, dtype=np.uint32)),
            "id": pa.array([f"{DATASET}/{s}/{i}" for i in range(m)], pa.string()),
            "chars": pa.array(rng.integers(10, 5000, m).astype(np.uint32)),
            "exact": pa.array(keys[:, 0]),
            **{band_column(i): pa.array(keys[:, i + 1]) for i in range(spec["bands"])},
            "minhash": pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(4 * num_perm), m, [None, pa.py_buffer(minhash.reshape(-1))]
            ),
        }
        path = signature_path(out / "signatures", DATASET, s)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table(cols, schema=schema)
        pq.write_table(
            table, path, compression="zstd", compression_level=1, row_group_size=BATCH_DOCS
        )
        docs_path = out / "docs" / DATASET / f"{shard_name(s)}.parquet"
        docs_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"text": pa.repeat("x", m)}), docs_path)


def job(args: argparse.Namespace) -> None:
    """One whole-corpus job in this process: its peak RSS is the job's alone."""
    spec = json.loads(args.spec.read_text("utf-8"))
    t0 = time.perf_counter()
    if args.what == "buckets":
        from gpt2zh.dedup.bands import bucket_pairs

        bucket_pairs(spec, args.group, args.work / "signatures", _pairs(args.work, args.group))
        extra: dict[str, Any] = {}
    else:
        from gpt2zh.dedup.clusters import build_clusters

        pairs = [_pairs(args.work, g) for g in range(spec["band_groups"])]
        out = args.work / "clusters.parquet"
        s = build_clusters(
            spec, args.work / "signatures", pairs, args.work / "docs", out, out.with_suffix(".json")
        )
        extra = {"in_clusters": s["docs_in_clusters"], "candidate_pairs": s["candidate_pairs"]}
    print(json.dumps({"mb": round(_peak_mb(), 1), "s": round(time.perf_counter() - t0, 2)} | extra))


def _peak_mb() -> float:
    """This process's own high-water RSS: Linux's ru_maxrss keeps the RSS of the process
    before exec (here: the parent that wrote the synthetic files), VmHWM starts at exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pairs(work: Path, group: int) -> Path:
    return work / "pairs" / f"group-{group:03d}.parquet"


def _run_job(work: Path, what: str, group: int = 0) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "job", what, str(work), "--group", str(group)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(args: argparse.Namespace) -> None:
    spec = _spec(args)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.docs:
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            work = Path(tmp)
            t0 = time.perf_counter()
            write_signatures(spec, n, args.dup, work)
            (work / "spec.json").write_text(json.dumps(spec), "utf-8")
            made = time.perf_counter() - t0
            buckets = [_run_job(work, "buckets", g) for g in range(spec["band_groups"])]
            scatter = max(buckets, key=lambda r: r["mb"])
            gather = _run_job(work, "clusters")
        rows.append((n, scatter, gather))
        print(
            f"{n:>11,} docs ({made:.0f} s to write): scatter {scatter['mb']:.0f} MB "
            f"{scatter['s']:.1f} s (largest of {len(buckets)} groups); "
            f"gather {gather['mb']:.0f} MB {gather['s']:.1f} s, "
            f"{gather['in_clusters']:,} documents in clusters, "
            f"{gather['candidate_pairs']:,} candidate pairs",
            flush=True,
        )
    if len(rows) > 1:
        (n0, s0, g0), (n1, s1, g1) = rows[0], rows[-1]
        docs = (g1["in_clusters"] - g0["in_clusters"]) / 1e6
        print(
            f"gather: {(g1['mb'] - g0['mb']) / docs:.0f} MB per million clustered documents; "
            f"scatter: {(s1['mb'] - s0['mb']) / ((n1 - n0) / 1e6):.0f} MB per million documents"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    ap.add_argument("--docs", type=int, nargs="+", default=[1_000_000], help="corpus sizes")
    ap.add_argument("--dup", type=float, default=0.3, help="share of duplicated documents")
    ap.add_argument("--shards", type=int, default=16, help="signature files")
    ap.add_argument("--bucket-partitions", type=int, default=1, help="dedup.bucket_partitions")
    ap.add_argument("--verify-memory-mb", type=int, default=2048, help="dedup.verify_memory_mb")
    ap.add_argument("--work", type=Path, default=None, help="folder for the synthetic files")
    j = sub.add_parser("job", help="(internal) run one job in this process, print JSON")
    j.add_argument("what", choices=["buckets", "clusters"])
    j.add_argument("work", type=Path)
    j.add_argument("--group", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "job":
        args.spec = args.work / "spec.json"
        job(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
