"""Training: exact resume (in-process and under `accelerate launch`), bad input, the model out."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from gpt2zh.errors import UserError
from gpt2zh.train import checkpoint as ck
from gpt2zh.train.log import read_jsonl
from gpt2zh.train.loop import TrainingStopped, train
from helpers import REPO
from helpers.train_fixtures import curve, make_mix, make_tokenizer, spec

# dropout > 0 so that resuming must restore the RNG too; 9 steps, checkpoints every 3.
SPEC = spec(dropout=0.1, max_steps=9, checkpoint_every=3, eval_every=3, keep_checkpoints=3)


def _run(data: tuple[Path, Path], out: Path, s: dict[str, Any] = SPEC, **kw: Any) -> Any:
    return train(s, data[0], data[1], out, threads=1, **kw)


@pytest.fixture(scope="module")
def straight(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("straight")
    _run(data, out)
    return out


def test_uninterrupted_run_learns_and_saves_a_loadable_model(straight: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    points = curve(straight)
    val = [v for _, k, v in points if k == "val.loss"]
    assert len(val) == 4 and val[-1] < val[0]  # step 0 (untrained), 3, 6, 9
    assert [s for s, k, _ in points if k == "train.loss"] == list(range(1, 10))
    rec = next(r for r in read_jsonl(straight / "log.jsonl") if r["step"] == 9 and "train.lr" in r)
    assert rec["tokens"] == 9 * 2 * 32 and rec["train.tokens_per_s"] > 0 and rec["train.grad_norm"]
    model = AutoModelForCausalLM.from_pretrained(straight / "model")
    tok = AutoTokenizer.from_pretrained(straight / "model")
    assert model.config.n_positions == 32 and model.config.n_layer == 2
    gen = pipeline("text-generation", model=model, tokenizer=tok, device="cpu")
    text = gen("床前", max_new_tokens=5, do_sample=False)[0]["generated_text"]
    assert text.startswith("床前")
    umask = os.umask(0)
    os.umask(umask)
    for f in (straight / "model").iterdir():  # readable by whoever may read the folder
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f
    assert (straight / "tensorboard").is_dir() is False  # tiny.yaml switches it off
    assert [p.name for _, p in ck.list_checkpoints(straight / "checkpoints")] == [
        "step-00000009",
        "step-00000006",
        "step-00000003",
    ]


def test_sigterm_saves_and_resume_is_exact(
    data: tuple[Path, Path], straight: Path, tmp_path: Path
) -> None:
    def kill_at_4(step: int) -> None:
        if step == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingStopped, match=r"after step 5; checkpoint saved"):
        _run(data, tmp_path, on_step=kill_at_4)
    assert ck.list_checkpoints(tmp_path / "checkpoints")[0][0] == 5
    _run(data, tmp_path)
    assert curve(tmp_path) == curve(straight)
    from safetensors.torch import load_file

    w1 = load_file(straight / "model" / "model.safetensors")
    w2 = load_file(tmp_path / "model" / "model.safetensors")
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_muon_learns_resumes_exactly_and_saves_a_plain_gpt2(
    data: tuple[Path, Path], straight: Path, tmp_path: Path
) -> None:
    """train.optimizer muon: Muon on the blocks' matrices, AdamW on the rest, one state dict:
    paused after step 4 and resumed, the curve is the straight run's to the bit."""
    from transformers import AutoModelForCausalLM

    muon = {**SPEC, "train": {**SPEC["train"], "optimizer": "muon"}}
    _run(data, tmp_path / "straight", muon)
    assert curve(tmp_path / "straight") != curve(straight)  # another optimizer, another curve
    val = [v for _, k, v in curve(tmp_path / "straight") if k == "val.loss"]
    assert val[-1] < val[0]
    assert _run(data, tmp_path / "paused", muon, until_step=4)["paused"]
    _run(data, tmp_path / "paused", muon)
    assert curve(tmp_path / "paused") == curve(tmp_path / "straight")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "paused" / "model")
    assert model.config.model_type == "gpt2"


@pytest.mark.slow  # two `accelerate launch` runs
def test_accelerate_launch_pause_then_resume_matches(
    data: tuple[Path, Path], straight: Path, tmp_path: Path
) -> None:
    """The real launcher, twice: stop after step 4, then a rerun finishes the same curve."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC), "utf-8")
    cmd = [
        str(Path(sys.executable).parent / "accelerate"),
        "launch",
        "--config_file",
        str(REPO / "workflow" / "accelerate" / "cpu.yaml"),
        "-m",
        "gpt2zh.train",
        "--spec",
        f"@{spec_file}",
        "--mix",
        str(data[0]),
        "--tokenizer",
        str(data[1]),
        "--out",
        str(tmp_path / "run"),
        "--threads",
        "1",
    ]
    first = subprocess.run([*cmd, "--until-step", "4"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert not (tmp_path / "run" / "model").exists()
    second = subprocess.run(cmd, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "resumed from" in second.stderr and "step-00000004" in second.stderr
    assert curve(tmp_path / "run") == curve(straight)


@pytest.mark.parametrize("log_every", [1, 4])
def test_nan_loss_stops_and_names_the_last_good_checkpoint(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_every: int
) -> None:
    """With log_every 4 the host syncs at steps 1, 3, 4 and 6 only: the NaN of step 5 is found
    at step 6, named as step 5, and step 6's checkpoint is not written."""
    from gpt2zh.train import loop

    real, calls = loop.train_step, []

    def poisoned(*args: Any) -> Any:
        loss, norm = real(*args)
        calls.append(1)
        return (loss * float("nan"), norm) if len(calls) == 5 else (loss, norm)

    monkeypatch.setattr(loop, "train_step", poisoned)
    with pytest.raises(TrainingStopped, match=r"loss is nan at step 5.*step-00000003"):
        _run(data, tmp_path, {**SPEC, "train": {**SPEC["train"], "log_every": log_every}})
    assert [s for s, _ in ck.list_checkpoints(tmp_path / "checkpoints")] == [3]


def test_corrupt_checkpoint_falls_back_to_the_previous(
    data: tuple[Path, Path], straight: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _run(data, tmp_path, until_step=6)
    weights = tmp_path / "checkpoints" / "step-00000006" / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-10:] = b"\x00" * 10
    weights.write_bytes(bytes(raw))
    (tmp_path / "checkpoints" / ".step-00000009.tmp").mkdir()  # a save cut short by kill -9
    with caplog.at_level(logging.WARNING):
        _run(data, tmp_path)
    assert "checkpoint step 6 is corrupt (model.safetensors does not match its sha256)" in (
        caplog.text
    )
    assert curve(tmp_path) == curve(straight)  # resumed from step 3, same curve


def test_disk_full_while_saving_keeps_the_previous_checkpoint(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(data, tmp_path, until_step=3)

    def full(obj: Any, path: Path) -> None:
        raise OSError(28, "No space left on device")

    real_save = ck.Checkpoints.save
    monkeypatch.setattr(
        ck.Checkpoints, "save", lambda self, *a, **k: real_save(self, *a, write=full)
    )
    with pytest.raises(ck.CheckpointError, match=r"No space left.*step 3 is intact"):
        _run(data, tmp_path)
    found = ck.list_checkpoints(tmp_path / "checkpoints")
    assert [s for s, _ in found] == [3] and ck.verify(found[0][1]) is None
    assert not list((tmp_path / "checkpoints").glob(".step-*"))


def test_seq_len_longer_than_the_context_is_a_clear_error(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(UserError, match=r"mix.seq_len \(32\) is longer than model.n_positions"):
        _run(data, tmp_path, spec(n_positions=16))


def test_token_ids_outside_the_vocab_are_a_clear_error(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    small = make_tokenizer(tmp_path / "small", vocab_size=270)
    del small
    with pytest.raises(UserError, match=r"outside the tokenizer's vocab.*another tokenizer"):
        train(SPEC, data[0], tmp_path / "small", tmp_path / "out", threads=1)


def test_missing_or_empty_mix_is_a_clear_error(data: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"manifest.json not found: build the mix first"):
        _run((tmp_path / "nomix", data[1]), tmp_path / "a")
    tok = make_tokenizer(tmp_path / "tok")
    mix = make_mix(tmp_path / "mix", tok)
    (mix / "train" / "shard-00001.arrow").unlink()
    with pytest.raises(UserError, match=r"shard-00001.arrow: train shard listed .* is missing"):
        _run((mix, data[1]), tmp_path / "b")
    empty = make_mix(tmp_path / "empty", tok, train_rows=1)
    with pytest.raises(UserError, match=r"train split: 1 rows are fewer than one global batch"):
        _run((empty, data[1]), tmp_path / "c")


def test_benchmark_runs_on_cpu_with_a_tiny_model() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "train_gpu.py"), "--tiny", "--steps", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    for word in ("device:", "torch", "gpt2zh loop", "reference", "tokens/s", "ratio"):
        assert word in out.stdout


def test_cpu_benchmark_runs_the_loop_and_the_reference(data: tuple[Path, Path]) -> None:
    script = REPO / "benchmarks" / "train_cpu_bench.py"
    out = subprocess.run(
        [sys.executable, str(script), "--config", str(REPO / "workflow" / "configs" / "tiny.yaml"),
         "--mix", str(data[0]), "--tokenizer", str(data[1]), "--steps", "3", "--repeats", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "run 1 reference:" in out.stdout and "run 1    gpt2zh:" in out.stdout
    assert "ratio gpt2zh / reference:" in out.stdout


def test_gpu_session_script_runs_its_checks_on_cpu(tmp_path: Path) -> None:
    """The one-command GPU check (benchmarks/gpu_session.py), in its CPU mode: prepared data,
    a straight run, a paused and resumed one equal to it, the model loads and generates."""
    script = str(REPO / "benchmarks" / "gpu_session.py")
    prep = [sys.executable, script, "prepare", str(tmp_path / "s"), "--no-download"]
    subprocess.run([*prep, "--steps", "4"], check=True, capture_output=True, timeout=120)
    run = [sys.executable, script, "run", str(tmp_path / "s"), "--out", str(tmp_path / "out")]
    proc = subprocess.run(
        [*run, "--configs", "cpu.yaml", "--no-benchmark"], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "gpu_session.json").read_text("utf-8"))
    cpu = report["cpu"]
    assert [cpu[k]["rc"] for k in ("straight", "paused", "resumed")] == [0, 0, 0]
    assert cpu["resume_max_abs_diff"] == 0.0 and cpu["model_generates"].startswith("床前")


def test_checkpoints_of_another_config_are_set_aside_not_resumed(
    data: tuple[Path, Path], straight: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After a config change Snakemake reruns train; the old run's checkpoints must neither be
    resumed (another trajectory) nor block the run nor be deleted."""
    other = {**SPEC, "train": {**SPEC["train"], "lr": SPEC["train"]["lr"] * 2}}
    _run(data, tmp_path, other, until_step=6)
    # settings that only observe the run keep the fingerprint: this resumes
    observe = {**other, "train": {**other["train"], "log_every": 2, "eval_batches": 1}}
    assert ck.run_fingerprint(observe, *data) == ck.run_fingerprint(other, *data)
    with caplog.at_level(logging.WARNING):
        _run(data, tmp_path)  # SPEC: another learning rate, another run
    assert "belong to another config or other data" in caplog.text
    assert curve(tmp_path) == curve(straight)  # from scratch, step for step
    stale = tmp_path / "checkpoints.stale" / ck.run_fingerprint(other, *data)
    assert [s for s, _ in ck.list_checkpoints(stale)] == [6, 3]
