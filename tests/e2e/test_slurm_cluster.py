"""The workflow on a real SLURM cluster, through the executor plugin, with the shipped profile.

`tests/slurm/cluster.sh up` brings up a single-node cluster with accounting on this machine
(munged, MariaDB, slurmdbd, slurmctld, slurmd; `make test-deps` installs the Debian packages)
and these tests submit real jobs to it: the tiny config end to end (outputs identical to the
`--cores 2` run), `train` stopped by its time-limit SIGTERM and resumed by the profile's retry,
a job cancelled with `scancel`, and the two failures the preflight (gpt2zh.slurm) turns from a
silent hang or a late rejection into a message before anything is submitted.

The node has 2 CPUs and ~24 GB, so the runs pass what docs/SLURM.md tells a user of a small
cluster: `--max-threads 2` and a smaller dedup_clusters. `--slurm-init-seconds-before-status-
checks 1` makes the plugin poll sooner than its default 40 s (jobs here take seconds).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpt2zh.train.log import read_jsonl
from helpers import REPO
from helpers.workflow import TINY, sha256s, tiny_workdir

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
STATE = Path(os.environ.get("GPT2ZH_SLURM_DIR", "/var/tmp/gpt2zh-slurm"))
PROFILE = REPO / "workflow" / "profiles" / "slurm"
#: What the 2-CPU, 24 GB test node needs on top of the shipped profile (docs/SLURM.md).
SMALL_NODE = ("--max-threads", "2", "--set-resources", "dedup_clusters:mem_mb=8000")
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "1")


def _root(*cmd: str) -> list[str]:
    return list(cmd) if os.geteuid() == 0 else ["sudo", "-n", *cmd]


def _cluster(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_root(str(CLUSTER), action), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def cluster() -> Iterator[dict[str, str]]:
    """The environment of a client of the running test cluster. Brought up if it is not; stopped
    at the end only if this session started it."""
    was_up = _cluster("status").returncode == 0
    up = _cluster("up")
    if up.returncode != 0:
        pytest.fail(
            "could not bring up the SLURM test cluster (`make test-deps` installs slurm-wlm, "
            f"slurmdbd, mariadb-server, munge; it needs root):\n{up.stderr}"
        )
    venv_bin = str(Path(sys.executable).parent)
    yield {
        **os.environ,
        "SLURM_CONF": str(STATE / "slurm.conf"),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
    }
    if not was_up:
        _cluster("down")


def _command(work: Path, *args: str, configfiles: tuple[Path, ...] = (TINY,)) -> list[str]:
    """`snakemake --profile workflow/profiles/slurm ... --configfile workflow/configs/tiny.yaml`
    in `work`, as docs/SLURM.md runs it (--configfile last: it takes several values)."""
    return [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
        "--profile", str(PROFILE), *args, "--configfile", *map(str, configfiles),
    ]  # fmt: skip


def _snakemake(
    work: Path, env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(work, *args), cwd=work, env=env, capture_output=True, text=True, timeout=timeout
    )


def _sacct(env: dict[str, str], run_uuid: str) -> list[tuple[str, str, str]]:
    """(job id, state, comment: the rule or group) of every allocation of one Snakemake run."""
    cmd = [
        "sacct",
        "-n",
        "-X",
        "-P",
        "--name",
        run_uuid,
        "-o",
        "JobID,State,Comment",
        "-S",
        "now-1day",
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def _run_uuid(output: str) -> str:
    m = re.search(r"SLURM run ID: (\S+)", output)
    assert m, output[-3000:]
    return m.group(1)


@pytest.fixture(scope="module")
def slurm_run(
    cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str], float]:
    """The tiny data pipeline run on the cluster: (workdir, the run, its wall seconds)."""
    work = tiny_workdir(tmp_path_factory.mktemp("slurm"))
    t0 = time.monotonic()
    proc = _snakemake(work, cluster, *SMALL_NODE, *FAST_POLL)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-6000:]
    return work, proc, wall


def test_tiny_run_on_slurm_matches_the_local_run(
    slurm_run: tuple[Path, subprocess.CompletedProcess[str], float],
    tiny_run: Path,
    cluster: dict[str, str],
) -> None:
    """Every data product is byte-identical to the `--cores 2` run's; every rule but the local
    ones ran as a SLURM job, and each shard's extract → clean → convert → signatures chain was
    one job (30 allocations instead of 45 for the tiny config's 5 shards)."""
    work, proc, wall = slurm_run
    assert sha256s(work) == sha256s(tiny_run)
    jobs = _sacct(cluster, _run_uuid(proc.stdout + proc.stderr))
    assert {state for _, state, _ in jobs} == {"COMPLETED"}
    comments = sorted(c for _, _, c in jobs)
    # one job per shard (news, poems, notes ×2, english) for its four rules
    assert comments.count("rule_shard_clean_convert_dedup_signatures_extract") == 5, comments
    assert not {"rule_extract", "rule_clean", "rule_convert", "rule_dedup_signatures"} & set(
        comments
    )
    assert len(jobs) == 30, comments
    print(f"tiny on SLURM: {len(jobs)} jobs, {wall:.0f} s")


def test_train_stopped_by_its_time_limit_signal_resumes_in_the_retry(
    slurm_run: tuple[Path, subprocess.CompletedProcess[str], float], cluster: dict[str, str]
) -> None:
    """`snakemake train` on SLURM with the CPU accelerate config and the profile's time-limit
    signal (`slurm_extra: --signal=TERM@300`; here TERM@60 for a 20-minute limit). Once the first
    checkpoint exists the test lowers the running job's limit with `scontrol update` so the limit
    is under a minute away: SLURM's --signal SIGTERMs the job mid-training whatever the speed of
    the machine, it saves a checkpoint and fails, and the profile's retry (retries: 1) resumes
    from that checkpoint and finishes."""
    work, _, _ = slurm_run
    # as many steps as this machine runs in ~150 s (3,000 took 12 s on a quiet CI machine, 600 s
    # on a loaded one): the signal, which may come a minute after the limit is lowered, lands
    # mid-run on any machine, and the retry runs what is left in bounded time
    steps = max(1000, round(_steps_per_second(work) * 150))
    overlay = work / "train-slurm.yaml"
    overlay.write_text(
        f"train: {{max_steps: {steps}, checkpoint_every: 50, eval_every: {steps}, log_every: 50}}\n"
    )
    cmd = _command(
        work, "train", "--max-threads", "2", *FAST_POLL,  # the target first: options take lists
        "--set-resources", "train:runtime=20", "train:mem_mb=4000",
        "train:slurm_extra='--signal=TERM@60'",
        configfiles=(TINY, overlay),
    )  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=work, env=cluster, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    checkpoints = work / "results" / "train" / "tiny" / "checkpoints"
    try:
        deadline = time.monotonic() + 300
        while not any(checkpoints.glob("step-*")):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint came"
            time.sleep(0.5)
        job = _wait_for_running_job(cluster, proc, timeout=30)
        elapsed = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%M"], env=cluster, capture_output=True, text=True
        ).stdout.strip()
        minutes = _seconds(elapsed) // 60 + 1  # the limit is 1-60 s away: inside TERM@60
        subprocess.run(
            ["scontrol", "update", f"JobId={job}", f"TimeLimit={minutes}"], env=cluster, check=True
        )
        out, _ = proc.communicate(timeout=1000)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-6000:]
    train_jobs = [state for _, state, c in _sacct(cluster, _run_uuid(out)) if c == "rule_train"]
    assert train_jobs == ["FAILED", "COMPLETED"], train_jobs  # stopped by the signal, resumed
    stopped = re.search(r"stopped by signal 15 after step (\d+); checkpoint saved", out)
    assert stopped, out[-6000:]  # the failed attempt's log, shown by show-failed-logs
    log = (work / "logs" / "train" / "tiny.log").read_text("utf-8")  # the retry's
    assert re.search(rf"resumed from \S+ \(step {stopped.group(1)},", log), log[-3000:]
    assert (work / "results" / "train" / "tiny" / "model" / "config.json").is_file()


def _steps_per_second(work: Path) -> float:
    """This machine's speed on the test's training settings: 400 steps with `gpt2zh train` in a
    folder of their own (the SLURM run's checkpoints must not see them), read from the log."""
    overlay = work / "calibrate.yaml"
    overlay.write_text("train: {max_steps: 400, checkpoint_every: 50, log_every: 50}\n")
    out = work / "calibrate"
    subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", "train", "--config", str(TINY), "--config",
         str(overlay), "--mix", "results/mix", "--tokenizer", "results/tokenizer",
         "--out", str(out), "--threads", "2"],
        cwd=work, check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    timed = [r for r in read_jsonl(out / "log.jsonl") if "elapsed_s" in r]
    first, last = timed[0], timed[-1]
    return (last["step"] - first["step"]) / (last["elapsed_s"] - first["elapsed_s"])


def _seconds(elapsed: str) -> int:
    """squeue's elapsed time ([days-][hours:]minutes:seconds) in seconds."""
    days, _, rest = elapsed.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return ((int(days or 0) * 24 + parts[0]) * 60 + parts[1]) * 60 + parts[2]


def _wait_for_running_job(env: dict[str, str], proc: subprocess.Popen, timeout: float) -> str:
    """The id of the first job the test cluster runs (these tests submit one run at a time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before any job started"
        out = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], env=env, capture_output=True, text=True
        ).stdout.split()
        if out:
            return out[0]
        time.sleep(0.5)
    pytest.fail(f"no job ran within {timeout} s")


def test_a_job_killed_with_scancel_is_retried(cluster: dict[str, str], tmp_path: Path) -> None:
    """A job cancelled on the cluster (an admin, a preemption) fails as CANCELLED, is named in the
    output and is submitted once more (retries: 1); the run completes. (With the plugin's
    default status command, sacct, it said "CANCELLED by 0" and the run waited forever.)"""
    work = tiny_workdir(tmp_path)
    target = "results/convert/news/shard-00000.parquet"
    cmd = _command(work, *SMALL_NODE, *FAST_POLL, target)
    proc = subprocess.Popen(
        cmd, cwd=work, env=cluster, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        job = _wait_for_running_job(cluster, proc, timeout=120)
        subprocess.run(["scancel", job], env=cluster, check=True)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-6000:]
    # the group job's SLURM log, shown by show-failed-logs
    assert re.search(rf"\*\*\* JOB {job} ON \S+ CANCELLED AT", out), out[-6000:]
    assert "Trying to restart job" in out
    assert (work / target).is_file()


def test_accounting_down_stops_the_run_before_anything_is_submitted(
    cluster: dict[str, str], tmp_path: Path
) -> None:
    """With slurmdbd stopped, sacct fails and a plugin polling it (its default status command)
    would wait forever after the jobs end (it logs the failures at debug level only). The
    preflight stops the run at once, before any job (local ones included), naming sacct and
    the two ways out."""
    work = tiny_workdir(tmp_path)
    pid = (STATE / "slurmdbd.pid").read_text().strip()
    subprocess.run(_root("kill", pid), check=True)
    try:
        for _ in range(100):  # until slurmdbd has let go of its port
            if subprocess.run(["sacct", "-n", "-X"], env=cluster, capture_output=True).returncode:
                break
            time.sleep(0.1)
        # sacct: the plugin's default, which the shipped profile replaces by squeue
        proc = _snakemake(
            work, cluster, *SMALL_NODE, "--slurm-status-command", "sacct", timeout=120
        )
    finally:
        for _ in range(600):  # `up` starts nothing while the old slurmdbd is still exiting
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
        assert _cluster("up").returncode == 0
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "`sacct --noheader" in out and "would wait forever" in out, out[-3000:]
    assert "slurm-status-command: squeue" in out
    assert "has been submitted" not in out
    assert not (work / "results").exists()


def test_jobs_larger_than_the_node_stop_the_run_before_anything_is_submitted(
    cluster: dict[str, str], tmp_path: Path
) -> None:
    """The shipped profile sizes jobs for a big cluster (tokenizer 16 CPUs, dedup_clusters
    48 GB). On the 2-CPU test node the preflight names every rule that cannot fit and how to
    lower it, instead of sbatch rejecting the tokenizer halfway through the run."""
    work = tiny_workdir(tmp_path)
    proc = _snakemake(work, cluster, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "nothing was submitted" in out, out[-3000:]
    assert "tokenizer on partition 'main': 16 CPUs (largest node: 2; --set-threads" in out
    assert re.search(r"dedup_clusters on partition 'main': 48000 MB \(largest node: \d+ MB", out)
    assert "has been submitted" not in out
    assert not (work / "results").exists()


def test_cluster_script_is_idempotent(cluster: dict[str, str]) -> None:
    """A second `up` starts nothing new: the same daemons answer under the same pids."""
    pids = {p.name: p.read_text() for p in STATE.glob("*.pid")}
    t0 = time.monotonic()
    assert _cluster("up").returncode == 0
    assert time.monotonic() - t0 < 30
    assert {p.name: p.read_text() for p in STATE.glob("*.pid")} == pids


def test_a_stopped_cluster_costs_snakemake_nothing(cluster: dict[str, str]) -> None:
    """The SLURM plugin runs `scontrol show config` when Snakemake imports it (at every start,
    for its --help text); a client config naming a stopped controller makes that wait ~10 s.
    The cluster's config never goes to /etc/slurm, and `down` removes slurmd's /run/slurm/conf
    link, so once the cluster is stopped a plain Snakemake start is as fast as without SLURM."""
    plain = {k: v for k, v in cluster.items() if k != "SLURM_CONF"}
    assert _cluster("down").returncode == 0
    try:
        assert not Path("/etc/slurm/slurm.conf").exists()
        assert not Path("/run/slurm/conf").exists()
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", "import snakemake_executor_plugin_slurm"], env=plain, check=True
        )
        assert time.monotonic() - t0 < 5
    finally:
        assert _cluster("up").returncode == 0
