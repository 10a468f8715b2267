"""Config values YAML allows but the config cannot mean: .nan/.inf and keys written twice are
errors naming the key, from the CLI's loader and from Snakemake alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpt2zh.config import ConfigError, load_config
from helpers.workflow import TINY, run_snakemake

BASE = TINY.read_text("utf-8")


def _with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in BASE
    path = tmp_path / "cfg.yaml"
    path.write_text(BASE.replace(old, new, 1), "utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "shown"), [(".nan", "nan"), (".inf", "inf"), ("-.inf", "-inf"), (".NaN", "nan")]
)
def test_nan_and_infinity_are_config_errors_naming_the_key(
    tmp_path: Path, value: str, shown: str
) -> None:
    cfg = _with(tmp_path, "    news: 0.4\n", f"    news: {value}\n")
    with pytest.raises(ConfigError, match=rf"mix\.weights\.news: {shown} is not a finite number"):
        load_config([cfg])


def test_a_nan_inside_a_list_is_named_by_its_index(tmp_path: Path) -> None:
    cfg = _with(tmp_path, "  weights:\n", "  nan_list: [1, .nan]\n  weights:\n")
    with pytest.raises(ConfigError, match=r"mix\.nan_list\[1\]: nan is not a finite number"):
        load_config([cfg])


def test_a_dataset_written_twice_is_a_config_error_naming_it(tmp_path: Path) -> None:
    news = BASE[BASE.index("  news:\n") : BASE.index("  poems:\n")]
    cfg = _with(tmp_path, "  poems:\n", news + "  poems:\n")
    with pytest.raises(ConfigError, match=r"datasets\.news: written twice in .*cfg\.yaml \(lines"):
        load_config([cfg])


def test_a_key_written_twice_deeper_down_is_named_too(tmp_path: Path) -> None:
    cfg = _with(tmp_path, "    news: 0.4\n", "    news: 0.4\n    news: 0.5\n")
    with pytest.raises(ConfigError, match=r"mix\.weights\.news: written twice"):
        load_config([cfg])


def test_snakemake_refuses_both_before_any_job(tmp_path: Path) -> None:
    news = BASE[BASE.index("  news:\n") : BASE.index("  poems:\n")]
    dup = _with(tmp_path, "  poems:\n", news + "  poems:\n")
    proc = run_snakemake(tmp_path, "-n", configfile=dup, check=False)
    assert proc.returncode != 0 and "datasets.news: written twice" in proc.stdout + proc.stderr
    nan = _with(tmp_path, "    news: 0.4\n", "    news: .nan\n")
    proc = run_snakemake(tmp_path, "-n", configfile=nan, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "mix.weights.news: nan is not a finite number" in out


def test_a_yaml_syntax_error_is_a_config_error_naming_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("run: demo\ndatasets:\n  news: {shards: 4\nmix: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)broken\.yaml: not valid YAML: .*line 4, column 4"):
        load_config([cfg])


def test_a_config_file_that_is_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- run: demo\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"list\.yaml: the top level must be a mapping.*list"):
        load_config([cfg])
