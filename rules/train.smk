# train: GPT-2 with `accelerate launch` on the packed mix. Declares only the final model's
# config.json: checkpoints live in results/train/<run>/checkpoints, which Snakemake does not know
# about, so a failed or killed job never deletes them and a rerun resumes.


rule train:
    input:
        mix=layout.MIX_MANIFEST,
        verified=layout.MIX_VERIFIED,  # shards match their sha256 (rule mix_verify)
        tokenizer=layout.TOKENIZER_JSON,
    output:
        layout.train_model_config(RUN),
    log:
        layout.log("train", RUN),
    benchmark:
        layout.benchmark("train", RUN)
    # every core; a function, so commands that plan no jobs (--unlock, --report) need no --cores
    threads: lambda wildcards: workflow.cores
    resources:
        gpu=CFG["train"]["gpus"],
        # SLURM: one task owns all the job's GPUs and runs one launcher (not a task per GPU)
        tasks_per_gpu=0,
        mem_mb=16000,
    params:
        spec=spec_json(train_spec(CFG)),
        # relative to the working directory: an absolute path would be a changed parameter
        # (a rerun of training) in a copy of the project folder
        accelerate=os.path.relpath(ACCELERATE_CONFIG),
        # several nodes: GPUs per node from the profile's gres, one launcher per node by its
        # mpi resource (srun); gpt2zh.train.launch turns these and SLURM's env into argv
        gres=lambda w, resources: resources.get("gres") or "",
        mpi=lambda w, resources: mpi_prefix(resources.get("mpi")),
        mix=lambda w, input: layout.folder(input.mix),
        tokenizer=lambda w, input: layout.folder(input.tokenizer),
        out=lambda w, output: layout.folder(output[0], up=2),
        version=VERSION["train"],
    shell:
        "{params.mpi} gpt2zh launch --config-file {params.accelerate:q}"
        " --gpus {resources.gpu} --gres={params.gres:q} --threads {threads}"
        " -- --spec {params.spec:q} --mix {params.mix:q} --tokenizer {params.tokenizer:q}"
        " --out {params.out:q} --threads {threads} 2> {log:q}"
