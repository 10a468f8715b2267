"""`gpt2zh eval`: how good the trained model is, in numbers that compare across tokenizers.

Validation loss, perplexity, bits per character and per UTF-8 byte per dataset, against two
baselines (the untrained model, a character unigram fitted on the train split); seeded samples
with degeneration measures beside the same measures on real text; a next-line cloze task for
lm-evaluation-harness. `run.evaluate` writes `eval.json` and `eval.md`.
"""
