# train: GPT-2 with `accelerate launch` on the packed mix. Declares only the final
# model's config.json: checkpoints live in results/train/<run>/checkpoints, which Snakemake does
# not know about, so a failed or killed job never deletes them and a rerun resumes.

from gpt2zh.train.launch import mpi_prefix

TRAIN_DIR = f"{layout.RESULTS}/train/{CFG['run']}"
ACCELERATE_CONFIG = os.path.join(
    workflow.basedir, "workflow", "accelerate", CFG["train"]["accelerate_config"]
)
if not os.path.isfile(ACCELERATE_CONFIG):
    raise ValueError(
        f"train.accelerate_config: no {CFG['train']['accelerate_config']} in workflow/accelerate"
    )


rule train:
    input:
        mix=MIX_MANIFEST,
        verified=MIX_VERIFIED,  # shards match their sha256 (rule mix_verify)
        tokenizer=TOKENIZER_JSON,
    output:
        f"{TRAIN_DIR}/model/config.json",
    log:
        layout.log("train", CFG["run"]),
    benchmark:
        layout.benchmark("train", CFG["run"])
    # every core; a function, so commands that plan no jobs (--unlock, --report) need no --cores
    threads: lambda wildcards: workflow.cores
    resources:
        gpu=CFG["train"]["gpus"],
        # SLURM: one task owns all the job's GPUs and runs one launcher (not a task per GPU)
        tasks_per_gpu=0,
        mem_mb=16000,
    params:
        spec=spec_json({"model": CFG["model"], "train": CFG["train"]}),
        # relative to the working directory: an absolute path would be a changed parameter
        # (a rerun of training) in a copy of the project folder
        accelerate=os.path.relpath(ACCELERATE_CONFIG),
        # several nodes: GPUs per node from the profile's gres, one launcher per node by its
        # mpi resource (srun); gpt2zh.train.launch turns these and SLURM's env into argv
        gres=lambda w, resources: resources.get("gres") or "",
        mpi=lambda w, resources: mpi_prefix(resources.get("mpi")),
        mix=lambda w, input: os.path.dirname(input.mix),
        tokenizer=lambda w, input: os.path.dirname(input.tokenizer),
        out=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        version=VERSION["train"],
    shell:
        "{params.mpi} gpt2zh launch --config-file {params.accelerate:q}"
        " --gpus {resources.gpu} --gres={params.gres:q} --threads {threads}"
        " -- --spec {params.spec:q} --mix {params.mix:q} --tokenizer {params.tokenizer:q}"
        " --out {params.out:q} --threads {threads} 2> {log:q}"
