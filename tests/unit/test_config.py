"""Config validation: every shipped config is valid, bad ones fail naming the key path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gpt2zh.config import ConfigError, dataset_spec, load_config, validate_config
from helpers import REPO
from helpers.config import tiny_config

CONFIGS = [REPO / "config.yaml", *sorted((REPO / "workflow" / "configs").glob("*.yaml"))]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    cfg = load_config([path])
    assert cfg["datasets"], path
    for name in cfg["datasets"]:
        spec = dataset_spec(cfg, name)
        assert spec["source_spec"]["type"] in {"npm", "url", "hf", "local"}


def test_defaults_filled() -> None:
    cfg = validate_config(tiny_config())
    assert cfg["download"]["retries"] == 5
    reader = cfg["datasets"]["news"]["read"][0]
    assert reader["format"] == "auto" and reader["encoding"] == "auto" and reader["join"] == "\n"
    assert cfg["datasets"]["news"]["role"] == "pretrain"


def test_validation_does_not_mutate_input() -> None:
    raw = tiny_config()
    before = copy.deepcopy(raw)
    validate_config(raw)
    assert raw == before


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c["datasets"]["news"].update(shards=0), "datasets.news.shards"),
        (lambda c: c["datasets"]["news"].update(shard=2), "'shard' was unexpected"),
        (lambda c: c["datasets"].update({"bad name; rm -rf": c["datasets"]["news"]}), "datasets"),
        (lambda c: c["datasets"]["news"].update(source="nope"), "datasets.news.source"),
        (lambda c: c["sources"]["tiny"].pop("path"), "'path' is a required property"),
        (lambda c: c["sources"].update(x={"type": "ftp"}), "sources.x.type"),
        (lambda c: c["datasets"]["news"]["read"][0].update(format="xml"), "read.0.format"),
        (lambda c: c["mix"]["weights"].update(ghost=1), "mix.weights.ghost"),
        (lambda c: c["mix"]["weights"].update(news=-1), "mix.weights.news"),
        (
            lambda c: c["sources"].update(u={"type": "url", "urls": [{"url": "x", "sha256": "1"}]}),
            "sources.u.urls.0",
        ),
    ],
)
def test_bad_config_names_the_key(mutate, expected: str) -> None:
    cfg = tiny_config()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert expected in str(err.value)


def test_sft_dataset_cannot_be_mixed() -> None:
    cfg = tiny_config()
    cfg["datasets"]["news"]["role"] = "sft"
    with pytest.raises(ConfigError, match=r"mix\.weights\.news: dataset has role 'sft'"):
        validate_config(cfg)


def test_later_config_files_override(tmp_path: Path) -> None:
    override = tmp_path / "o.yaml"
    override.write_text("datasets:\n  news:\n    shards: 3\n", encoding="utf-8")
    cfg = load_config([REPO / "workflow" / "configs" / "tiny.yaml", override])
    assert cfg["datasets"]["news"]["shards"] == 3
    assert cfg["datasets"]["news"]["read"][0]["files"] == "news.jsonl"
