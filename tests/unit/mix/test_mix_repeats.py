"""A mix that reads a small source many times over is flagged wherever its numbers show: the mix
plan (and so the mix manifest's warnings), the corpus counts table and `gpt2zh plan`."""

from __future__ import annotations

import json
import subprocess
import sys

from gpt2zh.mix.plan import plan_budgets
from gpt2zh.tokenize.count import format_table
from helpers import REPO

# pretrain-zh's shape: zhihu is the smallest source but weighs as much as news.
WEIGHTS = {"news": 0.33, "crawl": 0.23, "zhihu": 0.33, "en": 0.11}
AVAILABLE = {"news": 3_000_000, "crawl": 4_000_000, "zhihu": 330_000, "en": 2_670_000}


def test_the_mix_plan_warns_when_a_dataset_is_repeated_about_ten_times():
    budgets, warnings = plan_budgets(WEIGHTS, AVAILABLE)
    assert round(budgets["zhihu"].epochs) == 10
    assert len(warnings) == 1
    assert "'zhihu' 10.0×" in warnings[0] and "mix.epochs" in warnings[0]
    _, none = plan_budgets(WEIGHTS, {**AVAILABLE, "zhihu": 3_300_000})
    assert none == []  # 1× each: nothing to say


def row(dataset: str, epochs: float) -> dict:
    return {
        "dataset": dataset,
        "role": "pretrain",
        "docs": 10,
        "tokens": 1000,
        "chars_per_token": 1.5,
        "bytes_per_token": 3.0,
        "share": 0.5,
        "train_tokens": round(1000 * epochs),
        "val_tokens": 0,
        "epochs": epochs,
    }


def test_the_counts_table_warns_below_the_table():
    table = format_table([row("news", 1.0), row("zhihu", 9.7)])
    warnings = [line for line in table.splitlines() if line.startswith("**Warning:**")]
    assert len(warnings) == 1 and "'zhihu' 9.7×" in warnings[0]
    assert "Warning" not in format_table([row("news", 1.0), row("zhihu", 2.0)])


def test_gpt2zh_plan_warns_about_repeats(tmp_path):
    manifest = tmp_path / "manifest.json"
    datasets = {
        "news": {"tokens": 6 * 10**9, "epochs": 1.0},
        "zhihu": {"tokens": 10**9, "epochs": 9.5},
    }
    manifest.write_text(json.dumps({"datasets": datasets}), "utf-8")
    config = REPO / "workflow" / "configs" / "pretrain-zh.yaml"
    out = subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", "plan", "--config", str(config), "--mix", manifest],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # 10B training tokens over a 7B-token mix: zhihu is read 9.5 × 10/7 ≈ 13.6 times
    assert "WARNING: training on this mix repeats dataset 'zhihu' 13.6×" in out
    assert "passes over each dataset: news 1.4×, zhihu 13.6×" in out
    assert not [line for line in out.splitlines() if "WARNING" in line and "'news'" in line]
