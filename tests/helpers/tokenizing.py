"""Encoding one shard with both encoders, to compare them."""

from __future__ import annotations

from pathlib import Path

from gpt2zh.tokenize.encode import encode_shard


def encode_both(shard: Path, tokdir: Path, tmp: Path) -> tuple[bytes, bytes, dict, dict]:
    """The token shard bytes and stats of `shard` encoded by HF tokenizers and by tiktoken."""
    outs, stats = [], []
    for enc in ("hf", "fast"):
        st = encode_shard("t", 0, shard, tokdir, tmp / f"{enc}.arrow", encoder=enc)
        outs.append((tmp / f"{enc}.arrow").read_bytes())
        stats.append(st)
    return outs[0], outs[1], stats[0], stats[1]
