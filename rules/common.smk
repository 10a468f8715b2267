# Config validation, the shared naming scheme and the helpers of every rules/*.smk. All they
# read is defined here, so none depends on the order of the includes. Paths come from
# gpt2zh.layout and specs from each stage's contract (gpt2zh.<stage>.spec), the same functions
# the CLI builds a spec with from --config.

import os

from gpt2zh import layout
from gpt2zh.config import (
    check_config_files,
    dataset_spec,
    source_spec,
    spec_json,
    validate_config,
)
from gpt2zh.dedup.spec import dedup_job_spec, dedup_spec
from gpt2zh.eval.spec import eval_spec
from gpt2zh.mix.plan import mix_weights
from gpt2zh.mix.spec import mix_spec
from gpt2zh.scheduler_wakeup import one_pending_wakeup
from gpt2zh.report.spec import about_spec
from gpt2zh.shards import shard_name
from gpt2zh.slurm import preflight
from gpt2zh.sources.local import input_files
from gpt2zh.sources.spec import download_spec
from gpt2zh.tokenize.spec import tokenizer_spec
from gpt2zh.train.launch import mpi_prefix
from gpt2zh.train.spec import train_spec

# Snakemake's scheduler otherwise gains a wake-up timer per finished job and spends a growing
# share of a core on them (gpt2zh/scheduler_wakeup.py).
one_pending_wakeup()

# Fail before planning anything if the config is wrong; the error names the key path.
check_config_files(workflow.configfiles)
CFG = validate_config(config)
DATASETS = sorted(CFG["datasets"])
SOURCES = sorted({CFG["datasets"][d]["source"] for d in DATASETS})
# hf sources fetch the commits locked beside the first config file (<config>.lock.yaml); the
# path is relative so that moving the checkout does not change a rule's params.
CONFIG_FILES = workflow.overwrite_configfiles or [os.path.join(workflow.basedir, "config.yaml")]
CONFIG_PATH = os.path.relpath(CONFIG_FILES[0])
RUN = CFG["run"]


# Bump when a stage's output changes meaning: Snakemake reruns jobs whose params changed.
VERSION = {
    "download": 1,
    "extract": 1,
    "clean": 1,
    "convert": 2,
    "dedup": 1,
    "report": 7,
    "tokenizer": 1,
    "tokenize": 1,
    "mix": 1,
    "train": 1,
    "eval": 2,
}


# With the SLURM executor: accounting answers (else the plugin waits forever after the jobs end)
# and every job fits its partition, checked before anything is submitted (gpt2zh.slurm).
onstart:
    preflight(workflow)


wildcard_constraints:
    dataset="[a-z0-9_]+",
    source="[a-z0-9_]+",
    shard="[0-9]{5}",


def intermediate(path):
    """A file only later stages read: temp() (deleted once they ran) unless keep_intermediate."""
    return path if CFG["keep_intermediate"] else temp(path)


def shard_files(stage, dataset, suffix):
    """Every shard file of one stage and dataset; shard counts are fixed by config."""
    n = CFG["datasets"][dataset]["shards"]
    return [layout.shard(stage, dataset, shard_name(i), suffix) for i in range(n)]


def dataset_manifest(wildcards):
    return layout.manifest(CFG["datasets"][wildcards.dataset]["source"])


def local_input_files(spec):
    """A local source's files are the download's inputs: editing one reruns it."""
    return input_files(spec) if spec["type"] == "local" else []


# Pretraining datasets with a weight (normalised); tokenizer sample and mix draw from these.
MIX_WEIGHTS = mix_weights(CFG)
# The tokenizer and tokenize read the LAST document stage, so a stage appended follows.
LAST_DOC_STAGE = layout.DOC_STAGES[-1]


def tokenizer_inputs(suffix):
    if CFG["tokenizer"]["pretrained"]:
        return []
    return [f for d in MIX_WEIGHTS for f in shard_files(LAST_DOC_STAGE, d, suffix)]


def token_files(dataset, suffix):
    n = CFG["datasets"][dataset]["shards"]
    return [layout.tokens(dataset, shard_name(i), suffix) for i in range(n)]


# dedup's spec, resolved once; each job gets only the keys it reads (gpt2zh.dedup.spec.JOB_KEYS)
DEDUP = dedup_spec(CFG)


def dedup_spec_json(job):
    return spec_json(dedup_job_spec(DEDUP, job))


# train and eval: the accelerate config the train rule launches with
ACCELERATE_CONFIG = os.path.join(
    workflow.basedir, "workflow", "accelerate", CFG["train"]["accelerate_config"]
)
if not os.path.isfile(ACCELERATE_CONFIG):
    raise ValueError(
        f"train.accelerate_config: no {CFG['train']['accelerate_config']} in workflow/accelerate"
    )
