"""extract_shard on files written for the test: a source, its manifest and a dataset spec, and
the accounting every extract run must satisfy, checked on each run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gpt2zh.config import dataset_spec, validate_config
from gpt2zh.extract import extract_shard
from gpt2zh.shards import iter_docs


class Result:
    def __init__(self, stats: dict[str, Any], docs: list, quarantine: list[dict[str, Any]]):
        self.stats = stats
        self.docs = docs
        self.quarantine = quarantine

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.docs]

    def reasons(self) -> list[str]:
        return [q["reason"] for q in self.quarantine]


def make_spec(readers: list[dict[str, Any]], shards: int = 1, **extract: Any) -> dict[str, Any]:
    cfg = validate_config(
        {
            "sources": {"src": {"type": "local", "path": "src"}},
            "datasets": {"ds": {"source": "src", "read": readers, "shards": shards}},
            "extract": extract,
        }
    )
    return dataset_spec(cfg, "ds")


def write_source(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "src"
    entries = []
    for rel, data in sorted(files.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append(
            {"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({"source": "src", "type": "local", "root": str(root), "files": entries}),
        encoding="utf-8",
    )
    return manifest


def extract(
    tmp_path: Path,
    files: dict[str, bytes],
    readers: list[dict[str, Any]] | dict[str, Any],
    *,
    shards: int = 1,
    shard: int = 0,
    out: str = "out",
    **options: Any,
) -> Result:
    manifest = write_source(tmp_path, files)
    spec = make_spec(readers if isinstance(readers, list) else [readers], shards, **options)
    out_path = tmp_path / out / f"shard-{shard:05d}.parquet"
    stats = extract_shard(spec, shard, manifest, out_path)
    docs = list(iter_docs(out_path))
    qpath = out_path.with_name(f"shard-{shard:05d}.quarantine.jsonl")
    quarantine = [json.loads(line) for line in qpath.read_text(encoding="utf-8").splitlines()]
    on_disk = json.loads(out_path.with_name(f"shard-{shard:05d}.stats.json").read_text("utf-8"))
    # the accounting every run must satisfy
    assert stats["docs_in"] == stats["docs_out"] + sum(stats["drops"].values())
    assert on_disk["docs_in"] == stats["docs_in"] and on_disk["drops"] == stats["drops"]
    assert stats["docs_out"] == len(docs)
    assert len(quarantine) == sum(stats["drops"].values())
    assert sorted(q["reason"] for q in quarantine) == sorted(
        r for r, k in stats["drops"].items() for _ in range(k)
    )
    assert stats["chars_out"] == sum(len(d.text) for d in docs)
    assert stats["bytes_out"] == sum(len(d.text.encode()) for d in docs)
    for q in quarantine:
        assert set(q) >= {"reason", "file", "n", "error", "excerpt"}
        assert len(q["excerpt"]) <= 300
    return Result(stats, docs, quarantine)


def jsonl(*records: Any) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


TEXT = {"files": "**/*", "text": "{text}"}
