"""The chain between stages: a stage reads exactly what the previous one wrote, or fails; the
report shows the chain red where the records disagree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gpt2zh.chain import ChainError, output_record
from gpt2zh.clean.stage import clean_shard
from gpt2zh.convert import convert_shard
from gpt2zh.report import build_dataset_report
from gpt2zh.report.render import render_dataset, render_index
from helpers.clean_samples import MODERN
from helpers.extract import extract, jsonl, make_spec
from helpers.report_fixtures import MANIFEST

TEXT = {"files": "**/*", "text": "{text}"}
POEMS = [f"第{i}篇。{text}" for i in range(10) for text in MODERN.values()]


def _pipeline(tmp_path: Path) -> tuple[dict, Path, Path, Path]:
    """extract → clean → convert on one shard; returns (spec, extract, clean, convert) paths."""
    extract(tmp_path, {"a.jsonl": jsonl(*({"text": t} for t in POEMS))}, TEXT)
    spec = make_spec([TEXT])
    ex = tmp_path / "out" / "shard-00000.parquet"
    cl = tmp_path / "clean" / "shard-00000.parquet"
    cv = tmp_path / "convert" / "shard-00000.parquet"
    clean_shard(spec, 0, ex, cl)
    convert_shard(spec, 0, cl, cv)
    return spec, ex, cl, cv


def _stats(path: Path) -> dict:
    return json.loads(path.with_name(path.name.replace(".parquet", ".stats.json")).read_text())


def _replace_with_first_half(path: Path) -> None:
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows // 2), path)


def test_stages_record_what_they_wrote_and_read(tmp_path: Path) -> None:
    _, ex, cl, cv = _pipeline(tmp_path)
    assert _stats(cl)["input_sha256"] == _stats(ex)["output_sha256"]
    assert _stats(cv)["input_sha256"] == _stats(cl)["output_sha256"]
    assert _stats(cl)["docs_in"] == _stats(ex)["docs_out"] == len(POEMS)


def test_a_shard_replaced_by_its_first_half_stops_the_next_stage(tmp_path: Path) -> None:
    spec, _, cl, _ = _pipeline(tmp_path)
    _replace_with_first_half(cl)
    with pytest.raises(ChainError, match=r"holds 25 documents but clean wrote 50.*rerun clean"):
        convert_shard(spec, 0, cl, tmp_path / "again" / "shard-00000.parquet")
    assert not (tmp_path / "again" / "shard-00000.parquet").exists()


def test_a_shard_with_the_same_count_but_other_bytes_stops_the_next_stage(tmp_path: Path) -> None:
    spec, _, cl, _ = _pipeline(tmp_path)
    table = pq.read_table(cl)
    pq.write_table(table, cl, compression="gzip")  # same documents, another file
    with pytest.raises(ChainError, match=r"sha256 .* is not the .* that clean wrote"):
        convert_shard(spec, 0, cl, tmp_path / "again" / "shard-00000.parquet")


def test_report_shows_a_broken_chain_red(tmp_path: Path) -> None:
    spec, ex, cl, cv = _pipeline(tmp_path)
    good = [_stats(p) for p in (ex, cl, cv)]
    rep = build_dataset_report("ds", MANIFEST, good)
    assert all(not s["chain_breaks"] for s in rep["stages"])
    assert "CHAIN BROKEN" not in render_dataset(rep)
    # clean reran on half of a replaced extract shard (stats balanced) and convert followed
    shutil.copy(ex, tmp_path / "half.parquet")
    _replace_with_first_half(tmp_path / "half.parquet")
    half_stats = {**good[0], "docs_out": 25, **output_record(tmp_path / "half.parquet")}
    (tmp_path / "half.stats.json").write_text(json.dumps(half_stats))
    clean_shard(spec, 0, tmp_path / "half.parquet", tmp_path / "c2" / "shard-00000.parquet")
    broken = [good[0], _stats(tmp_path / "c2" / "shard-00000.parquet"), good[2]]
    rep = build_dataset_report("ds", MANIFEST, broken)
    by = {s["stage"]: s["chain_breaks"] for s in rep["stages"]}
    assert by["extract"] == [] and by["clean"] == ["shard 0: extract out 50 ≠ in 25"]
    assert by["convert"] == ["shard 0: clean out 25 ≠ in 50"]
    assert all(s["balanced"] for s in rep["stages"])  # every ledger balances on its own
    assert "CHAIN BROKEN" in render_dataset(rep)
    assert "chain broken" in render_index([rep], None, None)


def test_tokenize_checks_the_last_document_stage_too(tmp_path: Path) -> None:
    from gpt2zh.tokenize.encode import encode_shard
    from helpers.train_fixtures import make_tokenizer

    _, _, _, cv = _pipeline(tmp_path)
    make_tokenizer(tmp_path / "tok")
    out = tmp_path / "tokens" / "shard-00000.arrow"
    stats = encode_shard("ds", 0, cv, tmp_path / "tok", out)
    assert stats["input_sha256"] == _stats(cv)["output_sha256"]
    _replace_with_first_half(cv)
    with pytest.raises(ChainError, match="holds 25 documents but convert wrote 50"):
        encode_shard("ds", 0, cv, tmp_path / "tok", out)


def test_dedup_signatures_check_the_convert_shard(tmp_path: Path) -> None:
    from gpt2zh.dedup.signatures import signature_shard
    from helpers.dedup import dedup_test_spec

    _, _, _, cv = _pipeline(tmp_path)
    _replace_with_first_half(cv)
    with pytest.raises(ChainError, match="holds 25 documents but convert wrote 50"):
        signature_shard(dedup_test_spec({"ds": 1}), "ds", cv, tmp_path / "sig.parquet")
