"""Token counts per dataset (`counts.json`) and the table of the whole corpus.

`counts.json` sums the tokenize stats of a dataset's shards: docs, chars, bytes, tokens and the
ratios. The table adds, from the mix manifest, each dataset's share of the training mix and its
effective epochs, and the totals: the "how many tokens" answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpt2zh.ledger import write_json
from gpt2zh.mix.plan import repeat_warnings

FIELDS = ("docs", "chars", "bytes", "tokens")


def dataset_counts(dataset: str, role: str, stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    c = {"dataset": dataset, "role": role, "shards": len(stats)}
    c.update(
        docs=sum(s["docs_out"] for s in stats),
        chars=sum(s["chars_out"] for s in stats),
        bytes=sum(s["bytes_out"] for s in stats),
        tokens=sum(s["tokens"] for s in stats),
    )
    for s in stats:
        if s["dataset"] != dataset:
            raise ValueError(f"stats of {s['dataset']!r} given for counts of {dataset!r}")
    c["vocab_size"] = stats[0]["vocab_size"] if stats else None
    # EOS is one token per document; ratios are of text tokens, so they compare tokenizers.
    text_tokens = c["tokens"] - c["docs"]
    c["chars_per_token"] = round(c["chars"] / text_tokens, 4) if text_tokens else None
    c["bytes_per_token"] = round(c["bytes"] / text_tokens, 4) if text_tokens else None
    return c


def write_counts(dataset: str, role: str, stats_paths: Sequence[Path], out: Path) -> dict:
    stats = [json.loads(Path(p).read_text("utf-8")) for p in stats_paths]
    counts = dataset_counts(dataset, role, stats)
    write_json(out, counts)
    return counts


def table_rows(
    counts: Sequence[Mapping[str, Any]], manifest: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    mixed = (manifest or {}).get("datasets", {})
    total_train = sum(m["train_tokens"] for m in mixed.values()) or 0
    rows = []
    for c in sorted(counts, key=lambda c: c["dataset"]):
        m = mixed.get(c["dataset"])
        rows.append(
            {
                **{k: c[k] for k in ("dataset", "role", *FIELDS)},
                "chars_per_token": c["chars_per_token"],
                "bytes_per_token": c["bytes_per_token"],
                "train_tokens": m["train_tokens"] if m else 0,
                "val_tokens": m["val_tokens"] if m else 0,
                "share": (m["train_tokens"] / total_train) if m and total_train else 0.0,
                "epochs": m["epochs"] if m else 0.0,
            }
        )
    return rows


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "| dataset | role | docs | tokens | chars/token | bytes/token | mix share "
        "| train tokens | val tokens | epochs |"
    )
    lines = [head, "|" + "---|" * 10]

    def ratio(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['role']} | {r['docs']:,} | {r['tokens']:,} "
            f"| {ratio(r['chars_per_token'])} | {ratio(r['bytes_per_token'])} "
            f"| {r['share']:.1%} | {r['train_tokens']:,} | {r['val_tokens']:,} "
            f"| {r['epochs']:.2f} |"
        )
    lines.append(
        f"| **total** | | {sum(r['docs'] for r in rows):,} | {sum(r['tokens'] for r in rows):,} "
        f"| | | 100% | {sum(r['train_tokens'] for r in rows):,} "
        f"| {sum(r['val_tokens'] for r in rows):,} | |"
    )
    repeats = {r["dataset"]: r["epochs"] for r in rows if r["train_tokens"]}
    lines += ["", *(f"**Warning:** {w}" for w in repeat_warnings(repeats))]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_table(counts_paths: Sequence[Path], manifest_path: Path | None, out: Path | None) -> str:
    counts = [json.loads(Path(p).read_text("utf-8")) for p in counts_paths]
    manifest = json.loads(Path(manifest_path).read_text("utf-8")) if manifest_path else None
    text = format_table(table_rows(counts, manifest))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, "utf-8")
    return text
