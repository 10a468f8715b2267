"""Filter profiles: default thresholds per language, overridable per dataset (`clean.filters`).

Every key means the same in every profile; a profile only chooses defaults, and `None` switches a
check off. `min_*` keys drop documents below the value, `max_*`, `dup_*` and `top_*` keys drop
documents above it. Ratios are in [0, 1].

zh — from FineWeb-2's Mandarin (cmn_Hani) settings (huggingface/fineweb-2 configs/cmn_Hani.yml
and its pipeline: GopherRepetitionFilter with dup_line_frac and the n-gram fractions,
FineWebQualityFilter with line_punct_thr, char_duplicates_ratio 0.1 and new_line_ratio,
GopherQualityFilter with the stopwords and min_stop_words 2), plus a Han-character ratio, a
symbol ratio and length bounds. Differences, because our tokens are characters rather than jieba
words (see features.py): the n-gram fractions count characters of character n-grams, and the
newline ratio is per word token (Han character or letter/digit run) instead of per jieba word,
so its default is scaled by ~1.6 characters per jieba word (0.178 → 0.11). The stopword list is
the one in the issue (FineWeb-2's list without `·`). min_chars 50 stands in for Gopher's 50 words.

en — Gopher (Rae et al. 2021, table A1: quality and repetition rules) and C4's document-level
rules (lorem ipsum, curly brackets), with datatrove's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ZH_STOPWORDS = ["的", "年", "在", "月", "是", "和", "日", "了", "於", "为", "為", "有", "被", "人",
                "中", "他", "與", "後", "也", "而", "由"]  # fmt: skip
EN_STOPWORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]

#: Every filter key with its value in no profile: all checks off.
OFF: dict[str, Any] = {
    "min_chars": None,
    "max_chars": None,
    "min_words": None,
    "max_words": None,
    "min_avg_word_length": None,
    "max_avg_word_length": None,
    "min_cjk_ratio": None,
    "max_symbol_ratio": None,
    "max_hash_ratio": None,
    "max_ellipsis_ratio": None,
    "max_bullet_line_ratio": None,
    "max_ellipsis_line_ratio": None,
    "min_alpha_word_ratio": None,
    "lorem_ipsum": False,
    "curly_bracket": False,
    "dup_para_frac": None,
    "dup_para_char_frac": None,
    "dup_line_frac": None,
    "dup_line_char_frac": None,
    "min_line_punct_ratio": None,
    "max_newline_ratio": None,
    "stopwords": [],
    "min_stopwords": None,
    "top_2gram_frac": None,
    "top_3gram_frac": None,
    "top_4gram_frac": None,
    "dup_5gram_frac": None,
    "dup_6gram_frac": None,
    "dup_7gram_frac": None,
    "dup_8gram_frac": None,
    "dup_9gram_frac": None,
    "dup_10gram_frac": None,
}

PROFILES: dict[str, dict[str, Any]] = {
    "none": dict(OFF),
    "zh": {
        **OFF,
        "min_chars": 50,
        "max_chars": 1_000_000,
        "min_cjk_ratio": 0.3,
        "max_symbol_ratio": 0.1,
        "max_bullet_line_ratio": 0.9,
        "max_ellipsis_line_ratio": 0.3,
        "dup_line_frac": 0.287,
        "dup_line_char_frac": 0.1,
        "min_line_punct_ratio": 0.106,
        "max_newline_ratio": 0.11,
        "stopwords": ZH_STOPWORDS,
        "min_stopwords": 2,
        "top_2gram_frac": 0.256,
        "top_3gram_frac": 0.201,
        "top_4gram_frac": 0.171,
        "dup_5gram_frac": 0.198,
        "dup_6gram_frac": 0.182,
        "dup_7gram_frac": 0.167,
        "dup_8gram_frac": 0.154,
        "dup_9gram_frac": 0.14,
        "dup_10gram_frac": 0.127,
    },
    "en": {
        **OFF,
        "max_chars": 1_000_000,
        "min_words": 50,
        "max_words": 100_000,
        "min_avg_word_length": 3,
        "max_avg_word_length": 10,
        "max_hash_ratio": 0.1,
        "max_ellipsis_ratio": 0.1,
        "max_bullet_line_ratio": 0.9,
        "max_ellipsis_line_ratio": 0.3,
        "min_alpha_word_ratio": 0.8,
        "lorem_ipsum": True,
        "curly_bracket": True,
        "dup_para_frac": 0.3,
        "dup_para_char_frac": 0.2,
        "dup_line_frac": 0.3,
        "dup_line_char_frac": 0.2,
        "stopwords": EN_STOPWORDS,
        "min_stopwords": 2,
        "top_2gram_frac": 0.2,
        "top_3gram_frac": 0.18,
        "top_4gram_frac": 0.16,
        "dup_5gram_frac": 0.15,
        "dup_6gram_frac": 0.14,
        "dup_7gram_frac": 0.13,
        "dup_8gram_frac": 0.12,
        "dup_9gram_frac": 0.11,
        "dup_10gram_frac": 0.10,
    },
}


class ThresholdError(ValueError):
    """Thresholds that are each valid but contradict each other (min above max)."""


def resolve(profile: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The thresholds of `profile` with `overrides` (a dataset's `clean.filters`) applied."""
    if profile not in PROFILES:
        known = ", ".join(PROFILES)
        raise ThresholdError(f"clean.profile: unknown profile {profile!r} (known: {known})")
    params = dict(PROFILES[profile])
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ThresholdError(f"clean.filters.{key}: unknown filter (known: {sorted(params)})")
        params[key] = value
    for lo, hi in (
        ("min_chars", "max_chars"),
        ("min_words", "max_words"),
        ("min_avg_word_length", "max_avg_word_length"),
    ):
        if params[lo] is not None and params[hi] is not None and params[lo] > params[hi]:
            raise ThresholdError(
                f"clean.filters.{lo}: {params[lo]} is above clean.filters.{hi} ({params[hi]})"
            )
    return params
