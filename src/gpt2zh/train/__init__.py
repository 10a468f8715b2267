"""Training: a GPT-2 (transformers) trained by a plain loop on `accelerate.Accelerator`.

settings.py (the `train:` block, typed), model.py (config → GPT2LMHeadModel), loop.py
(setup / fit / finish), checkpoint.py (exact resume), log.py (JSONL + TensorBoard + progress),
mfu.py (FLOPs per token, peak table), plan.py (DeepSeek LLM scaling-law estimator).
`python -m gpt2zh.train` is what `accelerate launch` starts.
"""
