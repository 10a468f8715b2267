"""Fixtures shared by the tests, and the `slow` mark on everything under e2e/ (`make test-fast`
leaves the end-to-end runs out). Helper code lives in the `helpers` package, which this folder
on sys.path makes importable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the `helpers` package

from helpers import REPO
from helpers.workflow import TINY, run_snakemake, tiny_workdir

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every end-to-end test is slow: it runs Snakemake, training or a cluster for real."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a scratch cwd so relative output folders behave as under Snakemake."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny data pipeline, run once per session by Snakemake. Tests may add to it (train,
    eval, dry runs with other configs) but never change what it built; tests that do copy it
    or build their own."""
    work = tiny_workdir(tmp_path_factory.mktemp("tiny"))
    run_snakemake(work, configfile=TINY)
    return work


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(mix, tokenizer) of the training tests: five poems packed into 32-token rows; read only."""
    from helpers.train_fixtures import make_mix, make_tokenizer

    root = tmp_path_factory.mktemp("data")
    tok = make_tokenizer(root / "tokenizer")
    return make_mix(root / "mix", tok), root / "tokenizer"
