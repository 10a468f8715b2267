"""The eval.json contract the reports render: every key, checked on a real eval.json."""

from __future__ import annotations

from typing import Any

import pytest

SPLIT_KEYS = {"tokens", "chars", "bytes", "model", "untrained", "unigram", "gain_bits_per_char"}
METRICS = {"loss", "ppl", "bits_per_char", "bits_per_byte"}


def check_contract(r: dict[str, Any]) -> None:
    """Every key the report renders (the eval.json contract)."""
    assert {"run", "model_dir", "step", "params", "tokens_seen", "splits", "sampling"} <= set(r)
    assert {"samples", "degeneration", "form", "lm_eval"} <= set(r)
    assert isinstance(r["step"], int) and isinstance(r["params"], int)
    assert "all" in r["splits"]
    for s in r["splits"].values():
        assert set(s) >= SPLIT_KEYS
        assert set(s["model"]) == set(s["untrained"]) == METRICS
        assert set(s["unigram"]) == {"bits_per_char", "bits_per_byte"}
        doc_keys = {"docs", "tokens", "chars", "bytes", "bits_per_char", "bits_per_byte"}
        assert set(s["documents"]) == doc_keys
        assert set(s["gain_bits_per_char"]) == {"vs_untrained", "vs_unigram"}
        assert s["gain_bits_per_char"]["vs_untrained"] == pytest.approx(
            s["untrained"]["bits_per_char"] - s["model"]["bits_per_char"], abs=2e-6
        )
    sampling = {"temperature", "top_k", "top_p", "max_new_tokens", "seed", "samples_per_prompt"}
    assert set(r["sampling"]) == sampling
    for x in r["samples"]:
        assert set(x) == {
            "prompt",
            "text",
            "distinct_1",
            "distinct_2",
            "repeat_ratio",
            "clause_lengths",
        }
    for who in ("model", "reference"):
        assert set(r["degeneration"][who]) == {"distinct_1", "distinct_2", "repeat_ratio"}
        assert set(r["form"][who]) == {"verse_clauses", "clauses", "clause_chars"}
    if r["lm_eval"] is not None:
        assert set(r["lm_eval"]) == {"task", "acc", "acc_stderr", "chance", "n"}
