"""The report stage's contract: a dataset's `about` spec (what its page says of it) and
`report dataset|index|run`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpt2zh.contract import Stage


def about_spec(cfg: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The config keys a dataset's report shows (a param: editing a description rebuilds the
    page, nothing else)."""
    return {k: cfg["datasets"][dataset].get(k) for k in ("description", "lang", "role", "script")}


def _dataset(args: argparse.Namespace) -> None:
    from . import dataset_report

    dataset_report(
        json.loads(args.spec) if args.spec else None,
        args.dataset,
        args.manifest,
        args.stats,
        args.json,
        args.html,
        dedup=args.dedup,
        counts=args.counts,
        mix=args.mix,
    )


def _index(args: argparse.Namespace) -> None:
    from . import index_report

    index_report(args.reports, args.html, mix_path=args.mix, run=args.run)


def _run(args: argparse.Namespace) -> None:
    from . import run_report

    run_report(
        args.run, args.reports, args.out, mix_path=args.mix, eval_path=args.eval, log_path=args.log
    )


def _arguments(p: argparse.ArgumentParser) -> None:
    rsub = p.add_subparsers(dest="report_command", required=True, metavar="KIND")
    r = rsub.add_parser(
        "dataset",
        help="one dataset's report",
        description="One dataset's "
        "funnel, drop reasons with examples and quarantine, as JSON and HTML.",
    )
    r.add_argument("--dataset", required=True)
    r.add_argument("--spec", help="the dataset's resolved config as JSON (for its description)")
    r.add_argument("--manifest", type=Path, required=True, help="download manifest.json")
    r.add_argument("--stats", type=Path, nargs="+", required=True, help="*.stats.json files")
    r.add_argument("--dedup", type=Path, help="dedup clusters summary (.json), if dedup ran")
    r.add_argument("--counts", type=Path, help="the dataset's token counts.json")
    r.add_argument("--mix", type=Path, help="the mix manifest.json")
    r.add_argument("--json", type=Path, required=True, help="output report JSON")
    r.add_argument("--html", type=Path, required=True, help="output report HTML")
    r.set_defaults(func=_dataset)
    r = rsub.add_parser(
        "index",
        help="the overall index page",
        description="An index of all datasets from their report JSON files.",
    )
    r.add_argument("--reports", type=Path, nargs="+", required=True, help="dataset report JSONs")
    r.add_argument("--html", type=Path, required=True, help="output index HTML")
    r.add_argument("--mix", type=Path, help="the mix manifest.json (the mix table)")
    r.add_argument("--run", help="the run whose report the page links to (config `run`)")
    r.set_defaults(func=_index)
    r = rsub.add_parser(
        "run",
        help="the run's pages: index and datasets with eval results and training curves",
        description="The corpus pages plus the model: training curves from the run's log.jsonl, "
        "eval.json's results against the baselines, samples; written to OUT/index.html and "
        "OUT/<dataset>.html.",
    )
    r.add_argument("--run", required=True, help="the run's name (config `run`)")
    r.add_argument("--reports", type=Path, nargs="+", required=True, help="dataset report JSONs")
    r.add_argument("--out", type=Path, required=True, help="output folder")
    r.add_argument("--mix", type=Path, help="the mix manifest.json (the mix table)")
    r.add_argument("--eval", type=Path, help="the run's eval.json (omitted: not evaluated yet)")
    r.add_argument("--log", type=Path, help="the run's training log.jsonl (read if it exists)")
    r.set_defaults(func=_run)


REPORT = Stage(
    help="render per-dataset and index reports (HTML + JSON)",
    description="Render reports from the stage stats written by the other stages.",
    arguments=_arguments,
)
