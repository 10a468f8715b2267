"""Dedup benchmarks: signature speed against datasketch and datatrove, cluster memory, quality.

    python benchmarks/dedup_bench.py speed   [--limit-mb 6] [--repeats 3]
    python benchmarks/dedup_bench.py quality [--sample 100]      # needs the default pipeline run
    python benchmarks/dedup_bench.py synthetic [--docs 2000]
    python benchmarks/dedup_bench.py memory  [--docs 1000000]

speed: documents from the default pipeline's convert shards (results/convert/*/, run
`snakemake --cores 2` first), one core, median of `--repeats`:
  ours            `gpt2zh.dedup.signatures.signatures` (normalize, exact hash, MinHash 128,
                  band keys) on texts in memory, batches of 4096
  ours: stage     `signature_shard` over the Parquet shards (read, hash, write)
  datasketch      `MinHash.update_batch` over the same shingles (strings), on a slice
  datatrove       `MinhashDedupSignature` (0.10.1; 9 buckets × 13 hashes, char 5-grams like ours,
                  xxhash) in a throwaway venv (`--venv`, created on first use), whole `run()`
Target: ours >= 10 MB/s and >= 8x datatrove.

quality: on the default corpus after dedup: cross-edition (tang / tang_yuding) pairs, recall
against every pair of documents whose normalized texts are identical, and a sample of dropped
(kept, dropped) pairs with their true char 5-gram Jaccard written to `--out` for reading by eye.

synthetic: real documents (>= 60 chars) and copies with 5/10/20/30 % of characters edited
(substituted, inserted or deleted at random); per level the detection rate at threshold 0.8, the
true Jaccard distribution and the recall among pairs whose true Jaccard >= 0.8; and the
false-positive rate among the distinct originals (pairs flagged whose true Jaccard < 0.8).

memory: the clusters stage on a synthetic corpus of `--docs` signature rows where every document
has one duplicate (the worst case for the gather), peak RSS reported per million documents.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from benchlib import CACHE, peer_python, timed
from gpt2zh.config import load_config
from gpt2zh.dedup import shingles
from gpt2zh.dedup.bands import run_pairs, unique_pairs
from gpt2zh.dedup.clusters import components
from gpt2zh.dedup.signatures import signature_shard, signatures
from gpt2zh.dedup.spec import dedup_spec

DATATROVE_PACKAGES = ["datatrove==0.10.1", "regex", "tokenizers", "xxhash<4", "numpy"]
BATCH = 4096

DATATROVE_WORKER = r"""
import json, sys, tempfile, time
from datatrove.data import Document
import datatrove.pipeline.dedup.minhash as dt_minhash
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
from datatrove.utils.word_tokenizers import WordTokenizer

class CharTokenizer(WordTokenizer):
    def word_tokenize(self, text):
        return list(text.replace(" ", ""))
    def sent_tokenize(self, text):
        return [text]
    def span_tokenize(self, text):
        return [(0, len(text))]

# no spaCy: the char tokenizer (our shingle unit) replaces datatrove's language tokenizer
dt_minhash.load_word_tokenizer = lambda language: CharTokenizer("zh")
args = json.loads(sys.argv[1])
texts = [json.loads(line) for line in open(args["texts"], encoding="utf-8")]
docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
times = []
for _ in range(args["repeats"]):
    with tempfile.TemporaryDirectory() as out:
        cfg = MinhashConfig(n_grams=5, num_buckets=9, hashes_per_bucket=13, seed=1)
        step = MinhashDedupSignature(output_folder=out, config=cfg)
        t0 = time.perf_counter()
        step.run(iter(docs))
        times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": times}))
"""


def default_spec() -> dict[str, Any]:
    return dedup_spec(load_config(["config.yaml"]))


def convert_shards() -> list[Path]:
    files = sorted(Path("results/convert").glob("*/shard-*.parquet"))
    if not files:
        sys.exit("no results/convert shards: run `snakemake --cores 2` first")
    return files


def load_texts(limit_bytes: float) -> list[str]:
    texts, total = [], 0
    files = convert_shards()
    per_file = [pq.read_table(f, columns=["text"])["text"].to_pylist() for f in files]
    for i in range(max(map(len, per_file))):  # interleave datasets
        for col in per_file:
            if i < len(col):
                texts.append(col[i])
                total += len(col[i].encode())
                if total >= limit_bytes:
                    return texts
    return texts


def speed(args: argparse.Namespace) -> None:
    spec = default_spec()
    texts = load_texts(args.limit_mb * 1e6)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.1f} MB, {mb * 1e6 / len(texts):.0f} B/doc")
    signatures(texts[:10], spec)  # warm-up: normalization table, permutations

    def ours() -> None:
        for i in range(0, len(texts), BATCH):
            signatures(texts[i : i + BATCH], spec)

    t_ours = timed(ours, args.repeats)
    rows = {"ours": mb / t_ours}
    with tempfile.TemporaryDirectory() as tmp:
        shard_files = convert_shards()
        shard_mb = (
            sum(
                sum(len(t.encode()) for t in pq.read_table(f, columns=["text"])["text"].to_pylist())
                for f in shard_files
            )
            / 1e6
        )

        def stage() -> None:
            for f in shard_files:
                signature_shard(spec, "tang", f, Path(tmp) / f"{f.parent.name}-{f.name}")

        rows["ours: stage (Parquet in/out)"] = shard_mb / timed(stage, args.repeats)
    from datasketch import MinHash

    few = texts[: max(200, len(texts) // 50)]
    few_mb = sum(len(t.encode()) for t in few) / 1e6
    perms = MinHash(num_perm=128, seed=1).permutations

    def ds() -> None:
        for t in few:
            m = MinHash(num_perm=128, seed=1, permutations=perms, scheme="affine32")
            m.update_batch([s.encode() for s in shingles.char_shingles(t, 5)])

    rows["datasketch update_batch"] = few_mb / timed(ds, 1)
    if not args.no_datatrove:
        python = peer_python(args.venv, DATATROVE_PACKAGES)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "texts.jsonl")
            path.write_text(
                "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), "utf-8"
            )
            Path(tmp, "w.py").write_text(DATATROVE_WORKER)
            proc = subprocess.run(
                [
                    str(python),
                    str(Path(tmp, "w.py")),
                    json.dumps({"texts": str(path), "repeats": args.repeats}),
                ],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        if proc.returncode:
            sys.exit(f"datatrove worker failed:\n{proc.stderr[-3000:]}")
        dt = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
        rows["datatrove MinhashDedupSignature"] = mb / statistics.median(dt)
    for name, v in rows.items():
        print(f"  {name:34s} {v:7.2f} MB/s")
    if "datatrove MinhashDedupSignature" in rows:
        print(
            "  ratio ours / datatrove: "
            f"{rows['ours'] / rows['datatrove MinhashDedupSignature']:.1f}x"
        )


def _norm(text: str) -> str:
    vals, _ = shingles.normalize(*shingles.codepoints([text]))
    return "".join(map(chr, vals.tolist()))


def _jaccard(a: str, b: str, n: int = 5) -> float:
    x, y = set(shingles.char_shingles(a, n)), set(shingles.char_shingles(b, n))
    return len(x & y) / len(x | y) if x | y else 1.0


def quality(args: argparse.Namespace) -> None:
    drops = pq.read_table("results/dedup_work/clusters.parquet").to_pylist()
    docs: dict[str, tuple[str, str]] = {}
    for f in convert_shards():
        t = pq.read_table(f, columns=["id", "text", "dataset"])
        for i, text, d in zip(*(t[c].to_pylist() for c in ("id", "text", "dataset")), strict=False):
            docs[i] = (d, text)
    kept_of = {r["id"]: r["kept_id"] for r in drops}
    cross = sum(
        1 for r in drops if {docs[r["id"]][0], r["kept_dataset"]} == {"tang", "tang_yuding"}
    )
    print(f"{len(docs)} documents, {len(drops)} dropped; tang / tang_yuding pairs: {cross}")
    groups: dict[str, list[str]] = {}
    for i, (_, text) in docs.items():
        groups.setdefault(_norm(text), []).append(i)
    multi = [g for g in groups.values() if len(g) > 1]
    pairs = sum(len(g) * (len(g) - 1) // 2 for g in multi)
    found = 0
    for g in multi:
        root = {kept_of.get(i, i) for i in g}
        if len(root) == 1:  # all in one cluster: every pair found
            found += len(g) * (len(g) - 1) // 2
        else:
            sizes = [sum(1 for i in g if kept_of.get(i, i) == r) for r in root]
            found += sum(s * (s - 1) // 2 for s in sizes)
    cross_pairs = sum(
        1
        for g in multi
        for i in g
        for j in g
        if i < j and {docs[i][0], docs[j][0]} == {"tang", "tang_yuding"}
    )
    print(
        f"pairs identical after normalization: {pairs} ({cross_pairs} tang/tang_yuding); "
        f"found in one cluster: {found}; recall {found / pairs:.4f}"
    )
    rng = random.Random(args.seed)
    sample = rng.sample(drops, min(args.sample, len(drops)))
    js = []
    with open(args.out, "w", encoding="utf-8") as f:
        for r in sample:
            a, b = docs[r["kept_id"]][1], docs[r["id"]][1]
            j = _jaccard(a, b)
            js.append(j)
            f.write(
                f"## {r['reason']} J={j:.3f} kept {r['kept_id']} / dropped {r['id']}\n"
                f"{a}\n--\n{b}\n\n"
            )
    js_arr = np.array(js)
    print(
        f"sample of {len(js)} dropped pairs: true char 5-gram Jaccard min {js_arr.min():.3f}, "
        f"median {np.median(js_arr):.3f}, share >= 0.8: {(js_arr >= 0.8).mean():.3f}, "
        f">= 0.7: {(js_arr >= 0.7).mean():.3f}; texts in {args.out}"
    )
    near = [r for r in drops if r["reason"] == "near_duplicate"]
    ns = rng.sample(near, min(args.sample, len(near)))
    nj = np.array([_jaccard(docs[r["kept_id"]][1], docs[r["id"]][1]) for r in ns])
    print(
        f"sample of {len(nj)} near_duplicate pairs: Jaccard min {nj.min():.3f}, median "
        f"{np.median(nj):.3f}, share >= 0.8: {(nj >= 0.8).mean():.3f}, "
        f">= 0.7 {(nj >= 0.7).mean():.3f}"
    )
    with open(args.out, "a", encoding="utf-8") as f:
        f.write("\n# near_duplicate sample\n")
        for r, j in zip(ns, nj, strict=False):
            f.write(
                f"## J={j:.3f} kept {r['kept_id']} / dropped {r['id']}\n"
                f"{docs[r['kept_id']][1]}\n--\n{docs[r['id']][1]}\n\n"
            )


def _edit(text: str, rate: float, rng: random.Random, alphabet: str) -> str:
    out = []
    for ch in text:
        if rng.random() < rate:
            op = rng.randrange(3)
            if op == 0:
                out.append(rng.choice(alphabet))
            elif op == 1:
                out.append(ch + rng.choice(alphabet))
            # op 2: delete
        else:
            out.append(ch)
    return "".join(out)


def _candidates(spec: dict[str, Any], texts: list[str]) -> tuple[np.ndarray, np.ndarray, Any]:
    exact, sig, bands = signatures(texts, spec)
    docs = np.arange(len(texts), dtype=np.uint64)
    a_all, b_all = [], []
    for col in [exact, *bands.T]:
        a, b = run_pairs(np.ascontiguousarray(col), docs)
        a_all.append(a)
        b_all.append(b)
    a, b = unique_pairs(np.concatenate(a_all), np.concatenate(b_all))
    a, b = a.astype(np.int64), b.astype(np.int64)
    ok = (exact[a] == exact[b]) | ((sig[a] == sig[b]).mean(axis=1) >= spec["threshold"])
    return a[ok], b[ok], sig


def synthetic(args: argparse.Namespace) -> None:
    spec = default_spec()
    rng = random.Random(args.seed)
    pool = [t for t in load_texts(40e6) if len(_norm(t)) >= 60]
    groups: dict[str, str] = {}
    for t in pool:
        groups.setdefault(_norm(t), t)
    originals = rng.sample(sorted(groups.values()), min(args.docs, len(groups)))
    alphabet = "".join(sorted({c for t in originals for c in t if not c.isspace()}))
    print(f"{len(originals)} distinct real documents (>= 60 normalized chars)")
    a, b, _ = _candidates(spec, originals)
    true_j = np.array([_jaccard(originals[i], originals[j]) for i, j in zip(a, b, strict=False)])
    fp = int((true_j < spec["threshold"]).sum())
    n_pairs = len(originals) * (len(originals) - 1) // 2
    print(
        f"distinct originals: {len(a)} pairs flagged, {fp} with true Jaccard < 0.8 "
        f"(false-positive rate {fp / n_pairs:.2e} of {n_pairs} pairs)"
    )
    for rate in (0.05, 0.10, 0.20, 0.30):
        edited = [_edit(t, rate, rng, alphabet) for t in originals]
        n = len(originals)
        a, b, _ = _candidates(spec, originals + edited)
        pairs = set(zip(a.tolist(), b.tolist(), strict=False))
        hit = np.array([(i, i + n) in pairs for i in range(n)])
        js = np.array([_jaccard(o, e) for o, e in zip(originals, edited, strict=False)])
        hi = js >= spec["threshold"]
        rec_hi = hit[hi].mean() if hi.any() else float("nan")
        print(
            f"  {int(rate * 100):2d}% edits: detected {hit.mean():.3f}; true Jaccard median "
            f"{np.median(js):.3f} (>= 0.8: {hi.mean():.3f}); recall among J >= 0.8: {rec_hi:.3f}"
        )


def memory(args: argparse.Namespace) -> None:
    """Peak RSS of the gather's core (pairs → dense ids → union-find → survivors) for N docs
    with one duplicate each, N/2 clusters, plus the member arrays it reads back."""
    n = args.docs
    rng = np.random.default_rng(0)
    keys = np.sort(rng.choice(1 << 40, n, replace=False).astype(np.uint64))
    perm = rng.permutation(n)
    a, b = unique_pairs(keys[perm[0::2]], keys[perm[1::2]])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    nodes = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
    chars = rng.integers(10, 1000, len(nodes)).astype(np.uint32)
    exact = rng.integers(0, 1 << 63, len(nodes)).astype(np.uint64)
    ids = np.array([f"ds/file.jsonl#{i}" for i in range(len(nodes))])
    import pyarrow as pa
    import pyarrow.compute as pc

    id_arr = pa.array(ids)
    del ids
    labels = components(len(nodes), ia, ib)
    id_rank = np.empty(len(nodes), np.int64)
    id_rank[pc.sort_indices(id_arr).to_numpy()] = np.arange(len(nodes))
    order = np.lexsort((id_rank, -chars.astype(np.int64), labels))
    assert len(exact) == len(order)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{n} documents in {n // 2} clusters: {time.perf_counter() - t0:.2f} s, "
        f"peak RSS {peak / 1024:.0f} MB (+{(peak - base) / 1024:.0f} MB over the pair arrays); "
        f"{(peak - base) / 1024 / (n / 1e6):.0f} MB per million duplicated documents"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--limit-mb", type=float, default=6.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-datatrove", action="store_true")
    p.add_argument(
        "--venv",
        type=Path,
        default=CACHE / "datatrove-dedup",
    )
    p = sub.add_parser("quality")
    p.add_argument("--sample", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("dedup_sample.txt"))
    p = sub.add_parser("synthetic")
    p.add_argument("--docs", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("memory")
    p.add_argument("--docs", type=int, default=1_000_000)
    args = ap.parse_args()
    {"speed": speed, "quality": quality, "synthetic": synthetic, "memory": memory}[args.cmd](args)


if __name__ == "__main__":
    main()
