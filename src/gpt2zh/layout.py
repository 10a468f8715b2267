"""Where every stage's files live under results/: one map shared by the rules and the code.

Rules call these with wildcard placeholders (`"{dataset}"`, `"shard-{shard}"`) to name their
outputs; reports call them with real names to find stage stats. Keeping the paths in one place is
what lets a new stage plug in without editing the ones around it.
"""

from __future__ import annotations

from pathlib import Path

#: Text stages in pipeline order; each writes `<stage>/<dataset>/shard-NNNNN.*` files.
DOC_STAGES: tuple[str, ...] = ("extract", "clean", "convert")

RESULTS = "results"
LOGS = "logs"


def manifest(source: str) -> str:
    return f"{RESULTS}/download/{source}/manifest.json"


def shard(stage: str, dataset: str, stem: str, suffix: str) -> str:
    """`stem` is `shard_name(i)` or the pattern `shard-{shard}`; `suffix` is `.parquet`,
    `.stats.json` or `.quarantine.jsonl`."""
    return f"{RESULTS}/{stage}/{dataset}/{stem}{suffix}"


def report(dataset: str, suffix: str) -> str:
    return f"{RESULTS}/reports/{dataset}{suffix}"


def log(stage: str, name: str) -> str:
    return f"{LOGS}/{stage}/{name}.log"


def sidecar(shard_path: str | Path, suffix: str) -> Path:
    """`results/x/shard-00001.parquet` → `results/x/shard-00001<suffix>` (stats, quarantine…)."""
    p = Path(shard_path)
    return p.with_name(p.name.removesuffix(".parquet") + suffix)
