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


def download_dir(source: str) -> str:
    """A source's folder: `files/` and the manifest."""
    return f"{RESULTS}/download/{source}"


def manifest(source: str) -> str:
    return f"{download_dir(source)}/manifest.json"


def stage_dir(stage: str) -> str:
    """A text stage's folder: one subfolder of shards per dataset."""
    return f"{RESULTS}/{stage}"


def shard(stage: str, dataset: str, stem: str, suffix: str) -> str:
    """`stem` is `shard_name(i)` or the pattern `shard-{shard}`; `suffix` is `.parquet`,
    `.stats.json` or `.quarantine.jsonl`."""
    return f"{stage_dir(stage)}/{dataset}/{stem}{suffix}"


def report(dataset: str, suffix: str) -> str:
    return f"{RESULTS}/reports/{dataset}{suffix}"


def run_report_dir(run: str) -> str:
    """A run's pages (`index.html`, `<dataset>.html`): the corpus pages plus the model."""
    return f"{RESULTS}/reports/{run}"


def run_report(run: str, page: str) -> str:
    return f"{run_report_dir(run)}/{page}.html"


#: The trained tokenizer (save_pretrained layout) and the packed mix (train/, val/, manifest).
TOKENIZER_DIR = f"{RESULTS}/tokenizer"
TOKENIZER_JSON = f"{TOKENIZER_DIR}/tokenizer.json"
MIX_DIR = f"{RESULTS}/mix"
MIX_MANIFEST = f"{MIX_DIR}/manifest.json"
#: Written by the mix's verify job: every shard matched the manifest's sha256.
MIX_VERIFIED = f"{MIX_DIR}/verified.json"
#: The corpus token table (per dataset and totals).
COUNTS_TABLE = f"{RESULTS}/tokens/counts.md"


def tokens(dataset: str, stem: str, suffix: str) -> str:
    """Token shards: `suffix` is `.arrow` or `.stats.json`."""
    return f"{RESULTS}/tokens/{dataset}/{stem}{suffix}"


def counts(dataset: str) -> str:
    return f"{RESULTS}/tokens/{dataset}/counts.json"


def log(stage: str, name: str) -> str:
    return f"{LOGS}/{stage}/{name}.log"


#: The data files a shard's sidecars sit beside: document shards and token shards.
SHARD_SUFFIXES = (".parquet", ".arrow")


def sidecar(shard_path: str | Path, suffix: str) -> Path:
    """`results/x/shard-00001.parquet` (or `.arrow`) → `results/x/shard-00001<suffix>`: the
    stats, quarantine and dropped files every stage writes beside its shard."""
    p = Path(shard_path)
    stem = next((p.name[: -len(s)] for s in SHARD_SUFFIXES if p.name.endswith(s)), p.name)
    return p.with_name(stem + suffix)


def folder(path: str | Path, up: int = 1) -> str:
    """The folder `up` levels above a declared file (`tokenizer.json` → the tokenizer folder; a
    shard, `up=2` → its stage's folder). Rules declare files Snakemake can check and pass the
    folder a command reads or writes, derived from those files so the two cannot drift apart."""
    return str(Path(path).parents[up - 1])


def train_dir(run: str) -> str:
    """A run's folder: checkpoints/, log.jsonl, TensorBoard and model/."""
    return f"{RESULTS}/train/{run}"


def train_model(run: str) -> str:
    """The final model (save_pretrained layout); its config.json is what the rule declares."""
    return f"{train_dir(run)}/model"


def train_model_config(run: str) -> str:
    """What the train rule declares: written last, so its presence means the model is whole."""
    return f"{train_model(run)}/config.json"


def train_log(run: str) -> str:
    """The training log train writes beside its checkpoints (not declared: Snakemake would
    delete it with a failed job's outputs)."""
    return f"{train_dir(run)}/log.jsonl"


def eval_dir(run: str) -> str:
    """eval.json, eval.md and lm_eval/ of a run."""
    return f"{RESULTS}/eval/{run}"


def eval_result(run: str, suffix: str) -> str:
    """`.json` (what the run's report reads) or `.md`."""
    return f"{eval_dir(run)}/eval{suffix}"


#: dedup's intermediate files (signatures, candidate pairs, clusters) live apart from its
#: output shards (`dedup/<dataset>/`), so that no dataset name can collide with them.
DEDUP_WORK = f"{RESULTS}/dedup_work"


#: The folder of every signature file (`<dataset>/<stem>.parquet`): what the gather jobs read.
DEDUP_SIGNATURES = f"{DEDUP_WORK}/signatures"


def dedup_signatures(dataset: str, stem: str) -> str:
    return f"{DEDUP_SIGNATURES}/{dataset}/{stem}.parquet"


def dedup_pairs(group: int | str) -> str:
    """`group` is an index or the pattern `{group}` (zero-padded to three digits by callers)."""
    return f"{DEDUP_WORK}/pairs/group-{group}.parquet"


def dedup_clusters(suffix: str) -> str:
    """`.parquet` (the drop list) or `.json` (the summary the reports read)."""
    return f"{DEDUP_WORK}/clusters{suffix}"


def benchmark(stage: str, name: str) -> str:
    """Snakemake `benchmark:` files (time, memory per job), beside the logs."""
    return f"{LOGS}/benchmarks/{stage}/{name}.tsv"
