"""`train.init_from` (continue pretraining from a save_pretrained GPT-2) and `train.trackers`
(W&B and the other accelerate trackers): real training runs on CPU, a few steps each."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from gpt2zh.errors import UserError
from gpt2zh.train.log import read_jsonl
from gpt2zh.train.loop import train
from helpers.train_fixtures import make_tokenizer, spec

BASE = spec(max_steps=3, eval_every=3, checkpoint_every=3)


def _val(out: Path) -> dict[int, float]:
    return {r["step"]: r["val.loss"] for r in read_jsonl(out / "log.jsonl") if "val.loss" in r}


@pytest.fixture(scope="module")
def base(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base")
    train(BASE, data[0], data[1], out, threads=1)
    return out


def test_init_from_continues_the_saved_model(
    data: tuple[Path, Path], base: Path, tmp_path: Path
) -> None:
    # another shape in model: is ignored, the folder's architecture is trained on
    s = spec(
        max_steps=3, eval_every=3, checkpoint_every=3, n_layer=3, init_from=str(base / "model")
    )
    train(s, data[0], data[1], tmp_path, threads=1)
    # step 0 of the continued run is the saved model: its val loss is the base run's last one
    assert _val(tmp_path)[0] == pytest.approx(_val(base)[3], rel=1e-6)
    assert _val(tmp_path)[0] < _val(base)[0]  # not a fresh model
    assert _val(tmp_path)[3] < _val(tmp_path)[0]  # and it goes on learning
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path / "model").n_layer == 2


def test_init_from_refuses_a_model_of_another_tokenizer(
    data: tuple[Path, Path], base: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(base / "model", other)
    make_tokenizer(other, vocab_size=280)  # the model saved with another vocabulary
    with pytest.raises(UserError, match=r"train.init_from: the model's tokenizer \(2\d\d tokens\)"
                       r".*set tokenizer.pretrained: "):  # fmt: skip
        train(spec(init_from=str(other)), data[0], data[1], tmp_path / "out", threads=1)
    with pytest.raises(UserError, match=r"train.init_from: .*missing has no config.json"):
        train(spec(init_from=str(tmp_path / "missing")), *data, tmp_path / "out", threads=1)
    assert not (tmp_path / "out" / "checkpoints").exists()  # refused before any step


def test_accelerate_trackers_get_the_log_records(data: tuple[Path, Path], tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # accelerate's own TensorBoard tracker stands in for W&B: the same code path, installed here
    train(spec(max_steps=3, eval_every=3, trackers=["tensorboard"]), *data, tmp_path, threads=1)
    events = EventAccumulator(str(next((tmp_path / "trackers").rglob("events.out.*")).parent))
    events.Reload()
    steps = {k: [e.step for e in events.Scalars(k)] for k in ("train/loss", "val/loss")}
    logged = read_jsonl(tmp_path / "log.jsonl")
    assert steps["train/loss"] == [r["step"] for r in logged if "train.loss" in r]
    assert steps["val/loss"] == [0, 3]


def test_a_tracker_that_is_not_installed_is_a_config_error(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    missing = next(
        (n for n in ("wandb", "aim", "clearml", "dvclive") if importlib.util.find_spec(n) is None),
        None,
    )
    if missing is None:
        pytest.skip("every tracker package is installed")
    s: dict[str, Any] = spec(trackers=[missing])
    with pytest.raises(UserError, match=rf"train.trackers: {missing} not installed .*pip install"):
        train(s, *data, tmp_path, threads=1)


def test_trackers_only_observe_and_init_from_is_another_run(data: tuple[Path, Path]) -> None:
    from gpt2zh.train.checkpoint import run_fingerprint

    def fp(**kw: Any) -> str:
        return run_fingerprint(spec(**kw), *data)

    assert fp(trackers=["wandb"], tracker_project="x") == fp()  # switching W&B on still resumes
    assert fp(init_from="some/model") != fp()
