"""The clean stage: Unicode/HTML/whitespace normalizers, PII redaction, quality filters.

    stats = clean_shard(spec, shard, in_path, out_path)

`spec` is `gpt2zh.config.dataset_spec(cfg, name)`; its `clean` section (validated, defaults
filled) chooses the normalizers (`normalize`), the PII kinds (`pii`), the filter profile
(`profile`: auto = the dataset's `lang`) and threshold overrides (`filters`). The shard runs
through `gpt2zh.docstage.run_doc_stage`, which owns the ledger (`in == out + drops`), examples
per drop reason and the optional `<out>.dropped.parquet`.

Per batch of documents: normalizers (normalize.py) → PII redaction (pii.py) → filters
(filters.py, thresholds from profiles.py, vectorised statistics from features.py). Counted in
the stats' `changes` for kept documents: `html_stripped`, `nfc_normalized`/`nfkc_normalized`,
`invisible_stripped`, `fullwidth_folded`, `whitespace_collapsed` (documents changed) and
`pii_email`, `pii_phone`, `pii_id_card`, `pii_ipv4` (replacements). Drop reasons are listed in
filters.py. The thresholds in force are written under `clean` in the stats.
"""

from .filters import filter_batch
from .normalize import NormalizeOptions
from .pii import PiiOptions, Redactor, id_card_valid
from .profiles import PROFILES, ThresholdError, resolve
from .stage import CleanOptions, clean_shard, make_step

__all__ = [
    "PROFILES",
    "CleanOptions",
    "NormalizeOptions",
    "PiiOptions",
    "Redactor",
    "ThresholdError",
    "clean_shard",
    "filter_batch",
    "id_card_valid",
    "make_step",
    "resolve",
]
