# gpt2zh: build a Chinese pretraining corpus and train GPT-2 on it.
#   snakemake --cores N            every data product and report (default target `all`)
#   snakemake --cores N train      train on the mixed shards
#   snakemake --cores N eval       evaluate the trained model
# Stage logic lives in src/gpt2zh (the `gpt2zh` CLI); rules only wire paths, params and resources.

from snakemake.utils import min_version

min_version("9.0")


# The default config, unless --configfile names others: configs under workflow/configs/ are whole
# configs, not overlays (to layer, pass both: --configfile config.yaml mine.yaml).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/extract.smk"
include: "rules/clean.smk"
include: "rules/convert.smk"
include: "rules/dedup.smk"
include: "rules/tokenizer.smk"
include: "rules/tokenize.smk"
include: "rules/mix.smk"
include: "rules/train.smk"
include: "rules/report.smk"
include: "rules/eval.smk"


localrules:
    all,
    download,
    eval,


rule all:
    default_target: True
    input:
        rules.report_index.output,
        layout.MIX_MANIFEST,
        layout.COUNTS_TABLE,
