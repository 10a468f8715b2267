"""`gpt2zh eval`: every measure of the trained model, written as eval.json and eval.md.

eval.json is the contract with the reports (keys sorted, floats rounded to 6 decimals, so a
rerun on CPU is byte-identical); eval.md is the same content for a person.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gpt2zh.errors import UserError
from gpt2zh.eval import harness
from gpt2zh.eval.degeneration import mean_measures, measures
from gpt2zh.eval.form import clause_lengths, form
from gpt2zh.eval.generate import sample
from gpt2zh.eval.loss import SplitScore, iter_rows, score_documents, score_split
from gpt2zh.eval.markdown import render
from gpt2zh.eval.text import TokenBytes
from gpt2zh.eval.unigram import Unigram, count_chars
from gpt2zh.ledger import write_text
from gpt2zh.mix.reader import shard_paths
from gpt2zh.train.data import DataError, max_token_id
from gpt2zh.train.model import build_model, pick_attention

log = logging.getLogger(__name__)

#: Rows decoded at a time when fitting the unigram (bounded memory on any train split).
UNIGRAM_ROWS = 256


class EvalError(UserError):
    """No trained model, or a model that does not fit the mix."""


def _metrics(score: SplitScore, name: str) -> dict[str, float]:
    loss = score.loss(name)
    return {
        "loss": loss,
        "ppl": math.exp(loss),
        "bits_per_char": score.bits_per_char(name),
        "bits_per_byte": score.bits_per_byte(name),
    }


def split_result(score: SplitScore) -> dict[str, Any]:
    """One split's row of the table: the model and both baselines on the same characters."""
    model, untrained = _metrics(score, "model"), _metrics(score, "untrained")
    unigram = {
        "bits_per_char": score.char_bits / score.chars,
        "bits_per_byte": score.char_bits / score.bytes,
    }
    return {
        "tokens": score.tokens,
        "chars": score.chars,
        "bytes": score.bytes,
        "model": model,
        "untrained": untrained,
        "unigram": unigram,
        "gain_bits_per_char": {
            "vs_untrained": untrained["bits_per_char"] - model["bits_per_char"],
            "vs_unigram": unigram["bits_per_char"] - model["bits_per_char"],
        },
    }


def stable(obj: Any) -> Any:
    """Floats rounded to 6 decimals (NaN/inf as null): run-to-run noise below that never shows."""
    if isinstance(obj, float):
        return round(obj, 6) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: stable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [stable(v) for v in obj]
    return obj


def reference_windows(docs: list[str], length: int, count: int) -> list[str]:
    """`count` windows of `length` characters spread evenly over the validation text (documents
    joined by newlines), the "normal text" row beside the samples."""
    text = "\n".join(docs)
    if length <= 0 or len(text) < length:
        return []
    starts = np.linspace(0, len(text) - length, count).astype(int).tolist()
    return [text[s : s + length] for s in starts]


def _load(model_dir: Path, mix_dir: Path, tokenizer_dir: Path | None) -> tuple[Any, Any, dict]:
    from transformers import AutoTokenizer

    if not (model_dir / "config.json").is_file():
        raise EvalError(
            f"{model_dir}: no trained model (config.json missing): train first "
            "(snakemake --cores N train)"
        )
    manifest_path = mix_dir / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path} not found: build the mix first (snakemake mix)")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir or model_dir))
    if manifest.get("eos_id") is not None and manifest["eos_id"] != tokenizer.eos_token_id:
        raise DataError(
            f"the mix was built with EOS id {manifest['eos_id']}, the tokenizer's is "
            f"{tokenizer.eos_token_id}: tokenizer and mix do not belong together"
        )
    paths = shard_paths(mix_dir, "train") + shard_paths(mix_dir, "val")
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: shard listed in the mix manifest is missing")
    top, where = max_token_id(paths)
    if top >= len(tokenizer):
        raise DataError(
            f"token id {top} in {where} is outside the tokenizer's vocab ({len(tokenizer)}): "
            "the mix was built with another tokenizer"
        )
    return tokenizer, manifest, json.loads((model_dir / "config.json").read_text("utf-8"))


def fit_unigram(mix_dir: Path, token_bytes: TokenBytes, cap: int | None, seq_len: int) -> Unigram:
    """The unigram on the first `cap` train tokens (all when None): train rows are interleaved
    across datasets, so the first rows are a fair sample of the mix."""
    max_rows = None if cap is None else -(-int(cap) // seq_len)
    rows = iter_rows(shard_paths(mix_dir, "train"), UNIGRAM_ROWS, max_rows)
    unigram = Unigram.fit(*count_chars(rows, token_bytes))
    log.info("unigram: %d characters seen in %d train symbols", unigram.seen, unigram.total)
    return unigram


def cloze(
    e: Mapping[str, Any], docs: list[str], model_dir: Path, task_dir: Path, device: torch.device
) -> dict[str, Any] | None:
    """Writes the next-line cloze task and runs it under lm_eval as `eval.lm_eval` says."""
    items = harness.cloze_items(docs, int(e["cloze_items"]), int(e["seed"]))
    harness.write_task(items, task_dir)
    if not items:
        log.warning("eval: no validation document has a usable next line; lm_eval not run")
        return None
    if e["lm_eval"] == "never" or (e["lm_eval"] == "auto" and not harness.available()):
        log.info("lm_eval not run (eval.lm_eval: %s): task written to %s", e["lm_eval"], task_dir)
        return None
    if not harness.available():
        raise harness.HarnessError(
            "eval.lm_eval is always but lm_eval is not installed: pip install -e '.[lmeval]'"
        )
    return harness.run_harness(model_dir, task_dir, len(items), device.type, int(e["batch_size"]))


def evaluate(
    spec: Mapping[str, Any],
    model_dir: Path,
    mix_dir: Path,
    out_dir: Path,
    *,
    tokenizer_dir: Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Evaluates `model_dir` on the mix's validation splits; writes eval.json and eval.md (and
    the lm-eval task) to `out_dir`. `spec`: run, eval, seed, attention (`eval.spec.eval_spec`)."""
    from transformers import AutoModelForCausalLM, set_seed

    e = spec["eval"]
    model_dir, mix_dir, out_dir = Path(model_dir), Path(mix_dir), Path(out_dir)
    if threads:
        torch.set_num_threads(threads)
    tokenizer, manifest, config = _load(model_dir, mix_dir, tokenizer_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    attention = pick_attention(spec["attention"], device)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), attn_implementation=attention)
    model.to(device).eval()
    set_seed(int(spec["seed"]))  # the training seed: the untrained model is the step-0 model
    untrained = build_model(model.config, spec["attention"], device).to(device).eval()
    token_bytes = TokenBytes.from_tokenizer(tokenizer)

    unigram = fit_unigram(mix_dir, token_bytes, e["unigram_tokens"], int(manifest["seq_len"]))
    context = int(model.config.n_positions)
    names = {"all": "val", **{d: f"val_by_dataset/{d}" for d in sorted(manifest["val_by_dataset"])}}
    splits, empty = {}, []
    for name, split in names.items():
        rows = iter_rows(shard_paths(mix_dir, split), int(e["batch_size"]))
        models = {"model": model, "untrained": untrained}
        score = score_split(rows, models, token_bytes, unigram.bits, device)
        if score.tokens:
            splits[name] = split_result(score)
            bpc = [splits[name][m]["bits_per_char"] for m in ("model", "untrained", "unigram")]
            log.info("%s: bits/char model %.3f, untrained %.3f, unigram %.3f", name, *bpc)
            rows = iter_rows(shard_paths(mix_dir, split), int(e["batch_size"]))
            eos, batch = tokenizer.eos_token_id, int(e["batch_size"])
            docs = score_documents(rows, model, token_bytes, eos, context, batch, device)
            splits[name]["documents"] = docs.result()
            log.info(
                "%s: bits/char per document with full context %.3f (%d documents)",
                name,
                splits[name]["documents"]["bits_per_char"],
                docs.docs,
            )
        else:
            empty.append(name)
            log.warning("eval: %s has no validation rows; left out", name)

    keys = ("temperature", "top_k", "top_p", "max_new_tokens", "seed", "samples_per_prompt")
    sampling = {k: e[k] for k in keys}
    samples = []
    # round j of the prompts uses seeds seed + j·len(prompts) + i: round 0 is seed + i, so
    # more rounds add samples and leave the first ones as they were
    for j in range(int(e["samples_per_prompt"])):
        for i, prompt in enumerate(e["prompts"]):
            seed = int(e["seed"]) + j * len(e["prompts"]) + i
            text = sample(model, tokenizer, prompt, sampling, seed, device)
            clauses = clause_lengths(prompt + text, start=len(prompt))
            samples.append(
                {"prompt": prompt, "text": text, **measures(text), "clause_lengths": clauses}
            )
            log.info("sample %d: %s|%s", len(samples) - 1, prompt, text.replace("\n", " / "))
    docs = list(harness.documents(iter_rows(shard_paths(mix_dir, "val"), 64), token_bytes))
    mean_len = round(sum(len(s["text"]) for s in samples) / len(samples)) if samples else 0
    reference = reference_windows(docs, mean_len, int(e["reference_samples"]))
    lm_eval = cloze(e, docs, model_dir, out_dir / "lm_eval", device)

    summary_path = model_dir.parent / "summary.json"
    summary = json.loads(summary_path.read_text("utf-8")) if summary_path.is_file() else {}
    result = {
        "run": spec["run"],
        "model_dir": str(model_dir),
        "step": int(summary.get("step", 0)),
        "params": sum(p.numel() for p in model.parameters()),
        "tokens_seen": summary.get("tokens"),
        "architecture": {k: config.get(k) for k in ("n_layer", "n_embd", "n_head", "vocab_size")},
        "device": device.type,
        "splits": splits,
        "empty_splits": empty,
        "unigram": {"train_symbols": unigram.total, "charset": unigram.seen},
        "sampling": sampling,
        "samples": samples,
        "degeneration": {
            "model": mean_measures(samples),
            "reference": mean_measures(measures(t) for t in reference),
            "reference_windows": len(reference),
            "reference_chars": mean_len,
        },
        "form": {
            "model": form(n for s in samples for n in s["clause_lengths"]),
            "reference": form(n for t in reference for n in clause_lengths(t, skip_first=True)),
        },
        "lm_eval": lm_eval,
    }
    result = stable(result)
    write_text(out_dir / "eval.md", render(result))
    write_text(
        out_dir / "eval.json",
        json.dumps(result, ensure_ascii=False, sort_keys=True, indent=1) + "\n",
    )
    return result
