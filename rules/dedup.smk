# dedup: exact + MinHash near-duplicates across all datasets, after convert.
#   signatures (per shard) → buckets (per band group, scatter) → clusters (gather) → filter
# The bucket and cluster jobs read every signature file: the files are their declared inputs,
# but the command line names only the folder (no list of thousands of paths).

DEDUP_GROUPS = [f"{g:03d}" for g in range(DEDUP["band_groups"])]
DEDUP_SIGNATURES = [
    layout.dedup_signatures(d, shard_name(i))
    for d in DATASETS
    for i in range(CFG["datasets"][d]["shards"])
]


rule dedup_signatures:
    input:
        shard=layout.shard("convert", "{dataset}", "shard-{shard}", ".parquet"),
        # read by the chain check: the shard must be what convert wrote
        stats=layout.shard("convert", "{dataset}", "shard-{shard}", ".stats.json"),
    output:
        intermediate(layout.dedup_signatures("{dataset}", "shard-{shard}")),
    log:
        layout.log("dedup", "signatures/{dataset}/shard-{shard}"),
    benchmark:
        layout.benchmark("dedup", "signatures/{dataset}/shard-{shard}")
    threads: 1
    resources:
        mem_mb=1500,
    params:
        spec=dedup_spec_json("signatures"),
        version=VERSION["dedup"],
    shell:
        "gpt2zh dedup signatures --spec {params.spec:q} --dataset {wildcards.dataset}"
        " --in {input.shard:q} --out {output:q} 2> {log:q}"


rule dedup_buckets:
    input:
        DEDUP_SIGNATURES,
    output:
        intermediate(layout.dedup_pairs("{group}")),
    log:
        layout.log("dedup", "buckets/group-{group}"),
    benchmark:
        layout.benchmark("dedup", "buckets/group-{group}")
    wildcard_constraints:
        group="[0-9]{3}",
    threads: 1
    resources:
        mem_mb=4000,
    params:
        spec=dedup_spec_json("buckets"),
        signatures=lambda w, input: layout.folder(input[0], up=2),
        version=VERSION["dedup"],
    shell:
        "gpt2zh dedup buckets --spec {params.spec:q} --group {wildcards.group}"
        " --signatures {params.signatures:q} --out {output:q} 2> {log:q}"


rule dedup_clusters:
    input:
        signatures=DEDUP_SIGNATURES,
        pairs=expand(layout.dedup_pairs("{group}"), group=DEDUP_GROUPS),
        docs=lambda w: [f for d in DATASETS for f in shard_files("convert", d, ".parquet")],
    output:
        drops=layout.dedup_clusters(".parquet"),
        summary=layout.dedup_clusters(".json"),
    log:
        layout.log("dedup", "clusters"),
    benchmark:
        layout.benchmark("dedup", "clusters")
    threads: 1
    resources:
        mem_mb=8000,
    params:
        spec=dedup_spec_json("clusters"),
        signatures=lambda w, input: layout.folder(input.signatures[0], up=2),
        docs=lambda w, input: layout.folder(input.docs[0], up=2),
        version=VERSION["dedup"],
    shell:
        "gpt2zh dedup clusters --spec {params.spec:q} --signatures {params.signatures:q}"
        " --pairs {input.pairs:q} --docs {params.docs:q}"
        " --out {output.drops:q} --summary {output.summary:q} 2> {log:q}"


rule dedup_filter:
    input:
        shard=layout.shard("convert", "{dataset}", "shard-{shard}", ".parquet"),
        # read by the chain check: the shard must be what convert wrote
        stats=layout.shard("convert", "{dataset}", "shard-{shard}", ".stats.json"),
        drops=layout.dedup_clusters(".parquet"),
    output:
        shard=layout.shard("dedup", "{dataset}", "shard-{shard}", ".parquet"),
        stats=layout.shard("dedup", "{dataset}", "shard-{shard}", ".stats.json"),
    log:
        layout.log("dedup", "filter/{dataset}/shard-{shard}"),
    benchmark:
        layout.benchmark("dedup", "filter/{dataset}/shard-{shard}")
    threads: 1
    resources:
        mem_mb=1000,
    params:
        spec=dedup_spec_json("filter"),
        version=VERSION["dedup"],
    shell:
        "gpt2zh dedup filter --spec {params.spec:q} --dataset {wildcards.dataset}"
        " --shard {wildcards.shard} --in {input.shard:q} --clusters {input.drops:q}"
        " --out {output.shard:q} 2> {log:q}"
