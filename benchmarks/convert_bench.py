"""Convert throughput against raw OpenCC, and what t2s changes, on the chinese-poetry package.

Builds one document shard per group (Tang poems in Traditional characters, Song ci already in
Simplified) from the package's JSON into a temporary folder, then times, one core, median of
--repeats runs (alternated so a noisy machine hurts all alike), in MB/s of UTF-8 input text:

  opencc per-doc    raw `OpenCC.convert` once per document (texts already in memory): the floor
  opencc batch      raw OpenCC on batches joined by a private-use separator, then split
  runner only       `run_doc_stage` with a pass-through step (read, ledger, write): the overhead
                    every document stage pays
  convert per-doc   `convert_shard(..., batch=False)`
  convert batch     `convert_shard(...)` (what the pipeline runs)

It checks that batch and per-document conversion give identical texts, then prints, per group,
the documents and characters t2s changed and the most frequent replacements with an example.
Target: convert >= 20 MB/s per core.

    python benchmarks/convert_bench.py PATH/TO/chinese-poetry/package
    GPT2ZH_POETRY_DIR=PATH/TO/package python benchmarks/convert_bench.py --top 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import add_corpus_arg, corpus_root, timed
from gpt2zh.convert import convert_shard, convert_texts, converter, opencc_version
from gpt2zh.docstage import run_doc_stage
from gpt2zh.shards import ShardWriter, iter_docs

GROUPS = {
    # name: (glob under the package root, title key, script)
    "tang": ("dist/quantangshi/poet.tang.*.json", "title", "traditional"),
    "songci": ("dist/songci/ci.song.*.json", "rhythmic", "simplified"),
}


def load(root: Path, pattern: str, key: str) -> list[str]:
    files = sorted(root.glob(pattern))
    if not files:
        sys.exit(f"no files match {pattern} under {root}: pass the unpacked package folder")
    texts = []
    for path in files:
        for r in json.loads(path.read_text(encoding="utf-8")):
            head, body = r.get(key), "\n".join(r["paragraphs"])
            texts.append(f"{head}\n{body}" if head else body)
    return texts


def write_shard(path: Path, name: str, texts: list[str]) -> None:
    with ShardWriter(path) as w:
        ids = [f"{name}/{i}" for i in range(len(texts))]
        w.write_batch(ids, texts, name, ["{}"] * len(texts))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_corpus_arg(ap)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each (median reported)")
    ap.add_argument("--conversion", default="t2s", choices=["t2s", "tw2sp", "hk2s"])
    ap.add_argument("--top", type=int, default=20, help="replacements listed per group")
    ap.add_argument(
        "--tofu-risk",
        action="store_true",
        help="include OpenCC's tofu-risk dictionary (TSCharactersExt); default: without",
    )
    args = ap.parse_args(argv)
    root = corpus_root(ap, args)
    cc = converter(args.conversion, args.tofu_risk)
    print(f"OpenCC {opencc_version()}, {args.conversion}, tofu-risk dictionary {args.tofu_risk}")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (pattern, key, script) in GROUPS.items():
            texts = load(root, pattern, key)
            mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
            src = work / f"{name}.parquet"
            write_shard(src, name, texts)
            spec = {"name": name, "script": script, "convert": args.conversion}
            print(f"\n== {name} ({script}): {len(texts)} docs, {mb:.1f} MB of text")

            # batch and per-document conversion must agree exactly
            per_doc = [cc.convert(t) for t in texts]
            batched, ok = convert_texts(cc, texts)
            if per_doc != batched or not ok:
                sys.exit(f"{name}: batch conversion differs from per-document conversion")

            runs: dict[str, Callable[[], Any]] = {
                "opencc per-doc": lambda texts=texts: [cc.convert(t) for t in texts],
                "opencc batch": lambda texts=texts: convert_texts(cc, texts),
                "runner only": lambda src=src, name=name: run_doc_stage(
                    "convert",
                    src,
                    work / "pass.parquet",
                    lambda docs, _: docs.texts,
                    dataset=name,
                    shard=0,
                ),
                "convert per-doc": lambda src=src, spec=spec: convert_shard(
                    spec, 0, src, work / "out-doc.parquet", tofu_risk=args.tofu_risk, batch=False
                ),
                "convert batch": lambda src=src, spec=spec: convert_shard(
                    spec, 0, src, work / "out.parquet", tofu_risk=args.tofu_risk
                ),
            }
            seconds: dict[str, list[float]] = {k: [] for k in runs}
            for fn in runs.values():  # untimed warm-up (imports, page cache)
                fn()
            for _ in range(args.repeats):
                for label, fn in runs.items():
                    seconds[label].append(timed(fn))
            print(f"{'':18}{'MB/s':>8}{'docs/s':>10}{'seconds':>9}   runs")
            for label, s in seconds.items():
                med = statistics.median(s)
                print(
                    f"{label:18}{mb / med:8.1f}{len(texts) / med:10.0f}{med:9.3f}   "
                    f"{[round(x, 3) for x in s]}"
                )

            out = [d.text for d in iter_docs(work / "out.parquet")]
            if out != per_doc:
                sys.exit(f"{name}: convert_shard output differs from raw OpenCC")
            stats = json.loads((work / "out.stats.json").read_text(encoding="utf-8"))
            ch = stats["changes"]
            chars = sum(map(len, texts))
            docs_changed = ch.get("docs_converted", 0)
            chars_changed = ch.get("chars_converted", 0)
            print(
                f"changed: {docs_changed} of {len(texts)} docs ({docs_changed / len(texts):.2%}), "
                f"{chars_changed} of {chars} chars ({chars_changed / chars:.4%}), "
                f"{ch.get('docs_length_changed', 0)} docs changed length, "
                f"{stats['changed_pairs_distinct']} distinct replacements"
            )
            for p in stats["changed_pairs"][: args.top]:
                before = p["before"].replace("\n", " ")
                after = p["after"].replace("\n", " ")
                print(f"  {p['from']}→{p['to']} {p['count']:>7}   {before} → {after}")


if __name__ == "__main__":
    main()
