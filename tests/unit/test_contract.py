"""Stage contracts and the path map: what the rules and the CLI share."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from gpt2zh import layout
from gpt2zh.cli import STAGES, stage
from gpt2zh.config import load_config
from gpt2zh.contract import Stage
from gpt2zh.dedup.spec import JOB_KEYS, dedup_job_spec, dedup_spec
from helpers import REPO

RULES = [*sorted((REPO / "rules").glob("*.smk")), REPO / "Snakefile"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_registered_stage_is_a_contract(name: str) -> None:
    assert isinstance(stage(name), Stage)


@pytest.mark.parametrize("name", ["extract", "clean", "convert", "tokenize"])
def test_a_job_imports_only_its_own_stage(name: str) -> None:
    """A job parses with its own stage's contract alone: the other packages (the training stack,
    the readers of every format) are never imported into a per-shard process."""
    others = {
        "gpt2zh.extract",
        "gpt2zh.clean",
        "gpt2zh.convert",
        "gpt2zh.tokenize",
        "gpt2zh.dedup",
        "gpt2zh.mix",
        "gpt2zh.sources",
        "gpt2zh.report",
        "gpt2zh.train",
        "gpt2zh.eval",
    } - {f"gpt2zh.{name}"}
    code = (
        "import json, sys; from gpt2zh.cli import build_parser; "
        f"build_parser({name!r}); print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m for m in json.loads(out.stdout) if m.startswith("gpt2zh.")}
    assert not {m for m in loaded if m.rpartition(".")[0] in others or m in others}


def test_no_rule_imports_the_cli() -> None:
    """Rules build specs with the stage's own builder; the CLI is for running a stage."""
    for path in RULES:
        assert not re.search(r"gpt2zh\.cli\b|from gpt2zh import cli", path.read_text()), path


def test_rules_build_no_path_by_hand() -> None:
    """Paths come from gpt2zh.layout: no folder taken apart with os.path.dirname, no literal
    results/ or logs/ folder."""
    for path in RULES:
        text = path.read_text()
        assert "os.path.dirname" not in text, path
        assert not re.search(r"[\"'](results|logs)/", text), path


@pytest.mark.parametrize("data", [".parquet", ".arrow"])
def test_one_sidecar_for_every_shard(data: str) -> None:
    shard = layout.tokens("ds", "shard-00003", data)
    assert str(layout.sidecar(shard, ".stats.json")) == "results/tokens/ds/shard-00003.stats.json"


def test_each_dedup_job_gets_only_its_keys() -> None:
    spec = dedup_spec(load_config([REPO / "config.yaml"]))
    for job in ("signatures", "buckets", "clusters", "filter"):
        got = dedup_job_spec(spec, job)
        for key, jobs in JOB_KEYS.items():
            assert (key in got) == (job in jobs), (job, key)
        assert got["num_perm"] == spec["num_perm"]  # every job reads the rest


def test_the_folders_rules_derive_are_the_stages_folders() -> None:
    """Rules pass a command the folder of a declared file (layout.folder): it is the folder the
    map names, whichever file of it the rule declares."""
    assert layout.folder(layout.dedup_signatures("ds", "shard-00000"), up=2) == (
        layout.DEDUP_SIGNATURES
    )
    assert layout.folder(layout.shard("convert", "ds", "shard-00000", ".parquet"), up=2) == (
        layout.stage_dir("convert")
    )
    assert layout.folder(layout.train_model_config("r"), up=2) == layout.train_dir("r")
    assert layout.folder(layout.eval_result("r", ".json")) == layout.eval_dir("r")
    assert layout.folder(layout.MIX_MANIFEST) == layout.MIX_DIR
    assert layout.folder(layout.TOKENIZER_JSON) == layout.TOKENIZER_DIR
    assert layout.folder(layout.run_report("r", "index")) == layout.run_report_dir("r")
    assert layout.folder(layout.manifest("s")) == layout.download_dir("s")
