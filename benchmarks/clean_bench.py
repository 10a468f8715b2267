"""Clean throughput on real documents, and our zh filters side by side with datatrove's.

Documents: Tang poems, the second Tang edition and Song ci from the unpacked chinese-poetry npm
package (title + lines, as the default config builds them), optionally joined `--join` poems per
document for a long-document variant. One core throughout. Figures, each the median of
`--repeats` runs:

  ours: filters      `gpt2zh.clean.filter_batch` with the zh profile (FineWeb-2 cmn_Hani
                     thresholds), batches of 4096 documents, text already in memory
  ours: clean step   normalizers + PII redaction + filters (the clean stage's batch step)
  ours: clean_shard  the whole stage on a Parquet shard: read, clean, write, stats
  datatrove          GopherRepetitionFilter + GopherQualityFilter with FineWeb-2's cmn_Hani
                     settings (language cmn_Hani, so spaCy + jieba word tokens, as FineWeb-2
                     ran them), timing only the two `filter()` calls per document; and the same
                     two filters with a character tokenizer (our token definition), which
                     isolates the filter code from jieba's cost

datatrove is not a project dependency: the script creates a throwaway virtual environment
(`--venv`, default under the user cache folder) with datatrove, spaCy, jieba and the pins
datatrove needs (xxhash<4), and runs the datatrove side there as a subprocess. Target: ours
(filters) >= 1.5x datatrove.

    python benchmarks/clean_bench.py PATH/TO/chinese-poetry/package
    GPT2ZH_POETRY_DIR=PATH/TO/package python benchmarks/clean_bench.py --limit-mb 5 --join 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import CACHE, peer_python, timed

GROUPS = [
    ("dist/quantangshi/poet.tang.*.json", "title"),
    ("dist/yudingquantangshi/json/*.json", "title"),
    ("dist/songci/ci.song.*.json", "rhythmic"),
]
DATATROVE_PACKAGES = ["datatrove==0.10.1", "spacy", "jieba", "regex", "xxhash<4"]
BATCH = 4096

#: Runs inside the datatrove venv: reads texts (JSON lines), times the filters, prints JSON.
DATATROVE_WORKER = r"""
import json, re, sys, time
from collections import Counter
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
from datatrove.utils.word_tokenizers import WordTokenizer

class CharTokenizer(WordTokenizer):
    '''Our token definition: letter/digit runs, every other non-space character alone.'''
    _re = re.compile(r"[^\W_]+|\S")
    _han = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
    def word_tokenize(self, text):
        out = []
        for tok in self._re.findall(text):
            out.extend(self._han.findall(tok) if self._han.search(tok) else [tok])
        return out
    def sent_tokenize(self, text):
        return [text]
    def span_tokenize(self, text):
        return [(0, len(text))]

args = json.loads(sys.argv[1])
texts = [json.loads(line) for line in open(args["texts"], encoding="utf-8")]
fw2 = args["fw2"]
out = {}
for name in args["tokenizers"]:
    lang = "cmn_Hani" if name == "jieba" else CharTokenizer("zh")
    rep = GopherRepetitionFilter(
        language=lang, dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
        dup_line_frac=fw2["dup_line_frac"], top_n_grams=fw2["top_n_grams"],
        dup_n_grams=fw2["dup_n_grams"])
    qual = GopherQualityFilter(
        language=lang, max_avg_word_length=fw2["max_avg_word_length"],
        min_avg_word_length=fw2["min_avg_word_length"], stop_words=fw2["stopwords"],
        max_non_alpha_words_ratio=fw2["max_non_alpha_words_ratio"], min_stop_words=2)
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    rep.filter(docs[0]); qual.filter(docs[0])  # load jieba's dictionary before timing
    seconds, reasons = [], Counter()
    for r in range(args["repeats"]):
        reasons.clear()
        t0 = time.perf_counter()
        for d in docs:
            v = rep.filter(d)
            if v is True:
                v = qual.filter(d)
            reasons[v[1] if isinstance(v, tuple) else "kept"] += 1
        seconds.append(time.perf_counter() - t0)
    out[name] = {"seconds": seconds, "reasons": dict(reasons)}
print(json.dumps(out))
"""

#: FineWeb-2's configs/cmn_Hani.yml (the values the zh profile starts from).
FW2_CMN_HANI = {
    "dup_line_frac": 0.287,
    "top_n_grams": [[2, 0.256], [3, 0.201], [4, 0.171]],
    "dup_n_grams": [[5, 0.198], [6, 0.182], [7, 0.167], [8, 0.154], [9, 0.14], [10, 0.127]],
    "max_avg_word_length": 5,
    "min_avg_word_length": 1,
    "max_non_alpha_words_ratio": 0.735,
    "stopwords": ["的", "年", "在", "月", "是", "和", "日", "了", "於", "·", "為", "有", "被", "人",
                  "中", "为", "他", "與", "後", "也", "而", "由"],
}  # fmt: skip


def load_texts(root: Path, limit_bytes: int, join: int) -> list[str]:
    texts: list[str] = []
    total = 0
    for pattern, key in GROUPS:
        files = sorted(root.glob(pattern))
        if not files:
            sys.exit(f"no files match {pattern} under {root}: pass the unpacked package folder")
        group: list[str] = []
        for path in files:
            for rec in json.loads(path.read_text(encoding="utf-8")):
                head = rec.get(key)
                body = "\n".join(rec.get("paragraphs") or [])
                group.append(f"{head}\n{body}" if head else body)
        # take an even share of each group so every kind of document is represented
        share = limit_bytes // len(GROUPS)
        taken = 0
        for i in range(0, len(group), join):
            text = "\n\n".join(group[i : i + join])
            texts.append(text)
            taken += len(text.encode("utf-8"))
            if taken >= share:
                break
        total += taken
    return texts


def ours(texts: list[str], repeats: int) -> dict[str, Any]:
    from gpt2zh.clean import CleanOptions, clean_shard, filter_batch, make_step, resolve
    from gpt2zh.clean.features import class_table
    from gpt2zh.docstage import DocBatch
    from gpt2zh.ledger import Ledger
    from gpt2zh.shards import Doc, ShardWriter

    class_table()  # built once per process (~0.1 s); not part of the throughput
    params = resolve("zh")
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    reasons: Counter[str] = Counter()

    def filters() -> None:
        reasons.clear()
        for b in batches:
            reasons.update(r or "kept" for r in filter_batch(b, params))

    opts = CleanOptions.from_spec({"name": "bench", "lang": "zh", "clean": {}})
    step = make_step(opts)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "in.parquet")
        with ShardWriter(src) as w:
            for i, t in enumerate(texts):
                w.write(Doc(f"bench#{i}", t, "bench"))
        import pyarrow.parquet as pq

        record_batches = [
            DocBatch(rb)
            for rb in pq.ParquetFile(src).iter_batches(batch_size=BATCH, columns=["id", "text"])
        ]

        def clean_step() -> None:
            ledger = Ledger("clean", "bench", 0)
            for rb in record_batches:
                step(rb, ledger)

        def shard() -> None:
            clean_shard(
                {"name": "bench", "lang": "zh", "clean": {}}, 0, src, Path(tmp, "o.parquet")
            )

        return {
            "filters": timed(filters, repeats),
            "clean step": timed(clean_step, repeats),
            "clean_shard": timed(shard, repeats),
            "reasons": dict(reasons),
        }


def run_datatrove(
    texts: list[str], repeats: int, venv_dir: Path, tokenizers: list[str]
) -> dict[str, Any]:
    python = peer_python(venv_dir, DATATROVE_PACKAGES)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "texts.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps(t, ensure_ascii=False) + "\n")
        args = {"texts": str(path), "repeats": repeats, "fw2": FW2_CMN_HANI}
        args["tokenizers"] = tokenizers
        with open(Path(tmp, "worker.py"), "w") as f:
            f.write(DATATROVE_WORKER)
        proc = subprocess.run(
            [str(python), str(Path(tmp, "worker.py")), json.dumps(args)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    if proc.returncode != 0:
        sys.exit(f"datatrove worker failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        k: {"seconds": statistics.median(v["seconds"]), "reasons": v["reasons"]}
        for k, v in out.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "package",
        nargs="?",
        default=os.environ.get("GPT2ZH_POETRY_DIR"),
        help="unpacked chinese-poetry npm package (or set GPT2ZH_POETRY_DIR)",
    )
    ap.add_argument(
        "--limit-mb", type=float, default=6.0, help="MB of UTF-8 text to use (default 6)"
    )
    ap.add_argument("--join", type=int, default=1, help="poems per document (20 ≈ 4.5 KB docs)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--venv",
        type=Path,
        default=CACHE / "datatrove-0.10.1",
        help="where the throwaway datatrove venv lives (created on first use)",
    )
    ap.add_argument(
        "--datatrove",
        choices=["jieba", "chars", "both", "none"],
        default="both",
        help="datatrove tokenizers to time (none: skip datatrove)",
    )
    args = ap.parse_args()
    if not args.package:
        ap.error("pass the unpacked chinese-poetry package folder (or set GPT2ZH_POETRY_DIR)")
    texts = load_texts(Path(args.package), int(args.limit_mb * 1e6), args.join)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.2f} MB of UTF-8 text, {mb * 1e6 / len(texts):.0f} B/doc")

    result = ours(texts, args.repeats)
    rows = [(f"ours: {k}", result[k]) for k in ("filters", "clean step", "clean_shard")]
    dt: dict[str, Any] = {}
    if args.datatrove != "none":
        toks = ["jieba", "chars"] if args.datatrove == "both" else [args.datatrove]
        dt = run_datatrove(texts, args.repeats, args.venv, toks)
        for name, r in dt.items():
            rows.append((f"datatrove Gopher rep+qual ({name} tokens)", r["seconds"]))
    print(f"\n{'':48s} {'seconds':>8s} {'MB/s':>8s}")
    for label, sec in rows:
        print(f"{label:48s} {sec:8.2f} {mb / sec:8.2f}")
    for name, r in dt.items():
        print(f"ratio ours filters / datatrove ({name}): {r['seconds'] / result['filters']:.1f}x")
    print("\ndrops, ours (zh profile):", _share(result["reasons"], len(texts)))
    for name, r in dt.items():
        print(f"drops, datatrove ({name}):", _share(r["reasons"], len(texts)))


def _share(reasons: dict[str, int], n: int) -> str:
    top = sorted(reasons.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / n:.1%}" for k, v in top[:8])


if __name__ == "__main__":
    main()
