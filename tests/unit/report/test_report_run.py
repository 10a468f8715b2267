"""The run's pages (eval results, training curves, samples) and the corpus pages without a model."""

from __future__ import annotations

import json
import math
from pathlib import Path

from gpt2zh.report import index_report, run_report
from gpt2zh.report.curves import training_curves
from gpt2zh.report.plots import FONT_STACK, hbar_svg, line_svg, percent
from helpers.report_fixtures import corpus_reports, eval_json, log_records, write_jsonl


def test_line_chart_survives_flat_single_and_non_finite_series() -> None:
    svg = line_svg(
        [("flat", [(0, 1.0), (5, 1.0)]), ("one", [(2, 3.0)]), ("nan", [(1, math.nan), (2, 2.0)])],
        "step",
        "loss",
    )
    assert svg.count("<polyline") == 3 and "nan" not in svg.replace(">nan<", "")
    assert svg.count("<circle") == 4  # few points: markers, non-finite ones left out
    assert line_svg([], "step", "loss").startswith("<svg")
    steps = line_svg([("loss", [(0, 20.0), (6, 10.0)])], "step", "loss")
    assert ">1.5<" not in steps and ">2<" in steps  # steps are whole numbers on the axis


def test_axes_are_labelled_with_round_numbers() -> None:
    import re

    svg = line_svg([("loss", [(25, 7.5), (875, 6.2), (1750, 5.97)])], "step", "loss")
    labels = re.findall(r'text-anchor="(?:end|middle)">([^<]+)</text>', svg)
    assert labels[: labels.index("step")] == [
        "5.5", "6", "6.5", "7", "7.5",  # y: widened to round bounds, step 0.5
        "500", "1k", "1.5k",  # x: the round steps inside the run
    ]  # fmt: skip


def test_plots_name_the_cjk_font_and_escape_labels() -> None:
    svg = hbar_svg(["唐诗 <i>"], [[12.5]], ["份额"], fmt=percent)
    assert "Noto Sans CJK SC" in FONT_STACK and "&quot;Noto Sans CJK SC&quot;" in svg
    assert "唐诗 &lt;i&gt;" in svg and "12.5 %" in svg


def test_curves_from_the_log_skip_what_was_not_measured() -> None:
    cpu = training_curves(log_records())
    assert [c["title"] for c in cpu["charts"]] == ["Loss", "Learning rate", "Throughput"]
    assert cpu["missing"] == ["Model FLOPs utilisation"]  # no peak FLOP/s on CPU
    loss = cpu["charts"][0]["svg"]
    assert loss.count("<polyline") == 2 and ">train<" in loss and ">val<" in loss
    gpu = training_curves(log_records(mfu=True))
    assert len(gpu["charts"]) == 4 and not gpu["missing"]
    empty = training_curves([])
    assert empty["charts"] == [] and len(empty["missing"]) == 4


def test_run_pages_show_eval_curves_and_samples(tmp_path: Path) -> None:
    reports = corpus_reports(tmp_path, {"news": 3, "poems": 2})
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps(eval_json(["news", "poems"]), ensure_ascii=False), "utf-8")
    log = write_jsonl(tmp_path / "log.jsonl", log_records())
    out = tmp_path / "run"
    written = run_report("tiny", reports, out, eval_path=ev, log_path=log)
    assert [p.name for p in written] == ["index.html", "news.html", "poems.html"]
    index = (out / "index.html").read_text("utf-8")
    for part in ("Training (run tiny)", "Evaluation", "Degeneration", "lm-evaluation-harness",
                 "Samples", "床前明月光", "poem_next_line", "+0.160"):  # fmt: skip
        assert part in index, part
    assert index.count("<polyline") == 4  # train + val loss, lr, tokens/s
    starts = index.split('<table class="starts">')[1].split("</table>")[0]
    assert starts.count("<tr>") == 3 and "<td>resumed</td><td>2</td><td>cpu</td>" in starts
    assert "built from the data alone" not in index
    assert "Model FLOPs utilisation" in index  # named as missing
    news = (out / "news.html").read_text("utf-8")
    assert "Run <b>tiny</b>, step 6" in news and "3.3000" in news  # gain vs unigram, 8.8 - 5.5


def test_a_run_without_eval_or_log_says_so(tmp_path: Path) -> None:
    reports = corpus_reports(tmp_path, {"news": 3})
    run_report("tiny", reports, tmp_path / "run", log_path=tmp_path / "missing.jsonl")
    index = (tmp_path / "run" / "index.html").read_text("utf-8")
    assert "Not evaluated yet" in index and "No training log found" in index
    assert "built from the data alone" in (tmp_path / "run" / "news.html").read_text("utf-8")


def test_corpus_pages_say_there_is_no_model_yet(tmp_path: Path) -> None:
    reports = corpus_reports(tmp_path, {"news": 3})
    index_report(reports, tmp_path / "index.html", run="tiny")
    index = (tmp_path / "index.html").read_text("utf-8")
    assert "built from the data alone" in index and 'href="tiny/index.html"' in index
    assert "<polyline" not in index and "Evaluation" not in index


def test_a_dataset_that_lost_every_document_is_shown(tmp_path: Path) -> None:
    reports = corpus_reports(tmp_path, {"news": 3, "gone": 0})
    ev = eval_json(["news"])  # nothing of `gone` left to validate on
    (tmp_path / "eval.json").write_text(json.dumps(ev), "utf-8")
    run_report("tiny", reports, tmp_path / "run", eval_path=tmp_path / "eval.json")
    gone = (tmp_path / "run" / "gone.html").read_text("utf-8")
    assert "no documents left after clean" in gone and "too_short" in gone
    assert "was not evaluated on this dataset" in gone
    index = (tmp_path / "run" / "index.html").read_text("utf-8")
    assert 'href="gone.html"' in index


def test_the_verse_form_table_is_shown_only_for_verse(tmp_path: Path) -> None:
    reports = corpus_reports(tmp_path, {"news": 3})
    pages = {}
    for name, share in (("poems", 0.9), ("prose", 0.25)):
        ev = eval_json(["news"])
        ev["form"]["reference"]["verse_clauses"] = share  # the validation text's own measure
        (tmp_path / f"{name}.json").write_text(json.dumps(ev, ensure_ascii=False), "utf-8")
        run_report("tiny", reports, tmp_path / name, eval_path=tmp_path / f"{name}.json")
        pages[name] = (tmp_path / name / "index.html").read_text("utf-8")
    assert "Verse form" in pages["poems"] and "Verse form" not in pages["prose"]
