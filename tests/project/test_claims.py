"""Claims equal measurements: the demo model's figures in README.md and benchmarks/RESULTS.md are
the ones its run wrote (eval.json, log.jsonl, kept in benchmarks/runs/demo/), and that run is of
the current config.yaml."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gpt2zh.config import load_config
from gpt2zh.train.log import read_jsonl
from helpers import REPO

RUN = REPO / "benchmarks" / "runs" / "demo"
FIGURE = re.compile(r"(\d+\.\d+) bits/char")
VERSE = re.compile(r"(0\.\d+) of (?:its|the) samples' clauses")


def _eval() -> dict[str, Any]:
    return json.loads((RUN / "eval.json").read_text("utf-8"))


def demo_section() -> str:
    """RESULTS.md's part on the demo run: from its heading to the next one."""
    text = (REPO / "benchmarks" / "RESULTS.md").read_text("utf-8")
    start = text.index("## train (default config, CPU)")
    return text[start : text.index("\n### ", start)]


def readme_claim() -> str:
    """README.md's paragraph on what the demo model does."""
    text = (REPO / "README.md").read_text("utf-8")
    start = text.index("The demo GPT-2")
    return text[start : text.index("\n\n", start)]


def bits_figures(ev: dict[str, Any]) -> set[float]:
    """Every bits/char figure eval.json holds for the demo model and its baselines."""
    out = set()
    for split in ev["splits"].values():
        out |= {split[who]["bits_per_char"] for who in ("model", "untrained", "unigram")}
        out.add(split["documents"]["bits_per_char"])
    return out


def rounds_to_one_of(text: str, figures: set[float]) -> bool:
    digits = len(text.split(".")[1])
    return any(f"{f:.{digits}f}" == text for f in figures)


def test_the_recorded_run_is_of_the_current_config() -> None:
    cfg = load_config([REPO / "config.yaml"])
    ev, log = _eval(), read_jsonl(RUN / "log.jsonl")
    start = next(r for r in log if "run.max_steps" in r)
    assert ev["step"] == start["run.max_steps"] == cfg["train"]["max_steps"]
    arch = {k: cfg["model"][k] for k in ("n_layer", "n_embd", "n_head")}
    assert {k: ev["architecture"][k] for k in arch} == arch
    assert ev["sampling"]["samples_per_prompt"] == cfg["eval"]["samples_per_prompt"]
    assert len(ev["samples"]) == len(cfg["eval"]["prompts"]) * cfg["eval"]["samples_per_prompt"]


@pytest.mark.parametrize("where", ["readme", "results"])
def test_bits_per_char_and_verse_form_are_the_runs(where: str) -> None:
    ev = _eval()
    text = readme_claim() if where == "readme" else demo_section()
    figures = FIGURE.findall(text)
    assert figures, "no bits/char figure quoted"
    for f in figures:
        assert rounds_to_one_of(f, bits_figures(ev)), f"{f} bits/char is not in eval.json"
    verse = VERSE.findall(text)
    assert verse, "no verse-form share quoted"
    for v in verse:
        assert rounds_to_one_of(v, {ev["form"]["model"]["verse_clauses"]}), v
    # quoted samples are the run's, verbatim (lines joined by " / " as eval.md shows them)
    samples = {x["prompt"] + x["text"].replace("\n", " / ") for x in ev["samples"]}
    for quoted in re.findall(r"`([^`]*[，。][^`]*)`", text):
        assert any(quoted in s for s in samples), quoted


def test_the_val_loss_table_is_the_runs_log() -> None:
    rows = [line for line in demo_section().splitlines() if line.startswith("| ")]
    steps = next(r for r in rows if r.startswith("| step"))
    losses = next(r for r in rows if r.startswith("| val loss"))
    logged = {r["step"]: r["val.loss"] for r in read_jsonl(RUN / "log.jsonl") if "val.loss" in r}
    cells = [c.strip() for c in steps.strip("|").split("|")][1:]
    values = [c.strip() for c in losses.strip("|").split("|")][1:]
    assert len(cells) == len(values) > 2
    for step, value in zip(cells, values, strict=True):
        assert f"{logged[int(step.split()[0].replace(',', ''))]:.3f}" == value, step
