"""Several processes and several "nodes", for real, on CPU: the GPU configs launched by
`gpt2zh launch` (torchrun, DDP, c10d rendezvous) with gloo in place of NCCL.

`ACCELERATE_USE_CPU=1` is the only difference from a GPU machine: it makes accelerate pick the
gloo backend. The processes, the launcher, the configs in workflow/accelerate/ and the
rendezvous are the ones a GPU job uses, so what these tests check — the data split across
ranks, the gradient all-reduce, checkpoints written and resumed by several processes, two node
launchers meeting at the first host — holds there too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from gpt2zh.train import checkpoint as ck
from gpt2zh.train.log import read_jsonl
from gpt2zh.train.loop import train
from helpers import REPO
from helpers.train_fixtures import curve, spec

pytestmark = pytest.mark.slow

ACC = REPO / "workflow" / "accelerate"
BIN = Path(sys.executable).parent
STEPS = dict(max_steps=9, checkpoint_every=3, eval_every=3, keep_checkpoints=3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(
    data: tuple[Path, Path],
    out: Path,
    s: dict[str, Any],
    *launch: str,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
    name: str = "launch",
    gloo: bool = True,
) -> tuple[subprocess.Popen[bytes], Path]:
    """Starts one launcher; its output goes to a file (a pipe nobody reads while the other
    node is awaited would fill up and stall the collective both wait in)."""
    spec_file = out.with_name(out.name + ".spec.json")
    spec_file.write_text(json.dumps(s), "utf-8")
    train_args = ["--spec", f"@{spec_file}", "--mix", str(data[0]), "--tokenizer", str(data[1])]
    cmd = [str(BIN / "gpt2zh"), "launch", *launch, "--", *train_args, "--out", str(out), *extra]
    full_env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        **(env or {}),
    }
    if gloo:
        full_env["ACCELERATE_USE_CPU"] = "1"
    log = out.with_name(f"{out.name}.{name}.log")
    with open(log, "w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            cmd, env=full_env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, log


def _done(*launched: tuple[subprocess.Popen[bytes], Path]) -> str:
    try:
        for proc, _ in launched:
            proc.wait(timeout=180)
    finally:  # a hung rendezvous must not outlive the test
        for proc, _ in launched:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    texts = [log.read_text("utf-8") for _, log in launched]
    for (proc, _), text in zip(launched, texts, strict=True):
        assert proc.returncode == 0, text[-4000:]
    return "\n".join(texts)


def _one_node(data: tuple[Path, Path], out: Path, s: dict[str, Any], *extra: str) -> str:
    config = ["--config-file", str(ACC / "multi_gpu.yaml"), "--gpus", "2"]
    return _done(_launch(data, out, s, *config, "--port", str(_free_port()), extra=extra))


def _wait_listening(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"node 0 never opened the rendezvous port {port}")


def _two_nodes(data: tuple[Path, Path], out: Path, s: dict[str, Any], *extra: str) -> str:
    """Two node launchers as `srun --ntasks-per-node=1` starts them on a 2-node step with one
    GPU each; both nodes are this machine and the checkpoint folder is shared, as on a cluster.
    Node 1 starts once node 0 hosts the rendezvous: on one machine a node 1 that came first
    would host it itself, and node 0's launcher would then find its port taken."""
    port = _free_port()
    launched = []
    for rank in (0, 1):
        env = {
            "SLURM_JOB_ID": "4242",
            "SLURM_NNODES": "2",
            "SLURM_STEP_NUM_TASKS": "2",
            "SLURM_NODEID": str(rank),
            "SLURM_STEP_NODELIST": "localhost",
        }
        config = ["--config-file", str(ACC / "multi_node.yaml"), "--gres", "gpu:1"]
        launched.append(
            _launch(
                data, out, s, *config, "--port", str(port), env=env, extra=extra, name=f"node{rank}"
            )
        )
        if rank == 0:
            _wait_listening(port)
    return _done(*launched)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model" / "model.safetensors")


def test_two_processes_train_what_one_process_trains_on_their_global_batch(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    """DDP with 2 × 2 rows per step equals one process with 4: each rank reads its half of
    the same global batch and the all-reduced gradient is the mean over all four rows."""
    one = tmp_path / "one"
    train(spec(dropout=0.0, batch_size=4, **STEPS), data[0], data[1], one, threads=1)
    two = tmp_path / "two"
    log = _one_node(data, two, spec(dropout=0.0, batch_size=2, **STEPS))
    assert log.count("hashing 5 of 5 shards") == 1  # the main process alone reads every byte
    c1, c2 = curve(one), curve(two)
    assert [(s, k) for s, k, _ in c1] == [(s, k) for s, k, _ in c2]
    assert max(abs(a[2] - b[2]) for a, b in zip(c1, c2, strict=True)) < 1e-5
    w1, w2 = _weights(one), _weights(two)
    assert all(torch.allclose(w1[k], w2[k], atol=1e-6) for k in w1)
    last = [r for r in read_jsonl(two / "log.jsonl") if "train.lr" in r][-1]
    assert last["tokens"] == 9 * 4 * 32  # global tokens, counted once


def test_two_node_launchers_pause_and_resume_the_one_node_run_exactly(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    """With dropout every process's RNG is part of the state: two node launchers meet over
    c10d, stop after step 4, a second pair resumes from the shared checkpoint, and the result
    is the uninterrupted one-node run, step for step and bit for bit."""
    s = spec(dropout=0.1, batch_size=2, **STEPS)
    straight = tmp_path / "straight"
    _one_node(data, straight, s)
    nodes = tmp_path / "nodes"
    _two_nodes(data, nodes, s, "--until-step", "4")
    assert not (nodes / "model").exists()
    ckpt = nodes / "checkpoints" / "step-00000004"
    rng = [torch.load(ckpt / f"rng-{r}.pt", weights_only=True)["torch"] for r in (0, 1)]
    assert not torch.equal(*rng)  # seed + rank: the processes drop different units
    resumed = _two_nodes(data, nodes, s)
    assert resumed.count("resumed from") == 2 and "step-00000004" in resumed
    assert curve(nodes) == curve(straight)
    w1, w2 = _weights(straight), _weights(nodes)
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_a_run_goes_on_on_another_number_of_processes(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    """Preempted on one process (2 rows × 2 micro-batches), resumed on two (2 rows each), then
    on one again: the same 4 rows per step throughout, so the curve is the one-process run's."""
    ref = tmp_path / "ref"
    train(spec(dropout=0.0, batch_size=4, **STEPS), data[0], data[1], ref, threads=1)
    one = spec(dropout=0.0, batch_size=2, grad_accum=2, **STEPS)
    run = tmp_path / "run"
    train(one, data[0], data[1], run, threads=1, until_step=3)
    log = _one_node(data, run, spec(dropout=0.0, batch_size=2, **STEPS), "--until-step", "6")
    assert log.count("resumed from") == 2 and "step-00000003" in log
    assert "no RNG state for process 1" in log
    train(one, data[0], data[1], run, threads=1)
    c1, c2 = curve(ref), curve(run)
    assert [(s, k) for s, k, _ in c1] == [(s, k) for s, k, _ in c2]
    assert max(abs(a[2] - b[2]) for a, b in zip(c1, c2, strict=True)) < 1e-5
    assert not (tmp_path / "run" / "checkpoints.stale").exists()
    starts = [r for r in read_jsonl(run / "log.jsonl") if "run.start" in r]
    assert [(r["step"], r["run.start"], r["run.processes"]) for r in starts] == [
        (0, "scratch", 1), (3, "resumed", 2), (6, "resumed", 1)
    ]  # fmt: skip
    assert {(r["run.rows_per_step"], r["run.device"]) for r in starts} == {(4, "cpu")}


def _worker_pid(tag: str, rank: int) -> int | None:
    """The training process of `rank` among the processes started with GPT2ZH_TEST_TAG=tag
    (torchrun gives its workers RANK; the launcher itself has none)."""
    for proc in Path("/proc").iterdir():
        try:
            env = dict(
                kv.split("=", 1)
                for kv in (proc / "environ").read_text("utf-8", "replace").split("\0")
                if "=" in kv
            )
        except (OSError, ValueError):
            continue
        if env.get("GPT2ZH_TEST_TAG") == tag and env.get("RANK") == str(rank):
            return int(proc.name)
    return None


def test_sigterm_to_one_process_stops_all_after_the_same_step(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    """SIGTERM reaches the processes of a job at different moments (SLURM's time limit, a
    preemption, one node first). They agree in the step's reduce, save one checkpoint together
    and stop; the rerun resumes it exactly. Without the agreement the signalled process waits in
    the checkpoint's barrier while the other trains on, and both hang."""
    s = spec(dropout=0.1, batch_size=2, max_steps=300, log_every=10, eval_every=1000,
             checkpoint_every=1000)  # fmt: skip
    straight = tmp_path / "straight"
    _one_node(data, straight, s)
    run, tag = tmp_path / "run", f"sigterm-{os.getpid()}"
    config = ["--config-file", str(ACC / "multi_gpu.yaml"), "--gpus", "2"]
    proc, log = _launch(
        data, run, s, *config, "--port", str(_free_port()), env={"GPT2ZH_TEST_TAG": tag}
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        logged = (run / "log.jsonl").read_text("utf-8") if (run / "log.jsonl").is_file() else ""
        if '"step": 20,' in logged and (pid := _worker_pid(tag, 1)) is not None:
            os.kill(pid, signal.SIGTERM)
            break
        time.sleep(0.05)
    else:
        pytest.fail("the run ended or never reached step 20 before it could be signalled")
    with pytest.raises(AssertionError) as stopped:
        _done((proc, log))
    text = str(stopped.value)
    saved = ck.list_checkpoints(run / "checkpoints")
    assert len(saved) == 1, text
    step = saved[0][0]
    assert f"stopped by signal 15 after step {step}" in text
    assert f"stopped by a signal to another process after step {step}" in text
    assert sorted(p.name for p in saved[0][1].iterdir() if p.name.startswith("rng-")) == [
        "rng-0.pt", "rng-1.pt"
    ]  # fmt: skip
    _one_node(data, run, s)
    assert curve(run) == curve(straight)


def test_processes_that_each_see_a_world_of_one_are_refused(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    """A MULTI_GPU config on a machine without CUDA: torchrun starts two processes, accelerate
    makes each a job of its own, and they would train two models into one folder."""
    config = ["--config-file", str(ACC / "multi_gpu.yaml"), "--gpus", "2"]
    proc, log = _launch(
        data,
        tmp_path / "run",
        spec(**STEPS),
        *config,
        "--port",
        str(_free_port()),
        gloo=False,
    )
    with pytest.raises(AssertionError) as failed:
        _done((proc, log))
    text = str(failed.value)
    assert "the launcher started 2 processes but accelerate runs each as its own" in text
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_fsdp_checkpoints_hold_the_full_state_and_resume_exactly(tmp_path: Path) -> None:
    """Weights and AdamW state really sharded over two processes (DTensors): the checkpoint
    gathers them whole, a differently initialised sharded model resumes from it with the same
    next losses, and the final model opens as a plain GPT-2 giving the sharded model's logits."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    cmd = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(_free_port())]
    worker = REPO / "tests" / "helpers" / "fsdp_worker.py"
    proc = subprocess.run(
        [*cmd, str(worker), str(tmp_path)], env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text("utf-8"))
    assert result["resumed"] == result["straight"][2:]
    assert result["shapes"]["transformer.wte.weight"] == [64, 32]  # whole, not a shard
    assert "lm_head.weight" not in result["shapes"]  # tied: stored once
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    with torch.no_grad():
        logits = plain(input_ids=torch.arange(16).reshape(1, 16)).logits
    assert torch.allclose(logits, torch.load(tmp_path / "logits.pt", weights_only=True), atol=1e-5)
