# eval: validation loss, bits per character and samples of the trained model (issue 7).


rule eval:
    input:
        rules.train.output,
    output:
        f"{layout.RESULTS}/eval/{CFG['run']}/eval.json",
    log:
        layout.log("eval", CFG["run"]),
    shell:
        "gpt2zh eval 2> {log:q}"
