# report: one page per dataset from the stage stats, and an index over all datasets.


rule report_dataset:
    input:
        manifest=dataset_manifest,
        stats=lambda w: [
            f
            for stage in layout.DOC_STAGES
            for f in shard_files(stage, w.dataset, ".stats.json")
        ],
        dedup=layout.dedup_clusters(".json"),
        counts=layout.counts("{dataset}"),
        mix=MIX_MANIFEST,
    output:
        json=layout.report("{dataset}", ".json"),
        html=report(
            layout.report("{dataset}", ".html"),
            caption="../workflow/report/dataset.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
    log:
        layout.log("report", "{dataset}"),
    params:
        about=lambda w: spec_json(
            {
                k: CFG["datasets"][w.dataset].get(k)
                for k in ("description", "lang", "role", "script")
            }
        ),
        version=VERSION["report"],
    shell:
        "gpt2zh report dataset --dataset {wildcards.dataset} --spec {params.about:q}"
        " --manifest {input.manifest:q} --dedup {input.dedup:q}"
        " --counts {input.counts:q} --mix {input.mix:q}"
        " --stats {input.stats:q} --json {output.json:q} --html {output.html:q} 2> {log:q}"


rule report_index:
    input:
        reports=expand(layout.report("{dataset}", ".json"), dataset=DATASETS),
        mix=MIX_MANIFEST,
    output:
        report(
            layout.report("index", ".html"),
            caption="../workflow/report/index.rst",
            category="Overview",
        ),
    log:
        layout.log("report", "index"),
    params:
        version=VERSION["report"],
    shell:
        "gpt2zh report index --reports {input.reports:q} --mix {input.mix:q}"
        " --html {output:q} 2> {log:q}"
