# mix: one job; validation held out by document, datasets mixed by weight (repeats reshuffled,
# subsets seeded) and packed into rows of seq_len. Only pretraining datasets with a weight.


rule mix:
    input:
        tokens=[f for d in MIX_WEIGHTS for f in token_files(d, ".arrow")],
        stats=[f for d in MIX_WEIGHTS for f in token_files(d, ".stats.json")],
    output:
        manifest=layout.MIX_MANIFEST,
        docs=f"{layout.MIX_DIR}/docs.arrow",
        train=directory(f"{layout.MIX_DIR}/train"),
        val=directory(f"{layout.MIX_DIR}/val"),
        val_by_dataset=directory(f"{layout.MIX_DIR}/val_by_dataset"),
    log:
        layout.log("mix", "mix"),
    benchmark:
        layout.benchmark("mix", "mix")
    threads: 1
    resources:
        mem_mb=8000,
    params:
        spec=spec_json(mix_spec(CFG)),
        out=lambda w, output: layout.folder(output.manifest),
        version=VERSION["mix"],
    shell:
        "gpt2zh mix --spec {params.spec:q} --inputs {input.tokens:q} --out {params.out:q}"
        " 2> {log:q}"


# mix_verify: every shard against the manifest's sha256 before training, in a CPU job (at 1 TB,
# minutes of hashing that should not hold GPUs); train then only stats the shards.
rule mix_verify:
    input:
        layout.MIX_MANIFEST,
    output:
        layout.MIX_VERIFIED,
    log:
        layout.log("mix", "verify"),
    threads: 8
    resources:
        mem_mb=1000,
    params:
        mix=lambda w, input: layout.folder(input[0]),
    shell:
        "gpt2zh verify --mix {params.mix:q} --out {output:q} --threads {threads} 2> {log:q}"
