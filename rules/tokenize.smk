# tokenize: one job per shard of every dataset (SFT included: counted, never mixed), then the
# per-dataset counts and the corpus table (the total token count).


rule tokenize:
    input:
        shard=layout.shard(LAST_DOC_STAGE, "{dataset}", "shard-{shard}", ".parquet"),
        # read by the chain check: the shard must be what that stage wrote
        stats=layout.shard(LAST_DOC_STAGE, "{dataset}", "shard-{shard}", ".stats.json"),
        tokenizer=layout.TOKENIZER_JSON,
    output:
        tokens=layout.tokens("{dataset}", "shard-{shard}", ".arrow"),
        stats=layout.tokens("{dataset}", "shard-{shard}", ".stats.json"),
    log:
        layout.log("tokenize", "{dataset}/shard-{shard}"),
    benchmark:
        layout.benchmark("tokenize", "{dataset}/shard-{shard}")
    threads: CFG["tokenize"]["threads"]
    resources:
        mem_mb=2000,
    params:
        tokenizer=lambda w, input: layout.folder(input.tokenizer),
        batch=CFG["tokenize"]["batch_docs"],
        encoder=CFG["tokenize"]["encoder"],
        version=VERSION["tokenize"],
    shell:
        "gpt2zh tokenize --tokenizer {params.tokenizer:q} --dataset {wildcards.dataset}"
        " --shard {wildcards.shard} --in {input.shard:q} --out {output.tokens:q}"
        " --batch-docs {params.batch:q} --threads {threads} --encoder {params.encoder:q}"
        " 2> {log:q}"


rule count:
    input:
        lambda w: token_files(w.dataset, ".stats.json"),
    output:
        layout.counts("{dataset}"),
    log:
        layout.log("count", "{dataset}"),
    params:
        role=lambda w: CFG["datasets"][w.dataset]["role"],
        version=VERSION["tokenize"],
    shell:
        "gpt2zh count dataset --dataset {wildcards.dataset} --role {params.role:q}"
        " --stats {input:q} --out {output:q} 2> {log:q}"


rule count_table:
    input:
        counts=expand(layout.counts("{dataset}"), dataset=DATASETS),
        mix=layout.MIX_MANIFEST,
    output:
        layout.COUNTS_TABLE,
    log:
        layout.log("count", "table"),
    params:
        version=VERSION["tokenize"],
    shell:
        "gpt2zh count table --counts {input.counts:q} --mix {input.mix:q} --out {output:q}"
        " > {log:q} 2>&1"
