"""The default config end to end, on the real chinese-poetry@2.0.1 package (needs npm access)."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest

from gpt2zh.config import load_config
from gpt2zh.layout import DOC_STAGES
from helpers import REPO
from helpers.tokenizing import encode_both
from helpers.workflow import run_snakemake, sha256s

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None:
        pytest.fail("npm is required for the default corpus (README: Quick start)")
    work = tmp_path_factory.mktemp("default")
    run_snakemake(work)
    return work


def test_every_dataset_balances_through_every_stage(default_run: Path) -> None:
    cfg = load_config([REPO / "config.yaml"])
    for name in cfg["datasets"]:
        report = json.loads((default_run / f"results/reports/{name}.json").read_text("utf-8"))
        stages = report["stages"]
        assert [s["stage"] for s in stages] == list(DOC_STAGES)
        for before, after in itertools.pairwise(stages):
            assert after["docs_in"] == before["docs_out"], (name, after["stage"])
        for s in stages:
            assert s["balanced"], (name, s["stage"])
            assert s["shards"] == cfg["datasets"][name]["shards"]


def test_default_corpus_keeps_real_poems(default_run: Path) -> None:
    def final(name: str) -> int:
        path = default_run / f"results/reports/{name}.json"
        stages = json.loads(path.read_text("utf-8"))["stages"]
        return next(s for s in stages if s["stage"] == "convert")["docs_out"]

    # The thresholds in config.yaml keep ≥ 95 % of every poetry dataset (RESULTS.md).
    assert final("tang") >= 0.99 * 57_607
    assert final("tang_yuding") >= 0.95 * 43_103
    assert final("songci") >= 0.99 * 21_053
    assert final("classics") >= 1_200


def test_traditional_converted_and_simplified_left_alone(default_run: Path) -> None:
    tang = json.loads((default_run / "results/reports/tang.json").read_text("utf-8"))
    assert tang["convert"]["conversion"] == "t2s" and tang["convert"]["chars"] > 1_000_000
    songci = json.loads((default_run / "results/reports/songci.json").read_text("utf-8"))
    assert songci["convert"]["conversion"] == "none" and songci["convert"]["chars"] == 0
    assert songci["convert"]["probe"]["chars"] > 1_000  # what t2s would have done, reported


def test_fast_encoder_identical_to_hf_on_every_default_shard(
    default_run: Path, tmp_path: Path
) -> None:
    tokdir = default_run / "results" / "tokenizer"
    shards = sorted((default_run / "results" / DOC_STAGES[-1]).glob("*/shard-*.parquet"))
    assert shards
    for i, shard in enumerate(shards):
        hf, fast, _, s_fast = encode_both(shard, tokdir, tmp_path / str(i))
        assert hf == fast and s_fast["encoder"] == "fast", shard


def test_two_runs_from_scratch_are_byte_identical(default_run: Path, tmp_path: Path) -> None:
    """Every shard of extract, clean, convert, dedup, tokens and mix, and the tokenizer: the same
    sha256 from a second run in a fresh folder (npm's own cache serves the package again)."""
    run_snakemake(tmp_path)
    first, second = sha256s(default_run), sha256s(tmp_path)
    stages = {"extract", "clean", "convert", "dedup", "dedup_work", "tokens", "tokenizer", "mix"}
    assert {k.split("/")[1] for k in first} == stages
    assert sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k)) == []
