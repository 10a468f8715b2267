# train: GPT-2 with `accelerate launch` (issue 6). Until it lands the rule plans (so
# `snakemake -n train` works) and its job fails with a clear "not built yet".


rule train:
    input:
        rules.report_index.output,
    output:
        f"{layout.RESULTS}/train/{CFG['run']}/model/config.json",
    log:
        layout.log("train", CFG["run"]),
    shell:
        "gpt2zh train 2> {log:q}"
