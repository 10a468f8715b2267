"""Checks, before the first `sbatch`, that a run with the SLURM executor can finish.

Two ways a SLURM run used to fail late or never end:

- The executor plugin follows its jobs with `sacct` (or `squeue`). When accounting does not
  answer (no slurmdbd, `AccountingStorageType=accounting_storage/none`, slurmdbd down), it logs
  each failed poll at debug level only and treats every job as still running: the workflow waits
  forever after its jobs end. With `squeue` the same happens once a finished job has left the
  controller's memory (MinJobAge) before the next poll.
- A job that asks for more CPUs, memory or time than any node (or the time limit) of its
  partition allows is rejected by sbatch, or pends forever, halfway through the run.

`preflight` runs from the workflow's `onstart:` (after the DAG is built, before any job is
submitted) and raises `UserError` naming what to change. Only the client commands are used
(`sacct`, `scontrol`, `sinfo`), each with a timeout.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gpt2zh.errors import UserError

#: Seconds a client command may take; a controller that does not answer fails the check.
TIMEOUT = 30
#: The plugin's first status poll comes this long after a submission (its default), and it
#: wants MinJobAge of at least three times that before it trusts `squeue`.
INITIAL_POLL_SECONDS = 40


@dataclass(frozen=True)
class Limits:
    """The largest node of a partition and the partition's time limit (None: unlimited)."""

    cpus: int
    mem_mb: int
    minutes: int | None


@dataclass(frozen=True)
class Request:
    """What one job asks SLURM for (partition None: the cluster's default partition)."""

    rule: str
    partition: str | None
    cpus: int
    mem_mb: int | None
    minutes: int | None


def _tool(*argv: str) -> str:
    """stdout of a SLURM client command; UserError with its stderr when it fails or hangs."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    except FileNotFoundError as e:
        raise UserError(f"SLURM: `{argv[0]}` is not installed on this machine") from e
    except subprocess.TimeoutExpired as e:
        raise UserError(
            f"SLURM: `{' '.join(argv)}` did not answer within {TIMEOUT} s: is slurmctld "
            "(or slurmdbd) running, and does SLURM_CONF name this cluster's slurm.conf?"
        ) from e
    if proc.returncode != 0:
        raise UserError(
            f"SLURM: `{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc.stdout


def check_status_command(status_command: str | None, init_seconds: int | None) -> None:
    """The command the plugin will poll job states with answers (see the module docstring)."""
    first_poll = init_seconds or INITIAL_POLL_SECONDS
    if status_command == "squeue":
        age = min_job_age(_tool("scontrol", "show", "config"))
        if age is not None and age >= 3 * first_poll:
            return
        raise UserError(
            f"SLURM: slurm-status-command is squeue but the cluster's MinJobAge is {age} s, "
            f"below 3 × the first poll ({first_poll} s): finished jobs would leave squeue "
            "before Snakemake sees them. Use sacct (run slurmdbd) or raise MinJobAge."
        )
    try:
        _tool("sacct", "--noheader", "--allocations", "--starttime", "now", "--format", "JobID")
    except UserError as e:
        raise UserError(
            f"{e}\nThe SLURM executor follows its jobs with sacct; without accounting it would "
            "wait forever after they end. Run slurmdbd (docs/SLURM.md), or, if the cluster "
            "keeps finished jobs in squeue for minutes (MinJobAge >= 120 s), add "
            "`slurm-status-command: squeue` to the profile."
        ) from None


def min_job_age(config: str) -> int | None:
    """MinJobAge in seconds from `scontrol show config` output (None: not listed)."""
    m = re.search(r"^MinJobAge\s*=\s*(\d+)\s*(\w*)", config, re.MULTILINE)
    if not m:
        return None
    return int(m.group(1)) * (3600 if m.group(2).startswith("h") else 1)


def parse_minutes(limit: str) -> int | None:
    """A SLURM time limit ("infinite", "30:00", "1-00:00:00", "2-12") in whole minutes."""
    if limit in ("infinite", "UNLIMITED", ""):
        return None
    days, sep, rest = limit.partition("-") if "-" in limit else ("0", "", limit)
    parts = [int(p) for p in rest.split(":")]
    if sep:  # days-hours[:minutes[:seconds]]
        h, m, s = [*parts, 0, 0][:3]
    else:  # minutes | minutes:seconds | hours:minutes:seconds
        h, m, s = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}[len(parts)]
    return (int(days) * 24 + h) * 60 + m + (1 if s else 0)


def partition_limits(sinfo: str) -> tuple[dict[str, Limits], str | None]:
    """Per partition, its largest node and time limit, from `sinfo -h -N -o '%P|%c|%m|%l'`;
    and the default partition (marked `*`)."""
    limits: dict[str, Limits] = {}
    default = None
    for line in sinfo.splitlines():
        if not line.strip():
            continue
        name, cpus, mem, limit = line.split("|")
        if name.endswith("*"):
            name = name[:-1]
            default = name
        old = limits.get(name)
        cpus_n, mem_n = int(cpus.rstrip("+")), int(mem.rstrip("+"))
        limits[name] = Limits(
            max(cpus_n, old.cpus if old else 0),
            max(mem_n, old.mem_mb if old else 0),
            parse_minutes(limit),
        )
    return limits, default


def oversized(
    requests: Iterable[Request], limits: dict[str, Limits], default: str | None
) -> list[str]:
    """One line per rule whose jobs cannot run on its partition (first job of each rule)."""
    problems: dict[str, str] = {}
    for r in requests:
        if r.rule in problems:
            continue
        part = r.partition or default
        if part is None:
            problems[r.rule] = f"{r.rule}: no partition given and the cluster has no default"
            continue
        lim = limits.get(part)
        if lim is None:
            problems[r.rule] = (
                f"{r.rule}: partition {part!r} does not exist (partitions: "
                f"{', '.join(sorted(limits))}); set slurm_partition"
            )
            continue
        # a group's rules share one job: its runtime is their sum, so no one rule's flag fixes it
        fix = (lambda flag: "") if r.rule.startswith("group ") else (lambda flag: f"; {flag}")
        over = []
        if r.cpus > lim.cpus:
            over.append(
                f"{r.cpus} CPUs (largest node: {lim.cpus}{fix(f'--set-threads {r.rule}=N')})"
            )
        if r.mem_mb is not None and r.mem_mb > lim.mem_mb:
            over.append(
                f"{r.mem_mb} MB (largest node: {lim.mem_mb} MB"
                f"{fix(f'--set-resources {r.rule}:mem_mb=N')})"
            )
        if r.minutes is not None and lim.minutes is not None and r.minutes > lim.minutes:
            over.append(
                f"{r.minutes} min (time limit: {lim.minutes} min"
                f"{fix(f'--set-resources {r.rule}:runtime=N')})"
            )
        if over:
            problems[r.rule] = f"{r.rule} on partition {part!r}: " + ", ".join(over)
    return list(problems.values())


def check_requests(requests: Iterable[Request]) -> None:
    """UserError listing every rule that asks for more than its partition has."""
    sinfo = _tool("sinfo", "--noheader", "--Node", "--format", "%P|%c|%m|%l")
    limits, default = partition_limits(sinfo)
    problems = oversized(requests, limits, default)
    if problems:
        raise UserError(
            "SLURM: these jobs ask for more than their partition gives; nothing was submitted. "
            "Lower them (or set slurm_partition) in a copy of the profile or on the command "
            "line (--max-threads N caps every rule's threads):\n  " + "\n  ".join(problems)
        )


def _number(value: Any) -> int | None:
    """A resource as a number; None when unset, or when it depends on inputs that do not exist
    yet (Snakemake's "<TBD>": such a job is sized, and checked by sbatch, when it is ready)."""
    return int(value) if isinstance(value, int | float) else None


def _requests(workflow: Any) -> Iterator[Request]:
    """One Request per SLURM submission the DAG will make: a group job (the rules of one shard,
    its runtimes summed) counts as one, named `group NAME`."""
    seen: set[int] = set()
    for job in workflow.dag.needrun_jobs():
        unit = workflow.dag.get_job_group(job) or job
        if unit.is_local or id(unit) in seen:
            continue
        seen.add(id(unit))
        resources = unit.resources
        yield Request(
            rule=f"group {unit.groupid}" if unit.is_group() else unit.rule.name,
            partition=resources.get("slurm_partition") or None,
            cpus=unit.threads,
            mem_mb=_number(resources.get("mem_mb")),
            minutes=_number(resources.get("runtime")),
        )


def preflight(workflow: Any) -> None:
    """Both checks, for the main process of a run with the `slurm` executor; nothing otherwise
    (local runs, dry runs, and the jobs themselves, which run with `slurm-jobstep`)."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return
    settings = workflow.executor_settings
    check_status_command(
        getattr(settings, "status_command", None),
        getattr(settings, "init_seconds_before_status_checks", None),
    )
    check_requests(_requests(workflow))
