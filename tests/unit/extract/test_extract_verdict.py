"""A shard that quarantines most of its records fails at extract, naming the cause: the reason,
the template, the fields the records do have and an example (not, three stages later, as the
tokenizer's "the sample is empty")."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from gpt2zh.cli import main


def _run_extract(tmp_path: Path, lines: list[dict], text: str, **extract: float) -> int:
    root = tmp_path / "data"
    root.mkdir(parents=True)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines)
    (root / "a.jsonl").write_text(body, encoding="utf-8")
    cfg = {
        "sources": {"mine": {"type": "local", "path": str(root)}},
        "datasets": {"qa": {"source": "mine", "read": [{"files": "*.jsonl", "text": text}]}},
        "extract": extract,
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    assert main(["download", "--config", str(tmp_path / "c.yaml"), "--source", "mine",
                 "--out", str(tmp_path / "dl")]) == 0  # fmt: skip
    manifest = tmp_path / "dl" / "manifest.json"
    out = tmp_path / "out" / "shard-00000.parquet"
    return main(["extract", "--config", str(tmp_path / "c.yaml"), "--dataset", "qa",
                 "--manifest", str(manifest), "--shard", "0", "--out", str(out)])  # fmt: skip


RECORDS = [{"id": n, "问": f"第{n}个问题？", "答": "回答。"} for n in range(200)]


def test_a_template_naming_a_missing_field_fails_at_extract_naming_the_cause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert _run_extract(tmp_path, RECORDS, "{text}") == 2
    msg = caplog.text
    assert "200 of 200 records quarantined" in msg
    assert "most as missing_field (200): missing field 'text'" in msg
    assert 'template datasets.qa.read[0].text: "{text}"' in msg
    assert "the records have the fields: id, 问, 答" in msg
    assert '(a.jsonl, record 0): {"id": 0, "问": "第0个问题？"' in msg
    assert "extract.max_quarantine_fraction" in msg


def test_a_few_bad_records_pass_and_the_threshold_is_the_configs(tmp_path: Path) -> None:
    # 10 of 200 records lack a field: quarantined and counted, the shard passes
    records = [r if n % 20 else {"id": n} for n, r in enumerate(RECORDS)]
    assert _run_extract(tmp_path / "a", records, "{问}\n{答}") == 0
    # the same data with a limit below its 5 % fails; 1 switches the check off
    assert _run_extract(tmp_path / "b", records, "{问}\n{答}", max_quarantine_fraction=0.01) == 2
    assert _run_extract(tmp_path / "c", RECORDS, "{text}", max_quarantine_fraction=1) == 0
