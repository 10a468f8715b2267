"""Dedup specs for datasets of given shard counts."""

from __future__ import annotations

from gpt2zh.config import validate_config
from gpt2zh.dedup.spec import dedup_spec


def dedup_test_spec(datasets: dict[str, int], **dedup: object) -> dict:
    """The dedup spec of a config whose datasets have the given shard counts."""
    cfg = {
        "sources": {"s": {"type": "local", "path": "x"}},
        "datasets": {
            name: {"source": "s", "shards": n, "read": [{"files": "*", "text": "{text}"}]}
            for name, n in datasets.items()
        },
        "dedup": dedup,
    }
    return dedup_spec(validate_config(cfg))
