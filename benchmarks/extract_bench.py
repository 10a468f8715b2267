"""Extract throughput against its floor, on the unpacked chinese-poetry npm package.

The floor is the least any extractor must do: read each file, decode it, json.loads it and build
each document's text string. `extract_shard` additionally resolves the template, checks and
normalises every text, numbers the records, builds ids and meta, keeps the ledger and writes the
zstd Parquet shard. Both run over the same files (Tang poems, the second Tang edition and Song
ci), one shard, one core; each figure is the median of --repeats runs, alternating the two so
that a noisy machine hurts both alike. Target: extract >= 50 % of the floor in MB/s.

    python benchmarks/extract_bench.py PATH/TO/chinese-poetry/package
    GPT2ZH_POETRY_DIR=PATH/TO/package python benchmarks/extract_bench.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import add_corpus_arg, corpus_root

GROUPS = [
    # (glob under the package root, title key of the template "{<key>?}\n{paragraphs}")
    ("dist/quantangshi/poet.tang.*.json", "title"),
    ("dist/yudingquantangshi/json/*.json", "title"),
    ("dist/songci/ci.song.*.json", "rhythmic"),
]
META = {"title": ["author", "title", "id"], "rhythmic": ["author", "rhythmic"]}


def _files(root: Path) -> list[tuple[str, str]]:
    out = []
    for pattern, key in GROUPS:
        found = sorted(p.relative_to(root).as_posix() for p in root.glob(pattern))
        if not found:
            sys.exit(f"no files match {pattern} under {root}: pass the unpacked package folder")
        out += [(rel, key) for rel in found]
    return out


def floor(root: Path, files: list[tuple[str, str]], keep: bool = False) -> tuple[float, int, list]:
    """Read + decode + json.loads + build the text of every record (what extract must do)."""
    texts: list[str] = []
    docs = 0
    t0 = time.perf_counter()
    for rel, key in files:
        with open(root / rel, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
        for r in data:
            head = r.get(key)
            body = "\n".join(r["paragraphs"])
            text = f"{head}\n{body}" if head else body
            docs += 1
            if keep:
                texts.append(text)
    return time.perf_counter() - t0, docs, texts


def ours(root: Path, files: list[tuple[str, str]], work: Path, meta: bool) -> tuple[float, dict]:
    from gpt2zh.extract import extract_shard

    manifest = {
        "source": "chinese_poetry",
        "type": "local",
        "root": str(root),
        "files": [{"path": rel, "bytes": (root / rel).stat().st_size} for rel, _ in files],
    }
    (work / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    reader: dict[str, Any] = {
        "format": "auto",
        "compression": "auto",
        "encoding": "auto",
        "records": "",
        "join": "\n",
        "txt_unit": "file",
        "csv_delimiter": ",",
    }
    spec = {
        "name": "bench",
        "source": "chinese_poetry",
        "shards": 1,
        "read": [
            {
                **reader,
                "files": pattern,
                "text": f"{{{key}?}}\n{{paragraphs}}",
                "meta": META[key] if meta else [],
            }
            for pattern, key in GROUPS
        ],
        "extract_options": {"max_doc_bytes": 8 << 20, "json_stream_bytes": 64 << 20},
    }
    t0 = time.perf_counter()
    stats = extract_shard(spec, 0, work / "manifest.json", work / "shard-00000.parquet")
    return time.perf_counter() - t0, stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_corpus_arg(ap)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each (median reported)")
    ap.add_argument(
        "--meta",
        action="store_true",
        help="also copy meta fields (author, title, ...) into each document",
    )
    ap.add_argument(
        "--zstd-level",
        type=int,
        default=None,
        help="override the extract shard's zstd level (default: the stage's own)",
    )
    args = ap.parse_args(argv)
    if args.zstd_level is not None:
        import gpt2zh.extract.shard

        gpt2zh.extract.shard.ZSTD_LEVEL = args.zstd_level
    root = corpus_root(ap, args)
    files = _files(root)
    file_bytes = sum((root / rel).stat().st_size for rel, _ in files)
    _, docs, texts = floor(root, files, keep=True)  # warms the page cache; untimed
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    del texts
    print(
        f"{len(files)} files, {file_bytes / 1e6:.1f} MB of JSON, {docs} docs, "
        f"{text_bytes / 1e6:.1f} MB of text",
        flush=True,
    )

    floor_s, ours_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ours(root, files, Path(tmp), args.meta)  # untimed: imports (pyarrow.compute, ...)
        for _ in range(args.repeats):
            floor_s.append(floor(root, files)[0])
            seconds, stats = ours(root, files, Path(tmp), args.meta)
            ours_s.append(seconds)
            # extract normalises CRLF (one poem) and drops records whose required paragraphs
            # are blank (a few), so its output may differ from the floor's by a hair
            if stats["docs_in"] != docs or abs(stats["bytes_out"] - text_bytes) > 1000:
                sys.exit(
                    f"extract output differs from the floor's: {stats['docs_out']} docs, "
                    f"{stats['bytes_out']} bytes vs {docs} docs, {text_bytes} bytes"
                )
        shard_mb = (Path(tmp) / "shard-00000.parquet").stat().st_size / 1e6
    f_med, o_med = statistics.median(floor_s), statistics.median(ours_s)
    mb = text_bytes / 1e6
    print(f"{'':28}{'MB/s text':>10}{'docs/s':>10}{'seconds':>9}")
    print(f"{'floor (read+loads+build)':28}{mb / f_med:10.1f}{docs / f_med:10.0f}{f_med:9.3f}")
    print(
        f"{'extract_shard' + (' +meta' if args.meta else ''):28}"
        f"{mb / o_med:10.1f}{docs / o_med:10.0f}{o_med:9.3f}"
    )
    print(f"ratio extract/floor: {f_med / o_med:.0%} (target >= 50%); shard {shard_mb:.1f} MB")
    print(
        f"runs (s): floor {[round(s, 3) for s in floor_s]}, extract {[round(s, 3) for s in ours_s]}"
    )


if __name__ == "__main__":
    main()
