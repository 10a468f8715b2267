"""Shards are the parallelism whatever the files: one large file is spread over every shard.

Each format is extracted once with `shards: 1` (the reference) and once with `shards: 8`; the
eight shards must hold exactly the reference's documents (same ids, texts, metas), each in file
order, none empty, their ledgers summing to the reference's (records, drops, bytes), and the
same run twice must write byte-identical shards.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpt2zh.extract import extract_shard
from gpt2zh.extract.assign import (
    SPAN,
    FileTask,
    assign_shards,
    plan_shards,
    position,
    positions,
    split_evenly,
)
from gpt2zh.ledger import merge_stats
from gpt2zh.shards import iter_docs
from helpers.extract import make_spec, write_source

SHARDS = 8


def _records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"text": "文" * rng.randint(1, 400) + f"第{i}篇", "k": i % 7} for i in range(n)]


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines[5] = "{broken json"  # one bad record, quarantined by exactly one shard
    lines.insert(9, "   ")  # a blank line: not a record
    return ("\n".join(lines) + "\n").encode()


def _csv(records: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["text", "k"])
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue().encode()


def _parquet(records: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), buf, row_group_size=300)
    return buf.getvalue()


def _run(tmp: Path, files: dict[str, bytes], reader: dict[str, Any], shards: int):
    manifest = write_source(tmp, files)
    spec = make_spec([reader], shards=shards)
    stats, docs = [], []
    for k in range(shards):
        out = tmp / f"out{shards}" / f"shard-{k:05d}.parquet"
        stats.append(extract_shard(spec, k, manifest, out))
        docs.append([(d.id, d.text, d.meta) for d in iter_docs(out)])
    return stats, docs


@pytest.mark.parametrize(
    ("name", "make", "reader"),
    [
        ("big.jsonl.gz", lambda r: gzip.compress(_jsonl(r), mtime=0), {}),
        ("big.jsonl", _jsonl, {}),
        ("big.json", lambda r: json.dumps(r, ensure_ascii=False).encode(), {}),
        ("big.parquet", _parquet, {}),
        ("big.csv", _csv, {}),
        (
            "big.txt",
            lambda r: "\n\n".join(x["text"] for x in r).encode(),
            {"txt_unit": "paragraph"},
        ),
    ],
)
def test_one_file_spreads_over_every_shard(
    tmp_path: Path, name: str, make: Any, reader: dict[str, Any]
) -> None:
    data = make(_records(2000))
    reader = {"files": "*", "text": "{text}", "meta": ["k"], **reader}
    if name.endswith(".txt"):
        reader["meta"] = []
    ref_stats, (ref,) = _run(tmp_path, {name: data}, reader, 1)
    stats, docs = _run(tmp_path, {name: data}, reader, SHARDS)
    assert all(docs), [len(d) for d in docs]  # none empty
    merged = sorted(d for shard in docs for d in shard)
    assert merged == sorted(ref)  # every document exactly once, unchanged
    order = {d[0]: i for i, d in enumerate(ref)}
    for shard in docs:  # file order within a shard
        assert [order[d[0]] for d in shard] == sorted(order[d[0]] for d in shard)
    sizes = [sum(len(d[1].encode()) for d in shard) for shard in docs]
    assert max(sizes) < 1.25 * sum(sizes) / SHARDS, sizes  # balanced by bytes
    total, ref_total = merge_stats(stats), merge_stats(ref_stats)
    for key in ("docs_in", "docs_out", "chars_in", "chars_out", "bytes_out", "drops", "changes"):
        assert total[key] == ref_total[key], key
    assert total["bytes_in"] == ref_total["bytes_in"] and total["files"] == 1
    assert total["docs_in"] == total["docs_out"] + sum(total["drops"].values())
    _run(tmp_path / "again", {name: data}, reader, SHARDS)
    for k in range(SHARDS):
        a = (tmp_path / f"out{SHARDS}" / f"shard-{k:05d}.parquet").read_bytes()
        b = (tmp_path / "again" / f"out{SHARDS}" / f"shard-{k:05d}.parquet").read_bytes()
        assert a == b


def test_quarantined_record_of_a_split_file_is_counted_once(tmp_path: Path) -> None:
    data = gzip.compress(_jsonl(_records(500)), mtime=0)
    stats, _ = _run(tmp_path, {"a.jsonl.gz": data}, {"files": "*", "text": "{text}"}, SHARDS)
    assert [s["drops"].get("bad_json", 0) for s in stats].count(1) == 1
    assert sum(s["drops"].get("bad_json", 0) for s in stats) == 1
    assert sum(s["changes"].get("blank_lines_skipped", 0) for s in stats) == 1


@pytest.mark.parametrize("name", ["big.json", "big.jsonl"])
def test_items_dropped_from_a_split_file_are_counted_once(tmp_path: Path, name: str) -> None:
    # JSON documents are parsed whole by every piece: only the owning piece may count the
    # flagged items it removes, or the split run reports eight times the reference's count
    rng = random.Random(5)
    recs = [
        {"p": [{"t": f"段{i}.{j}", "dup": rng.random() < 0.3} for j in range(4)]}
        for i in range(600)
    ]
    data = (
        json.dumps(recs, ensure_ascii=False)
        if name.endswith(".json")
        else "\n".join(json.dumps(r, ensure_ascii=False) for r in recs)
    ).encode()
    reader = {"files": "*", "text": "{p[].t}", "drop_items": ["p[].dup"]}
    ref_stats, _ = _run(tmp_path, {name: data}, reader, 1)
    stats, _ = _run(tmp_path, {name: data}, reader, SHARDS)
    total, ref_total = merge_stats(stats), merge_stats(ref_stats)
    assert ref_total["changes"]["items_dropped"] > 0
    assert total["changes"] == ref_total["changes"]
    assert total["drops"] == ref_total["drops"]


def test_many_even_files_stay_whole_and_keep_the_lpt_assignment() -> None:
    rng = random.Random(3)
    tasks = [FileTask(f"f{i:04d}.json", rng.randint(1000, 2000), 0) for i in range(300)]
    assert plan_shards(tasks, 17) == assign_shards(tasks, 17)


@pytest.mark.parametrize(
    ("sizes", "shards"),
    [([1000], 8), ([585] * 25, 64), ([100] * 10, 8), ([5000, 1, 1, 1], 4), ([7, 0, 3], 5)],
)
def test_uneven_files_are_cut_into_equal_byte_ranges(sizes: list[int], shards: int) -> None:
    tasks = [FileTask(f"f{i:03d}", n, 0) for i, n in enumerate(sizes)]
    plan = plan_shards(tasks, shards)
    total = sum(sizes)
    loads = [sum(t.share for t in s) for s in plan]
    assert sum(loads) == total
    for load, pieces in zip(loads, plan, strict=True):  # exact up to rounding, per piece
        assert abs(load - total / shards) <= len(pieces) + 1
    if total >= shards:
        assert all(plan)
    for task in tasks:  # the pieces of each file partition [0, SPAN)
        pieces = sorted((t.lo, t.hi) for s in plan for t in s if t.relpath == task.relpath)
        if task.nbytes:
            assert pieces[0][0] == 0 and pieces[-1][1] == SPAN
            assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
        else:
            assert pieces == [(0, SPAN)]
    assert split_evenly(list(reversed(tasks)), shards) == plan  # input order does not matter


def test_positions_spread_few_records_over_many_pieces() -> None:
    """16 records over 8 equal pieces: every piece gets some (a Weyl sequence, not n mod k)."""
    counts = [0] * 8
    for n in range(16):
        counts[position(n) * 8 // SPAN] += 1
    assert min(counts) >= 1
    start = 2**40 - 5  # the vectorised form (Parquet rows) agrees, past 2^32 records too
    assert positions(start, 10).tolist() == [position(n) for n in range(start, start + 10)]


def test_small_shards_are_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = gzip.compress(_jsonl(_records(200)), mtime=0)
    with caplog.at_level("WARNING", logger="gpt2zh.extract.assign"):
        _run(tmp_path, {"a.jsonl.gz": data}, {"files": "*", "text": "{text}"}, SHARDS)
    warnings = [r.getMessage() for r in caplog.records if "starting up" in r.getMessage()]
    assert len(warnings) == 1 and "1 shard(s)" in warnings[0], warnings


@pytest.mark.parametrize(
    "data",
    [b"\x1f\x8b\x08\x00garbage" * 500, gzip.compress(_jsonl(_records(300)), mtime=0)[:3000]],
    ids=["corrupt", "truncated"],
)
def test_unreadable_split_file_is_quarantined_once(tmp_path: Path, data: bytes) -> None:
    ref, _ = _run(tmp_path, {"a.jsonl.gz": data}, {"files": "*", "text": "{text}"}, 1)
    stats, _ = _run(tmp_path, {"a.jsonl.gz": data}, {"files": "*", "text": "{text}"}, 3)
    total, ref_total = merge_stats(stats), merge_stats(ref)
    assert total["drops"] == ref_total["drops"] and sum(total["drops"].values()) >= 1
    assert total["docs_in"] == ref_total["docs_in"]
    assert total["docs_in"] == total["docs_out"] + sum(total["drops"].values())
