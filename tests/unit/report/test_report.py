"""Reports: built from stage stats, balanced books shown, unbalanced ones flagged, HTML renders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpt2zh.ledger import AccountingError, Ledger
from gpt2zh.report import build_dataset_report, dataset_report, index_report
from helpers.report_fixtures import MANIFEST


def _stats(shard: int, kept: int, bad: int) -> dict:
    led = Ledger("extract", "news", shard)
    for _ in range(kept):
        led.seen(chars=10, nbytes=30)
        led.kept(chars=10, nbytes=30)
    for i in range(bad):
        led.seen(nbytes=5)
        led.dropped("bad_json", "{oops", file="a.jsonl", n=i)
    led.check()
    return led.to_dict()


def test_ledger_refuses_unbalanced_books(tmp_path: Path) -> None:
    led = Ledger("extract", "news", 0)
    led.seen()
    with pytest.raises(AccountingError, match="docs_in=1 != docs_out=0"):
        led.write(tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


def test_dataset_report_sums_shards() -> None:
    rep = build_dataset_report("news", MANIFEST, [_stats(0, 3, 1), _stats(1, 2, 2)])
    (extract,) = rep["stages"]
    assert (extract["docs_in"], extract["docs_out"], extract["shards"]) == (8, 5, 2)
    assert extract["drops"] == {"bad_json": 3}
    assert extract["balanced"]
    assert rep["quarantine"] == {"total": 3, "reasons": {"bad_json": 3}}
    assert len(extract["examples"]["bad_json"]) == 3
    assert rep["final"]["chars_out"] == 50


def test_report_rejects_foreign_stats() -> None:
    other = _stats(0, 1, 0) | {"dataset": "poems"}
    with pytest.raises(ValueError, match="poems"):
        build_dataset_report("news", MANIFEST, [other])


def test_html_pages_render(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps(MANIFEST), "utf-8")
    paths = []
    for i, (kept, bad) in enumerate([(3, 1), (0, 0)]):
        p = tmp_path / f"shard-{i}.stats.json"
        p.write_text(json.dumps(_stats(i, kept, bad)), "utf-8")
        paths.append(p)
    rep = dataset_report(
        {"description": "新闻样例 <b>", "lang": "zh", "role": "pretrain", "script": "simplified"},
        "news",
        tmp_path / "m.json",
        paths,
        tmp_path / "news.json",
        tmp_path / "news.html",
    )
    html = (tmp_path / "news.html").read_text("utf-8")
    assert "新闻样例 &lt;b&gt;" in html  # escaped, Chinese intact
    assert "bad_json" in html and "{oops" in html and "in = out + drops" in html
    assert html.count("<svg") == 2  # funnel (docs, chars, bytes kept), length histogram
    assert "Document lengths" in html
    assert json.loads((tmp_path / "news.json").read_text("utf-8")) == rep
    index_report([tmp_path / "news.json"], tmp_path / "index.html")
    index = (tmp_path / "index.html").read_text("utf-8")
    assert 'href="news.html"' in index and "<svg" in index


def test_tokens_and_mix_sections(tmp_path: Path) -> None:
    counts = {"docs": 5, "tokens": 120, "chars": 150, "bytes": 450, "vocab_size": 8192,
              "chars_per_token": 1.25, "bytes_per_token": 3.75}  # fmt: skip
    mix = {
        "seq_len": 16,
        "seed": 1,
        "train": {"rows": 10, "tokens": 160},
        "val": {"rows": 2, "tokens": 32},
        "datasets": {
            "news": {
                "weight": 0.5,
                "tokens": 120,
                "planned_tokens": 80,
                "train_tokens": 80,
                "epochs": 0.66,
                "val_docs": 1,
                "val_tokens": 16,
            },
            "poems": {
                "weight": 0.5,
                "tokens": 40,
                "planned_tokens": 80,
                "train_tokens": 80,
                "epochs": 2.0,
                "val_docs": 1,
                "val_tokens": 16,
            },
        },
    }
    rep = build_dataset_report("news", MANIFEST, [_stats(0, 5, 0)], None, None, counts, mix)
    assert rep["tokens"]["tokens"] == 120 and rep["tokens"]["mix"]["share"] == 0.5
    assert [(f["step"], f["docs"], f["tokens"]) for f in rep["funnel"]] == [
        ("read", 5, None),
        ("extract", 5, None),
        ("tokenized", 5, 120),
        ("mixed: train", None, 80),
        ("mixed: validation", 1, 16),
    ]
    sft = build_dataset_report("news", MANIFEST, [_stats(0, 5, 0)], None, None, counts, None)
    assert sft["tokens"]["mix"] is None
    (tmp_path / "news.json").write_text(json.dumps(rep), "utf-8")
    (tmp_path / "mix.json").write_text(json.dumps(mix), "utf-8")
    index_report([tmp_path / "news.json"], tmp_path / "index.html", mix_path=tmp_path / "mix.json")
    index = (tmp_path / "index.html").read_text("utf-8")
    assert "Training mix" in index and ">160<" in index.replace("<b>", ">").replace("</b>", "<")
    assert 'href="poems.html"' in index and "all datasets" not in index


def test_a_dataset_left_out_of_the_mix_says_why(tmp_path: Path) -> None:
    """mix.on_empty: warn leaves a dataset with no tokens out; its page shows the warning."""
    warning = "mix: dataset 'news' has no training tokens after dedup (weight 0.5); left out"
    mix = {"seq_len": 16, "seed": 1, "train": {"rows": 0, "tokens": 0}, "val": {"rows": 0,
           "tokens": 0}, "datasets": {}, "warnings": [warning]}  # fmt: skip
    counts = {"docs": 0, "tokens": 0, "chars": 0, "bytes": 0, "vocab_size": 600,
              "chars_per_token": None, "bytes_per_token": None}  # fmt: skip
    (tmp_path / "m.json").write_text(json.dumps(MANIFEST), "utf-8")
    (tmp_path / "s.json").write_text(json.dumps(_stats(0, 0, 2)), "utf-8")
    (tmp_path / "c.json").write_text(json.dumps(counts), "utf-8")
    (tmp_path / "mix.json").write_text(json.dumps(mix), "utf-8")
    out = tmp_path / "news.json", tmp_path / "news.html"
    rep = dataset_report(None, "news", tmp_path / "m.json", [tmp_path / "s.json"], *out,
                         counts=tmp_path / "c.json", mix=tmp_path / "mix.json")  # fmt: skip
    assert rep["tokens"]["mix"] is None and rep["tokens"]["mix_warnings"] == [warning]
    html = out[1].read_text("utf-8")
    assert "left out" in html and "no documents left after extract" in html
    index_report([out[0]], tmp_path / "index.html", mix_path=tmp_path / "mix.json")
    assert "left out" in (tmp_path / "index.html").read_text("utf-8")
