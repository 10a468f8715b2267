"""Malformed input inside files: counted or quarantined, never merged into a neighbour, never
written in Python's spelling."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.extract import extract

CSV = {"files": "*.csv", "text": "{text}"}


def test_csv_quote_left_open_to_the_end_is_quarantined_not_merged(tmp_path: Path) -> None:
    data = b'id,text\n3,ok\n4,"unterminated\n5,after\n'
    r = extract(tmp_path, {"a.csv": data}, CSV)
    assert r.texts == ["ok"]
    (q,) = r.quarantine
    assert q["reason"] == "bad_csv" and q["line"] == 3 and q["last_line"] == 4
    assert "lines 3-4 are this one entry" in q["error"]


def test_csv_quote_closed_where_no_delimiter_follows_is_quarantined(tmp_path: Path) -> None:
    data = b'id,text\n4,"bad\n5,after\n6,"ok"\n7,next\n'
    r = extract(tmp_path, {"a.csv": data}, CSV)
    assert r.texts == ["next"]
    assert r.reasons() == ["bad_csv"] and r.quarantine[0]["line"] == 2


def test_csv_rows_spanning_lines_are_kept_and_counted(tmp_path: Path) -> None:
    data = 'id,text\n1,"两行\n的正文"\n2,一行\n'.encode()
    r = extract(tmp_path, {"a.csv": data}, CSV)
    assert r.texts == ["两行\n的正文", "一行"]
    assert r.stats["changes"]["csv_multiline_rows"] == 1


def test_json_scalars_in_a_text_field_are_spelled_as_json(tmp_path: Path) -> None:
    records = [{"text": True}, {"text": False}, {"text": [True, 1.5, 7]}, {"text": 2.0}]
    data = "".join(json.dumps(r) + "\n" for r in records) + '{"text": NaN}\n'
    for name in ("a.jsonl", "a.json"):
        raw = data if name.endswith("l") else "[" + ",".join(data.splitlines()) + "]"
        r = extract(tmp_path, {name: raw.encode()}, {"files": name, "text": "{text}"}, out=name)
        assert r.texts == ["true", "false", "true\n1.5\n7", "2.0", "NaN"], name


def test_csv_header_with_a_quote_left_open_is_one_bad_csv(tmp_path: Path) -> None:
    r = extract(tmp_path, {"a.csv": b'"id,text\n1,a\n'}, CSV)
    assert r.texts == [] and r.reasons() == ["bad_csv"]
    assert r.quarantine[0]["note"] == "header: rest of file"
