"""Where every stage's files live under results/: one map shared by the rules and the code.

Rules call these with wildcard placeholders (`"{dataset}"`, `"shard-{shard}"`) to name their
outputs; reports call them with real names to find stage stats. Keeping the paths in one place is
what lets a new stage plug in without editing the ones around it.
"""

from __future__ import annotations

from pathlib import Path

#: Text stages in pipeline order; each writes `<stage>/<dataset>/shard-NNNNN.*` files.
DOC_STAGES: tuple[str, ...] = ("extract", "clean", "convert", "dedup")

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


#: The trained tokenizer (save_pretrained layout) and the packed mix (train/, val/, manifest).
TOKENIZER_DIR = f"{RESULTS}/tokenizer"
MIX_DIR = f"{RESULTS}/mix"


def tokens(dataset: str, stem: str, suffix: str) -> str:
    """Token shards: `suffix` is `.arrow` or `.stats.json`."""
    return f"{RESULTS}/tokens/{dataset}/{stem}{suffix}"


def counts(dataset: str) -> str:
    return f"{RESULTS}/tokens/{dataset}/counts.json"


def log(stage: str, name: str) -> str:
    return f"{LOGS}/{stage}/{name}.log"


def sidecar(shard_path: str | Path, suffix: str) -> Path:
    """`results/x/shard-00001.parquet` → `results/x/shard-00001<suffix>` (stats, quarantine…)."""
    p = Path(shard_path)
    return p.with_name(p.name.removesuffix(".parquet") + suffix)


#: dedup's intermediate files (signatures, candidate pairs, clusters) live apart from its
#: output shards (`dedup/<dataset>/`), so that no dataset name can collide with them.
DEDUP_WORK = f"{RESULTS}/dedup_work"


def dedup_signatures(dataset: str, stem: str) -> str:
    return f"{DEDUP_WORK}/signatures/{dataset}/{stem}.parquet"


def dedup_pairs(group: int | str) -> str:
    """`group` is an index or the pattern `{group}` (zero-padded to three digits by callers)."""
    return f"{DEDUP_WORK}/pairs/group-{group}.parquet"


def dedup_clusters(suffix: str) -> str:
    """`.parquet` (the drop list) or `.json` (the summary the reports read)."""
    return f"{DEDUP_WORK}/clusters{suffix}"


def benchmark(stage: str, name: str) -> str:
    """Snakemake `benchmark:` files (time, memory per job), beside the logs."""
    return f"{LOGS}/benchmarks/{stage}/{name}.tsv"
