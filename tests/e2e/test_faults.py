"""Faults on the way to training: flipped bytes in a mixed shard stop the run before the first
step and name the file; a `kill -9` of `snakemake train` resumes from the last checkpoint."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from gpt2zh.mix.verify import CorruptShardError, check_verified, verify_mix
from gpt2zh.train.data import open_data
from gpt2zh.train.log import read_jsonl
from helpers.train_fixtures import make_mix, make_tokenizer
from helpers.workflow import (
    TINY,
    killed_after,
    project_copy,
    run_as_written,
    run_snakemake,
    tiny_workdir,
)

SHARD = "train/shard-00001.arrow"


def flip(path: Path, offset: int = -40) -> None:
    """Flips one byte inside the record data (not the stream header), as bit rot would."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def mix(tmp_path: Path) -> tuple[Path, int, int]:
    tok = make_tokenizer(tmp_path / "tokenizer")
    return make_mix(tmp_path / "mix", tok), len(tok), tok.eos_token_id


def _open(mix: tuple[Path, int, int]) -> None:
    folder, vocab, eos = mix
    open_data(folder, vocab_size=vocab, eos_id=eos, batch_size=2, seed=0, rank=0, world_size=1)


def test_verify_names_every_corrupted_shard_and_writes_no_record(mix, tmp_path: Path) -> None:
    folder = mix[0]
    flip(folder / SHARD)
    flip(folder / "val/shard-00000.arrow")
    with pytest.raises(CorruptShardError) as err:
        verify_mix(folder, tmp_path / "verified.json", threads=2)
    msg = str(err.value)
    assert "2 of 5 mix shards" in msg
    assert str(folder / SHARD) in msg and str(folder / "val/shard-00000.arrow") in msg
    assert not (tmp_path / "verified.json").exists()


def test_training_stats_verified_shards_and_hashes_changed_ones(mix) -> None:
    folder = mix[0]
    with pytest.raises(CorruptShardError):  # no record: every shard is hashed at start-up
        flip(folder / SHARD)
        _open(mix)
    flip(folder / SHARD)  # restored
    _open(mix)
    verify_mix(folder, folder / "verified.json")
    assert check_verified(folder) == 0  # as verified: only stat'ed
    flip(folder / SHARD)  # corrupted after verification (its mtime moves)
    assert check_verified(folder, ["train/shard-00000.arrow"]) == 0  # not read, not checked
    with pytest.raises(CorruptShardError, match=re.escape(str(folder / SHARD))):
        _open(mix)


def _config(tmp_path: Path) -> Path:
    """tiny.yaml with enough steps that a kill lands between the first checkpoint and the end."""
    cfg = yaml.safe_load(TINY.read_text("utf-8"))
    cfg["train"] |= {"max_steps": 12, "checkpoint_every": 3, "eval_every": 12}
    path = tmp_path / "faults.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny data up to the mix (not verified), copied by each test that changes it."""
    root = tmp_path_factory.mktemp("faults")
    config = _config(root)
    work = tiny_workdir(root / "work")
    run_snakemake(work, "mix", configfile=config)
    return work, config


def _copy(mixed: tuple[Path, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(mixed[0], tmp_path / "work", symlinks=True))


def test_corrupted_shard_stops_snakemake_train_before_it_starts(mixed, tmp_path: Path) -> None:
    work = _copy(mixed, tmp_path)
    flip(work / "results/mix" / SHARD)
    proc = run_snakemake(work, "train", configfile=mixed[1], check=False)
    assert proc.returncode != 0
    assert "Error in rule mix_verify" in proc.stdout + proc.stderr
    log = (work / "logs/mix/verify.log").read_text("utf-8")
    assert f"results/mix/{SHARD}: sha256 " in log and "corrupted" in log
    assert not (work / "results/mix/verified.json").exists()
    assert not (work / "results/train").exists()  # no step taken on bad data


@pytest.mark.slow  # two accelerate launches: ~35 s on 2 cores
def test_kill_9_during_snakemake_train_resumes_from_the_last_checkpoint(
    mixed, tmp_path: Path
) -> None:
    work = project_copy(_copy(mixed, tmp_path), config=mixed[1])
    run = work / "results/train/tiny"
    killed_after(work, "results/train/tiny/checkpoints/step-*", "snakemake --cores all train")
    assert not (run / "model/config.json").exists()  # killed mid-run
    saved = max(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("step-*"))
    run_as_written(work, "snakemake --unlock")  # README's recovery, word for word
    run_as_written(work, "snakemake --cores all train")
    log = (work / "logs/train/tiny.log").read_text("utf-8")
    resumed = re.search(r"resumed from \S+step-(\d+) \(step (\d+),", log)
    assert resumed, log
    assert int(resumed.group(2)) == saved > 0
    steps = [r["step"] for r in read_jsonl(run / "log.jsonl") if "train.loss" in r]
    assert steps == list(range(1, 13))  # nothing lost or repeated across the kill
    assert json.loads((run / "model/config.json").read_text("utf-8"))["n_layer"] == 2
    assert (run / "model/model.safetensors").is_file() and not list(run.rglob("*.bin"))
