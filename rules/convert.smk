# convert: Traditional → Simplified with OpenCC, one job per shard (before dedup, so the two
# scripts of one text meet there).


rule convert:
    input:
        shard=layout.shard("clean", "{dataset}", "shard-{shard}", ".parquet"),
        # read by the chain check: the shard must be what clean wrote
        stats=layout.shard("clean", "{dataset}", "shard-{shard}", ".stats.json"),
    output:
        shard=intermediate(layout.shard("convert", "{dataset}", "shard-{shard}", ".parquet")),
        stats=layout.shard("convert", "{dataset}", "shard-{shard}", ".stats.json"),
    log:
        layout.log("convert", "{dataset}/shard-{shard}"),
    benchmark:
        layout.benchmark("convert", "{dataset}/shard-{shard}")
    threads: 1
    resources:
        mem_mb=1000,
    params:
        spec=lambda w: spec_json(dataset_spec(CFG, w.dataset)),
        version=VERSION["convert"],
    shell:
        "gpt2zh convert --spec {params.spec:q} --shard {wildcards.shard}"
        " --in {input.shard:q} --out {output.shard:q} 2> {log:q}"
