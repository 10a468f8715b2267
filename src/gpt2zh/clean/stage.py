"""The clean stage over one shard: normalize, redact PII, filter; every change and drop counted."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt2zh.docstage import DocBatch, Drop, Step, run_doc_stage
from gpt2zh.ledger import Ledger

from .filters import filter_batch
from .normalize import NormalizeOptions, normalizers
from .pii import PiiOptions, Redactor
from .profiles import resolve

STAGE = "clean"


@dataclass(frozen=True)
class CleanOptions:
    profile: str
    normalize: NormalizeOptions
    pii: PiiOptions
    thresholds: dict[str, Any]
    keep_dropped: bool = False

    @staticmethod
    def from_spec(spec: Mapping[str, Any]) -> CleanOptions:
        """From `gpt2zh.config.dataset_spec(...)`: its `clean` section and `lang`. Missing keys
        take the schema's defaults, so a partial dict works too."""
        clean = dict(spec.get("clean") or {})
        profile = clean.get("profile", "auto")
        if profile == "auto":
            profile = spec.get("lang", "zh")
        return CleanOptions(
            profile=profile,
            normalize=NormalizeOptions.from_config(clean.get("normalize")),
            pii=PiiOptions.from_config(clean.get("pii")),
            thresholds=resolve(profile, clean.get("filters")),
            keep_dropped=bool(clean.get("keep_dropped", False)),
        )

    def describe(self) -> dict[str, Any]:
        """JSON-able summary for the stats file (what the report shows as 'settings')."""
        return {
            "profile": self.profile,
            "normalize": dataclasses.asdict(self.normalize),
            "pii": dataclasses.asdict(self.pii),
            "filters": self.thresholds,
        }


def make_step(opts: CleanOptions) -> Step:
    """A docstage Step: one verdict per document. Changes are counted for kept documents only
    (normalizers: documents changed; PII kinds: replacements)."""
    steps = normalizers(opts.normalize)
    redact = Redactor(opts.pii)
    thresholds = opts.thresholds

    def step(batch: DocBatch, ledger: Ledger) -> list[str | Drop]:
        texts: list[str] = []
        changes: list[Counter[str] | None] = []
        for text in batch.texts:
            changed: dict[str, int] = {}
            for name, fn in steps:
                new = fn(text)
                if new is not text and new != text:
                    changed[name] = 1
                    text = new
            text = redact(text, changed)
            texts.append(text)
            changes.append(Counter(changed) if changed else None)
        reasons = filter_batch(texts, thresholds)
        verdicts: list[str | Drop] = []
        total: Counter[str] = Counter()
        for text, reason, changed in zip(texts, reasons, changes, strict=True):
            if reason is not None:
                verdicts.append(Drop(reason))
            else:
                verdicts.append(text)
                if changed:
                    total.update(changed)
        for name, n in total.items():
            ledger.changed(name, n)
        return verdicts

    return step


def clean_shard(
    spec: Mapping[str, Any], shard: int, in_path: str | Path, out_path: str | Path
) -> dict[str, Any]:
    """Cleans shard `shard` of dataset `spec` from `in_path` (an extract shard) into `out_path`,
    writing `<out>.stats.json` (and `<out>.dropped.parquet` with `keep_dropped`); returns the
    stats dict."""
    opts = CleanOptions.from_spec(spec)
    return run_doc_stage(
        STAGE,
        in_path,
        out_path,
        make_step(opts),
        dataset=spec["name"],
        shard=shard,
        keep_dropped=opts.keep_dropped,
        extra={"clean": opts.describe()},
    )
