"""The cost of the JSON nesting limit on the streaming path, and its memory on deep nesting.

Throughput: ijson alone vs ijson reading through `DepthLimit`, on three synthetic JSON arrays
(prose records, records full of escaped quotes, short records), median of --repeats runs
alternating the two. Memory: peak RSS growth while extracting a file holding one record nested
--levels deep between ordinary records (ijson alone needs memory quadratic in the depth).

    python benchmarks/json_depth_bench.py [--repeats 3] [--levels 100000]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ijson

from gpt2zh.extract.depth import DepthLimit

POEM = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。“引号”"
CORPORA = {
    "prose records": lambda: [
        {"text": POEM * 20, "title": f"t{i}", "tags": ["a", "b"]} for i in range(50_000)
    ],
    "escaped quotes": lambda: [{"text": (POEM + '\\"x\\"') * 20, "n": i} for i in range(50_000)],
    "short records": lambda: [{"text": POEM, "id": i} for i in range(300_000)],
}


def _mb_per_s(data: bytes, limited: bool) -> float:
    stream: io.BufferedIOBase = io.BytesIO(data)
    if limited:
        stream = io.BufferedReader(DepthLimit(stream), 1 << 20)
    t0 = time.perf_counter()
    for _ in ijson.items(stream, "item"):
        pass
    return len(data) / (time.perf_counter() - t0) / 1e6


def throughput(repeats: int) -> None:
    for name, make in CORPORA.items():
        data = json.dumps(make(), ensure_ascii=False).encode()
        alone, limited = [], []
        for _ in range(repeats):
            alone.append(_mb_per_s(data, False))
            limited.append(_mb_per_s(data, True))
        print(
            f"{name}: {len(data) / 1e6:.0f} MB, ijson {statistics.median(alone):.0f} MB/s, "
            f"ijson + DepthLimit {statistics.median(limited):.0f} MB/s"
        )


def memory(levels: int) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from helpers.extract import TEXT, extract

    deep = b'{"text": "x", "y": ' + b"[" * levels + b"]" * levels + b"}"
    data = b'[{"text": "a"}, ' + deep + b', {"text": "b"}]'
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = extract(Path(tmp), {"a.json": data}, TEXT, json_stream_bytes=64)
        seconds = time.perf_counter() - t0
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024
    print(
        f"{levels} levels: kept {r.texts}, quarantined {r.reasons()}, "
        f"peak RSS +{grown} MB, {seconds:.2f} s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--levels", type=int, default=100_000)
    args = p.parse_args()
    memory(args.levels)  # first: the throughput corpora would set the peak
    throughput(args.repeats)


if __name__ == "__main__":
    main()
