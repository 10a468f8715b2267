"""Per-dataset and index reports, built only from what stages wrote to disk (stats, manifests).

Reports never recount data: they sum the stage ledgers, so what a report says is exactly what the
stages accounted for, and a report that renders means every shard's books balanced.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from gpt2zh import __version__
from gpt2zh.layout import DOC_STAGES
from gpt2zh.ledger import length_bucket_label, merge_stats, write_json
from gpt2zh.report.plots import hbar_svg

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("gpt2zh.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["n"] = lambda v: f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"


def _read(path: Path) -> Any:
    return json.loads(Path(path).read_text("utf-8"))


def _stage_order(stage: str) -> int:
    return DOC_STAGES.index(stage) if stage in DOC_STAGES else len(DOC_STAGES)


def build_dataset_report(
    dataset: str,
    manifest: dict[str, Any],
    stats: Sequence[dict[str, Any]],
    spec: dict[str, Any] | None = None,
    dedup: dict[str, Any] | None = None,
    counts: dict[str, Any] | None = None,
    mix: dict[str, Any] | None = None,
) -> dict[str, Any]:
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for s in stats:
        if s["dataset"] != dataset:
            raise ValueError(f"stats of dataset {s['dataset']!r} given for report of {dataset!r}")
        by_stage.setdefault(s["stage"], []).append(s)
    stages = [merge_stats(by_stage[k]) for k in sorted(by_stage, key=_stage_order)]
    for st in stages:
        st["balanced"] = st["docs_in"] == st["docs_out"] + sum(st["drops"].values())
    extract = next((s for s in stages if s["stage"] == "extract"), None)
    merged = {s["stage"]: s for s in stages}
    sections = {
        name: build(by_stage[name], merged[name])
        for name, build in (("clean", _clean_section), ("convert", _convert_section))
        if name in merged
    }
    if "dedup" in merged:
        sections["dedup"] = _dedup_section(dataset, merged["dedup"], dedup)
    if counts is not None:
        sections["tokens"] = _tokens_section(counts, mix, dataset)
    spec = spec or {}
    return {
        "dataset": dataset,
        "description": spec.get("description", ""),
        "lang": spec.get("lang"),
        "role": spec.get("role"),
        "script": spec.get("script"),
        "download": {
            "source": manifest["source"],
            "type": manifest["type"],
            "files": len(manifest["files"]),
            "bytes": sum(f["bytes"] for f in manifest["files"]),
            "resolved": manifest.get("resolved", {}),
        },
        "stages": stages,
        **sections,
        "quarantine": {
            "total": sum(extract["drops"].values()) if extract else 0,
            "reasons": extract["drops"] if extract else {},
        },
        "final": {k: stages[-1][k] for k in ("docs_out", "chars_out", "bytes_out")}
        if stages
        else {"docs_out": 0, "chars_out": 0, "bytes_out": 0},
        "generated": _now(),
        "version": __version__,
    }


def top_pairs(
    stats: Sequence[dict[str, Any]], n: int = 20, key: str = "changed_pairs"
) -> list[dict[str, Any]]:
    """Merges the replacement lists (`{from, to, count, before, after}`) that convert writes per
    shard into the `n` most frequent, each with the first example listed."""
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], tuple[str, str]] = {}
    for s in stats:
        for p in s.get(key, []):
            pair = (p["from"], p["to"])
            counts[pair] += p["count"]
            examples.setdefault(pair, (p["before"], p["after"]))
    listed = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [
        {"from": a, "to": b, "count": c, "before": examples[a, b][0], "after": examples[a, b][1]}
        for (a, b), c in listed
    ]


def _clean_section(shards: list[dict[str, Any]], merged: dict[str, Any]) -> dict[str, Any]:
    changes = merged["changes"]
    return {
        "settings": shards[0].get("clean", {}),
        "pii": {k.removeprefix("pii_"): v for k, v in changes.items() if k.startswith("pii_")},
        "normalized": {k: v for k, v in changes.items() if not k.startswith("pii_")},
    }


def _convert_section(shards: list[dict[str, Any]], merged: dict[str, Any]) -> dict[str, Any]:
    probes = [s["probe"] for s in shards if s.get("probe")]
    return {
        "conversion": shards[0].get("conversion"),
        "requested": shards[0].get("conversion_requested"),
        "opencc_version": shards[0].get("opencc_version"),
        "docs": merged["changes"].get("docs_converted", 0),
        "chars": merged["changes"].get("chars_converted", 0),
        "chars_in": merged["chars_in"],
        "top": top_pairs(shards),
        "probe": {
            "conversion": probes[0]["conversion"],
            "docs": sum(p["docs"] for p in probes),
            "chars": sum(p["chars"] for p in probes),
            "top": top_pairs(probes),
        }
        if probes
        else None,
    }


def _dedup_section(
    dataset: str, merged: dict[str, Any], summary: dict[str, Any] | None
) -> dict[str, Any]:
    """Drops by reason from the filter's ledgers; cross-dataset sharing, cluster sizes and
    example clusters from the clusters stage's summary (when given)."""
    mine = (summary or {}).get("datasets", {}).get(dataset, {})
    return {
        "exact": merged["drops"].get("exact_duplicate", 0),
        "near": merged["drops"].get("near_duplicate", 0),
        "docs_in": merged["docs_in"],
        "survivors": mine.get("survivors", 0),
        "shared_with": mine.get("shared_with", {}),
        "cluster_sizes": mine.get("cluster_sizes", {}),
        "examples": mine.get("examples", []),
        "params": (summary or {}).get("params", {}),
        "corpus": {
            k: (summary or {}).get(k)
            for k in (
                "docs",
                "clusters",
                "docs_in_clusters",
                "dropped",
                "candidate_pairs",
                "verified_pairs",
            )
        },
    }


def _tokens_section(
    counts: dict[str, Any], mix: dict[str, Any] | None, dataset: str
) -> dict[str, Any]:
    """Tokens of the dataset and its place in the mix (None for datasets not mixed, e.g. SFT)."""
    entry = (mix or {}).get("datasets", {}).get(dataset)
    total = sum(d["train_tokens"] for d in (mix or {}).get("datasets", {}).values())
    keys = ("docs", "tokens", "chars", "bytes", "vocab_size", "chars_per_token", "bytes_per_token")
    return {
        **{k: counts.get(k) for k in keys},
        "mix": {
            **{
                k: entry.get(k)
                for k in (
                    "weight",
                    "planned_tokens",
                    "train_tokens",
                    "epochs",
                    "val_docs",
                    "val_tokens",
                )
            },
            "share": entry["train_tokens"] / total if total else 0.0,
            "seq_len": mix["seq_len"],
        }
        if entry
        else None,
    }


def _cluster_sizes_svg(report: dict[str, Any]) -> str:
    sizes = report.get("dedup", {}).get("cluster_sizes", {})
    if not sizes:
        return ""
    keys = sorted(sizes, key=int)
    return hbar_svg(keys, [[sizes[k] for k in keys]], ["clusters of this size (documents)"])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _funnel_svg(report: dict[str, Any], key: str) -> str:
    stages = report["stages"]
    labels = ["source files" if key == "bytes" else "source records"] + [s["stage"] for s in stages]
    if key == "bytes":
        read = stages[0].get("file_bytes", report["download"]["bytes"]) if stages else 0
        values = [read] + [s["bytes_out"] for s in stages]
    else:
        values = [stages[0]["docs_in"] if stages else 0] + [s["docs_out"] for s in stages]
    return hbar_svg(labels, [values], [key])


def _lengths_svg(report: dict[str, Any]) -> str:
    """Document length histogram (chars, log2 buckets) after the first and the last stage."""
    stages = report["stages"]
    if not stages:
        return ""
    first, last = stages[0], stages[-1]
    if first is last:
        sides = [("out", first, f"after {first['stage']}")]
    else:
        sides = [("out", first, f"after {first['stage']}"), ("out", last, f"after {last['stage']}")]
    hists = [st["lengths"].get(side, {}) for side, st, _ in sides]
    buckets = sorted({int(b) for h in hists for b in h})
    if not buckets:
        return ""
    labels = [length_bucket_label(b) for b in buckets]
    series = [[h.get(str(b), 0) for b in buckets] for h in hists]
    return hbar_svg(labels, series, [name for _, _, name in sides])


def dataset_report(
    dataset: str,
    manifest_path: Path,
    stats_paths: Sequence[Path],
    json_out: Path,
    html_out: Path,
    spec: dict[str, Any] | None = None,
    dedup: Path | None = None,
    counts: Path | None = None,
    mix: Path | None = None,
) -> dict[str, Any]:
    report = build_dataset_report(
        dataset,
        _read(manifest_path),
        [_read(p) for p in stats_paths],
        spec,
        _read(dedup) if dedup else None,
        _read(counts) if counts else None,
        _read(mix) if mix else None,
    )
    write_json(json_out, report)
    html = _env.get_template("dataset.html.j2").render(
        r=report,
        docs_svg=_funnel_svg(report, "docs"),
        bytes_svg=_funnel_svg(report, "bytes"),
        lengths_svg=_lengths_svg(report),
        clusters_svg=_cluster_sizes_svg(report),
    )
    _write_text(html_out, html)
    return report


def index_report(
    report_paths: Sequence[Path], html_out: Path, mix_path: Path | None = None
) -> None:
    reports = sorted((_read(p) for p in report_paths), key=lambda r: r["dataset"])
    mix = _read(mix_path) if mix_path else None
    stages = sorted({s["stage"] for r in reports for s in r["stages"]}, key=_stage_order)
    totals = {
        # Datasets can share a source: count the files each dataset read (extract), not the
        # source's download once per dataset.
        "files": sum(_read_files(r)[0] for r in reports),
        "bytes": sum(_read_files(r)[1] for r in reports),
        "quarantined": sum(r["quarantine"]["total"] for r in reports),
        **{k: sum(r["final"][k] for r in reports) for k in ("docs_out", "chars_out", "bytes_out")},
        "tokens": sum((r.get("tokens") or {}).get("tokens") or 0 for r in reports),
    }
    svg = hbar_svg(
        [r["dataset"] for r in reports],
        [[r["final"]["docs_out"] for r in reports]],
        [f"documents after {stages[-1] if stages else 'extract'}"],
    )
    for r in reports:
        r["read_files"], r["read_bytes"] = _read_files(r)
    html = _env.get_template("index.html.j2").render(
        reports=reports,
        stages=stages,
        totals=totals,
        docs_svg=svg,
        mix=mix,
        mix_svg=_mix_svg(mix) if mix else "",
        generated=_now(),
        version=__version__,
    )
    _write_text(html_out, html)


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


def _write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
