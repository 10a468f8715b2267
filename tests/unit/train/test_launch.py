"""`gpt2zh launch`: the accelerate command for CPU, GPUs and SLURM nodes, and SLURM host lists.

Offline: the SLURM cases give the environment an `srun` task would see; nothing is launched.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpt2zh.cli import main
from gpt2zh.train.hostlist import HostlistError, expand_hostlist, first_host
from gpt2zh.train.launch import LaunchError, Request, gres_gpus, launch_command, mpi_prefix
from helpers import REPO

ACC = REPO / "workflow" / "accelerate"
TRAIN = ["--spec", '{"a": 1}', "--mix", "results/mix", "--out", "run dir"]


@pytest.mark.parametrize(
    ("hostlist", "hosts"),
    [
        ("node01", ["node01"]),
        ("node[01-03,07]", ["node01", "node02", "node03", "node07"]),
        ("node[9-11]", ["node9", "node10", "node11"]),
        ("node[098-101]", ["node098", "node099", "node100", "node101"]),
        ("a,b.example.org", ["a", "b.example.org"]),
        ("gpu-a[1-2],gpu-b[009-010]", ["gpu-a1", "gpu-a2", "gpu-b009", "gpu-b010"]),
        ("rack[1-2]-n[01-02]", ["rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"]),
        ("n[3],m[1-1]", ["n3", "m1"]),
        (" x[1-2] ", ["x1", "x2"]),
    ],
)
def test_expand_hostlist(hostlist: str, hosts: list[str]) -> None:
    assert expand_hostlist(hostlist) == hosts
    assert first_host(hostlist) == hosts[0]


@pytest.mark.parametrize(
    "bad", ["", "node[01-03", "node01]", "node[[1]]", "node[3-1]", "node[a-b]", "node[]"]
)
def test_bad_hostlist(bad: str) -> None:
    with pytest.raises(HostlistError):
        expand_hostlist(bad)


@pytest.mark.parametrize(
    ("gres", "n"),
    [("gpu", 1), ("gpu:4", 4), ("gpu:h100:8", 8), ("gpu:h100", 1), ("nvme:1,gpu:2", 2), ("", 0)],
)
def test_gres_gpus(gres: str, n: int) -> None:
    assert gres_gpus(gres) == n


def _cmd(config: str, env: dict[str, str] | None = None, **req: Any) -> list[str]:
    return launch_command(Request(ACC / config, **req), TRAIN, env or {})


def _opts(cmd: list[str]) -> list[str]:
    """Options between the config file and `-m gpt2zh.train ARGS`."""
    assert cmd[-len(TRAIN) - 2 :] == ["-m", "gpt2zh.train", *TRAIN]
    assert cmd[:3] == ["accelerate", "launch", "--config_file"]
    return cmd[4 : -len(TRAIN) - 2]


def test_cpu_threads() -> None:
    assert _opts(_cmd("cpu.yaml", threads=8)) == ["--num_cpu_threads_per_process", "8"]


def test_one_gpu_takes_the_config() -> None:
    assert _opts(_cmd("single_gpu.yaml", gpus=1)) == []


@pytest.mark.parametrize("config", ["multi_gpu.yaml", "fsdp.yaml"])
def test_one_process_per_gpu(config: str) -> None:
    env = {"SLURM_JOB_ID": "5", "SLURM_NNODES": "1", "SLURM_JOB_NODELIST": "g01"}
    assert _opts(_cmd(config, env, gpus=4)) == [
        "--num_processes",
        "4",
        "--main_process_port",
        "29505",
    ]


def test_two_jobs_on_one_node_rendezvous_on_different_ports() -> None:
    ports = {_opts(_cmd("multi_gpu.yaml", {"SLURM_JOB_ID": job}, gpus=2))[-1] for job in ("7", "8")}
    assert ports == {"29507", "29508"}
    assert _opts(_cmd("multi_gpu.yaml", {}, gpus=2)) == [
        "--num_processes",
        "2",
        "--main_process_port",
        "29500",
    ]


@pytest.mark.parametrize("config", ["multi_gpu.yaml", "fsdp.yaml"])
def test_a_parallel_config_without_gpus_is_refused(config: str) -> None:
    """Its num_processes would start that many CPU processes, each training alone."""
    with pytest.raises(LaunchError, match=r"train.gpus is 0 \(CPU\) but .* set train.gpus"):
        _cmd(config, gpus=0)


def test_several_gpus_need_a_parallel_config() -> None:
    with pytest.raises(LaunchError, match="MULTI_GPU or FSDP"):
        _cmd("single_gpu.yaml", gpus=4)


def _slurm(nodes: int, rank: int, nodelist: str, **extra: str) -> dict[str, str]:
    return {
        "SLURM_JOB_ID": "123456",
        "SLURM_NNODES": str(nodes),
        "SLURM_NTASKS": str(nodes),
        "SLURM_NODEID": str(rank),
        "SLURM_PROCID": str(rank),
        "SLURM_JOB_NODELIST": nodelist,
        **extra,
    }


@pytest.mark.parametrize(
    ("nodes", "gres", "nodelist", "main_host", "processes"),
    [
        (2, "gpu:4", "node[01-02]", "node01", "8"),
        (4, "gpu:h100:8", "node[07,09-10],gpu-x12", "node07", "32"),
        (4, "gpu:8", "rack[2-3]-n[1-2]", "rack2-n1", "32"),
    ],
)
def test_multi_node(nodes: int, gres: str, nodelist: str, main_host: str, processes: str) -> None:
    for rank in range(nodes):
        opts = _opts(_cmd("multi_node.yaml", _slurm(nodes, rank, nodelist), gres=gres))
        assert opts == [
            "--num_machines", str(nodes),
            "--machine_rank", str(rank),
            "--num_processes", processes,
            "--main_process_ip", main_host,
            "--main_process_port", str(29500 + 123456 % 1000),
            "--rdzv_backend", "c10d",
        ]  # fmt: skip


def test_step_nodelist_wins_and_port_can_be_given() -> None:
    env = _slurm(2, 1, "node[01-04]", SLURM_STEP_NODELIST="node[03-04]")
    opts = _opts(_cmd("multi_node.yaml", env, gres="gpu:2", port=40000))
    assert opts[opts.index("--main_process_ip") + 1] == "node03"
    assert opts[opts.index("--main_process_port") + 1] == "40000"


@pytest.mark.parametrize(
    ("config", "env", "req", "match"),
    [
        ("multi_node.yaml", {"SLURM_NTASKS": "8"}, {"gres": "gpu:4"}, "one launcher per node"),
        ("multi_node.yaml", {}, {}, "needs GPUs"),
        ("multi_node.yaml", {}, {"gpus": 4, "gres": "gpu:4"}, "not both"),
        ("fsdp.yaml", {}, {"gres": "gpu:4"}, "same_network"),
        ("single_gpu.yaml", {}, {"gres": "gpu:4"}, "MULTI_GPU or FSDP"),
        ("multi_node.yaml", {"SLURM_NODEID": "", "SLURM_PROCID": ""}, {"gres": "gpu:4"}, "srun"),
    ],
)
def test_multi_node_refusals(
    config: str, env: dict[str, str], req: dict[str, Any], match: str
) -> None:
    slurm = {k: v for k, v in {**_slurm(2, 0, "n[1-2]"), **env}.items() if v}
    with pytest.raises(LaunchError, match=match):
        _cmd(config, slurm, **req)


def test_cli_prints_argv_quoted(capsys: pytest.CaptureFixture[str]) -> None:
    """Config strings stay single argv elements: spaces and `;` never reach a shell unquoted."""
    args = ["--mix", "a b; rm -rf x", "--out", "$(id)"]
    config = str(ACC / "multi_gpu.yaml")
    main(
        [
            "launch",
            "--config-file",
            config,
            "--gpus",
            "2",
            "--port",
            "29999",
            "--print",
            "--",
            *args,
        ]
    )
    printed = capsys.readouterr().out.strip()
    assert shlex.split(printed) == [
        "accelerate", "launch", "--config_file", config, "--num_processes", "2",
        "--main_process_port", "29999", "-m", "gpt2zh.train", *args,
    ]  # fmt: skip


def test_mpi_prefix_is_requoted() -> None:
    assert mpi_prefix("srun --ntasks-per-node=1") == "srun --ntasks-per-node=1"
    assert mpi_prefix(None) == ""
    assert shlex.split(mpi_prefix("srun; touch x")) == ["srun;", "touch", "x"]


def test_launch_execs_accelerate() -> None:
    """Without --print the command is exec'd: a bad train argument comes back from the
    process accelerate started, so the launcher really ran."""
    venv_bin = str(Path(sys.executable).parent)
    launch = [sys.executable, "-m", "gpt2zh.cli", "launch", "--config-file", str(ACC / "cpu.yaml")]
    proc = subprocess.run(
        [*launch, "--", "--no-such-flag"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": venv_bin + os.pathsep + os.environ["PATH"]},
        timeout=120,
    )
    assert proc.returncode != 0
    assert "'-m', 'gpt2zh.train', '--no-such-flag']" in proc.stderr  # accelerate's report
    assert "accelerate launch --config_file" in proc.stderr  # logged before exec
