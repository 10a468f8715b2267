"""The CI-sized dress rehearsal: pretrain-zh as shipped, against a loopback Hub mirror with the
real repos' paths and record schemas (benchmarks/hub_mirror.py, a few MB), builds the whole data
target (download → mix) with only HF_ENDPOINT pointing at the mirror; rehearsal-ci.yaml, layered on
top, only scales shard counts and the validation split to MBs of data (its header says why)."""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from hub_mirror import SMOLTALK_COMMIT, HubMirror, build

pytestmark = pytest.mark.slow


def stage_totals(work: Path, stage: str, dataset: str) -> tuple[int, int, collections.Counter]:
    docs_in = docs_out = 0
    changes: collections.Counter = collections.Counter()
    for path in (work / "results" / stage / dataset).glob("*.stats.json"):
        s = json.loads(path.read_text("utf-8"))
        docs_in, docs_out = docs_in + s["docs_in"], docs_out + s["docs_out"]
        changes.update({k: v for k, v in s["changes"].items() if isinstance(v, int)})
        changes.update({f"drop:{k}": v for k, v in s["drops"].items()})
    return docs_in, docs_out, changes


def test_pretrain_zh_builds_its_data_from_a_hub_mirror(tmp_path):
    build(tmp_path / "hub", mb=0.2)
    work = tmp_path / "work"
    work.mkdir()
    config = work / "pretrain-zh.yaml"  # a copy, so that its lock file is written here
    shutil.copy(REPO / "workflow" / "configs" / "pretrain-zh.yaml", config)
    overlay = REPO / "benchmarks" / "rehearsal-ci.yaml"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work)]
    cmd += ["--workflow-profile", "none", "--cores", "2", "--configfile", str(config), str(overlay)]
    bin_dir = Path(sys.executable).parent
    with HubMirror(tmp_path / "hub") as hub:
        env = {
            **os.environ,
            "HF_ENDPOINT": hub.endpoint,
            "HF_HOME": str(tmp_path / "hf-home"),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        }
        env.pop("HF_TOKEN", None)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        commits = {name: repo.commit for name, repo in hub.repos.items()}

    # Branches resolved once and locked beside the config; smoltalk is pinned, so not locked.
    lock = yaml.safe_load((work / "pretrain-zh.lock.yaml").read_text("utf-8"))["sources"]
    assert {n: e["commit"] for n, e in lock.items()} == {
        "mnbvc": commits["liwu/MNBVC"],
        "c4": commits["allenai/c4"],
    }
    smoltalk = json.loads((work / "results/download/smoltalk/manifest.json").read_text("utf-8"))
    assert smoltalk["resolved"]["commit"] == SMOLTALK_COMMIT
    assert [f["path"] for f in smoltalk["files"]] == [
        f"{n}.parquet"
        for n in ("advice-seeking", "coding", "information-seeking", "math", "reasoning")
    ]  # root files only, not old/

    mnbvc = json.loads((work / "results/download/mnbvc/manifest.json").read_text("utf-8"))
    paths = [f["path"] for f in mnbvc["files"]]
    assert sum(p.startswith("news/20230196/") for p in paths) == 12
    assert not [p for p in paths if "shenbao" in p]  # 申报 stays out of the news slot
    assert [p for p in paths if p.startswith("crawler/")] == [
        "crawler/oscar/20230207/oscar_202201.part_0000.jsonl.gz"
    ]
    assert sum(p.startswith("qa/20230196/zhihu/") for p in paths) == 5

    # Every dataset read in full: C4 through the content sniff, MNBVC's flagged paragraphs out.
    for dataset in ("news", "crawl", "zhihu", "en", "smoltalk_zh"):
        docs_in, docs_out, changes = stage_totals(work, "extract", dataset)
        assert docs_in > 0 and docs_out == docs_in, (dataset, changes)
    assert stage_totals(work, "extract", "en")[2]["sniffed_jsonl"] == 1
    assert stage_totals(work, "extract", "news")[2]["items_dropped"] > 0
    # The generated prose is prose to the zh filters; the crawl's Traditional text is converted.
    for dataset in ("news", "crawl", "zhihu", "en"):
        docs_in, docs_out, _ = stage_totals(work, "clean", dataset)
        assert docs_out >= 0.95 * docs_in, dataset
    assert stage_totals(work, "convert", "crawl")[2]["docs_converted"] > 0

    mix = json.loads((work / "results/mix/manifest.json").read_text("utf-8"))
    assert set(mix["datasets"]) == {"news", "crawl", "zhihu", "en"}  # smoltalk is SFT
    assert (work / "results/tokens/counts.md").is_file()

    # Past the data: pretrain-zh's 10B training tokens over this MB-sized mix repeat everything.
    mix_path = str(work / "results/mix/manifest.json")
    plan = subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", "plan", "--config", str(config), "--mix", mix_path],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert "passes over each dataset: crawl" in plan
    assert "WARNING: training on this mix repeats dataset 'zhihu'" in plan
