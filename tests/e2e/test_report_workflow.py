"""Reports end to end on a tiny config where one dataset loses every document: the corpus report
(`snakemake`), the run's report (`snakemake report_run`: train, eval, pages) and Snakemake's own
report (`snakemake --report`), checked in headless Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from helpers.browser import artifacts_dir, dump_dom, screenshot
from helpers.workflow import TINY, run_snakemake, tiny_workdir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emptied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny corpus with `english` filtered to nothing; mix leaves it out (on_empty: warn)."""
    work = tiny_workdir(tmp_path_factory.mktemp("emptied"))
    cfg = yaml.safe_load(TINY.read_text("utf-8"))
    cfg["datasets"]["english"]["clean"] = {"filters": {"min_chars": 1_000_000}}
    cfg["mix"]["on_empty"] = "warn"
    config = work / "emptied.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    run_snakemake(work, configfile=config)
    return work, config


def test_corpus_report_shows_the_emptied_dataset(emptied: tuple[Path, Path]) -> None:
    work, _ = emptied
    reports = work / "results" / "reports"
    english = json.loads((reports / "english.json").read_text("utf-8"))
    assert english["final"]["docs_out"] == 0 and english["tokens"]["mix"] is None
    page = (reports / "english.html").read_text("utf-8")
    assert "no documents left after dedup" in page and "left out of the mix" in page
    index = (reports / "index.html").read_text("utf-8")
    assert "built from the data alone" in index and 'href="tiny/index.html"' in index


def test_run_report_after_eval_and_snakemake_report(emptied: tuple[Path, Path]) -> None:
    work, config = emptied
    run_snakemake(work, "report_run", configfile=config)
    run = work / "results" / "reports" / "tiny"
    dom = dump_dom(run / "index.html")
    assert dom.count("<polyline") >= 3  # loss (train + val), lr, tokens/s
    for table in ('class="eval-splits"', 'class="samples"', 'class="degeneration"'):
        assert table in dom
    assert "not evaluated on this dataset" in (run / "english.html").read_text("utf-8")
    png = screenshot(run / "index.html", work / "report-tiny-run-index.png", height=3400)
    shutil.copy(png, artifacts_dir() / png.name)

    run_snakemake(work, "--report", str(work / "report.html"), "report_run", configfile=config)
    html = (work / "report.html").read_text("utf-8")
    for name in ("index.html", "english.html", "english.json"):
        assert name in html, name
