"""dedup: datasketch compatibility, shingling edge cases, clusters, survivors, the four stages."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasketch import LeanMinHash, MinHash

from gpt2zh.dedup import minhash as mh
from gpt2zh.dedup import shingles
from gpt2zh.dedup.bands import bucket_pairs, run_pairs
from gpt2zh.dedup.clusters import build_clusters, components, verify_width
from gpt2zh.dedup.filter import StaleDropListError, filter_shard
from gpt2zh.dedup.signatures import load_minhash, signature_shard, signatures
from gpt2zh.dedup.spec import band_groups, lsh_params
from gpt2zh.shards import Doc, ShardWriter, shard_name
from helpers.dedup import dedup_test_spec

POEM = "床前明月光，疑是地上霜。\n舉頭望明月，低頭思故鄉。"
TEXTS = [
    POEM,
    "Hello, World!  The QUICK brown fox.",
    "短",
    "",
    "！！！",
    "abcde",
    "abcdef",
    "𠀀𠀁𠀂𠀃𠀄𠀅 CJK extension B",
]


def _reference(text: str, num_perm: int = 128, seed: int = 1) -> MinHash:
    m = MinHash(
        num_perm=num_perm, seed=seed, hashfunc=lambda s: shingles.shingle_hash32(map(ord, s))
    )
    m.update_batch(shingles.char_shingles(text, 5))
    return m


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 42), (256, 7)])
def test_signatures_equal_datasketch_update_batch(num_perm: int, seed: int) -> None:
    spec = {"ngram": 5, "num_perm": num_perm, "seed": seed, "bands": 4, "rows": 8}
    _, sig, _ = signatures(TEXTS, spec)
    for text, row in zip(TEXTS, sig, strict=True):
        ref = _reference(text, num_perm, seed)
        assert np.array_equal(ref.hashvalues, row), text
        lean = LeanMinHash(seed=seed, hashvalues=row, scheme="affine32")
        assert lean.jaccard(LeanMinHash(ref)) == 1.0


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (256, 42), (7, 0), (1, 2**31)])
def test_fmix_and_permutations_match_datasketch(num_perm: int, seed: int) -> None:
    """Our permutations are drawn with numpy (no datasketch import per job): equal to its."""
    from datasketch.minhash import _fmix

    h = np.random.default_rng(0).integers(0, 1 << 32, 1000, dtype=np.uint64).astype(np.uint32)
    assert np.array_equal(mh.fmix32(h), _fmix(h, 32))
    a, b = mh.permutations(num_perm, seed)
    ref = MinHash(num_perm=num_perm, seed=seed).permutations
    assert a.dtype == b.dtype == np.uint32
    assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])


def test_huge_document_is_chunked_and_still_exact() -> None:
    text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3 * mh.CHUNK + 17))
    _, sig, _ = signatures(
        [text, "abc", text[:100]], {"ngram": 5, "num_perm": 32, "seed": 1, "bands": 4, "rows": 8}
    )
    assert np.array_equal(sig[0], _reference(text, 32).hashvalues)
    assert np.array_equal(sig[2], _reference(text[:100], 32).hashvalues)


def test_short_documents_are_hashed_whole_and_do_not_all_collide() -> None:
    texts = ["短", "长", "一二", "一二三四", "", "。"]
    vals, lens = shingles.normalize(*shingles.codepoints(texts))
    h, counts = shingles.shingle_hashes(vals, lens, 5)
    assert counts.tolist() == [1, 1, 1, 1, 0, 1]
    assert len(set(h.tolist())) == 5
    _, _, bands = signatures(texts, {"ngram": 5, "num_perm": 64, "seed": 1, "bands": 8, "rows": 8})
    assert len({tuple(r) for r in bands[:4]}) == 4  # the four short texts share no bucket


def test_normalization_makes_exact_duplicates_and_keeps_punctuation_only_docs_apart() -> None:
    texts = [
        "Hello, World!",
        "hello world",
        "ＨＥＬＬＯ　ｗｏｒｌｄ。",
        "！！！",
        "？？？",
        "！！！",
    ]
    exact, _, _ = signatures(texts, {"ngram": 5, "num_perm": 16, "seed": 1, "bands": 2, "rows": 8})
    assert exact[0] == exact[1] == exact[2]
    assert exact[3] != exact[4] and exact[3] == exact[5]


def test_word_shingles_for_english() -> None:
    a = "The farmer watches the weather from the porch and brings in the hay before the storm"
    b = a.replace("hay", "wheat")
    units, counts = shingles.word_units([a, b, "..."])
    assert counts.tolist() == [16, 16, 1] and units.min() > 0
    _, sig, _ = signatures(
        [a, b], {"ngram": 5, "num_perm": 128, "seed": 1, "bands": 9, "rows": 13}, tokens="words"
    )
    assert 0.5 < (sig[0] == sig[1]).mean() < 1.0


def test_lsh_params_follow_datasketch() -> None:
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    assert lsh_params(0.8, 128) == (lsh.b, lsh.r) == (9, 13)
    assert (dedup_test_spec({"a": 1}, recall_weight=0.5)["bands"], lsh.b) == (9, 9)
    spec = dedup_test_spec({"a": 1})  # default leans to recall; verify removes the extra candidates
    assert (spec["bands"], spec["rows"]) == (14, 9)
    groups = band_groups(spec)
    assert groups[0][0] == "exact" and sum(map(len, groups)) == 15


def test_config_checks_priority_and_bands() -> None:
    from gpt2zh.config import ConfigError

    with pytest.raises(ConfigError, match=r"dedup\.priority"):
        dedup_test_spec({"a": 1}, priority=["nope"])
    with pytest.raises(ConfigError, match=r"bands × rows"):
        dedup_test_spec({"a": 1}, bands=20, rows=10)
    with pytest.raises(ConfigError, match="threshold"):
        dedup_test_spec({"a": 1}, threshold=1.5)


def test_components_and_run_pairs() -> None:
    labels = components(7, np.array([0, 2, 5, 3]), np.array([1, 3, 6, 1]))
    assert labels.tolist() == [0, 0, 0, 0, 4, 5, 5]
    a, b = run_pairs(np.array([5, 1, 5, 5, 2], np.uint64), np.array([9, 8, 3, 4, 7], np.uint64))
    assert sorted(zip(a.tolist(), b.tolist(), strict=False)) == [(3, 4), (3, 9)]


# --- the four stages on small corpora ------------------------------------------------------


def _write(path: Path, dataset: str, texts: list[str]) -> Path:
    with ShardWriter(path) as w:
        for i, t in enumerate(texts):
            w.write(Doc.make(f"{dataset}/{i}", t, dataset))
    return path


def _run(tmp: Path, corpus: dict[str, list[list[str]]], **dedup: object) -> dict:
    spec = dedup_test_spec({d: len(shards) for d, shards in corpus.items()}, **dedup)
    for d, shards in corpus.items():
        for s, texts in enumerate(shards):
            doc = _write(tmp / "docs" / d / f"{shard_name(s)}.parquet", f"{d}{s}", texts)
            signature_shard(spec, d, doc, tmp / "sig" / d / f"{shard_name(s)}.parquet")
    pairs = []
    for g in range(spec["band_groups"]):
        pairs.append(tmp / "pairs" / f"group-{g:03d}.parquet")
        bucket_pairs(spec, g, tmp / "sig", pairs[-1])
    summary = build_clusters(
        spec, tmp / "sig", pairs, tmp / "docs", tmp / "clusters.parquet", tmp / "clusters.json"
    )
    kept: dict[str, list[str]] = {}
    for d, shards in corpus.items():
        kept[d] = []
        for s in range(len(shards)):
            out = tmp / "out" / d / f"{shard_name(s)}.parquet"
            stats = filter_shard(
                spec,
                d,
                s,
                tmp / "docs" / d / f"{shard_name(s)}.parquet",
                tmp / "clusters.parquet",
                out,
            )
            assert stats["docs_in"] == stats["docs_out"] + sum(stats["drops"].values())
            kept[d] += pq.read_table(out)["text"].to_pylist()
    return {"summary": summary, "kept": kept}


LONG = (
    "市园林局今天宣布，城东公园的夜间步道将于下月起正式开放。步道全长三公里，沿途设有照明、"
    "座椅和饮水点。园林局负责人表示，这是今年为市民办的实事之一，开放时间为每天傍晚六点到晚上十点。"
)
NEAR = LONG[:-5] + "九点。"  # last clause edited (and shorter)


def test_identical_docs_in_different_datasets_keep_the_priority_copy(tmp_path: Path) -> None:
    r = _run(
        tmp_path,
        {"a": [[LONG, "另一篇完全不同的文章，讲的是山里的春天和溪水。"]], "b": [[LONG + " "]]},
        priority=["b", "a"],
    )
    assert LONG + " " in r["kept"]["b"] and LONG not in r["kept"]["a"]
    s = r["summary"]["datasets"]
    assert s["a"]["exact_duplicate"] == 1 and s["a"]["shared_with"]["b"]["dropped_here"] == 1
    assert s["b"]["shared_with"]["a"]["kept_here"] == 1


def test_cluster_spanning_three_datasets_keeps_one(tmp_path: Path) -> None:
    r = _run(tmp_path, {"a": [[NEAR]], "b": [[LONG]], "c": [[], [LONG]]}, band_groups=2)
    assert r["summary"]["params"]["bands"] == 14
    assert sum(map(len, r["kept"].values())) == 1
    assert r["kept"]["b"] == [LONG]  # no priority: the longest wins (NEAR is shorter), then id
    sizes = r["summary"]["cluster_sizes"]
    assert sizes == {"3": 1}
    assert r["summary"]["dropped"] == {"exact_duplicate": 1, "near_duplicate": 1}
    ex = r["summary"]["datasets"]["a"]["examples"][0]
    assert ex["kept"]["text"] == LONG and ex["dropped"][0]["reason"] in {
        "near_duplicate",
        "exact_duplicate",
    }


def test_empty_shard_and_all_identical(tmp_path: Path) -> None:
    r = _run(tmp_path, {"a": [[], [LONG] * 50], "b": [[]]})
    assert r["kept"] == {"a": [LONG], "b": []}
    assert r["summary"]["dropped"]["exact_duplicate"] == 49


def test_no_duplicates_drops_nothing(tmp_path: Path) -> None:
    texts = [
        f"第{i}篇：" + "".join(chr(0x4E00 + (i * 31 + j * 17) % 5000) for j in range(60))
        for i in range(40)
    ]
    r = _run(tmp_path, {"a": [texts]})
    assert r["kept"]["a"] == texts and r["summary"]["clusters"] == 0


def test_verify_rejects_band_collisions_below_threshold(tmp_path: Path) -> None:
    # With 1 row per band every pair sharing one hash value is a candidate; verify cuts them.
    other = LONG[:40] + "完全不同的后半部分，讲的是别的事情，和前面的内容没有关系。再多写几句话。"
    loose = _run(tmp_path / "a", {"a": [[LONG, other]]}, bands=64, rows=1, verify=False)
    strict = _run(tmp_path / "b", {"a": [[LONG, other]]}, bands=64, rows=1, verify=True)
    assert len(loose["kept"]["a"]) == 1 and len(strict["kept"]["a"]) == 2


def test_output_is_byte_identical_across_runs(tmp_path: Path) -> None:
    corpus = {"a": [[LONG, NEAR, "独立的一篇"], [LONG]], "b": [[NEAR + "。"]]}
    _run(tmp_path / "1", corpus)
    _run(tmp_path / "2", corpus)
    for rel in [
        "clusters.parquet",
        "out/a/shard-00000.parquet",
        "out/b/shard-00000.parquet",
        "sig/a/shard-00001.parquet",
        "pairs/group-000.parquet",
    ]:
        one, two = (hashlib.sha256((tmp_path / r / rel).read_bytes()).hexdigest() for r in "12")
        assert one == two, rel
    s1 = json.loads((tmp_path / "1" / "clusters.json").read_text("utf-8"))
    s2 = json.loads((tmp_path / "2" / "clusters.json").read_text("utf-8"))
    for s in (s1, s2):
        s.pop("seconds"), s.pop("peak_rss_mb")
    assert s1 == s2


def test_stored_signature_loads_as_lean_minhash(tmp_path: Path) -> None:
    spec = dedup_test_spec({"a": 1})
    doc = _write(tmp_path / "d.parquet", "a", [POEM])
    signature_shard(spec, "a", doc, tmp_path / "s.parquet")
    blob = pq.read_table(tmp_path / "s.parquet")["minhash"][0].as_py()
    lean = load_minhash(blob)
    assert lean.jaccard(LeanMinHash(_reference(POEM))) == 1.0


def test_stale_drop_list_fails(tmp_path: Path) -> None:
    _run(tmp_path, {"a": [[LONG, LONG]]})
    other = _write(tmp_path / "other.parquet", "z", ["x", "y"])
    with pytest.raises(StaleDropListError):
        filter_shard(
            dedup_test_spec({"a": 1}),
            "a",
            0,
            other,
            tmp_path / "clusters.parquet",
            tmp_path / "o.parquet",
        )


def test_bucket_partitions_and_row_groups_do_not_change_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [LONG, NEAR, POEM, LONG + "。", NEAR, POEM + "！", "独立的一篇", LONG]
    corpus = {"a": [texts[:5], texts[5:]], "b": [texts[2:7]]}
    _run(tmp_path / "1", corpus)
    _run(tmp_path / "3", corpus, bucket_partitions=3)
    monkeypatch.setattr("gpt2zh.dedup.signatures.BATCH_DOCS", 2)  # several row groups a file
    _run(tmp_path / "4", corpus, bucket_partitions=4)
    assert pq.ParquetFile(tmp_path / "4" / "sig" / "a" / "shard-00000.parquet").num_row_groups == 3
    for g in range(3):
        rel = f"pairs/group-{g:03d}.parquet"
        assert {(tmp_path / r / rel).read_bytes() for r in "134"} == {
            (tmp_path / "1" / rel).read_bytes()
        }, rel
    assert {(tmp_path / r / "clusters.parquet").read_bytes() for r in "34"} == {
        (tmp_path / "1" / "clusters.parquet").read_bytes()
    }
    summaries = [json.loads((tmp_path / r / "clusters.json").read_text("utf-8")) for r in "134"]
    for s in summaries:
        s.pop("seconds"), s.pop("peak_rss_mb")
    assert summaries[0]["dropped"]["exact_duplicate"] > 0 and summaries.count(summaries[0]) == 3


def test_verify_width_spreads_the_permutations_over_the_fewest_passes() -> None:
    assert verify_width(1_000_000, 128, 2048) == 128  # 512 MB: one pass
    assert verify_width(100_000_000, 128, 2048) == 5  # 5 of 128 fit: 26 passes of 5 (or 3)
    assert verify_width(3_000_000, 128, 1024) == 64  # 89 fit: 2 passes of 64
    assert verify_width(10, 128, 1e-9) == 1
    assert verify_width(0, 128, 1) == 128


@pytest.mark.parametrize("budget_mb", [1e-9, 2e-4])
def test_verify_in_slices_gives_the_same_drop_list(
    tmp_path: Path, budget_mb: float, caplog: pytest.LogCaptureFixture
) -> None:
    # 1 row per band: many candidates below the threshold, so verify has pairs to cut
    texts = [LONG, NEAR, POEM, LONG[:40] + POEM, NEAR + POEM, POEM + "！", "独立的一篇", LONG]
    one = _run(tmp_path, {"a": [texts[:5], texts[5:]], "b": [texts[2:7]]}, bands=64, rows=1)
    spec = dedup_test_spec({"a": 2, "b": 1}, bands=64, rows=1)
    spec["verify_memory_mb"] = budget_mb  # below the schema's 1 MB: many passes on 15 documents
    out = tmp_path / "sliced" / "clusters.parquet"
    with caplog.at_level(logging.INFO, "gpt2zh.dedup.clusters"):
        s = build_clusters(
            spec,
            tmp_path / "sig",
            sorted((tmp_path / "pairs").glob("*.parquet")),
            tmp_path / "docs",
            out,
            out.with_suffix(".json"),
        )
    assert int(re.search(r"verify in (\d+) passes", caplog.text)[1]) > 1
    assert out.read_bytes() == (tmp_path / "clusters.parquet").read_bytes()
    assert 0 < s["verified_pairs"] < s["candidate_pairs"] == one["summary"]["candidate_pairs"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["clusters.json", "clusters.parquet"]


def test_filter_reads_exactly_its_shards_drops_from_many_row_groups(tmp_path: Path) -> None:
    """The drop list is read by row-group statistics, not pyarrow.dataset: with row groups that
    span several shards and datasets, each (dataset, shard) still gets exactly its rows."""
    import pyarrow as pa

    from gpt2zh.dedup.clusters import DROP_SCHEMA
    from gpt2zh.dedup.filter import _shard_drops

    rows = [
        (ds, shard, row)
        for ds in ("a", "b", "c")
        for shard in range(5)
        for row in range(0, 40 - 7 * shard, 3)
    ]
    table = pa.table(
        {
            "dataset": [r[0] for r in rows],
            "shard": [r[1] for r in rows],
            "row": [r[2] for r in rows],
            "id": [f"{r[0]}/{r[1]}#{r[2]}" for r in rows],
            "reason": ["near_duplicate"] * len(rows),
            "kept_dataset": ["a"] * len(rows),
            "kept_id": ["a/0#0"] * len(rows),
            "cluster_size": [2] * len(rows),
        },
        schema=DROP_SCHEMA,
    )
    path = tmp_path / "clusters.parquet"
    pq.write_table(table, path, row_group_size=7)
    assert pq.ParquetFile(path).num_row_groups > 10
    for ds in ("a", "b", "c", "zz"):
        for shard in range(6):
            got = _shard_drops(path, ds, shard)
            want = [f"{d}/{s}#{r}" for d, s, r in rows if d == ds and s == shard]
            assert got.column("id").to_pylist() == want, (ds, shard)
