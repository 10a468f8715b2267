# report: one page per dataset from the stage stats, and an index over all datasets (rule all);
# report_run: the same pages plus the model (eval results, training curves, samples) in
# reports/<run>/, built after eval. Pages and stats are wrapped in report() so that
# `snakemake --report report.html` collects them.


rule report_dataset:
    input:
        manifest=dataset_manifest,
        stats=lambda w: [
            f for stage in layout.DOC_STAGES for f in shard_files(stage, w.dataset, ".stats.json")
        ],
        dedup=layout.dedup_clusters(".json"),
        counts=layout.counts("{dataset}"),
        mix=layout.MIX_MANIFEST,
    output:
        json=report(
            layout.report("{dataset}", ".json"),
            caption="../workflow/report/dataset_json.rst",
            category="Datasets",
            subcategory="Stats (JSON)",
            labels={"dataset": "{dataset}"},
        ),
        html=report(
            layout.report("{dataset}", ".html"),
            caption="../workflow/report/dataset.rst",
            category="Datasets",
            labels={"dataset": "{dataset}"},
        ),
    log:
        layout.log("report", "{dataset}"),
    params:
        about=lambda w: spec_json(about_spec(CFG, w.dataset)),
        version=VERSION["report"],
    shell:
        "gpt2zh report dataset --dataset {wildcards.dataset} --spec {params.about:q}"
        " --manifest {input.manifest:q} --dedup {input.dedup:q}"
        " --counts {input.counts:q} --mix {input.mix:q}"
        " --stats {input.stats:q} --json {output.json:q} --html {output.html:q} 2> {log:q}"


rule report_index:
    input:
        reports=expand(layout.report("{dataset}", ".json"), dataset=DATASETS),
        mix=layout.MIX_MANIFEST,
    output:
        report(
            layout.report("index", ".html"),
            caption="../workflow/report/index.rst",
            category="Overview",
        ),
    log:
        layout.log("report", "index"),
    params:
        run=CFG["run"],
        version=VERSION["report"],
    shell:
        "gpt2zh report index --reports {input.reports:q} --mix {input.mix:q}"
        " --run {params.run:q} --html {output:q} 2> {log:q}"


rule report_run:
    input:
        reports=rules.report_index.input.reports,
        mix=layout.MIX_MANIFEST,
        eval=layout.eval_result(RUN, ".json"),
        model=rules.train.output,
    output:
        index=report(
            layout.run_report(RUN, "index"),
            caption="../workflow/report/run.rst",
            category=f"Run {RUN}",
            labels={"page": "index"},
        ),
        datasets=[
            report(
                layout.run_report(RUN, d),
                caption="../workflow/report/run.rst",
                category=f"Run {RUN}",
                labels={"page": d},
            )
            for d in DATASETS
        ],
    log:
        layout.log("report", f"run-{RUN}"),
    params:
        # written by train beside its checkpoints, not declared (a failed job would delete it)
        log=layout.train_log(RUN),
        out=lambda w, output: layout.folder(output.index),
        run=RUN,
        version=VERSION["report"],
    shell:
        "gpt2zh report run --run {params.run:q} --reports {input.reports:q} --mix {input.mix:q}"
        " --eval {input.eval:q} --log {params.log:q} --out {params.out:q} 2> {log:q}"
