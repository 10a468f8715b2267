"""The `accelerate launch` command of one training job, as an argument list.

The `train` rule knows what Snakemake granted (GPUs, threads, the profile's `gres` and `mpi`);
on a multi-node SLURM job each node's launcher must also know its own rank, the node count and
the first host, which only the SLURM environment of its `srun` task says. Building the command
here, from those two inputs, keeps it testable without a cluster, printable (`gpt2zh launch
--print`) and free of shell strings: every value is one argv element.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from gpt2zh.errors import UserError
from gpt2zh.train.hostlist import first_host

#: torchrun's usual port; offset per SLURM job so two jobs sharing a node do not collide.
BASE_PORT = 29500
PORT_SPREAD = 1000
#: accelerate distributed types that run one process per GPU.
PARALLEL_TYPES = {"MULTI_GPU", "FSDP"}


class LaunchError(UserError):
    pass


@dataclass(frozen=True)
class Request:
    """What the job was given: `gpus` per job on one node (Snakemake's `gpu` resource) or,
    for several nodes, `gres` per node (`gpu:4`, `gpu:h100:4`); threads for CPU training."""

    config_file: Path
    gpus: int = 0
    gres: str = ""
    threads: int = 1
    port: int | None = None


@dataclass(frozen=True)
class Step:
    """One `srun` task's view of a multi-node SLURM step."""

    nodes: int
    rank: int
    main_host: str
    port: int


def gres_gpus(gres: str) -> int:
    """GPUs per node in a SLURM gres string: `gpu` → 1, `gpu:4` / `gpu:h100:4` → 4; 0 when it
    names no GPUs."""
    gpu = next((g for g in gres.split(",") if g.split(":")[0] == "gpu"), None)
    if gpu is None:
        return 0
    count = gpu.split(":")[-1] if ":" in gpu else "1"
    if not re.fullmatch(r"\d+", count):
        count = "1"  # `gpu:h100`: one GPU of that type
    return int(count)


def gpus_per_node(req: Request) -> int:
    if req.gpus and gres_gpus(req.gres):
        raise LaunchError(
            "train: both resources gpu and gres ask for GPUs (sbatch would get --gpus and "
            "--gres); set gpu for one node or gres for several, not both"
        )
    return req.gpus or gres_gpus(req.gres)


def slurm_step(env: Mapping[str, str], port: int | None = None) -> Step | None:
    """The multi-node step this process is a task of, or None on one node (or outside SLURM).

    One launcher per node: accelerate starts the per-GPU processes itself, so the step must
    run exactly one task on each node (`srun --ntasks-per-node=1`)."""
    nodes = int(env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES") or 1)
    if nodes <= 1:
        return None
    tasks = env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS")
    if tasks and int(tasks) != nodes:
        raise LaunchError(
            f"SLURM step has {tasks} tasks on {nodes} nodes: run one launcher per node "
            "(resources mpi: 'srun --ntasks-per-node=1', tasks = nodes, tasks_per_gpu = 0)"
        )
    rank = env.get("SLURM_NODEID") or env.get("SLURM_PROCID")
    hostlist = (
        env.get("SLURM_STEP_NODELIST") or env.get("SLURM_NODELIST") or env.get("SLURM_JOB_NODELIST")
    )
    if rank is None or not hostlist:
        raise LaunchError(
            f"SLURM_NNODES={nodes} but no SLURM_NODEID/SLURM_PROCID or node list: start the "
            "launcher with srun inside the allocation"
        )
    return Step(
        nodes=nodes, rank=int(rank), main_host=first_host(hostlist), port=rendezvous_port(env, port)
    )


def rendezvous_port(env: Mapping[str, str], port: int | None = None) -> int:
    """The given port, else 29500 + SLURM job id % 1000: two multi-process jobs on one node
    (a shared GPU node) would otherwise both bind torchrun's 29500 and the second would die."""
    if port is not None:
        return port
    job = env.get("SLURM_JOB_ID", "")
    return BASE_PORT + (int(job) % PORT_SPREAD if job.isdigit() else 0)


def _distributed_type(cfg: Mapping[str, object]) -> str:
    return str(cfg.get("distributed_type", "NO"))


def _read(config_file: Path) -> dict[str, object]:
    return yaml.safe_load(config_file.read_text("utf-8")) or {}


def _check_config(config_file: Path, processes: int, nodes: int) -> None:
    """Fails before any process starts if the accelerate config would run the processes as
    independent single-process jobs, or give several nodes a master address that only
    torchrun's static rendezvous reads."""
    if processes <= 1:
        return
    cfg = _read(config_file)
    kind = _distributed_type(cfg)
    if kind not in PARALLEL_TYPES:
        raise LaunchError(
            f"{config_file.name}: distributed_type {kind} runs one process; {processes} GPUs "
            "need a MULTI_GPU or FSDP config (multi_gpu.yaml, fsdp.yaml, multi_node.yaml)"
        )
    if nodes > 1 and cfg.get("same_network", False):
        raise LaunchError(
            f"{config_file.name}: same_network: true; several nodes need same_network: false "
            "for the c10d rendezvous endpoint (multi_node.yaml)"
        )


def accelerate_args(req: Request, env: Mapping[str, str]) -> list[str]:
    """The launcher's process options: threads on CPU, one process per GPU (with a rendezvous
    port of its own), and on several nodes the rank, node count and c10d rendezvous at the
    step's first host."""
    gpus = gpus_per_node(req)
    step = slurm_step(env, req.port)
    if step is not None:
        if gpus < 1:
            raise LaunchError("multi-node training needs GPUs: set resources gres: gpu:N")
        _check_config(req.config_file, step.nodes * gpus, step.nodes)
        return [
            "--num_machines", str(step.nodes),
            "--machine_rank", str(step.rank),
            "--num_processes", str(step.nodes * gpus),
            "--main_process_ip", step.main_host,
            "--main_process_port", str(step.port),
            "--rdzv_backend", "c10d",
        ]  # fmt: skip
    if gpus == 0:
        kind = _distributed_type(_read(req.config_file))
        if kind in PARALLEL_TYPES:
            raise LaunchError(
                f"train.gpus is 0 (CPU) but {req.config_file.name} is a {kind} config, which "
                "starts one process per GPU: set train.gpus, or use cpu.yaml"
            )
        return ["--num_cpu_threads_per_process", str(req.threads)]
    if gpus > 1:
        _check_config(req.config_file, gpus, 1)
        return [
            "--num_processes",
            str(gpus),
            "--main_process_port",
            str(rendezvous_port(env, req.port)),
        ]
    return []


def launch_command(
    req: Request, train_args: Sequence[str], env: Mapping[str, str] | None = None
) -> list[str]:
    """`accelerate launch … -m gpt2zh.train TRAIN_ARGS` for this job (and node)."""
    env = os.environ if env is None else env
    return [
        "accelerate",
        "launch",
        "--config_file",
        str(req.config_file),
        *accelerate_args(req, env),
        "-m",
        "gpt2zh.train",
        *train_args,
    ]


def mpi_prefix(mpi: str | None) -> str:
    """The profile's `mpi` resource (`srun --ntasks-per-node=1 ...`) re-quoted word by word, so
    the rule can put it in front of the launcher without running profile text as shell."""
    return shlex.join(shlex.split(mpi or ""))
