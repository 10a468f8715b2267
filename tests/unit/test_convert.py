"""convert: OpenCC per dataset, batch == per-document conversion, change counts and replacement
pairs, rare characters intact, nothing dropped, deterministic output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt2zh.config import dataset_spec, validate_config
from gpt2zh.convert import (
    ChangeCounter,
    ConvertError,
    changed_spans,
    convert_shard,
    convert_texts,
    converter,
    pair_counts,
    resolve_conversion,
)
from gpt2zh.convert import changes as cv_changes
from gpt2zh.convert import stage as cv_stage
from gpt2zh.report import top_pairs
from gpt2zh.shards import Doc, ShardWriter, iter_docs
from helpers import REPO

# Real Song ci lines (chinese-poetry, already Simplified) holding OpenCC's one-way mappings.
SONGCI = [
    "长是因酒沈迷，被花萦绊。",
    "算人生、悲莫悲於轻别，最苦正欢娱",
    "画堂人静雨濛濛，屏山半掩馀香",
    "木叶飘零，飒飒声乾，狂风乱扫。",
    "春风得意马蹄疾，一日看尽长安花。",
    "双双戏、鸂鶒鸳鸯。",
    "",
]


def write_docs(path: Path, texts: list[str], dataset: str = "ds") -> Path:
    with ShardWriter(path) as w:
        for i, t in enumerate(texts):
            w.write(Doc.make(f"{dataset}/{i}", t, dataset, {"n": i}))
    return path


def run(
    tmp_path: Path, texts: list[str], convert: str = "t2s", script: str = "traditional", **kw: Any
) -> tuple[list[str], dict[str, Any]]:
    src = write_docs(tmp_path / "in.parquet", texts)
    out = tmp_path / "out.parquet"
    stats = convert_shard({"name": "ds", "script": script, "convert": convert}, 0, src, out, **kw)
    on_disk = json.loads((tmp_path / "out.stats.json").read_text("utf-8"))
    assert {k: v for k, v in on_disk.items() if k != "seconds"} == {
        k: v for k, v in stats.items() if k != "seconds"
    }
    return [d.text for d in iter_docs(out)], stats


def positional_diff(a: str, b: str) -> int:
    assert len(a) == len(b)
    return sum(c != d for c, d in zip(a, b, strict=True))


# --- conversion --------------------------------------------------------------------------------


def test_t2s_known_traditional(tmp_path: Path) -> None:
    out, stats = run(tmp_path, ["國語", "漢字", "中文"])
    assert out == ["国语", "汉字", "中文"]
    assert stats["changes"]["docs_converted"] == 2
    assert stats["changes"]["chars_converted"] == 3  # 國 語 漢; 字 is both
    assert stats["changes"]["docs_length_changed"] == 0
    assert stats["conversion"] == "t2s"
    assert stats["opencc_version"] == cv_stage.opencc_version() != "unknown"
    pairs = {(p["from"], p["to"]): p["count"] for p in stats["changed_pairs"]}
    assert pairs == {("國", "国"): 1, ("語", "语"): 1, ("漢", "汉"): 1}


def test_simplified_sample_counts_match_ledger(tmp_path: Path) -> None:
    out, stats = run(tmp_path, SONGCI, convert="t2s", script="simplified")
    assert len(out) == len(SONGCI)
    expected_chars = sum(positional_diff(a, b) for a, b in zip(SONGCI, out, strict=True))
    expected_docs = sum(a != b for a, b in zip(SONGCI, out, strict=True))
    assert expected_chars == stats["changes"]["chars_converted"] == 6
    assert expected_docs == stats["changes"]["docs_converted"] == 5
    # OpenCC's documented one-way mappings, shown with an example each
    pairs = {(p["from"], p["to"]): p for p in stats["changed_pairs"]}
    assert {("沈", "沉"), ("於", "于"), ("濛", "蒙"), ("乾", "干"), ("鸂", "㶉")} <= set(pairs)
    assert pairs["沈", "沉"]["before"] == "长是因酒沈迷，被花萦绊。"
    assert pairs["沈", "沉"]["after"] == "长是因酒沉迷，被花萦绊。"
    assert stats["changed_pairs_distinct"] == len(pairs)
    assert sum(p["count"] for p in stats["changed_pairs"]) == 6
    assert stats["changed_pairs_unlisted"] == 0
    assert out[4] == SONGCI[4]  # plain Simplified is left alone


def test_auto_leaves_simplified_dataset_untouched(tmp_path: Path) -> None:
    out, stats = run(tmp_path, SONGCI, convert="auto", script="simplified")
    assert out == SONGCI
    assert stats["conversion"] == "none" and stats["conversion_requested"] == "auto"
    assert stats["changes"] == {"chars_converted": 0, "docs_converted": 0, "docs_length_changed": 0}


def test_rare_characters_survive_in_place(tmp_path: Path) -> None:
    text = "𠀀國😀𪚥語👨‍👩‍👧\U0002b740漢🀄"
    for tofu in (False, True):
        out, stats = run(tmp_path, [text], tofu_risk=tofu)
        assert out == ["𠀀国😀𪚥语👨‍👩‍👧\U0002b740汉🀄"]
        assert len(out[0]) == len(text)
        for i, c in enumerate(text):
            if ord(c) > 0xFFFF or c == "\u200d":
                assert out[0][i] == c, (i, c)
        assert stats["changes"]["chars_converted"] == 3
        assert stats["bytes_out"] == len(out[0].encode("utf-8"))


def test_tofu_risk_dictionary_is_off_by_default(tmp_path: Path) -> None:
    out, stats = run(tmp_path, ["殢人天氣"])
    assert out == ["殢人天气"] and stats["opencc_tofu_risk"] is False
    out, stats = run(tmp_path, ["殢人天氣"], tofu_risk=True)
    assert out == ["𣨼人天气"] and stats["opencc_tofu_risk"] is True
    spec = {"name": "ds", "script": "traditional", "convert": "t2s", "convert_tofu_risk": True}
    src = write_docs(tmp_path / "t.parquet", ["殢"])
    convert_shard(spec, 0, src, tmp_path / "t-out.parquet")
    assert [d.text for d in iter_docs(tmp_path / "t-out.parquet")] == ["𣨼"]


def test_mixed_traditional_and_simplified(tmp_path: Path) -> None:
    out, stats = run(
        tmp_path, ["漢字和汉字，國家与国家", "全是简体"], script="mixed", convert="auto"
    )
    assert out == ["汉字和汉字，国家与国家", "全是简体"]
    assert stats["conversion"] == "t2s"
    assert stats["changes"]["chars_converted"] == 2
    assert stats["changes"]["docs_converted"] == 1


def test_empty_texts_and_empty_shard(tmp_path: Path) -> None:
    out, stats = run(tmp_path, ["", "國", "", ""])
    assert out == ["", "国", "", ""]
    assert stats["docs_in"] == stats["docs_out"] == 4
    assert stats["changes"]["docs_converted"] == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    out, stats = run(empty, [])
    assert out == [] and stats["docs_in"] == 0 and stats["changed_pairs"] == []


def test_tw2sp_phrases_and_length_changes(tmp_path: Path) -> None:
    texts = ["我的滑鼠壞了", "記憶體不足", "記憶體很大的軟體", "肯亞和唐氏症", "軟體\n記憶體"]
    out, stats = run(tmp_path, texts, convert="tw2sp")
    # what OpenCC 1.x really does (checked by hand before writing the test)
    assert out == ["我的鼠标坏了", "内存不足", "内存很大的软件", "肯尼亚和唐氏综合征", "软件\n内存"]
    ch = stats["changes"]
    assert ch["docs_converted"] == 5
    assert ch["docs_length_changed"] == 4
    # 滑鼠壞 (3, by position) + 記憶體 (3) + 記憶體 + 軟體 (5: 很大的 unchanged is not counted)
    # + 亞→尼亚 and 症→综合征 (2 + 3, the longer side) + 軟體, 記憶體 (2 + 3)
    assert ch["chars_converted"] == 3 + 3 + 5 + 5 + 5
    pairs = {(p["from"], p["to"]): p["count"] for p in stats["changed_pairs"]}
    assert pairs[("記憶體", "内存")] == 3
    assert pairs[("亞", "尼亚")] == 1 and pairs[("症", "综合征")] == 1
    assert stats["chars_in"] == sum(map(len, texts))
    assert stats["chars_out"] == sum(map(len, out))


def test_changed_spans_alignment() -> None:
    spans = [(o, n) for o, n, _ in changed_spans("記憶體很大的軟體", "内存很大的软件")]
    assert spans == [("記憶體", "内存"), ("軟", "软"), ("體", "件")]
    # clauses that keep their length are compared by position even beside one that does not
    spans = [(o, n) for o, n, _ in changed_spans("我的記憶體壞了，請幫我", "我的内存坏了，请帮我")]
    assert spans == [("記憶體壞", "内存坏"), ("請", "请"), ("幫", "帮")]
    # a different number of clauses falls back to the whole document as one clause
    spans = [(o, n) for o, n, _ in changed_spans("甲，乙", "甲乙")]
    assert spans == [("，", "")]
    # excerpts show the replacement in its line on both sides
    (_, _, (before, after)), *_ = changed_spans("首行\n一個記憶體", "首行\n一个内存")
    assert before == "一個記憶體" and after == "一个内存"


def test_hk2s(tmp_path: Path) -> None:
    out, stats = run(tmp_path, ["衞生", "香港"], convert="hk2s")
    assert out == ["卫生", "香港"] and stats["conversion"] == "hk2s"
    assert stats["changes"]["chars_converted"] == 1  # 衞; 生 is the same in both


def test_none_leaves_bytes_identical(tmp_path: Path) -> None:
    texts = ["國語", "𠀀😀", "", "  spaces \r\n kept ", "\ue000separator"]
    src = write_docs(tmp_path / "in.parquet", texts)
    stats = convert_shard(
        {"name": "ds", "script": "traditional", "convert": "none"}, 0, src, tmp_path / "o.parquet"
    )
    assert pq.read_table(src).equals(pq.read_table(tmp_path / "o.parquet"))
    assert stats["bytes_in"] == stats["bytes_out"] and stats["docs_out"] == len(texts)
    assert stats["changes"]["docs_converted"] == 0 and stats["opencc_tofu_risk"] is None


def test_unconverted_dataset_records_what_t2s_would_change(tmp_path: Path) -> None:
    texts = ["长是因酒沈迷", "雨濛濛", "春风又绿江南岸"]
    src = write_docs(tmp_path / "in.parquet", texts)
    spec = {"name": "ds", "script": "simplified", "convert": "auto", "lang": "zh"}
    stats = convert_shard(spec, 0, src, tmp_path / "o.parquet")
    assert pq.read_table(src).equals(pq.read_table(tmp_path / "o.parquet"))  # nothing applied
    assert stats["changes"]["chars_converted"] == 0
    probe = stats["probe"]
    assert (probe["conversion"], probe["docs"], probe["chars"]) == ("t2s", 2, 3)
    assert {(p["from"], p["to"]) for p in probe["changed_pairs"]} == {("沈", "沉"), ("濛", "蒙")}


# --- resolution and accounting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "convert", "expected"),
    [
        ("traditional", "auto", "t2s"),
        ("mixed", "auto", "t2s"),
        ("simplified", "auto", "none"),
        ("simplified", "t2s", "t2s"),
        ("traditional", "tw2sp", "tw2sp"),
        ("traditional", "hk2s", "hk2s"),
        ("traditional", "none", "none"),
    ],
)
def test_resolve_conversion(script: str, convert: str, expected: str) -> None:
    assert resolve_conversion({"name": "x", "script": script, "convert": convert}) == expected


def test_resolve_conversion_errors() -> None:
    with pytest.raises(ConvertError, match=r"datasets\.x\.convert"):
        resolve_conversion({"name": "x", "script": "traditional", "convert": "s2t"})
    with pytest.raises(ConvertError, match=r"datasets\.x\.script"):
        resolve_conversion({"name": "x", "script": "klingon", "convert": "auto"})


def test_spec_from_validated_config(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "workflow" / "configs" / "tiny.yaml").read_text("utf-8"))
    raw["datasets"]["poems"]["script"] = "traditional"
    cfg = validate_config(raw)
    assert resolve_conversion(dataset_spec(cfg, "news")) == "none"  # schema default: simplified
    spec = dataset_spec(cfg, "poems")
    src = write_docs(tmp_path / "in.parquet", ["靜夜思\n床前明月光"], "poems")
    stats = convert_shard(spec, 3, src, tmp_path / "out.parquet")
    assert (stats["dataset"], stats["shard"], stats["conversion"]) == ("poems", 3, "t2s")
    assert [d.text for d in iter_docs(tmp_path / "out.parquet")] == ["静夜思\n床前明月光"]


def test_stats_balanced_and_docs_kept_in_order(tmp_path: Path) -> None:
    texts = [f"第{i}首 國風{'歲' * (i % 7)}" for i in range(9000)]  # > one runner batch
    src = write_docs(tmp_path / "in.parquet", texts)
    stats = convert_shard(
        {"name": "ds", "script": "traditional", "convert": "auto"}, 0, src, tmp_path / "out.parquet"
    )
    assert stats["docs_in"] == stats["docs_out"] == len(texts) and stats["drops"] == {}
    assert stats["chars_in"] == stats["chars_out"] == sum(map(len, texts))
    assert stats["bytes_in"] == sum(len(t.encode()) for t in texts)
    docs_in, docs_out = list(iter_docs(src)), list(iter_docs(tmp_path / "out.parquet"))
    assert [d.id for d in docs_in] == [d.id for d in docs_out]
    assert [d.meta for d in docs_in] == [d.meta for d in docs_out]
    n_sui = sum(i % 7 for i in range(9000))
    assert stats["changes"]["chars_converted"] == 2 * 9000 + n_sui  # 國 風 + each 歲
    pairs = {(p["from"], p["to"]): p["count"] for p in stats["changed_pairs"]}
    assert pairs == {("國", "国"): 9000, ("風", "风"): 9000, ("歲", "岁"): n_sui}
    assert stats["convert_batch_fallbacks"] == 0


def test_deterministic(tmp_path: Path) -> None:
    texts = [*SONGCI, "國語漢字", "記憶體", "𠀀😀"] * 50
    src = write_docs(tmp_path / "in.parquet", texts)
    spec = {"name": "ds", "script": "traditional", "convert": "tw2sp"}
    a = convert_shard(spec, 0, src, tmp_path / "a.parquet")
    b = convert_shard(spec, 0, src, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    a.pop("seconds"), b.pop("seconds")
    assert a == b


# --- batching -----------------------------------------------------------------------------------


def test_batch_equals_per_document() -> None:
    cc = converter("tw2sp")
    texts = [*SONGCI, "國語", "", "\n", "滑鼠\n滑", "鼠", "記憶", "體", "乾坤", "𠀀", " 臺灣 "]
    out, ok = convert_texts(cc, texts)
    assert ok and out == [cc.convert(t) for t in texts]
    # a phrase split across two documents must not be converted as a phrase
    assert convert_texts(cc, ["滑", "鼠"])[0] == ["滑", "鼠"]


def test_separator_in_text_uses_next_or_falls_back(tmp_path: Path) -> None:
    cc = converter("t2s")
    one = ["國\ue000語", "漢"]
    assert convert_texts(cc, one) == (["国\ue000语", "汉"], True)
    every = ["國" + "".join(cv_stage.SEPARATORS), "漢"]
    assert convert_texts(cc, every) == (["国" + "".join(cv_stage.SEPARATORS), "汉"], False)
    out, stats = run(tmp_path, every)
    assert out == ["国" + "".join(cv_stage.SEPARATORS), "汉"]
    assert stats["convert_batch_fallbacks"] == 1
    assert stats["changes"]["chars_converted"] == 2


def test_chunks_bound_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cv_stage, "CHUNK_CHARS", 5)
    cc = converter("t2s")
    texts = ["國語漢字", "一", "二", "三個", "長長長長長長長長", ""]
    assert convert_texts(cc, texts) == ([cc.convert(t) for t in texts], True)


def test_per_document_mode_same_output(tmp_path: Path) -> None:
    texts = [*SONGCI, "國語"]
    a, sa = run(tmp_path, texts)
    b, sb = run(tmp_path, texts, batch=False)
    assert a == b and sa["changes"] == sb["changes"]


def test_one_opencc_instance_per_configuration() -> None:
    assert converter("t2s") is converter("t2s") is converter("t2s", tofu_risk=False)
    assert converter("t2s") is not converter("t2s", True)
    with pytest.raises(ConvertError):
        converter("none")


# --- counting internals -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0x570B, 0x8A9E, 0x6F22, 0x20000, 0x41]), st.integers(0, 3)),
        max_size=60,
    )
)
def test_pair_counts_matches_np_unique(pairs: list[tuple[int, int]]) -> None:
    old = np.array([o for o, _ in pairs], np.uint32)
    new = np.array([o + 1 + k for o, k in pairs], np.uint32)  # up to 4 targets per character
    keys, counts, first = pair_counts(old, new)
    ref = (old.astype(np.uint64) << np.uint64(32)) | new
    uniq, ref_first, ref_counts = np.unique(ref, return_index=True, return_counts=True)
    order = np.argsort(keys)
    assert keys[order].tolist() == uniq.tolist()
    assert counts[order].tolist() == ref_counts.tolist()
    assert first[order].tolist() == ref_first.tolist()


def test_change_counter_merges_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cv_changes, "COMPACT_EVERY", 2)
    c = ChangeCounter()
    cc = converter("t2s")
    for batch in (["國語", "國"], ["中國"], ["国"]):
        c.add(batch, [cc.convert(t) for t in batch])
    assert (c.docs, c.chars) == (3, 4)
    assert c.pairs() == {("國", "国"): 3, ("語", "语"): 1}
    assert c.pairs() == {("國", "国"): 3, ("語", "语"): 1}  # compaction keeps counts
    summary = c.summary(top=1)
    assert [(p["from"], p["count"]) for p in summary["changed_pairs"]] == [("國", 3)]
    assert summary["changed_pairs_unlisted"] == 1 and summary["changed_pairs_distinct"] == 2


def test_top_changes_merges_shards() -> None:
    def pair(f: str, t: str, n: int) -> dict[str, Any]:
        return {"from": f, "to": t, "count": n, "before": f, "after": t}

    shards = [
        {"changed_pairs": [pair("國", "国", 5), pair("語", "语", 1)]},
        {"changed_pairs": [pair("語", "语", 7)]},
        {},
    ]
    assert [(p["from"], p["count"]) for p in top_pairs(shards)] == [("語", 8), ("國", 5)]
    assert len(top_pairs(shards, n=1)) == 1
