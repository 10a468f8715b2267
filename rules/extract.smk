# extract: one job per shard; each reads its own subset of the dataset's files (assigned by size
# from the manifest), so every byte is read once and shards run in parallel.


rule extract:
    input:
        manifest=dataset_manifest,
    output:
        shard=intermediate(layout.shard("extract", "{dataset}", "shard-{shard}", ".parquet")),
        stats=layout.shard("extract", "{dataset}", "shard-{shard}", ".stats.json"),
        quarantine=layout.shard("extract", "{dataset}", "shard-{shard}", ".quarantine.jsonl"),
    log:
        layout.log("extract", "{dataset}/shard-{shard}"),
    benchmark:
        layout.benchmark("extract", "{dataset}/shard-{shard}")
    threads: 1
    resources:
        mem_mb=2000,
    params:
        spec=lambda w: spec_json(dataset_spec(CFG, w.dataset)),
        version=VERSION["extract"],
    shell:
        "gpt2zh extract --spec {params.spec:q} --manifest {input.manifest:q}"
        " --shard {wildcards.shard} --out {output.shard:q} 2> {log:q}"
