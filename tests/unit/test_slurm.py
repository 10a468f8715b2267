"""The SLURM profiles, offline: no cluster is contacted.

Snakemake's own CLI parser reads each profile (unknown keys fail as they would on a cluster),
its API plans the real-scale DAG with the profile's resources, and the SLURM executor plugin's
own functions (`get_submit_command`, `set_gres_string`) turn each planned job into the sbatch
line it would submit. The multi-node train job's shell command is then parsed back and run
through `gpt2zh.train.launch` with the SLURM environment each node's task would see.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from snakemake.api import SnakemakeApi
from snakemake.cli import parse_args
from snakemake.settings.enums import Quietness
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    OutputSettings,
    ResourceSettings,
    StorageSettings,
)
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from gpt2zh import layout, slurm
from gpt2zh.cli import build_parser
from gpt2zh.config import load_config
from gpt2zh.shards import shard_name
from gpt2zh.train.launch import Request, launch_command
from helpers import REPO
from helpers.workflow import run_snakemake

PRETRAIN = REPO / "workflow" / "configs" / "pretrain-zh.yaml"
PROFILES = REPO / "workflow" / "profiles"
#: Rules the slurm profile must size (every rule that does real work).
HEAVY = {
    "extract",
    "clean",
    "convert",
    "dedup_signatures",
    "dedup_buckets",
    "dedup_clusters",
    "dedup_filter",
    "tokenizer",
    "tokenize",
    "mix",
    "mix_verify",
    "train",
    "eval_model",
}
SIGNATURE_FILE_MB = 1024


def _plan(profile: str, configfile: Path, workdir: Path, targets: set[str]) -> dict[str, list]:
    """Jobs per rule of a dry run with `--profile PROFILE`, as Snakemake would hand them to the
    executor (resources evaluated, threads set)."""
    _, args = parse_args(["--profile", str(PROFILES / profile), "--configfile", str(configfile)])
    cwd = Path.cwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            wf = api.workflow(
                resource_settings=ResourceSettings(
                    cores=args.cores,
                    nodes=args.jobs,
                    overwrite_threads=args.set_threads,
                    overwrite_resources=args.set_resources,
                    default_resources=args.default_resources,
                ),
                config_settings=ConfigSettings(configfiles=args.configfile),
                storage_settings=StorageSettings(),
                snakefile=REPO / "Snakefile",
                workdir=workdir,
            )
            wf.dag(DAGSettings(targets=targets)).execute_workflow(executor="dryrun")
            jobs: dict[str, list] = {}
            for job in wf._workflow.dag.jobs:
                jobs.setdefault(job.rule.name, []).append(job)
            jobs["<rules>"] = [r.name for r in wf._workflow.rules]
            jobs["<localrules>"] = sorted(wf._workflow._localrules)
            return jobs
    finally:
        os.chdir(cwd)


def sbatch(job: Any) -> list[str]:
    """The plugin's sbatch line for a job, split into words (account/partition as the executor
    passes them once it has checked them; no -p when the profile names no partition, where the
    executor falls back to the cluster's default)."""
    partition = job.resources.get("slurm_partition")
    params = {
        "run_uuid": "RUN",
        "slurm_logfile": "LOG",
        "comment_str": f"rule_{job.rule.name}",
        "account": " -A ACCOUNT",
        "partition": f" -p {partition}" if partition else "",
        "workdir": "WORKDIR",
    }
    return shlex.split(get_submit_command(job, params) + set_gres_string(job))


def _sparse_signatures(workdir: Path, configfile: Path) -> int:
    """Sized (sparse) signature files, so the bucket jobs' input.size_mb resolves."""
    cfg = load_config([configfile])
    n = 0
    for d, ds in cfg["datasets"].items():
        for i in range(ds["shards"]):
            path = workdir / layout.dedup_signatures(d, shard_name(i))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.truncate(SIGNATURE_FILE_MB << 20)
            n += 1
    return n


@pytest.fixture(scope="module")
def slurm_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list]]:
    work = tmp_path_factory.mktemp("slurm")
    n = _sparse_signatures(work, PRETRAIN)
    jobs = _plan("slurm", PRETRAIN, work, {"all", "train", "eval"})
    jobs["<signature files>"] = [n]
    yield jobs


@pytest.fixture(scope="module")
def multinode_jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    work = tmp_path_factory.mktemp("multinode")
    cfg = yaml.safe_load(PRETRAIN.read_text("utf-8"))
    cfg["train"]["accelerate_config"] = "multi_node.yaml"
    configfile = work / "multinode.yaml"
    configfile.write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    jobs = _plan("slurm-multinode", configfile, work, {"train"})
    jobs["<work>"] = [work]  # the job's paths are relative to the folder Snakemake ran in
    return jobs


def _flag(words: list[str], name: str) -> str | None:
    """Value of `-x V`, `--x V` or `--x=V` in an sbatch line."""
    for i, w in enumerate(words):
        if w == name:
            return words[i + 1]
        if w.startswith(name + "="):
            return w.split("=", 1)[1]
    return None


def test_profile_sizes_every_heavy_rule_and_names_only_real_rules(slurm_jobs: dict) -> None:
    profile = yaml.safe_load((PROFILES / "slurm" / "profile.yaml").read_text("utf-8"))
    assert set(profile["set-resources"]) == HEAVY
    assert set(slurm_jobs["<rules>"]) >= HEAVY
    assert set(profile["set-threads"]) <= set(slurm_jobs["<rules>"])


@pytest.mark.parametrize(
    ("rule", "minutes", "mem_mb", "cpus"),
    [
        ("extract", "60", "2000", "1"),
        ("clean", "60", "2000", "1"),
        ("convert", "60", "1000", "1"),
        ("dedup_signatures", "90", "1500", "1"),
        ("dedup_clusters", "720", "48000", "1"),
        ("dedup_filter", "30", "1000", "1"),
        ("tokenizer", "240", "24000", "16"),
        ("tokenize", "60", "2000", "1"),
        ("mix", "720", "16000", "1"),
        ("mix_verify", "240", "2000", "8"),
        ("count", "30", "2000", "1"),  # default-resources
    ],
)
def test_cpu_rules_sbatch(
    slurm_jobs: dict, rule: str, minutes: str, mem_mb: str, cpus: str
) -> None:
    words = sbatch(slurm_jobs[rule][0])
    assert words[0] == "sbatch"
    assert _flag(words, "-p") is None  # the cluster's default partition
    assert _flag(words, "-t") == minutes
    assert _flag(words, "--mem") == mem_mb
    assert _flag(words, "--cpus-per-task") == cpus
    assert _flag(words, "--ntasks") == "1"
    assert _flag(words, "--gpus") is None and _flag(words, "--gres") is None


def test_bucket_memory_follows_signature_size(slurm_jobs: dict) -> None:
    """mem_mb = input.size_mb // 8: ~56 B per document against 640 B of signature."""
    total_mb = slurm_jobs["<signature files>"][0] * SIGNATURE_FILE_MB
    buckets = slurm_jobs["dedup_buckets"]
    assert len(buckets) == 9  # pretrain-zh: band_groups 9
    assert {_flag(sbatch(j), "--mem") for j in buckets} == {str(total_mb // 8)}


def test_train_owns_its_gpus_with_one_task(slurm_jobs: dict) -> None:
    (job,) = slurm_jobs["train"]
    words = sbatch(job)
    assert _flag(words, "-p") is None
    assert _flag(words, "--gpus") == "1"  # pretrain-zh: train.gpus
    assert _flag(words, "--cpus-per-task") == "64"
    assert _flag(words, "--ntasks-per-gpu") is None  # tasks_per_gpu=0: not a task per GPU
    assert _flag(words, "-t") == "2880"
    assert "--signal=TERM@300" in words  # SIGTERM 5 min before the limit: checkpoint, retry
    assert job.shellcmd.lstrip().startswith("gpt2zh launch --config-file")


def test_eval_takes_one_gpu_from_the_config(slurm_jobs: dict) -> None:
    words = sbatch(slurm_jobs["eval_model"][0])
    assert (_flag(words, "-p"), _flag(words, "--gpus"), _flag(words, "--cpus-per-task")) == (
        None,
        "1",
        "16",
    )


def test_downloads_run_on_the_login_node(slurm_jobs: dict) -> None:
    """The Snakefile's `localrules:`: downloads (compute nodes may have no internet) and the two
    target rules, which run nothing; every real job goes to SLURM."""
    assert slurm_jobs["<localrules>"] == ["all", "download", "eval"]


def test_no_job_asks_for_more_than_a_node(slurm_jobs: dict) -> None:
    jobs = [j for rule, js in slurm_jobs.items() if not rule.startswith("<") for j in js]
    assert max(int(_flag(sbatch(j), "--cpus-per-task") or 0) for j in jobs) <= 64


def test_multinode_train_sbatch(multinode_jobs: dict) -> None:
    (job,) = multinode_jobs["train"]
    words = sbatch(job)
    assert _flag(words, "--nodes") == "2"
    assert _flag(words, "--ntasks") == "2"
    assert _flag(words, "--gres") == "gpu:4"
    assert _flag(words, "--gpus") is None  # gres per node, not gpus per job
    assert _flag(words, "--ntasks-per-gpu") is None
    assert _flag(words, "--cpus-per-task") == "64"
    assert _flag(words, "--mem") == "256000"
    assert "--signal=TERM@300" in words  # SIGTERM 5 min before the limit: checkpoint, then stop


def _launch_args(shellcmd: str) -> tuple[list[str], list[str]]:
    """(the srun prefix, gpt2zh launch's own arguments) of the rule's shell command."""
    words = shlex.split(shellcmd.split(" 2> ")[0])
    at = words.index("gpt2zh")
    assert words[at + 1] == "launch"
    return words[:at], words[at + 2 :]


@pytest.mark.parametrize("rank", [0, 1])
def test_multinode_train_launches_one_accelerate_per_node(
    multinode_jobs: dict, rank: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    (job,) = multinode_jobs["train"]
    monkeypatch.chdir(multinode_jobs["<work>"][0])  # where the job would run
    prefix, args = _launch_args(job.shellcmd)
    assert prefix == ["srun", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    ns = build_parser().parse_args(["launch", *args])
    env = {
        "SLURM_JOB_ID": "777001",
        "SLURM_NNODES": "2",
        "SLURM_NTASKS": "2",
        "SLURM_NODEID": str(rank),
        "SLURM_PROCID": str(rank),
        "SLURM_STEP_NODELIST": "gpu-h100-[017,020]",
    }
    req = Request(ns.config_file, ns.gpus, ns.gres, ns.threads, ns.port)
    cmd = launch_command(req, ns.train_args[1:], env)
    assert cmd[:4] == ["accelerate", "launch", "--config_file", str(ns.config_file)]
    assert cmd[4:16] == [
        "--num_machines", "2",
        "--machine_rank", str(rank),
        "--num_processes", "8",
        "--main_process_ip", "gpu-h100-017",
        "--main_process_port", "29501",
        "--rdzv_backend", "c10d",
    ]  # fmt: skip
    assert cmd[16:18] == ["-m", "gpt2zh.train"]
    assert "--spec" in cmd[18:] and "--threads" in cmd[18:]


def test_cli_dry_run_reads_the_profile(workdir: Path) -> None:
    """`snakemake --profile workflow/profiles/slurm -n` plans without sbatch or sacct."""
    proc = run_snakemake(
        workdir,
        "--profile",
        str(PROFILES / "slurm"),
        "-n",
        "--quiet",
        "rules",
        configfile=REPO / "workflow" / "configs" / "tiny.yaml",
    )
    assert "dedup_buckets" in proc.stdout + proc.stderr


# --- gpt2zh.slurm: what the preflight reads from sinfo / scontrol (the checks themselves run
# against a real cluster in tests/test_slurm_cluster.py) ---


@pytest.mark.parametrize(
    ("limit", "minutes"),
    [
        ("infinite", None),
        ("30", 30),
        ("30:00", 30),
        ("30:01", 31),
        ("2:00:00", 120),
        ("1-00:00:00", 1440),
        ("2-12", 3600),
        ("1-01:30", 1530),
    ],
)
def test_slurm_time_limits_in_minutes(limit: str, minutes: int | None) -> None:
    assert slurm.parse_minutes(limit) == minutes


def test_partition_limits_take_the_largest_node_and_the_default() -> None:
    sinfo = "main*|2|24105|infinite\nbig|64|512000|2-00:00:00\nbig|128|256000|2-00:00:00\n"
    limits, default = slurm.partition_limits(sinfo)
    assert default == "main"
    assert limits["main"] == slurm.Limits(2, 24105, None)
    assert limits["big"] == slurm.Limits(128, 512000, 2880)


def test_oversized_names_each_rule_once_with_its_fix() -> None:
    limits = {"main": slurm.Limits(2, 24000, 60), "gpu": slurm.Limits(64, 512000, None)}
    req = slurm.Request
    problems = slurm.oversized(
        [
            req("extract", None, 1, 2000, 60),
            req("tokenizer", None, 16, 24000, 240),
            req("tokenizer", None, 16, 24000, 240),
            req("dedup_clusters", "main", 1, 48000, 30),
            req("group shard", None, 1, 2000, 270),
            req("train", "gpu", 64, 256000, 2880),
            req("eval_model", "a100", 16, 32000, 120),
        ],
        limits,
        "main",
    )
    assert problems == [
        "tokenizer on partition 'main': 16 CPUs (largest node: 2; --set-threads tokenizer=N), "
        "240 min (time limit: 60 min; --set-resources tokenizer:runtime=N)",
        "dedup_clusters on partition 'main': 48000 MB (largest node: 24000 MB; "
        "--set-resources dedup_clusters:mem_mb=N)",
        "group shard on partition 'main': 270 min (time limit: 60 min)",
        "eval_model: partition 'a100' does not exist (partitions: gpu, main); set slurm_partition",
    ]


def test_min_job_age_from_scontrol() -> None:
    assert slurm.min_job_age("Foo = 1\nMinJobAge               = 300 sec\n") == 300
    assert slurm.min_job_age("MinJobAge = 1h\n") == 3600
    assert slurm.min_job_age("Foo = 1\n") is None
