"""Mix benchmark: pack tokens/s (`gpt2zh.mix.pack.build_mix`) and reader tokens/s
(`gpt2zh.mix.reader.PackedReader`, one core) on synthetic token shards (or a real mix folder).

    python benchmarks/mix_bench.py --tokens 50_000_000 --seq-len 1024 --batch 32
    python benchmarks/mix_bench.py --mix-dir results/mix          # reader only, on real shards
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from gpt2zh.ledger import write_json
from gpt2zh.mix.pack import build_mix
from gpt2zh.mix.reader import PackedReader, shard_paths
from gpt2zh.tokenize.encode import token_schema


def synthetic_shards(folder: Path, tokens: int, datasets: int = 3, mean_doc: int = 300) -> list:
    rng = np.random.default_rng(0)
    paths, schema = [], token_schema(32768)
    per = tokens // datasets
    for d in range(datasets):
        lens = rng.integers(1, 2 * mean_doc, per // mean_doc + 1)
        values = rng.integers(1, 32767, int(lens.sum()), dtype=np.uint16)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
        arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
        ids = pa.array([f"d{d}:{i}" for i in range(len(lens))])
        path = folder / f"ds{d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
            w.write_table(pa.table([ids, arr], schema=schema), max_chunksize=8192)
        write_json(
            folder / f"ds{d}.stats.json",
            {"dataset": f"ds{d}", "docs_out": len(lens), "tokens": int(lens.sum())},
        )
        paths.append(path)
    return paths


def bench_reader(paths: list[Path], batch: int, seconds: float) -> float:
    r = PackedReader(paths, batch, seed=0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        b = r.next_batch()
        n += b.size
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tokens", type=int, default=20_000_000, help="synthetic corpus size")
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seconds", type=float, default=5.0, help="reader timing window")
    p.add_argument("--mix-dir", type=Path, help="time the reader on an existing mix folder")
    args = p.parse_args()
    if args.mix_dir:
        tps = bench_reader(shard_paths(args.mix_dir), args.batch, args.seconds)
        print(f"reader: {tps / 1e6:.1f} M tokens/s ({args.mix_dir})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = synthetic_shards(folder, args.tokens)
        spec = {
            "mix": {
                "seq_len": args.seq_len,
                "total_tokens": None,
                "epochs": {},
                "val_tokens": 100 * args.seq_len,
                "max_val_fraction": 0.1,
                "seed": 0,
                "shard_tokens": 1 << 27,
                "on_empty": "error",
            },
            "weights": {"ds0": 0.5, "ds1": 0.3, "ds2": 0.2},
        }
        t0 = time.perf_counter()
        m = build_mix(spec, paths, folder / "mix")
        secs = time.perf_counter() - t0
        total = m["train"]["tokens"] + m["val"]["tokens"]
        print(f"pack: {total:,} tokens in {secs:.1f} s = {total / secs / 1e6:.1f} M tokens/s")
        tps = bench_reader(shard_paths(folder / "mix"), args.batch, args.seconds)
        print(
            f"reader: {tps / 1e6:.1f} M tokens/s (batch {args.batch} x {args.seq_len}, int64, "
            "shuffled rows, one core)"
        )


if __name__ == "__main__":
    main()
