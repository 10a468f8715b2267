"""README.md's commands, run word for word as a user would type them, in a copy of the project
folder (so Snakemake finds the workflow profile as it does for the user), and README.zh-CN.md
kept to the same commands.

Each `snakemake` line of README's ```bash blocks is dry-run (`-n` put after `snakemake`, nothing
else changed): an argument order that breaks the command (`--configfile` swallowing a target
after it) fails here. `--unlock`, `--report` and a failing run are run for real on the tiny data.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from gpt2zh.config import load_config
from helpers import REPO
from helpers.workflow import TINY, project_copy, run_as_written

README = REPO / "README.md"
README_ZH = REPO / "README.zh-CN.md"


def blocks(path: Path, lang: str) -> list[str]:
    """The bodies of the ```lang blocks of a markdown file."""
    return re.findall(rf"^```{lang}\n(.*?)^```", path.read_text("utf-8"), re.M | re.S)


def commands(path: Path) -> list[str]:
    """Every command line of the ```bash blocks, without its trailing comment."""
    lines = (line for block in blocks(path, "bash") for line in block.splitlines())
    return [c for c in (re.sub(r"\s+#.*$", "", line).strip() for line in lines) if c]


def own_data_config(path: Path) -> dict:
    """The "using your own data" config of a README (the YAML block that sets `run: mine`)."""
    found = [yaml.safe_load(b) for b in blocks(path, "yaml") if b.startswith("run: mine")]
    assert len(found) == 1, path
    return found[0]


SNAKEMAKE = [c for c in commands(README) if c.startswith("snakemake ")]
# run for real below, on built data: a dry run of these means nothing
REAL = {"snakemake --unlock", "snakemake --report report.html"}


def test_the_chinese_readme_is_linked_and_carries_the_same_commands() -> None:
    head = README.read_text("utf-8").split("\n## ")[0]
    assert "(README.zh-CN.md)" in head
    assert commands(README_ZH) == commands(README)
    assert own_data_config(README_ZH) == own_data_config(README)
    for heading in ("## 快速开始", "## 使用自己的数据", "## 配置", "## 训练", "## 评测与报告"):
        assert heading in README_ZH.read_text("utf-8"), heading


def test_the_own_data_config_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(own_data_config(README), allow_unicode=True), "utf-8")
    cfg = load_config([path])
    assert cfg["run"] == "mine" and cfg["datasets"]["qa"]["shards"] == 4


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone's project folder, plus README's mine.yaml."""
    work = project_copy(tmp_path_factory.mktemp("clone"))
    (work / "mine.yaml").write_text(yaml.safe_dump(own_data_config(README)), "utf-8")
    return work


@pytest.mark.parametrize("command", [c for c in SNAKEMAKE if c not in REAL])
def test_documented_snakemake_command_dry_runs_as_written(command: str, project: Path) -> None:
    proc = run_as_written(project, command.replace("snakemake ", "snakemake -n ", 1))
    out = proc.stdout + proc.stderr
    assert "workflow specific profile profiles/default" in out  # the user's profile is loaded
    assert "This was a dry-run" in out


def test_gpt2zh_help_runs_as_written(project: Path) -> None:
    assert "gpt2zh --help" in commands(README)
    assert "extract" in run_as_written(project, "gpt2zh --help").stdout


@pytest.fixture(scope="module")
def built(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny data run, as the project folder of a user whose config.yaml is tiny's."""
    work = Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp("built") / "p", symlinks=True))
    return project_copy(work, config=TINY)


def test_unlock_report_and_a_rerun_as_written_on_a_built_project(built: Path) -> None:
    assert set(SNAKEMAKE) >= REAL
    run_as_written(built, "snakemake --unlock")  # needs no --cores
    run_as_written(built, "snakemake --report report.html")  # nor does this
    assert "Datasets" in (built / "report.html").read_text("utf-8", errors="replace")
    # a copied project is up to date: no parameter holds the folder's absolute path
    rerun = run_as_written(built, "snakemake -n --cores all train")
    assert "launch --config-file workflow/accelerate/" in rerun.stdout + rerun.stderr
    data = run_as_written(built, "snakemake --cores all")
    assert "Nothing to be done" in data.stdout + data.stderr


def test_a_failed_job_prints_its_cause_on_the_console(tmp_path: Path) -> None:
    """README's own-data command on data without the template's fields: extract fails, and the
    console (not only logs/extract/…) says why, before any later stage runs."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    rows = "".join(f'{{"id": {n}, "问": "问题{n}", "答": "回答{n}"}}\n' for n in range(20))
    (folder / "a.jsonl").write_text(rows, "utf-8")
    cfg = own_data_config(README)
    cfg["sources"]["mine"]["path"] = str(folder)
    cfg["datasets"]["qa"]["shards"] = 1
    work = project_copy(tmp_path / "clone")
    (work / "mine.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    command = "snakemake --cores all --configfile mine.yaml"
    assert command in SNAKEMAKE
    proc = run_as_written(work, command, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Error in rule extract" in out
    assert "most as missing_field (20): missing field 'question'" in out  # the log, on the console
    assert "the records have the fields: id, 问, 答" in out
    assert not (work / "results" / "clean").exists()
