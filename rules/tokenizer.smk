# tokenizer: one job; byte-level BPE trained on a sample of the LAST document stage (it follows
# layout.DOC_STAGES, so a stage appended there feeds it), drawn across datasets by mix weight.


rule tokenizer:
    input:
        shards=tokenizer_inputs(".parquet"),
        stats=tokenizer_inputs(".stats.json"),
    output:
        tokenizer=layout.TOKENIZER_JSON,
        info=f"{layout.TOKENIZER_DIR}/training.json",
    log:
        layout.log("tokenizer", "tokenizer"),
    benchmark:
        layout.benchmark("tokenizer", "tokenizer")
    # every core; a function, so commands that plan no jobs (--unlock, --report) need no --cores
    threads: lambda wildcards: workflow.cores
    resources:
        mem_mb=24000,
    params:
        spec=spec_json(tokenizer_spec(CFG)),
        out=lambda w, output: layout.folder(output.tokenizer),
        version=VERSION["tokenizer"],
    shell:
        "RAYON_NUM_THREADS={threads} gpt2zh tokenizer --spec {params.spec:q}"
        " --inputs {input.shards:q} --out {params.out:q} 2> {log:q}"
