"""The package's metadata fits a GPU machine: no torch upper bound (a CUDA torch installed first
is kept; the CPU wheel is pinned only by the Makefile's install step), no Python upper bound,
building it prints no setuptools deprecation warning, and the wheel carries the config schema."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from helpers import REPO


def test_torch_and_python_are_not_capped_and_the_cpu_pin_is_the_makefiles() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    torch = next(Requirement(r) for r in project["dependencies"] if r.startswith("torch"))
    assert all(s.operator in (">=", ">") for s in torch.specifier), torch
    assert all(
        s.operator in (">=", ">")
        for s in Requirement(f"python{project['requires-python']}").specifier
    )
    assert re.search(r"^TORCH\s+\?=\s+torch==\d", (REPO / "Makefile").read_text("utf-8"), re.M)


def test_building_the_metadata_warns_about_nothing(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tmp_path / name)
    (tmp_path / "src" / "gpt2zh").mkdir(parents=True)
    (tmp_path / "src" / "gpt2zh" / "__init__.py").write_text("", "utf-8")
    code = "from setuptools import build_meta as b; print(b.prepare_metadata_for_build_wheel('.'))"
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    meta = (tmp_path / proc.stdout.strip().splitlines()[-1] / "METADATA").read_text("utf-8")
    assert "License-Expression: MIT" in meta and "Requires-Python: >=3.11\n" in meta


def test_the_wheel_carries_the_schema_and_the_report_templates(tmp_path: Path) -> None:
    """A non-editable install reads the config schema from inside the package (config.py's
    `schema_path`): the wheel must hold the same bytes as workflow/schemas."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tmp_path / name)
    for folder in ("src", "workflow/schemas"):
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
        shutil.copytree(REPO / folder, tmp_path / folder, symlinks=True, ignore=ignore)
    code = "from setuptools import build_meta as b; print(b.build_wheel('dist'))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]) as wheel:
        names = set(wheel.namelist())
        assert "gpt2zh/config.schema.yaml" in names, sorted(names)
        schema = wheel.read("gpt2zh/config.schema.yaml")
    assert schema == (REPO / "workflow" / "schemas" / "config.schema.yaml").read_bytes()
    templates = {p.name for p in (REPO / "src" / "gpt2zh" / "report" / "templates").glob("*.j2")}
    assert {f"gpt2zh/report/templates/{t}" for t in templates} <= names
