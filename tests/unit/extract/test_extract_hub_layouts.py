"""Extract on the record layouts of the real Hub corpora pretrain-zh reads: C4's `.json.gz` of
JSON lines under `format: auto`, MNBVC's 通用文本 paragraphs with their own duplicate flags
(`drop_items`), and smoltalk-chinese's `conversations` column whichever turn keys it has."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpt2zh.config import ConfigError
from helpers.extract import extract, jsonl, make_spec

C4 = [
    {
        "text": f"Doc {i}. The harbour was quiet that morning.",
        "timestamp": "2019-04-25T12:57:54Z",
        "url": f"https://example.com/{i}",
    }
    for i in range(3)
]


def test_auto_reads_a_json_gz_of_json_lines_as_json_lines(tmp_path):
    files = {"en/c4-train.00000-of-01024.json.gz": gzip.compress(jsonl(*C4))}
    r = extract(tmp_path, files, {"files": "en/*.json.gz", "text": "{text}", "meta": ["url"]})
    assert r.texts == [d["text"] for d in C4]  # before: one `bad_json` for the whole file
    assert r.stats["drops"] == {}
    assert r.stats["changes"]["sniffed_jsonl"] == 1


def test_auto_still_reads_a_json_document_as_one_document(tmp_path):
    pretty = json.dumps([{"text": "甲"}, {"text": "乙"}], ensure_ascii=False, indent=2).encode()
    one_line = json.dumps({"text": "丙"}, ensure_ascii=False).encode() + b"\n"
    r = extract(tmp_path, {"a.json": pretty, "b.json": one_line}, {"files": "*", "text": "{text}"})
    assert r.texts == ["甲", "乙", "丙"]
    assert "sniffed_jsonl" not in r.stats["changes"]


def test_an_explicit_format_is_not_second_guessed(tmp_path):
    files = {"c4.json.gz": gzip.compress(jsonl(*C4))}
    r = extract(tmp_path, files, {"files": "*", "text": "{text}", "format": "json"})
    assert r.reasons() == ["bad_json"]


def mnbvc(name: str, paragraphs: list[tuple[str, int, int]]) -> dict:
    """One record of MNBVC's 通用文本 format (the news and crawler subsets)."""
    return {
        "文件名": name,
        "是否待查文件": False,
        "是否重复文件": False,
        "文件大小": 1024,
        "simhash": 18446744073709551557,  # a uint64 above 2**63
        "最长段落长度": 40,
        "段落数": len(paragraphs),
        "去重段落数": sum(not d for _, d, _ in paragraphs),
        "低质量段落数": 0,
        "段落": [
            {
                "行号": i,
                "是否重复": bool(dup),
                "是否跨文件重复": bool(cross),
                "md5": "0" * 32,
                "内容": text,
            }
            for i, (text, dup, cross) in enumerate(paragraphs)
        ],
    }


NEWS_READER = {
    "files": "news/20230196/*.jsonl.gz",
    "text": "{段落[].内容}",
    "meta": ["文件名", "simhash"],
    "drop_items": ["段落[].是否重复", "段落[].是否跨文件重复"],
}


def test_drop_items_removes_the_paragraphs_the_source_flags(tmp_path):
    records = [
        mnbvc(
            "a.txt",
            [("第一段。", False, False), ("第一段。", True, False), ("第二段。", False, False)],
        ),
        mnbvc("b.txt", [("转载的一段。", False, True), ("原创的一段。", False, False)]),
        mnbvc("c.txt", [("全文重复。", True, False), ("也重复。", False, True)]),
        mnbvc("d.txt", []),  # no paragraphs at all: still empty_text, not the source's flag
    ]
    files = {"news/20230196/0.jsonl.gz": gzip.compress(jsonl(*records))}
    r = extract(tmp_path, files, NEWS_READER)
    assert r.texts == ["第一段。\n第二段。", "原创的一段。"]
    assert r.stats["changes"]["items_dropped"] == 4
    assert r.stats["drops"] == {"all_items_dropped": 1, "empty_text": 1}
    dropped = next(q for q in r.quarantine if q["reason"] == "all_items_dropped")
    assert dropped["n"] == 2 and "段落[]" in dropped["error"] and "全文重复" in dropped["excerpt"]
    meta = json.loads(r.docs[0].meta)
    assert meta["simhash"] == 18446744073709551557 and meta["文件名"] == "a.txt"

    without = extract(tmp_path, files, {**NEWS_READER, "drop_items": []}, out="plain")
    assert (
        without.texts[0] == "第一段。\n第一段。\n第二段。"
    )  # the flags are what made the difference


def test_drop_items_paths_are_checked_by_the_config(tmp_path):
    with pytest.raises(ConfigError, match=r"drop_items"):
        make_spec([{**NEWS_READER, "drop_items": ["段落.是否重复"]}])


def conversations_parquet(turns: list[list[dict]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"conversations": turns}), buf)
    return buf.getvalue()


SMOLTALK_READER = {
    "files": "*.parquet",
    "text": "{conversations[].content?}\n{conversations[].value?}",
}


@pytest.mark.parametrize(
    "keys", [("role", "content"), ("from", "value")], ids=["role-content", "from-value"]
)
def test_the_smoltalk_template_reads_either_turn_layout(tmp_path, keys):
    who, what = keys
    turns = [
        [{who: "user", what: "怎样学好数学？"}, {who: "assistant", what: "多做练习。"}],
        [{who: "user", what: "你好"}],
    ]
    files = {
        "advice-seeking.parquet": conversations_parquet(turns),
        "old/data/ignored.parquet": conversations_parquet(turns),  # `*` stays at the root
    }
    r = extract(tmp_path, files, SMOLTALK_READER)
    assert r.texts == ["怎样学好数学？\n多做练习。", "你好"]
    assert r.stats["docs_in"] == 2
