"""tokenizer, tokenize, count, mix and the packed reader: unit tests on small synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from gpt2zh.config import ConfigError, validate_config
from gpt2zh.ledger import write_json
from gpt2zh.mix.pack import build_mix, check_no_leak
from gpt2zh.mix.plan import MixError, mix_weights, plan_budgets
from gpt2zh.mix.reader import PackedReader, shard_paths
from gpt2zh.shards import Doc, ShardWriter
from gpt2zh.tokenize import pretok
from gpt2zh.tokenize.encode import encode_batch, encode_shard, token_schema, token_type
from gpt2zh.tokenize.train_bpe import EOS, load_tokenizer, train_tokenizer, wrap

POEM = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。"
TEXTS = [POEM, "春眠不觉晓，处处闻啼鸟。", "2023年12月 Hello world, it's fine!"] * 30


def test_zh_pretokenizer_bounds_han_runs_and_splits_digits() -> None:
    pieces = [p for p, _ in pretok.pre_tokenizer("zh", 2).pre_tokenize_str("床前明月光 2023")]
    assert pieces[:3] == ["åºĬåīį", "æĺİæľĪ", "åħī"]  # 床前 明月 光 (byte-level symbols)
    assert pieces[-4:] == ["2", "0", "2", "3"]
    gpt2 = [p for p, _ in pretok.pre_tokenizer("gpt2").pre_tokenize_str("床前明月光 2023")]
    assert len(gpt2) == 2


def test_trained_tokenizer_loads_with_autotokenizer(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = train_tokenizer(TEXTS, 400, min_frequency=1)
    wrap(tok).save_pretrained(tmp_path)
    auto = AutoTokenizer.from_pretrained(tmp_path)
    assert auto.eos_token == EOS and auto.bos_token == EOS
    ids = auto(POEM)["input_ids"]
    assert auto.decode(ids) == POEM
    assert auto.convert_tokens_to_ids(EOS) == load_tokenizer(tmp_path)[1]
    assert auto.decode(auto("𣨼 emoji 🙂")["input_ids"]) == "𣨼 emoji 🙂"  # byte fallback


def test_vocab_above_65535_switches_to_uint32() -> None:
    assert token_type(65535) == pa.uint16()
    assert token_type(65536) == pa.uint32()
    assert token_schema(70000).field("input_ids").type == pa.list_(pa.uint32())

    class Enc:
        def __init__(self, ids: list[int]) -> None:
            self.ids = ids

    class Tok:
        def encode_batch_fast(self, texts: list[str], add_special_tokens: bool) -> list[Enc]:
            return [Enc([70000 + len(t), 1]) for t in texts]

    arr = encode_batch(Tok(), ["ab", "c"], eos_id=99999, dtype=np.dtype(np.uint32))
    assert arr.to_pylist() == [[70002, 1, 99999], [70001, 1, 99999]]


def _doc_shard(path: Path, dataset: str, texts: list[str]) -> Path:
    with ShardWriter(path) as w:
        for i, t in enumerate(texts):
            w.write(Doc.make(f"{dataset}:{i}", t, dataset))
    return path


def test_encode_shard_appends_eos_and_counts(tmp_path: Path) -> None:
    tok = train_tokenizer(TEXTS, 400, min_frequency=1)
    wrap(tok).save_pretrained(tmp_path / "tok")
    shard = _doc_shard(tmp_path / "d.parquet", "poems", TEXTS[:3])
    stats = encode_shard("poems", 0, shard, tmp_path / "tok", tmp_path / "t.arrow")
    with pa.memory_map(str(tmp_path / "t.arrow")) as src:
        table = pa.ipc.open_file(src).read_all()
    assert table.schema.field("input_ids").type == pa.list_(pa.uint16())
    rows = table["input_ids"].to_pylist()
    assert all(r[-1] == tok.token_to_id(EOS) for r in rows)
    assert [tok.decode(r[:-1]) for r in rows] == TEXTS[:3]
    assert stats["tokens"] == sum(map(len, rows)) and stats["docs_out"] == 3
    assert stats["chars_out"] == sum(len(t) for t in TEXTS[:3])


def _token_shard(path: Path, dataset: str, docs: list[list[int]], eos: int = 0) -> Path:
    schema = token_schema(1000)
    ids = pa.array([f"{dataset}:{path.stem}:{i}" for i in range(len(docs))])
    vals = pa.array([[*d, eos] for d in docs], pa.list_(pa.uint16()))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
        for s in range(0, len(docs), 7):  # several record batches
            w.write_batch(pa.record_batch([ids.slice(s, 7), vals.slice(s, 7)], schema=schema))
    n_tok = sum(len(d) + 1 for d in docs)
    write_json(
        path.with_name(path.stem + ".stats.json"),
        {"dataset": dataset, "docs_out": len(docs), "tokens": n_tok},
    )
    return path


def _corpus(tmp_path: Path, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for name, n_docs, shards in (("big", 120, 2), ("small", 15, 1), ("mid", 40, 1)):
        for s in range(shards):
            docs = [list(rng.integers(1, 999, rng.integers(1, 60))) for _ in range(n_docs)]
            paths.append(_token_shard(tmp_path / f"{name}-{s}.arrow", name, docs))
    return paths


def _spec(**mix: object) -> dict:
    cfg = {
        "seq_len": 16,
        "total_tokens": None,
        "epochs": {},
        "val_tokens": 40,
        "max_val_fraction": 0.2,
        "seed": 3,
        "shard_tokens": 160,
        "on_empty": "error",
    }
    cfg.update(mix)
    return {"mix": cfg, "weights": {"big": 0.5, "small": 0.3, "mid": 0.2}, "stage": "x"}


def _rows(paths: list[Path]) -> np.ndarray:
    out = []
    for p in paths:
        with pa.memory_map(str(p)) as src:
            t = pa.ipc.open_stream(src).read_all()
        out.append(np.array(t["input_ids"].to_pylist(), dtype=np.int64).reshape(-1, 16))
    return np.concatenate(out)


def test_mix_meets_the_plan_and_holds_out_validation(tmp_path: Path) -> None:
    out = tmp_path / "mix"
    m = build_mix(_spec(total_tokens=6000), _corpus(tmp_path), out)
    seq = m["seq_len"]
    planned = sum(d["planned_tokens"] for d in m["datasets"].values())
    assert sum(d["selected_tokens"] for d in m["datasets"].values()) == planned
    assert 0 <= planned - m["train"]["tokens"] < seq  # only the last partial row is dropped
    for d in m["datasets"].values():
        assert d["val_tokens"] == d["val_planned_tokens"] == 48  # 40 rounded up to 3 rows
        assert abs(d["selected_tokens"] - d["planned_tokens"]) < seq
    assert m["datasets"]["small"]["epochs"] > 1 > m["datasets"]["big"]["epochs"]
    check_no_leak(out / "docs.arrow")
    # the packed train rows are exactly the selected documents, end to end, in order
    with pa.memory_map(str(out / "docs.arrow")) as src:
        index = pa.ipc.open_file(src).read_all().to_pylist()
    assert sum(r["tokens"] for r in index if r["split"] == "train") == planned
    train = _rows(shard_paths(out, "train"))
    assert train.shape == (m["train"]["rows"], seq)
    eos_positions = int((train == 0).sum())
    assert eos_positions <= sum(1 for r in index if r["split"] == "train")
    val = _rows(shard_paths(out, "val"))
    by_ds = np.concatenate(
        [_rows(shard_paths(out, f"val_by_dataset/{d}")) for d in sorted(m["datasets"])]
    )
    assert np.array_equal(val, by_ds)


def test_mix_is_deterministic_and_loads_with_datasets(tmp_path: Path) -> None:
    import datasets

    corpus = _corpus(tmp_path)
    a = build_mix(_spec(), corpus, tmp_path / "a")
    b = build_mix(_spec(), corpus, tmp_path / "b")
    assert [s["sha256"] for s in a["train"]["shards"]] == [
        s["sha256"] for s in b["train"]["shards"]
    ]
    c = build_mix(_spec(seed=4), corpus, tmp_path / "c")
    assert [s["sha256"] for s in a["train"]["shards"]] != [
        s["sha256"] for s in c["train"]["shards"]
    ]
    ds = datasets.Dataset.from_file(str(shard_paths(tmp_path / "a")[0]))
    assert len(ds[0]["input_ids"]) == 16


def test_epochs_override_and_upsampling_reshuffles(tmp_path: Path) -> None:
    m = build_mix(_spec(epochs={"small": 3}), _corpus(tmp_path), tmp_path / "m")
    small = m["datasets"]["small"]
    assert small["planned_tokens"] == 3 * small["available_tokens"]
    assert small["epochs"] == 3
    with pa.memory_map(str(tmp_path / "m" / "docs.arrow")) as src:
        rows = pa.ipc.open_file(src).read_all().to_pylist()
    small_train = [r for r in rows if r["dataset"] == "small" and r["split"] == "train"]
    reps = [[r["id"] for r in small_train if r["repeat"] == k] for k in range(3)]
    assert sorted(reps[0]) == sorted(reps[1]) == sorted(reps[2])  # each repeat: all docs once
    val = {r["id"] for r in rows if r["split"] == "val"}
    assert val and not val & set(reps[0])


def test_empty_dataset_is_an_error_or_a_warning(tmp_path: Path) -> None:
    with pytest.raises(MixError, match="'b' has no training tokens"):
        plan_budgets({"a": 0.5, "b": 0.5}, {"a": 100, "b": 0})
    budgets, warnings = plan_budgets({"a": 0.5, "b": 0.5}, {"a": 100, "b": 0}, on_empty="warn")
    assert list(budgets) == ["a"] and budgets["a"].planned == 100 and warnings


def test_mix_weights_and_unknown_dataset_errors(repo: Path) -> None:
    import yaml

    cfg = yaml.safe_load((repo / "workflow/configs/tiny.yaml").read_text("utf-8"))
    w = mix_weights(validate_config(cfg))
    assert abs(sum(w.values()) - 1) < 1e-9
    cfg["mix"]["weights"]["nope"] = 0.1
    with pytest.raises(ConfigError, match=r"mix\.weights\.nope: no dataset named 'nope'"):
        validate_config(cfg)
    del cfg["mix"]["weights"]["nope"]
    cfg["mix"]["epochs"] = {"ghost": 2}
    with pytest.raises(ConfigError, match=r"mix\.epochs\.ghost"):
        validate_config(cfg)


def test_reader_resumes_exactly_and_splits_ranks(tmp_path: Path) -> None:
    build_mix(_spec(total_tokens=8000), _corpus(tmp_path), tmp_path / "m")
    paths = shard_paths(tmp_path / "m")
    r = PackedReader(paths, 4, seed=1)
    batches = [r.next_batch() for _ in range(r.steps_per_epoch + 5)]  # crosses an epoch
    assert batches[0].shape == (4, 16) and batches[0].dtype == np.int64
    r2 = PackedReader(paths, 4, seed=1)
    for _ in range(7):
        r2.next_batch()
    state = json.loads(json.dumps(r2.state_dict()))
    r3 = PackedReader(paths, 4, seed=1)
    r3.load_state_dict(state)
    for b in batches[7:]:
        assert np.array_equal(r3.next_batch(), b)
    # one epoch visits every row once; two ranks see disjoint halves of each global batch
    seen = np.concatenate(batches[: r.steps_per_epoch])
    assert len(seen) == r.steps_per_epoch * 4 <= len(_rows(paths))
    r0 = PackedReader(paths, 2, seed=1, rank=0, world_size=2)
    r1 = PackedReader(paths, 2, seed=1, rank=1, world_size=2)
    assert np.array_equal(np.concatenate([r0.next_batch(), r1.next_batch()]), batches[0])
    with pytest.raises(ValueError, match="seed"):
        PackedReader(paths, 4, seed=2).load_state_dict(state)


def _mix_digest(out: Path) -> str:
    """The train and val rows and every docs.arrow row: what the mix selected, in order."""
    import hashlib

    h = hashlib.sha256()
    for split in ("train", "val"):
        h.update(_rows(shard_paths(out, split)).tobytes())
    with pa.memory_map(str(out / "docs.arrow")) as src:
        h.update(json.dumps(pa.ipc.open_file(src).read_all().to_pylist()).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    ("mix", "digest"),
    [
        ({"total_tokens": 6000}, "8f16cd6f41e90e30"),
        ({"epochs": {"small": 3}}, "c78ebd33719c1bf6"),
        ({}, "112181f999d35900"),
    ],
)
def test_mix_selects_what_the_per_document_version_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mix: dict, digest: str
) -> None:
    """Digests from the version that held Python objects per document (before the compact
    state): the streaming passes, uint32 permutations and the running validation top-k change
    no row, whatever their chunk sizes."""
    from gpt2zh.mix import pack

    corpus = _corpus(tmp_path)
    build_mix(_spec(**mix), corpus, tmp_path / "a")
    assert _mix_digest(tmp_path / "a") == digest
    monkeypatch.setattr(pack, "CHUNK", 7)
    monkeypatch.setattr(pack, "HASH_CHUNK", 3)
    build_mix(_spec(**mix), corpus, tmp_path / "b")
    assert _mix_digest(tmp_path / "b") == digest


def test_docs_index_is_written_as_the_whole_table_would_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs.arrow is written batch by batch; its bytes are those of `write_table` of the whole
    table (whose sliced batches carry the next ids' bytes as padding), across the train/val seam."""
    from gpt2zh.mix import pack

    monkeypatch.setattr(pack, "CHUNK", 16)
    build_mix(_spec(), _corpus(tmp_path), tmp_path / "m")
    path = tmp_path / "m" / "docs.arrow"
    with pa.memory_map(str(path)) as src:
        rows = pa.ipc.open_file(src).read_all().to_pydict()
    table = pa.table(
        {
            "split": pa.array(rows["split"], pa.string()).dictionary_encode(),
            "dataset": pa.array(rows["dataset"], pa.string()).dictionary_encode(),
            "id": pa.array(rows["id"], pa.string()),
            "repeat": pa.array(rows["repeat"], pa.int32()),
            "tokens": pa.array(rows["tokens"], pa.int64()),
        }
    )
    assert len(table) > 16 * 3 and {"train", "val"} == set(rows["split"])
    whole = tmp_path / "whole.arrow"
    with pa.OSFile(str(whole), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table, max_chunksize=16)
    assert path.read_bytes() == whole.read_bytes()
