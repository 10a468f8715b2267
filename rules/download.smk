# download: one job per source (shared by the datasets that read from it). Only the manifest is
# declared: Snakemake deletes a failed job's outputs, and the downloaded files (and `.part` files
# a retry resumes from) must survive a failure.


rule download:
    input:
        # a local source's files: editing one reruns the download and what reads the source
        lambda w: local_input_files(source_spec(CFG, w.source)),
    output:
        layout.manifest("{source}"),
    log:
        layout.log("download", "{source}"),
    retries: 1
    params:
        spec=lambda w: spec_json(download_spec(CFG, w.source, CONFIG_PATH)),
        out=lambda w, output: layout.folder(output[0]),
        version=VERSION["download"],
    shell:
        "gpt2zh download --spec {params.spec:q} --out {params.out:q} 2> {log:q}"
