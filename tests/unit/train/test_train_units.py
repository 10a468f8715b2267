"""Training building blocks: schedule, weight-decay groups, FLOPs/MFU, the scaling-law plan."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from gpt2zh.config import load_config
from gpt2zh.errors import UserError
from gpt2zh.train import plan as pl
from gpt2zh.train.log import RunLog
from gpt2zh.train.loop import lr_at
from gpt2zh.train.loss import next_token_loss
from gpt2zh.train.mfu import PEAK_TFLOPS_BF16, flops_per_token, mfu
from gpt2zh.train.model import ModelError, build_model, gpt2_config, padded_vocab, param_groups
from gpt2zh.train.settings import TrainSettings
from helpers import REPO
from helpers.train_fixtures import spec

T = TrainSettings.from_spec(
    spec(lr=1.0, min_lr=0.1, warmup_steps=10, schedule="cosine", decay_fraction=0.2)["train"]
)


def test_cosine_schedule_warms_up_then_decays_to_min_lr() -> None:
    assert lr_at(0, T, 100) == pytest.approx(0.1)
    assert lr_at(9, T, 100) == pytest.approx(1.0)
    assert lr_at(55, T, 100) == pytest.approx(0.55)  # halfway: the mean of lr and min_lr
    assert lr_at(100, T, 100) == pytest.approx(0.1)


def test_wsd_schedule_is_stable_then_decays_linearly() -> None:
    w = dataclasses.replace(T, schedule="wsd")
    assert [lr_at(i, w, 100) for i in (10, 50, 80)] == [1.0, 1.0, 1.0]
    assert lr_at(90, w, 100) == pytest.approx(0.1 + 0.9 * 10 / 20)
    assert lr_at(100, w, 100) == pytest.approx(0.1)


def test_train_settings_are_read_once_with_their_types() -> None:
    s = TrainSettings.from_spec(spec(lr=1, trackers=["wandb"], init_from="runs/base")["train"])
    assert type(s.lr) is float and s.lr == 1.0  # YAML writes `lr: 1` as an int
    assert s.trackers == ("wandb",) and s.init_from == Path("runs/base")
    assert type(s.sample_prompts) is tuple
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 2.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimizer": "sgd"}, r"train.optimizer: 'sgd' is not one of adamw, muon"),
        ({"seed": None}, r"train.seed: null is not allowed"),
        ({"max_steps": None, "tokens": None}, r"train: set max_steps or tokens"),
    ],
)
def test_bad_train_settings_name_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        TrainSettings.from_spec({**spec()["train"], **change})
    with pytest.raises(UserError, match=r"train.log_every: missing"):
        TrainSettings.from_spec({k: v for k, v in spec()["train"].items() if k != "log_every"})


def test_next_token_loss_and_its_gradient_equal_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50, (3, 9), generator=gen)
    logits = (4 * torch.randn(3, 9, 50, generator=gen, dtype=torch.float64)).requires_grad_()
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 50), ids[:, 1:].reshape(-1)
    )
    (want,) = torch.autograd.grad(2 * expected, logits)
    got = next_token_loss(logits, ids)
    (grad,) = torch.autograd.grad(2 * got, logits)
    assert torch.allclose(got, expected, atol=1e-12)
    assert torch.allclose(grad, want, atol=1e-12)
    assert not grad[:, -1].any()  # the last position predicts nothing


def test_progress_lines_are_plain_and_come_at_validations_and_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runlog = RunLog(tmp_path / "demo", start_step=0, max_steps=300, enabled=True, tensorboard=False)
    runlog.record(0, **{"val.loss": 9.0312, "tokens": 0})
    assert runlog.progress(0) == "train demo: step 0/300 · val loss 9.031"
    runlog.record(1, **{"train.loss": 9.01, "train.tokens_per_s": 7400.4, "tokens": 1024})
    line = runlog.progress(1)
    assert line.startswith("train demo: step 1/300 · loss 9.010 · val loss 9.031 (step 0)")
    assert "7,400 tokens/s" in line and "elapsed · ETA " in line
    runlog.record(2, **{"train.loss": 8.9, "train.tokens_per_s": 7000.0, "tokens": 2048})
    assert runlog.progress(2) is None  # neither due nor 10 s since the last line
    runlog.record(3, **{"val.loss": 8.5})
    assert runlog.progress(3).startswith("train demo: step 3/300 · loss 8.900 · val loss 8.500 ·")
    runlog.close()
    out, err = capsys.readouterr()
    assert out == err and len(out.splitlines()) == 3 and "\r" not in out


def test_no_weight_decay_on_biases_layernorms_embeddings() -> None:
    m = {"n_layer": 2, "n_embd": 32, "n_head": 2, "dropout": 0.0, "pad_vocab_multiple": 64}
    model = build_model(
        gpt2_config(m, vocab_size=100, seq_len=16, eos_id=0), "eager", torch.device("cpu")
    )
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])  # the Conv1D matrices only
    ids = {id(p) for p in no_decay["params"]}
    assert id(model.transformer.wte.weight) in ids and id(model.transformer.wpe.weight) in ids
    assert id(model.transformer.ln_f.weight) in ids
    n_all = len({id(p) for p in model.parameters()})
    assert len(decay["params"]) + len(no_decay["params"]) == n_all  # tied head counted once
    assert model.config.vocab_size == padded_vocab(100, 64) == 128


def test_bad_shapes_are_clear_errors() -> None:
    m = {"n_layer": 1, "n_embd": 30, "n_head": 4, "dropout": 0.0, "pad_vocab_multiple": 1}
    with pytest.raises(ModelError, match=r"multiple of model.n_head"):
        gpt2_config(m, vocab_size=10, seq_len=8, eos_id=0)
    m = {**m, "n_embd": 32, "n_positions": 4}
    with pytest.raises(ModelError, match=r"seq_len \(8\) is longer than model.n_positions \(4\)"):
        gpt2_config(m, vocab_size=10, seq_len=8, eos_id=0)


def test_flops_per_token_matches_nanogpt_for_gpt2_small() -> None:
    # GPT-2 124M: 124.44M parameters, 123.65M without the position embeddings (nanoGPT's N).
    n = 124_439_808 - 1024 * 768
    f = flops_per_token(n, 12, 12, 64, 1024)
    assert f == 6 * n + 12 * 12 * 12 * 64 * 1024
    assert f / 1e9 == pytest.approx(0.8552, rel=1e-3)  # 0.742 (6N) + 0.113 (attention)
    assert dict(PEAK_TFLOPS_BF16)["H100"] == 989.0 and dict(PEAK_TFLOPS_BF16)["A100"] == 312.0
    assert mfu(100_000, f, 989e12) == pytest.approx(100_000 * f / 989e12)
    assert mfu(1.0, f, None) is None


def test_deepseek_formulas() -> None:
    c = 1e20
    assert pl.m_per_token(12, 768, 1024) == 72 * 12 * 768**2 + 12 * 12 * 768 * 1024
    assert pl.lr_opt(c) == pytest.approx(0.3118 * c**-0.125)
    assert pl.batch_opt(c) == pytest.approx(0.2920 * c**0.3271)
    assert pl.m_opt(c) * pl.d_opt(c) == pytest.approx(c, rel=0.01)  # M·D = C by construction
    shape = pl.shape_for(pl.m_opt(c), 1024)
    got = pl.m_per_token(shape["n_layer"], shape["n_embd"], 1024)
    assert abs(math.log(got / pl.m_opt(c))) < 0.3 and shape["n_embd"] == 64 * shape["n_head"]


def test_plan_flags_a_budget_far_from_optimal() -> None:
    cfg = load_config([REPO / "workflow" / "configs" / "pretrain-zh.yaml"])
    manifest = {"datasets": {"a": {"tokens": 10**9}}}
    p = pl.plan(cfg, manifest)
    assert p["config"]["tokens"] == 19073 * 16 * 32 * 1024
    assert p["corpus_tokens"] == 10**9
    assert any("epochs of the" in f for f in p["flags"])  # 1B tokens cannot feed 10B
    assert "recommended model" in pl.render(p)
    balanced = pl.plan(cfg, None, compute=1e19)
    assert not [f for f in balanced["flags"] if "outside the range" in f]


def test_plan_cli_prints_the_table() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", "plan", "--config", str(REPO / "config.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "recommended model" in out.stdout and "WARNING" in out.stdout


def test_a_checkpoint_waits_for_every_process_file_then_names_the_missing(tmp_path: Path) -> None:
    import threading

    from gpt2zh.train.checkpoint import CheckpointError, _await_files

    (tmp_path / "rng-0.pt").write_bytes(b"")
    late = threading.Timer(0.3, (tmp_path / "rng-1.pt").write_bytes, [b""])
    late.start()
    _await_files(tmp_path, ["rng-0.pt", "rng-1.pt"], timeout_s=10)  # appears after 0.3 s
    with pytest.raises(CheckpointError, match=r"rng-2.pt not visible after 1 s: .*shares"):
        _await_files(tmp_path, ["rng-0.pt", "rng-2.pt"], timeout_s=1)
