"""Per-dataset reports, built only from what stages wrote to disk (stats, manifests).

Reports never recount data: they sum the stage ledgers, so what a report says is exactly what the
stages accounted for, and a report that renders means every shard's books balanced. The funnel
also shows, per stage, whether every shard read exactly what the previous stage wrote
(`gpt2zh.chain`): a broken chain is red, shard by shard.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpt2zh import __version__
from gpt2zh.chain import chain_breaks
from gpt2zh.layout import DOC_STAGES
from gpt2zh.ledger import merge_stats, write_json, write_text
from gpt2zh.report.render import now, render_dataset, render_index, stage_order


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text("utf-8"))


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
    stages = [merge_stats(by_stage[k]) for k in sorted(by_stage, key=stage_order)]
    breaks = chain_breaks([s["stage"] for s in stages if s["stage"] in DOC_STAGES], by_stage)
    for st in stages:
        st["balanced"] = st["docs_in"] == st["docs_out"] + sum(st["drops"].values())
        st["chain_breaks"] = breaks.get(st["stage"], [])
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
        "funnel": _funnel(stages, sections.get("tokens")),
        **sections,
        "quarantine": {
            "total": sum(extract["drops"].values()) if extract else 0,
            "reasons": extract["drops"] if extract else {},
        },
        "final": {k: stages[-1][k] for k in ("docs_out", "chars_out", "bytes_out")}
        if stages
        else {"docs_out": 0, "chars_out": 0, "bytes_out": 0},
        "generated": now(),
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
        # e.g. "left out of the mix" for a weighted dataset that lost every document
        "mix_warnings": [w for w in (mix or {}).get("warnings", []) if repr(dataset) in w],
    }


def _funnel(stages: list[dict[str, Any]], tokens: dict[str, Any] | None) -> list[dict[str, Any]]:
    """From the records read to the tokens trained on, one row per step; a unit a step does not
    count (the mix counts tokens only) is None rather than a guess."""

    def row(
        step: str, docs: int | None, chars: int | None, nbytes: int | None, toks: int | None
    ) -> dict[str, Any]:
        return {"step": step, "docs": docs, "chars": chars, "bytes": nbytes, "tokens": toks}

    rows = []
    if stages:
        first = stages[0]
        rows.append(row("read", first["docs_in"], first["chars_in"], first["bytes_in"], None))
    rows += [row(s["stage"], s["docs_out"], s["chars_out"], s["bytes_out"], None) for s in stages]
    if tokens:
        rows.append(
            row("tokenized", tokens["docs"], tokens["chars"], tokens["bytes"], tokens["tokens"])
        )
        mix = tokens["mix"]
        if mix:
            rows.append(row("mixed: train", None, None, None, mix["train_tokens"]))
            rows.append(row("mixed: validation", mix["val_docs"], None, None, mix["val_tokens"]))
    return rows


def dataset_report(
    spec: dict[str, Any] | None,
    dataset: str,
    manifest_path: Path,
    stats_paths: Sequence[Path],
    json_out: Path,
    html_out: Path,
    *,
    dedup: Path | None = None,
    counts: Path | None = None,
    mix: Path | None = None,
) -> dict[str, Any]:
    report = build_dataset_report(
        dataset,
        read_json(manifest_path),
        [read_json(p) for p in stats_paths],
        spec,
        read_json(dedup) if dedup else None,
        read_json(counts) if counts else None,
        read_json(mix) if mix else None,
    )
    write_json(json_out, report)
    write_text(html_out, render_dataset(report))
    return report


def index_report(
    report_paths: Sequence[Path],
    html_out: Path,
    *,
    mix_path: Path | None = None,
    run: str | None = None,
) -> None:
    reports = [read_json(p) for p in report_paths]
    write_text(html_out, render_index(reports, read_json(mix_path) if mix_path else None, run))
