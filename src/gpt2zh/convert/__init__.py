"""The convert stage: Traditional → Simplified Chinese with the official OpenCC, per shard.

    stats = convert_shard(spec, shard, in_path, out_path)

`spec` is `gpt2zh.config.dataset_spec(cfg, name)`. Its `convert` picks the OpenCC configuration:
`t2s` (OpenCC standard Traditional), `tw2sp` (Taiwan, with mainland phrases: 滑鼠 → 鼠标),
`hk2s` (Hong Kong), `none` (documents pass through), or `auto`: `t2s` for `script: traditional`
and `mixed`, `none` for `simplified`. The stage never drops a document and never reorders them.
`stage.py` converts and runs the stage; `changes.py` counts what changed, for the report.

Ledger (`changes` in `<shard>.stats.json`)
    `docs_converted`  documents whose text differs after conversion;
    `chars_converted` characters OpenCC replaced (see "Counting" in `changes.py`);
    `docs_length_changed` documents whose length in characters changed (only `tw2sp`'s phrase
        dictionary does that; their characters are counted by alignment, not by position).
Extra keys in the stats (`extra=` of the runner)
    `conversion` (resolved: t2s|tw2sp|hk2s|none), `conversion_requested` (the config value),
    `opencc_version`, `opencc_tofu_risk` (see below), `convert_batch_fallbacks` (batches
    converted document by document because the batch trick did not apply), and
    `changed_pairs`: the `TOP_PAIRS` most frequent replacements, each
    `{"from", "to", "count", "before", "after"}`, with `before`/`after` an excerpt of the input
    and output where the replacement was first found (deterministic: shard order, except that
    within a batch documents that kept their length come first);
    `changed_pairs_distinct` (how many different replacements) and `changed_pairs_unlisted`
    (occurrences of replacements not listed). A replacement is one character (國 → 国), or a
    span where a document's length changed (記憶體 → 内存, which counts max(len) characters), so
    listed + unlisted counts equal `chars_converted` whenever no document changed length.

Speed
    One OpenCC instance per (configuration, process). OpenCC's per-call overhead dominates on
    short documents (poems are ~224 B), so a batch of documents is joined with a separator that no
    OpenCC dictionary contains (a private-use character absent from the batch), converted in one
    call and split again. OpenCC segments by maximum forward matching on phrases, and no phrase
    can span a character that is in no dictionary, so the result equals per-document conversion
    (the benchmark and tests check this); if the split count does not match, the batch falls back
    to one call per document (`convert_batch_fallbacks`).

Tofu-risk dictionary (`opencc_tofu_risk`, default False)
    OpenCC 1.4 adds TSCharactersExt ("may_output_tofu") to t2s/tw2sp/hk2s: it maps BMP
    characters to their Simplified forms in CJK Extensions B–H (殢 → 𣨼, 鶒 → 𫛶, 爇 → 𦶟), which
    many fonts and tokenizers lack. Real Simplified text keeps the BMP form: the already
    Simplified Song ci of chinese-poetry has 殢 167×, 鶒 30×, 爇 43× and none of the Extension
    forms. So by default the stage leaves those characters as they are (`False`), which also makes
    a Traditional edition agree with Simplified editions of the same text for dedup. The dataset
    key `convert_tofu_risk: true`, when the schema has it, or the `tofu_risk=` argument turns the
    dictionary on.
"""

from .changes import ChangeCounter, changed_spans, pair_counts
from .stage import (
    CONVERSIONS,
    ConvertError,
    convert_shard,
    convert_step,
    convert_texts,
    converter,
    opencc_version,
    resolve_conversion,
)

__all__ = [
    "CONVERSIONS",
    "ChangeCounter",
    "ConvertError",
    "changed_spans",
    "convert_shard",
    "convert_step",
    "convert_texts",
    "converter",
    "opencc_version",
    "pair_counts",
    "resolve_conversion",
]
