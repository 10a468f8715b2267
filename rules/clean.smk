# clean: normalizers, PII redaction and quality filters, one job per shard.


rule clean:
    input:
        shard=layout.shard("extract", "{dataset}", "shard-{shard}", ".parquet"),
        # read by the chain check: the shard must be what extract wrote
        stats=layout.shard("extract", "{dataset}", "shard-{shard}", ".stats.json"),
    output:
        shard=intermediate(layout.shard("clean", "{dataset}", "shard-{shard}", ".parquet")),
        stats=layout.shard("clean", "{dataset}", "shard-{shard}", ".stats.json"),
    log:
        layout.log("clean", "{dataset}/shard-{shard}"),
    benchmark:
        layout.benchmark("clean", "{dataset}/shard-{shard}")
    threads: 1
    resources:
        mem_mb=2000,
    params:
        spec=lambda w: spec_json(dataset_spec(CFG, w.dataset)),
        version=VERSION["clean"],
    shell:
        "gpt2zh clean --spec {params.spec:q} --shard {wildcards.shard}"
        " --in {input.shard:q} --out {output.shard:q} 2> {log:q}"
