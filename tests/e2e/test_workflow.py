"""End-to-end: the real Snakefile, run by Snakemake in a subprocess, on the tiny config."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from helpers import REPO
from helpers.eval_contract import check_contract
from helpers.workflow import TINY, planned_jobs, run_snakemake, sha256s, tiny_workdir

CONFIGS = [REPO / "config.yaml", *sorted((REPO / "workflow" / "configs").glob("*.yaml"))]
STAGES = ("extract", "clean", "convert", "dedup")


def test_tiny_tokens_and_mix_meet_the_plan(tiny_run: Path) -> None:
    """tokenizer → tokenize → count → mix: train + val tokens equal the plan within one row per
    dataset, no validation document in train, shards loadable by `datasets`."""
    import datasets
    import pyarrow as pa

    from gpt2zh.mix.pack import check_no_leak

    mix = tiny_run / "results" / "mix"
    m = json.loads((mix / "manifest.json").read_text("utf-8"))
    seq, n = m["seq_len"], len(m["datasets"])
    planned = sum(d["planned_tokens"] + d["val_planned_tokens"] for d in m["datasets"].values())
    assert m["train"]["rows"] > 0 and m["val"]["rows"] > 0
    assert abs(m["train"]["tokens"] + m["val"]["tokens"] - planned) <= n * seq
    check_no_leak(mix / "docs.arrow")
    with pa.memory_map(str(mix / "docs.arrow")) as src:
        index = pa.ipc.open_file(src).read_all()
    assert set(index["dataset"].to_pylist()) == set(m["datasets"])
    for s in m["train"]["shards"] + m["val"]["shards"]:
        path = mix / s["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == s["sha256"]
        assert len(datasets.Dataset.from_file(str(path))) == s["rows"]
    counts = {
        p.parent.name: json.loads(p.read_text("utf-8"))
        for p in (tiny_run / "results" / "tokens").glob("*/counts.json")
    }
    assert set(counts) == set(yaml.safe_load(TINY.read_text("utf-8"))["datasets"])
    for name, c in counts.items():  # every document of the last stage was tokenized
        final = json.loads((tiny_run / "results" / "reports" / f"{name}.json").read_text("utf-8"))
        assert c["docs"] == final["final"]["docs_out"] and c["tokens"] > c["docs"]
    table = (tiny_run / "results" / "tokens" / "counts.md").read_text("utf-8")
    assert f"{sum(c['tokens'] for c in counts.values()):,}" in table


@pytest.mark.parametrize("target", ["all", "train", "eval"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_target_plans_with_every_config(tmp_path: Path, config: Path, target: str) -> None:
    proc = run_snakemake(tmp_path, "-n", target, configfile=config)
    assert "Job stats:" in proc.stdout
    assert not (tmp_path / "results").exists()


def test_tiny_pipeline_accounts_for_every_record(tiny_run: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text("utf-8"))
    for name, ds in cfg["datasets"].items():
        previous_out = None
        for stage in STAGES:
            stats = sorted((tiny_run / "results" / stage / name).glob("*.stats.json"))
            assert len(stats) == ds["shards"], (stage, name)
            docs_in = docs_out = 0
            for path in stats:
                s = json.loads(path.read_text("utf-8"))
                assert s["docs_in"] == s["docs_out"] + sum(s["drops"].values())
                shard = path.with_name(path.name.replace(".stats.json", ".parquet"))
                assert pq.ParquetFile(shard).metadata.num_rows == s["docs_out"]
                docs_in, docs_out = docs_in + s["docs_in"], docs_out + s["docs_out"]
                if stage == "extract":
                    quarantine = path.with_name(
                        path.name.replace(".stats.json", ".quarantine.jsonl")
                    )
                    lines = quarantine.read_text("utf-8").splitlines()
                    assert len(lines) == sum(s["drops"].values())
            if previous_out is not None:
                assert docs_in == previous_out, (stage, name)  # nothing lost between stages
            previous_out = docs_out

    report = json.loads((tiny_run / "results" / "reports" / "news.json").read_text("utf-8"))
    # news.jsonl: 6 well-formed lines (one lacks Content, one is blank, one is spam) + 1 bad line.
    assert report["quarantine"]["reasons"] == {"bad_json": 1, "empty_text": 1, "missing_field": 1}
    clean = next(s for s in report["stages"] if s["stage"] == "clean")
    assert clean["drops"] == {"few_stopwords": 1}
    assert report["clean"]["pii"] == {"email": 1, "phone": 1}
    assert report["final"]["docs_out"] == 3


def test_tiny_pipeline_cleans_and_converts(tiny_run: Path) -> None:
    texts = {
        name: pq.read_table(tiny_run / "results" / "convert" / name / "shard-00000.parquet")[
            "text"
        ].to_pylist()
        for name in ("news", "poems")
    }
    library = next(t for t in texts["news"] if "图书馆" in t)
    assert "<EMAIL>" in library and "<PHONE>" in library and "13812345678" not in library
    assert any(t.startswith("晨起\n窗外鸟声早") for t in texts["poems"])  # Traditional → Simplified
    report = json.loads((tiny_run / "results" / "reports" / "poems.json").read_text("utf-8"))
    assert report["convert"]["conversion"] == "t2s" and report["convert"]["chars"] > 0


def test_tiny_pipeline_removes_planted_duplicates(tiny_run: Path) -> None:
    def stats(name: str) -> dict[str, int]:
        drops: dict[str, int] = {}
        for p in (tiny_run / "results" / "dedup" / name).glob("*.stats.json"):
            for k, v in json.loads(p.read_text("utf-8"))["drops"].items():
                drops[k] = drops.get(k, 0) + v
        return drops

    # the Simplified copy of a Traditional poem: identical once converted
    assert stats("poems") == {"exact_duplicate": 1}
    # one paragraph with one word changed, on word 5-grams
    assert stats("english") == {"near_duplicate": 1}
    assert stats("news") == {}  # news has priority: its copies in notes go
    notes = stats("notes")
    assert notes["exact_duplicate"] >= 1 and notes["near_duplicate"] >= 1
    summary = json.loads((tiny_run / "results/dedup_work/clusters.json").read_text("utf-8"))
    assert summary["datasets"]["notes"]["shared_with"]["news"]["dropped_here"] == 2
    report = json.loads((tiny_run / "results" / "reports" / "notes.json").read_text("utf-8"))
    assert report["dedup"]["shared_with"]["news"]["dropped_here"] == 2
    assert report["dedup"]["examples"][0]["kept"]["dataset"] == "news"
    page = (tiny_run / "results" / "reports" / "notes.html").read_text("utf-8")
    assert 'id="dedup"' in page and "near_duplicate" in page


def test_tiny_pipeline_decodes_gbk_and_keeps_ids_unique(tiny_run: Path) -> None:
    ids, texts = [], []
    for shard in sorted((tiny_run / "results" / "convert").rglob("*.parquet")):
        table = pq.read_table(shard)
        ids += table["id"].to_pylist()
        texts += table["text"].to_pylist()
    assert len(ids) == len(set(ids))
    letter = [t for t in texts if t.startswith("亲爱的朋友")]  # from the GBK file
    assert letter and "\r" not in letter[0] and "院子里的花都开了" in letter[0]


def test_tiny_reports_render(tiny_run: Path) -> None:
    index = (tiny_run / "results" / "reports" / "index.html").read_text("utf-8")
    for name in ("news", "poems", "notes", "english"):
        assert f'href="{name}.html"' in index
        page = (tiny_run / "results" / "reports" / f"{name}.html").read_text("utf-8")
        assert "<svg" in page and "Funnel" in page


def test_rerun_has_nothing_to_do(tiny_run: Path) -> None:
    proc = run_snakemake(tiny_run, "-n", configfile=TINY)
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("change", "first_job"),
    [
        ({"band_groups": 3}, "dedup_buckets"),
        ({"bucket_partitions": 3}, "dedup_buckets"),
        ({"priority": ["poems", "news", "english", "notes"]}, "dedup_clusters"),
        ({"verify": False}, "dedup_clusters"),
        ({"verify_memory_mb": 64}, "dedup_clusters"),
    ],
)
def test_dedup_settings_read_after_the_signatures_keep_them(
    tiny_run: Path, tmp_path: Path, change: dict[str, object], first_job: str
) -> None:
    """Changing them reruns dedup from the first job that reads them; the signatures (the
    costly per-shard pass) and everything before them stay."""
    cfg = yaml.safe_load(TINY.read_text("utf-8"))
    cfg["dedup"].update(change)
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    proc = run_snakemake(tiny_run, "-n", "mix", configfile=changed)
    planned = planned_jobs(proc.stdout)
    assert first_job in planned and "dedup_clusters" in planned, planned
    before = {"extract", "clean", "convert", "dedup_signatures"}
    if first_job == "dedup_clusters":
        before.add("dedup_buckets")
    assert not before & set(planned), planned


def test_two_runs_are_byte_identical(tiny_run: Path, tmp_path: Path) -> None:
    again = tiny_workdir(tmp_path)
    run_snakemake(again, configfile=TINY)
    first, second = sha256s(tiny_run), sha256s(again)
    assert first and first == second


def test_keep_intermediate_false_removes_consumed_shards_with_identical_outputs(
    tiny_run: Path, tmp_path: Path
) -> None:
    """`keep_intermediate: false`: extract/clean/convert shards, signatures and pairs are gone
    after the run; their stats and quarantine stay; every kept output is byte-identical."""
    work = tiny_workdir(tmp_path)
    cfg = yaml.safe_load(TINY.read_text("utf-8"))
    cfg["keep_intermediate"] = False
    config = work / "lean.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    run_snakemake(work, configfile=config)
    results = work / "results"
    for stage in ("extract", "clean", "convert"):
        assert not list((results / stage).rglob("*.parquet")), stage
        assert list((results / stage).rglob("*.stats.json")), stage
    assert list((results / "extract").rglob("*.quarantine.jsonl"))
    assert not list((results / "dedup_work").rglob("signatures/**/*.parquet"))
    assert not list((results / "dedup_work").rglob("pairs/*.parquet"))
    kept = sha256s(work)
    full = sha256s(tiny_run)
    assert kept and all(full[k] == v for k, v in kept.items())
    assert {
        k for k in full if k.startswith(("results/dedup/", "results/tokens/", "results/mix/"))
    } <= set(kept)
    assert (results / "reports" / "index.html").is_file()
    proc = run_snakemake(work, "-n", configfile=config)  # removed files trigger no rerun
    assert "Nothing to be done" in proc.stdout, proc.stdout


def test_train_on_the_tiny_mix(tiny_run: Path) -> None:
    """`snakemake train`: accelerate launch on CPU, the model out, checkpoints kept aside."""
    from transformers import AutoModelForCausalLM

    proc = run_snakemake(tiny_run, "train", configfile=TINY)
    # progress on the console (the job's stdout) and the same plain lines in the job's log
    assert "train tiny: step 6/6 · loss " in proc.stdout and " val loss " in proc.stdout
    job_log = (tiny_run / "logs" / "train" / "tiny.log").read_text("utf-8")
    assert "train tiny: step 6/6 · loss " in job_log and "tokens/s" in job_log
    assert "\r" not in job_log
    out = tiny_run / "results" / "train" / "tiny"
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    assert model.config.n_layer == 2 and (out / "model" / "tokenizer.json").is_file()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text("utf-8").splitlines()]
    val = [r["val.loss"] for r in log if "val.loss" in r]
    assert len(val) == 3 and val[-1] < val[0]  # untrained, step 3, step 6
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-00000003",
        "step-00000006",
    ]
    assert (tiny_run / "logs" / "benchmarks" / "train" / "tiny.tsv").is_file()
    proc = run_snakemake(tiny_run, "-n", "train", configfile=TINY)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_snakemake_train_on_two_processes(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`train.gpus: 2` with multi_gpu.yaml, as on a GPU node, with gloo for NCCL: the rule's
    launcher starts two DDP processes, the mix's rows per step double, one model comes out."""
    cfg = yaml.safe_load(TINY.read_text("utf-8"))
    cfg["run"] = "ddp"
    cfg["train"].update(gpus=2, accelerate_config="multi_gpu.yaml")
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    run_snakemake(tiny_run, "train", configfile=config)
    out = tiny_run / "results" / "train" / "ddp"
    log = (tiny_run / "logs" / "train" / "ddp.log").read_text("utf-8")
    assert "--num_processes 2" in log and "gpt2zh.train" in log
    records = [json.loads(line) for line in (out / "log.jsonl").read_text("utf-8").splitlines()]
    seq = json.loads((tiny_run / "results" / "mix" / "manifest.json").read_text("utf-8"))["seq_len"]
    assert max(r.get("tokens", 0) for r in records) == 6 * 2 * 2 * seq  # steps × rows × processes
    assert (out / "model" / "model.safetensors").is_file()


def test_eval_on_the_tiny_model(tiny_run: Path) -> None:
    """`snakemake eval` on the model trained above: every key the reports read, the trained
    model beats the untrained one, eval.md renders, a rerun has nothing to do. (Six steps on
    one row of val per dataset: per-dataset gains are too small to be asserted.)"""
    run_snakemake(tiny_run, "eval", configfile=TINY)
    out = tiny_run / "results" / "eval" / "tiny"
    r = json.loads((out / "eval.json").read_text("utf-8"))
    check_contract(r)
    assert set(r["splits"]) == {"all", *yaml.safe_load(TINY.read_text("utf-8"))["datasets"]}
    assert r["splits"]["all"]["gain_bits_per_char"]["vs_untrained"] > 0
    assert r["run"] == "tiny" and r["step"] == 6 and r["samples"]
    md = (out / "eval.md").read_text("utf-8")
    assert "| all |" in md and "## Samples" in md
    assert (out / "lm_eval" / "gpt2zh_next_line.yaml").is_file()
    assert (tiny_run / "logs" / "benchmarks" / "eval" / "tiny.tsv").is_file()
    proc = run_snakemake(tiny_run, "-n", "eval", configfile=TINY)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_bad_config_fails_before_any_job(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text("utf-8"))
    cfg["datasets"]["news"]["shards"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    proc = run_snakemake(tmp_path, configfile=bad, check=False)
    assert proc.returncode != 0
    assert "datasets.news.shards: 0 is less than the minimum of 1" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_missing_local_source_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_snakemake(tmp_path, configfile=TINY, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "download" / "tiny.log").read_text("utf-8")
    assert "tests/data/tiny" in log and "Traceback" not in log


def test_url_source_over_loopback_http_with_a_dropped_connection(tmp_path: Path) -> None:
    """download → extract → report through Snakemake, the file fetched over HTTP, resumed."""
    from helpers.httpserver import Fault, serve

    data = REPO / "tests" / "data" / "tiny"
    digest = hashlib.sha256((data / "news.jsonl").read_bytes()).hexdigest()
    with serve(data) as server:
        server.add_fault("/news.jsonl", Fault(drop_after=200))
        cfg = yaml.safe_load(TINY.read_text("utf-8"))
        cfg["sources"] = {
            "web": {"type": "url", "urls": [{"url": server.url("news.jsonl"), "sha256": digest}]}
        }
        cfg["datasets"] = {"news": cfg["datasets"]["news"] | {"source": "web"}}
        cfg["dedup"]["priority"] = ["news"]  # names only datasets of this config
        cfg["mix"]["weights"] = {"news": 1.0}
        config = tmp_path / "web.yaml"
        config.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
        run_snakemake(tmp_path, configfile=config)
        ranges = [r.headers.get("Range") for r in server.requests_for("/news.jsonl")]
    assert "bytes=200-" in ranges
    manifest = json.loads((tmp_path / "results/download/web/manifest.json").read_text("utf-8"))
    size = (data / "news.jsonl").stat().st_size
    assert manifest["files"] == [{"path": "news.jsonl", "bytes": size, "sha256": digest}]
    report = json.loads((tmp_path / "results/reports/news.json").read_text("utf-8"))
    assert report["final"]["docs_out"] == 3 and report["quarantine"]["total"] == 3
