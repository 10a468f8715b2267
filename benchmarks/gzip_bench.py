"""gzip in extract: decompression alone, then extract of one gzip JSON-lines file read whole and
cut into `--pieces` pieces, in CPU seconds of this process (one core).

A piece of a split gzip file decompresses the whole file (gzip cannot be entered mid-stream) and
parses only its own lines, so a file cut into k pieces is decompressed k times: decompression
speed is what a split file's extract costs beyond one pass. The first table compares the
standard library's GzipFile with the decompression extract uses (`streams.open_decompressed`);
run the script on two commits to compare the code.

    PYTHONPATH=src python benchmarks/gzip_bench.py [FILE.jsonl.gz | --mb 256] [--pieces 8]

Without FILE, a gzip JSON-lines file of `--mb` MB of generated Chinese prose is built (the one
`split_bench.py` builds) under --workdir.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

from split_bench import build_corpus


def _decompress_cpu(read_all) -> tuple[float, int]:
    t0 = time.process_time()
    n = read_all()
    return time.process_time() - t0, n


def stdlib(path: Path) -> int:
    n = 0
    with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as f:
        while chunk := f.read1(1 << 20):
            n += len(chunk)
    return n


def ours(path: Path) -> int:
    from gpt2zh.extract.streams import open_decompressed

    raw, chunks, _ = open_decompressed(path, "auto", path.name)
    with raw:
        return sum(len(c) for c in chunks)


def extract_cpu(path: Path, pieces: int, work: Path) -> tuple[float, int]:
    """CPU-s of extracting `path` as `pieces` shards (summed over them), and the text bytes out."""
    from gpt2zh.extract import extract_shard

    manifest = work / "manifest.json"
    files = [{"path": path.name, "bytes": path.stat().st_size}]
    manifest.write_text(json.dumps({"source": "big", "root": str(path.parent), "files": files}))
    reader = {"format": "auto", "compression": "auto", "encoding": "auto", "records": "",
              "join": "\n", "txt_unit": "file", "csv_delimiter": ",", "files": path.name,
              "text": "{text}", "meta": ["id"]}  # fmt: skip
    options = {"max_doc_bytes": 8 << 20, "json_stream_bytes": 64 << 20}
    spec = {"name": "big", "source": "big", "shards": pieces, "read": [reader],
            "extract_options": options}  # fmt: skip
    cpu = 0.0
    out = 0
    for shard in range(pieces):
        t0 = time.process_time()
        stats = extract_shard(spec, shard, manifest, work / f"shard-{shard:05d}.parquet")
        cpu += time.process_time() - t0
        out += stats["bytes_out"]
    return cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("file", nargs="?", type=Path, help="a gzip JSON-lines file with a text field")
    ap.add_argument("--mb", type=int, default=256, help="MB of JSON lines to build without FILE")
    ap.add_argument("--pieces", type=int, default=8)
    ap.add_argument("--decompress-only", action="store_true", help="skip the extract runs")
    ap.add_argument("--workdir", type=Path, default=Path("results") / "gzip_bench")
    args = ap.parse_args()
    path = args.file
    if path is None:
        path = args.workdir.resolve() / f"corpus-{args.mb}" / "big.jsonl.gz"
        if not path.exists():
            build_corpus(path, args.mb, seed=0)
    print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB gzip")
    for name, fn in (("stdlib GzipFile", stdlib), ("extract's decompression", ours)):
        cpu, n = _decompress_cpu(lambda fn=fn: fn(path))
        print(f"  {name:<24} {cpu:6.2f} CPU-s  {n / 1e6 / cpu:6.0f} MB/s of output")
    for pieces in () if args.decompress_only else (1, args.pieces):
        with tempfile.TemporaryDirectory() as tmp:
            cpu, out = extract_cpu(path, pieces, Path(tmp))
        print(f"  extract, {pieces} piece(s): {cpu:6.2f} CPU-s  {out / 1e6 / cpu:6.1f} MB/s of "
              f"text per CPU-s ({out / 1e6:.0f} MB)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
