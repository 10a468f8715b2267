"""Tokenizer benchmark: ours (Chinese-aware pre-tokenizer) vs plain GPT-2-regex byte-level BPE.

Both are trained on the same sample with the same vocab size, each in its own process (so peak
RSS is that training's), then compared on held-out documents per dataset (chars/token,
bytes/token) and on encode speed (MB/s of UTF-8 on one thread: HF `encode_batch_fast` vs our
tiktoken encoder `gpt2zh.tokenize.fast` on the same text, and end to end through
`gpt2zh.tokenize.encode.encode_shard` with each encoder: read Parquet → write Arrow tokens).

    python benchmarks/tokenize_bench.py results/convert --sample-mb 50 --vocab 32768
    python benchmarks/tokenize_bench.py results/convert --extra-json 'DIR/poet.song.*.json' \
        --sample-mb 200
    python benchmarks/tokenize_bench.py results/dedup --tokenizer results/tokenizer --verify

`--tokenizer DIR` skips training and times that tokenizer; `--verify` also proves the fast
encoder token-for-token identical to HF on every document under DOCS_ROOT, and that its split
regex (tiktoken's engine) cuts every Unicode code point, in several contexts, as HF's does.

DOCS_ROOT holds `<dataset>/shard-*.parquet` (a document stage's output). `--extra-json` adds
chinese-poetry style JSON files (records with `paragraphs`) as dataset `extra`, for samples
larger than the demo corpus.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # per-core figures unless --threads says so

import pyarrow.parquet as pq

from gpt2zh.tokenize.train_bpe import is_holdout


def load_docs(root: Path, extra_json: str | None) -> dict[str, list[tuple[str, str]]]:
    docs: dict[str, list[tuple[str, str]]] = {}
    for shard in sorted(root.glob("*/shard-*.parquet")):
        t = pq.read_table(shard, columns=["id", "text"])
        docs.setdefault(shard.parent.name, []).extend(
            zip(t["id"].to_pylist(), t["text"].to_pylist(), strict=True)
        )
    if extra_json:
        for f in sorted(glob.glob(extra_json)):
            for i, rec in enumerate(json.loads(Path(f).read_text("utf-8"))):
                text = "\n".join([rec.get("title", ""), *rec.get("paragraphs", [])]).strip()
                docs.setdefault("extra", []).append((f"{Path(f).name}:{i}", text))
    return docs


def sample(docs: dict[str, list[tuple[str, str]]], mb: float) -> tuple[list[str], dict]:
    """Round-robin over datasets (train part only) until `mb` MB of UTF-8; plus held-out docs."""
    train, heldout = [], {}
    pools = {d: [t for i, t in v if not is_holdout(i, 0)] for d, v in docs.items()}
    for d, v in docs.items():
        heldout[d] = [t for i, t in v if is_holdout(i, 0)]
    budget, used = int(mb * 1e6), 0
    idx = dict.fromkeys(pools, 0)
    while used < budget and any(idx[d] < len(pools[d]) for d in pools):
        for d in pools:
            if idx[d] < len(pools[d]):
                t = pools[d][idx[d]]
                idx[d] += 1
                train.append(t)
                used += len(t.encode("utf-8"))
    return train, heldout


def train_child(args: argparse.Namespace) -> None:
    """Runs in a fresh process: trains one tokenizer, prints seconds and peak RSS as JSON."""
    from gpt2zh.tokenize.train_bpe import peak_rss_mb, train_tokenizer

    texts = json.loads(Path(args.texts).read_text("utf-8"))
    base = peak_rss_mb()
    t0 = time.perf_counter()
    tok = train_tokenizer(texts, args.vocab, kind=args.kind, max_han_run=args.max_han_run)
    secs = time.perf_counter() - t0
    tok.save(args.out)
    print(json.dumps({"seconds": secs, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": base}))


def train_in_subprocess(texts_path: Path, out: Path, kind: str, vocab: int, k: int) -> dict:
    cmd = [sys.executable, __file__, "--_train", "--texts", str(texts_path), "--out", str(out)]
    cmd += ["--kind", kind, "--vocab", str(vocab), "--max-han-run", str(k), "x"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def encode_mbps(tok, texts: list[str], repeat: int = 3) -> float:
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(0, len(texts), 1024):
            tok.encode_batch_fast(texts[i : i + 1024], add_special_tokens=False)
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e6


def fast_mbps(tokdir: Path, texts: list[str], repeat: int = 3) -> float:
    from gpt2zh.tokenize.fast import FastEncoder

    fast = FastEncoder(tokdir)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(0, len(texts), 1024):
            fast.encode_batch(texts[i : i + 1024], 1)
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e6


def e2e_mbps(shards: list[Path], tokdir: Path, out: Path, encoder: str) -> float:
    """Read Parquet → write Arrow MB/s of `encode_shard` over all shards, one thread."""
    from gpt2zh.tokenize.encode import encode_shard

    nbytes, secs = 0, 0.0
    for i, shard in enumerate(shards):
        t0 = time.perf_counter()
        st = encode_shard("b", i, shard, tokdir, out / f"{encoder}-{i}.arrow", encoder=encoder)
        secs += time.perf_counter() - t0
        nbytes += st["bytes_in"]
        if st["encoder"] != encoder:
            raise SystemExit(f"asked for {encoder}, encode_shard used {st['encoder']}")
    return nbytes / secs / 1e6


def split_sweep(pattern: str) -> tuple[int, int]:
    """Every code point (no surrogates) in a few contexts: the pieces of tiktoken's regex
    engine vs HF's. Pieces are made tokens of a throwaway tiktoken vocabulary (all bytes + all
    HF pieces), so tiktoken's output is HF's pieces exactly when both split alike."""
    import tiktoken
    from tokenizers import Regex, pre_tokenizers

    hf = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    docs = [
        f"a{c} {c}{c}{c}中{c}1{c}\n {c}'{c}s{c}\t{c}  {c}\u3000{c}é{c}{c}x"
        for c in map(chr, range(0x110000))
        if not 0xD800 <= ord(c) < 0xE000
    ]
    pieces = [[p.encode() for p, _ in hf.pre_tokenize_str(d)] for d in docs]
    ranks = {bytes([b]): b for b in range(256)}
    for ps in pieces:
        for p in ps:
            ranks.setdefault(p, len(ranks))
    enc = tiktoken.Encoding("sweep", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    inv = {v: k for k, v in ranks.items()}
    bad = sum(
        [inv[i] for i in ids] != ps
        for ids, ps in zip(enc.encode_ordinary_batch(docs), pieces, strict=True)
    )
    return len(docs), bad


def given_tokenizer(args: argparse.Namespace, docs: dict[str, list[tuple[str, str]]]) -> None:
    from tokenizers import Tokenizer

    from gpt2zh.tokenize.fast import FastEncoder, verify

    tokdir = args.tokenizer
    tok = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    texts = [t for d in sorted(docs) for _, t in docs[d]]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"tokenizer {tokdir}: vocab {tok.get_vocab_size()}; {len(texts)} docs, {mb:.1f} MB")
    if args.verify:
        t0 = time.perf_counter()
        res = verify(tokdir, texts)
        print(f"identity fast vs HF on every document ({time.perf_counter() - t0:.0f} s): {res}")
        n, bad = split_sweep(FastEncoder(tokdir).pattern)
        print(f"split regex sweep: {n} code points, {bad} cut differently")
    hf = encode_mbps(tok, texts)
    fast = fast_mbps(tokdir, texts)
    shards = sorted(args.docs_root.glob("*/shard-*.parquet"))
    with tempfile.TemporaryDirectory() as tmp:
        e_hf = e2e_mbps(shards, tokdir, Path(tmp), "hf")
        e_fast = e2e_mbps(shards, tokdir, Path(tmp), "fast")
    print(f"encode, one thread:  HF {hf:.2f} MB/s  fast {fast:.2f} MB/s  ratio {fast / hf:.2f}x")
    print(
        f"read → write shard:  HF {e_hf:.2f} MB/s  fast {e_fast:.2f} MB/s  "
        f"ratio {e_fast / e_hf:.2f}x"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("docs_root", type=Path, help="folder of <dataset>/shard-*.parquet")
    p.add_argument("--extra-json", help="glob of chinese-poetry JSON files to add as 'extra'")
    p.add_argument("--sample-mb", type=float, default=50.0)
    p.add_argument("--vocab", type=int, default=32768)
    p.add_argument("--max-han-run", type=int, default=2, help="ours: Han run bound")
    p.add_argument("--kinds", default="zh,gpt2", help="comma list of pre-tokenizers to train")
    p.add_argument("--encode-mb", type=float, default=10.0, help="text to time encoding on")
    p.add_argument("--tokenizer", type=Path, help="time this tokenizer folder (no training)")
    p.add_argument("--verify", action="store_true", help="with --tokenizer: prove fast == HF")
    p.add_argument("--_train", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--texts", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--kind", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._train:
        train_child(args)
        return

    from tokenizers import Tokenizer

    docs = load_docs(args.docs_root, args.extra_json)
    if args.tokenizer:
        given_tokenizer(args, docs)
        return
    train, heldout = sample(docs, args.sample_mb)
    mb = sum(len(t.encode("utf-8")) for t in train) / 1e6
    print(f"sample: {len(train)} docs, {mb:.1f} MB; vocab {args.vocab}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tpath = Path(tmp) / "texts.json"
        tpath.write_text(json.dumps(train, ensure_ascii=False), "utf-8")
        del train
        for kind in args.kinds.split(","):
            out = Path(tmp) / f"{kind}.json"
            r = train_in_subprocess(tpath, out, kind, args.vocab, args.max_han_run)
            tok = Tokenizer.from_file(str(out))
            r["heldout"] = {}
            for d, texts in sorted(heldout.items()):
                if not texts:
                    continue
                n_tok = sum(len(e.ids) for e in tok.encode_batch_fast(texts))
                chars = sum(len(t) for t in texts)
                nbytes = sum(len(t.encode("utf-8")) for t in texts)
                r["heldout"][d] = (chars / n_tok, nbytes / n_tok)
            enc_texts, used = [], 0
            for d in sorted(docs):
                for _, t in docs[d]:
                    if used > args.encode_mb * 1e6 / len(docs):
                        break
                    enc_texts.append(t)
                    used += len(t.encode("utf-8"))
                used = 0
            tokdir = Path(tmp) / f"tok-{kind}"
            tokdir.mkdir()
            from gpt2zh.tokenize.train_bpe import wrap

            wrap(tok).save_pretrained(tokdir)
            r["encode_mbps"] = encode_mbps(tok, enc_texts)
            r["fast_mbps"] = fast_mbps(tokdir, enc_texts)
            shard = [next(args.docs_root.glob("*/shard-*.parquet"))]
            r["e2e_mbps"] = e2e_mbps(shard, tokdir, Path(tmp), "hf")
            r["e2e_fast_mbps"] = e2e_mbps(shard, tokdir, Path(tmp), "fast")
            results[kind] = r
            print(
                f"{kind:5s} train {r['seconds']:7.1f} s  peak RSS {r['peak_rss_mb']:7.0f} MB  "
                f"encode HF {r['encode_mbps']:.2f} / fast {r['fast_mbps']:.2f} MB/s/thread "
                f"({r['fast_mbps'] / r['encode_mbps']:.2f}x)  read→write HF {r['e2e_mbps']:.2f} / "
                f"fast {r['e2e_fast_mbps']:.2f} MB/s ({r['e2e_fast_mbps'] / r['e2e_mbps']:.2f}x)"
            )
            for d, (cpt, bpt) in r["heldout"].items():
                print(f"      held-out {d:12s} {cpt:.3f} chars/token  {bpt:.3f} bytes/token")
    if "zh" in results and "gpt2" in results:
        z, g = results["zh"], results["gpt2"]
        print(
            f"ratio zh/gpt2: encode {z['encode_mbps'] / g['encode_mbps']:.2f}x, "
            f"end-to-end {z['e2e_mbps'] / g['e2e_mbps']:.2f}x, "
            f"train time {z['seconds'] / g['seconds']:.2f}x, "
            f"peak RSS {z['peak_rss_mb'] / g['peak_rss_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
