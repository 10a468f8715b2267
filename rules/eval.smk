# eval: validation bits per character of the trained model against the untrained model and a
# character unigram, seeded samples with degeneration measures, and a next-line cloze task for
# lm-evaluation-harness. Not part of `all`: `snakemake eval` trains first if needed, then builds
# the run's report pages (rule report_run) from eval.json and the training log.


rule eval_model:
    input:
        model=rules.train.output[0],
        mix=layout.MIX_MANIFEST,
        tokenizer=layout.TOKENIZER_JSON,
    output:
        json=layout.eval_result(RUN, ".json"),
        md=layout.eval_result(RUN, ".md"),
    log:
        layout.log("eval", RUN),
    benchmark:
        layout.benchmark("eval", RUN)
    # every core; a function, so commands that plan no jobs (--unlock, --report) need no --cores
    threads: lambda wildcards: workflow.cores
    resources:
        gpu=min(1, CFG["train"]["gpus"]),
        mem_mb=8000,
    params:
        spec=spec_json(eval_spec(CFG)),
        model=lambda w, input: layout.folder(input.model),
        mix=lambda w, input: layout.folder(input.mix),
        tokenizer=lambda w, input: layout.folder(input.tokenizer),
        out=lambda w, output: layout.folder(output.json),
        version=VERSION["eval"],
    shell:
        "gpt2zh eval --spec {params.spec:q} --model {params.model:q} --mix {params.mix:q}"
        " --tokenizer {params.tokenizer:q} --out {params.out:q} --threads {threads}"
        " 2> {log:q}"


# `snakemake eval`: the model evaluated and the run's report pages built from it.
rule eval:
    input:
        rules.eval_model.output,
        rules.report_run.output,
