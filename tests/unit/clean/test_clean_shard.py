"""clean_shard end to end on Parquet shards: accounting, changes, drop examples, dropped docs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gpt2zh.clean import clean_shard
from gpt2zh.config import dataset_spec, load_config
from gpt2zh.shards import Doc, ShardWriter, iter_docs
from helpers import REPO
from helpers.clean_samples import JUNK, MODERN


def write_shard(path: Path, texts: list[str], dataset: str = "news") -> Path:
    with ShardWriter(path) as w:
        for i, text in enumerate(texts):
            w.write(Doc.make(f"{dataset}/f.jsonl#{i}", text, dataset, {"n": i}))
    return path


def spec(clean: dict | None = None, lang: str = "zh") -> dict:
    return {"name": "news", "lang": lang, "clean": clean or {}}


def test_clean_shard_counts_changes_and_drops(tmp_path: Path) -> None:
    modern = list(MODERN.values())
    texts = [
        "<p>" + modern[0].replace("，", "&#65292;", 1) + "</p>",  # html + entity
        modern[1] + "\u200b",  # invisible
        "ＡＩ" + modern[2],  # full-width letters
        "  " + modern[3] + "  \r\n",  # whitespace
        "e\u0301" + modern[4],  # NFC
        modern[0] + "联系邮箱 reporter@example.com，电话 13812345678，13912345678。",
        "",  # empty
        "   \n ",  # whitespace only
        JUNK["repeated_lines"][0],  # dropped: PII and changes in it are not counted
        modern[1],  # untouched
    ]
    src = write_shard(tmp_path / "in.parquet", texts)
    out = tmp_path / "clean" / "shard-00000.parquet"
    stats = clean_shard(spec(), 0, src, out)

    assert stats["docs_in"] == 10
    assert stats["docs_in"] == stats["docs_out"] + sum(stats["drops"].values())
    assert stats["drops"] == {"empty": 2, "dup_lines": 1}
    assert stats["changes"] == {
        "html_stripped": 1,
        "invisible_stripped": 1,
        "fullwidth_folded": 1,
        "whitespace_collapsed": 2,  # also the <p> document: </p> became a line break to trim
        "nfc_normalized": 1,
        "pii_email": 1,
        "pii_phone": 2,
    }
    assert stats["examples"]["empty"][0]["id"] == "news/f.jsonl#6"
    assert stats["clean"]["profile"] == "zh" and stats["clean"]["filters"]["min_chars"] == 50
    assert json.loads(out.with_name("shard-00000.stats.json").read_text()) == stats

    docs = list(iter_docs(out))
    assert [d.id for d in docs] == [f"news/f.jsonl#{i}" for i in (0, 1, 2, 3, 4, 5, 9)]
    by_id = {d.id: d for d in docs}
    assert by_id["news/f.jsonl#0"].text == modern[0]
    assert by_id["news/f.jsonl#2"].text.startswith("AI")
    assert by_id["news/f.jsonl#3"].text == modern[3]
    assert by_id["news/f.jsonl#4"].text.startswith("é")
    assert (
        "<EMAIL>" in by_id["news/f.jsonl#5"].text
        and "<PHONE>，<PHONE>" in by_id["news/f.jsonl#5"].text
    )
    assert by_id["news/f.jsonl#9"].meta == '{"n": 9}'  # meta untouched
    assert not out.with_name("shard-00000.dropped.parquet").exists()


def test_changes_are_counted_exactly(tmp_path: Path) -> None:
    text = MODERN["news"]
    texts = ["<b>" + text + "</b>", text + "\u200b", text]
    src = write_shard(tmp_path / "in.parquet", texts)
    stats = clean_shard(spec(), 3, src, tmp_path / "o.parquet")
    assert stats["changes"] == {"html_stripped": 1, "invisible_stripped": 1}
    assert stats["shard"] == 3 and stats["stage"] == "clean" and stats["dataset"] == "news"


def test_keep_dropped_writes_every_dropped_document(tmp_path: Path) -> None:
    texts = [MODERN["essay"], "", JUNK["symbol_soup"][0], JUNK["repeated_lines"][0]]
    src = write_shard(tmp_path / "in.parquet", texts)
    out = tmp_path / "shard-00000.parquet"
    stats = clean_shard(spec({"keep_dropped": True}), 0, src, out)
    dropped = list(iter_docs(out.with_name("shard-00000.dropped.parquet")))
    assert len(dropped) == sum(stats["drops"].values()) == 3
    reasons = {d.id: json.loads(d.meta)["drop_reason"] for d in dropped}
    assert reasons["news/f.jsonl#1"] == "empty"
    assert dropped[1].text == JUNK["symbol_soup"][0]  # the original text, not the cleaned one


def test_profile_none_and_switches(tmp_path: Path) -> None:
    texts = ["ＡＢ <i>x</i> a@b.cn", "", JUNK["laughter"][0]]
    clean = {
        "profile": "none",
        "normalize": {"html": False, "fullwidth": "none"},
        "pii": {"email": False},
    }
    out = tmp_path / "o.parquet"
    stats = clean_shard(spec(clean), 0, write_shard(tmp_path / "in.parquet", texts), out)
    assert stats["drops"] == {"empty": 1}
    assert [d.text for d in iter_docs(out)] == ["ＡＢ <i>x</i> a@b.cn", JUNK["laughter"][0]]


def test_empty_input_shard(tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    stats = clean_shard(spec(), 0, write_shard(tmp_path / "in.parquet", []), out)
    assert stats["docs_in"] == stats["docs_out"] == 0
    assert pq.ParquetFile(out).metadata.num_rows == 0


def test_spec_from_the_default_config(tmp_path: Path) -> None:
    cfg = load_config([REPO / "config.yaml"])
    s = dataset_spec(cfg, "tang")
    s["clean"]["filters"] = {"min_chars": 8, "min_stopwords": 0}
    poems = ["靜夜思\n床前明月光，疑是地上霜。\n舉頭望明月，低頭思故鄉。", "。"]
    out = tmp_path / "o.parquet"
    stats = clean_shard(s, 0, write_shard(tmp_path / "in.parquet", poems, "tang"), out)
    assert stats["docs_out"] == 1 and stats["drops"] == {"too_short": 1}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_large_batch_of_mixed_documents(tmp_path: Path, lang: str) -> None:
    """More documents than one runner batch, with sizes that force several feature chunks."""
    texts = [MODERN["news"] * (1 + i % 7) for i in range(9000)] + ["x" * 3_000_000]
    out = tmp_path / "o.parquet"
    stats = clean_shard(spec(lang=lang), 0, write_shard(tmp_path / "in.parquet", texts), out)
    assert stats["docs_in"] == 9001
    assert stats["docs_in"] == stats["docs_out"] + sum(stats["drops"].values())
    assert stats["drops"].get("too_long") == 1
