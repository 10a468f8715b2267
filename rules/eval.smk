# eval: validation bits per character of the trained model against the untrained model and a
# character unigram, seeded samples with degeneration measures, and a next-line cloze task for
# lm-evaluation-harness. Not part of `all`: `snakemake eval` trains first if needed,
# then builds the run's report pages (rule report_run) from eval.json and the training log.

from gpt2zh.cli import eval_spec

EVAL_DIR = f"{layout.RESULTS}/eval/{CFG['run']}"


rule eval_model:
    input:
        model=rules.train.output[0],
        mix=MIX_MANIFEST,
        tokenizer=TOKENIZER_JSON,
    output:
        json=f"{EVAL_DIR}/eval.json",
        md=f"{EVAL_DIR}/eval.md",
    log:
        layout.log("eval", CFG["run"]),
    benchmark:
        layout.benchmark("eval", CFG["run"])
    # every core; a function, so commands that plan no jobs (--unlock, --report) need no --cores
    threads: lambda wildcards: workflow.cores
    resources:
        gpu=min(1, CFG["train"]["gpus"]),
        mem_mb=8000,
    params:
        spec=spec_json(eval_spec(CFG)),
        model=lambda w, input: os.path.dirname(input.model),
        mix=lambda w, input: os.path.dirname(input.mix),
        tokenizer=lambda w, input: os.path.dirname(input.tokenizer),
        out=lambda w, output: os.path.dirname(output.json),
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
