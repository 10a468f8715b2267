"""The run's pages, `reports/<run>/`: the corpus pages plus what the model made of the corpus.

Built by `snakemake eval` (after `eval.json`), never by the default target, so the corpus report
stays a pure function of the data and the run's report a pure function of data + model. The
training log is read where it is (train keeps it beside its checkpoints, undeclared).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpt2zh.ledger import write_text
from gpt2zh.report.curves import training_curves
from gpt2zh.report.pages import read_json
from gpt2zh.report.plots import hbar_svg
from gpt2zh.report.render import render_dataset, render_index
from gpt2zh.train.log import read_jsonl

#: Baselines beside the model, in table and chart order.
SYSTEMS = ("model", "untrained", "unigram")
#: The verse-form table is shown only when at least this share of the validation text's clauses
#: are 5 or 7 Han characters: Tang poems score ~0.9, Song ci ~0.4, prose ~0.25, and outside
#: regulated verse the measure says nothing about the model.
VERSE_MIN_SHARE = 0.5


def model_context(
    run: str, evaluation: dict[str, Any] | None, records: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """What the templates show about a run: eval results (None before eval ran) and curves."""
    splits = (evaluation or {}).get("splits", {})
    order = sorted(splits, key=lambda s: (s != "all", s))
    reference_form = ((evaluation or {}).get("form") or {}).get("reference") or {}
    return {
        "run": run,
        "eval": evaluation,
        "verse": reference_form.get("verse_clauses", 0.0) >= VERSE_MIN_SHARE,
        "split_order": order,
        "curves": training_curves(records),
        "starts": [r for r in records if "run.start" in r],
        "bits_svg": hbar_svg(
            order,
            [[splits[s][k]["bits_per_char"] for s in order] for k in SYSTEMS],
            [f"{k} (bits/char)" for k in SYSTEMS],
            fmt=lambda v: f"{v:.3f}",
        )
        if order
        else "",
    }


def run_report(
    run: str,
    report_paths: Sequence[Path],
    out_dir: Path,
    *,
    mix_path: Path | None = None,
    eval_path: Path | None = None,
    log_path: Path | None = None,
) -> list[Path]:
    """Writes `out_dir/index.html` and one page per dataset report; returns the paths."""
    reports = [read_json(p) for p in report_paths]
    evaluation = read_json(eval_path) if eval_path else None
    model = model_context(run, evaluation, read_jsonl(Path(log_path)) if log_path else [])
    out_dir = Path(out_dir)
    written = [out_dir / "index.html"]
    write_text(
        written[0], render_index(reports, read_json(mix_path) if mix_path else None, run, model)
    )
    for r in reports:
        written.append(out_dir / f"{r['dataset']}.html")
        write_text(written[-1], render_dataset(r, model))
    return written
