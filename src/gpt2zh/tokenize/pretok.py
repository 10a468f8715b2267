"""Pre-tokenizers: how text is cut into pieces before byte-level BPE merges within each piece.

The GPT-2 regex keeps every run of letters whole. In Chinese a "letter run" is a whole clause
(no spaces between words), so the BPE trainer sees millions of distinct, mostly unique pieces:
memory grows with the corpus and merges are spent on rare long strings. Ours:

- Han characters are cut into runs of at most `max_han_run` characters, which bounds the number
  of distinct pieces (and so training memory) and lets merges learn common words and bigrams;
- digits are split one by one (numbers are not memorised as opaque tokens);
- punctuation stays apart from letters, with trailing line breaks attached (`。\\n`, `，`);
- non-Han letters (Latin, kana, ...) behave as in GPT-2, English contractions included.
"""

from __future__ import annotations

from typing import Literal

#: The GPT-2 pre-tokenizer regex (what `ByteLevel(use_regex=True)` applies), for comparison.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

Kind = Literal["zh", "gpt2"]


def zh_pattern(max_han_run: int = 2) -> str:
    """The Chinese-aware split regex (Oniguruma syntax, as HF `tokenizers` uses)."""
    if max_han_run < 1:
        raise ValueError("max_han_run must be at least 1")
    return (
        r"""'(?i:[sdmt]|ll|ve|re)"""
        rf"""| ?\p{{Han}}{{1,{max_han_run}}}"""
        r"""| ?[\p{L}\p{M}&&[^\p{Han}]]+"""
        r"""|\p{N}"""
        r"""| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"""
        r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
    )


def pattern(kind: Kind, max_han_run: int = 2) -> str:
    if kind == "gpt2":
        return GPT2_PATTERN
    if kind == "zh":
        return zh_pattern(max_han_run)
    raise ValueError(f"unknown pre-tokenizer {kind!r} (zh or gpt2)")


def pre_tokenizer(kind: Kind, max_han_run: int = 2):
    """Split by the regex, then map bytes to the byte-level alphabet (no prefix space)."""
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern(kind, max_han_run)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
