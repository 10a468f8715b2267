"""HTML rendering of the report pages: one code path for the corpus pages and the run's pages.

The run's pages (`reports/<run>/`) are the corpus pages plus a `model` context (eval results,
training curves); without one, the pages say that there is no model yet and how to make one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2

from gpt2zh import __version__
from gpt2zh.layout import DOC_STAGES
from gpt2zh.ledger import length_bucket_label
from gpt2zh.report.plots import FONT_STACK, hbar_svg, percent


def _number(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("gpt2zh.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["n"] = _number
_env.globals["font_stack"] = FONT_STACK


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def stage_order(stage: str) -> int:
    return DOC_STAGES.index(stage) if stage in DOC_STAGES else len(DOC_STAGES)


def render_dataset(report: dict[str, Any], model: dict[str, Any] | None = None) -> str:
    return _env.get_template("dataset.html.j2").render(
        r=report,
        model=model,
        split=((model or {}).get("eval") or {}).get("splits", {}).get(report["dataset"]),
        funnel_svg=_funnel_svg(report),
        lengths_svg=_lengths_svg(report),
        clusters_svg=_cluster_sizes_svg(report),
    )


def render_index(
    reports: Sequence[dict[str, Any]],
    mix: dict[str, Any] | None,
    run: str | None = None,
    model: dict[str, Any] | None = None,
) -> str:
    reports = sorted(reports, key=lambda r: r["dataset"])
    stages = sorted({s["stage"] for r in reports for s in r["stages"]}, key=stage_order)
    read = {r["dataset"]: _read_files(r) for r in reports}
    totals = {
        # Datasets can share a source: count the files each dataset read (extract), not the
        # source's download once per dataset.
        "files": sum(f for f, _ in read.values()),
        "bytes": sum(b for _, b in read.values()),
        "quarantined": sum(r["quarantine"]["total"] for r in reports),
        **{k: sum(r["final"][k] for r in reports) for k in ("docs_out", "chars_out", "bytes_out")},
        "tokens": sum((r.get("tokens") or {}).get("tokens") or 0 for r in reports),
    }
    docs_svg = hbar_svg(
        [r["dataset"] for r in reports],
        [[r["final"]["docs_out"] for r in reports]],
        [f"documents after {stages[-1] if stages else 'extract'}"],
    )
    return _env.get_template("index.html.j2").render(
        reports=reports,
        read=read,
        stages=stages,
        totals=totals,
        docs_svg=docs_svg,
        mix=mix,
        mix_svg=_mix_svg(mix) if mix else "",
        run=run or (model or {}).get("run"),
        model=model,
        generated=now(),
        version=__version__,
    )


def _funnel_svg(report: dict[str, Any]) -> str:
    """What is left of the records read, in documents, characters and bytes, after each step:
    one chart on one scale (percent), because the three counts differ by orders of magnitude."""
    rows = [r for r in report.get("funnel", []) if None not in (r["docs"], r["chars"], r["bytes"])]
    if not rows:
        return ""
    keys = ("docs", "chars", "bytes")
    base = {k: rows[0][k] for k in keys}
    return hbar_svg(
        [r["step"] for r in rows],
        [[100 * r[k] / base[k] if base[k] else 0.0 for r in rows] for k in keys],
        [f"{k} (% of read)" for k in ("documents", "characters", "bytes")],
        fmt=percent,
    )


def _lengths_svg(report: dict[str, Any]) -> str:
    """Document length histogram (chars, log2 buckets) after the first and the last stage."""
    stages = report["stages"]
    if not stages:
        return ""
    first, last = stages[0], stages[-1]
    sides = [(first, f"after {first['stage']}")]
    if last is not first:
        sides.append((last, f"after {last['stage']}"))
    hists = [st["lengths"].get("out", {}) for st, _ in sides]
    buckets = sorted({int(b) for h in hists for b in h})
    if not buckets:
        return ""
    labels = [length_bucket_label(b) for b in buckets]
    series = [[h.get(str(b), 0) for b in buckets] for h in hists]
    return hbar_svg(labels, series, [name for _, name in sides])


def _cluster_sizes_svg(report: dict[str, Any]) -> str:
    sizes = report.get("dedup", {}).get("cluster_sizes", {})
    if not sizes:
        return ""
    keys = sorted(sizes, key=int)
    return hbar_svg(keys, [[sizes[k] for k in keys]], ["clusters of this size (documents)"])


def _read_files(report: dict[str, Any]) -> tuple[int, int]:
    """Source files the dataset read and their bytes (extract's accounting), else the source's."""
    first = report["stages"][0] if report["stages"] else {}
    if "files" in first:
        return first["files"], first.get("file_bytes", 0)
    return report["download"]["files"], report["download"]["bytes"]


def _mix_svg(mix: dict[str, Any]) -> str:
    """Tokens each dataset has against what the mix trains on (up- or down-sampled)."""
    names = sorted(mix["datasets"])
    return hbar_svg(
        names,
        [
            [mix["datasets"][d]["tokens"] for d in names],
            [mix["datasets"][d]["train_tokens"] for d in names],
        ],
        ["tokens in the dataset", "tokens in the training mix"],
    )
