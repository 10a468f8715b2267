"""A changed local input: Snakemake reruns the download and what reads the source, and extract
refuses a file whose bytes are not the ones the manifest recorded."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from gpt2zh.extract import ExtractError, extract_shard
from helpers.extract import make_spec, write_source
from helpers.workflow import TINY, planned_jobs, run_snakemake

TEXT = {"files": "**/*", "text": "{text}"}


def test_extract_refuses_a_file_changed_after_the_manifest(tmp_path: Path) -> None:
    manifest = write_source(tmp_path, {"a.jsonl": b'{"text": "old"}\n'})
    (tmp_path / "src" / "a.jsonl").write_bytes(b'{"text": "new"}\n')  # same size, other bytes
    out = tmp_path / "out" / "shard-00000.parquet"
    with pytest.raises(ExtractError, match=r"'a.jsonl' under .* changed after the download"):
        extract_shard(make_spec([TEXT]), 0, manifest, out)
    assert not out.exists()
    entry = json.loads(manifest.read_text())["files"][0]
    assert entry["bytes"] == 16  # the manifest is left as it was: the download stage owns it


def test_editing_a_local_file_reruns_download_and_its_readers(
    tiny_run: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)  # copy2 keeps the mtimes
    news = work / "tests" / "data" / "tiny" / "news.jsonl"
    news.write_bytes(news.read_bytes() + b'{"Content": "\\u65b0\\u7684\\u4e00\\u6761\\u3002"}\n')
    stamp = max(p.stat().st_mtime for p in (work / "results").rglob("*")) + 5
    os.utime(news, (stamp, stamp))
    planned = planned_jobs(run_snakemake(work, "-n", configfile=TINY).stdout)
    assert planned.get("download") == 1 and planned.get("extract"), planned
