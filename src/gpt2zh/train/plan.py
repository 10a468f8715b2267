"""`gpt2zh plan`: model size, data and hyperparameters from a compute budget (DeepSeek LLM, 2024).

DeepSeek LLM (arXiv:2401.02954) measures model scale as non-embedding FLOPs per token
    M = 72·n_layer·d² + 12·n_layer·d·l_seq
so that compute C = M·D (D tokens), and fits on 1e17–3e20 FLOPs:
    η_opt = 0.3118·C^−0.1250          (learning rate)
    B_opt = 0.2920·C^0.3271            (batch size, tokens)
    M_opt = 0.1715·C^0.5243, D_opt = 5.8316·C^0.4757   (model scale and tokens)
The corpus's actual token count (the mix manifest) says whether D_opt is available without
repeating data more than a few times (Muennighoff et al., 2023: up to ~4 epochs cost little).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpt2zh.mix.plan import repeat_warnings

FIT_RANGE = (1e17, 3e20)
MAX_GOOD_EPOCHS = 4.0
FAR = 3.0  # a ratio beyond 3× (or below 1/3) of the optimum is flagged


def m_per_token(n_layer: int, d: int, seq_len: int) -> float:
    return 72 * n_layer * d * d + 12 * n_layer * d * seq_len


def lr_opt(c: float) -> float:
    return 0.3118 * c**-0.1250


def batch_opt(c: float) -> float:
    return 0.2920 * c**0.3271


def m_opt(c: float) -> float:
    return 0.1715 * c**0.5243


def d_opt(c: float) -> float:
    return 5.8316 * c**0.4757


def shape_for(m_target: float, seq_len: int, head_dim: int = 64) -> dict[str, int]:
    """A GPT-2-shaped model (d = 64·n_layer, heads of 64) whose M is nearest m_target (log)."""
    best = min(
        range(1, 200),
        key=lambda n: abs(math.log(m_per_token(n, head_dim * n, seq_len) / m_target)),
    )
    return {"n_layer": best, "n_embd": head_dim * best, "n_head": best}


def _ratio_flag(what: str, have: float, want: float) -> str | None:
    r = have / want
    if r > FAR or r < 1 / FAR:
        return f"{what} is {r:.2g}× the compute-optimal value ({have:.3g} vs {want:.3g})"
    return None


def plan(
    cfg: Mapping[str, Any], manifest: Mapping[str, Any] | None = None, compute: float | None = None
) -> dict[str, Any]:
    m, t, seq = cfg["model"], cfg["train"], int(cfg["mix"]["seq_len"])
    processes = max(1, int(t["gpus"])) if t["accelerate_config"] != "cpu.yaml" else 1
    tokens_per_step = int(t["batch_size"]) * int(t["grad_accum"]) * processes * seq
    tokens = int(t["max_steps"]) * tokens_per_step if t["max_steps"] else int(t["tokens"])
    m_cfg = m_per_token(int(m["n_layer"]), int(m["n_embd"]), seq)
    c = float(compute) if compute else m_cfg * tokens
    opt_m, opt_d, opt_b = m_opt(c), d_opt(c), batch_opt(c)
    corpus = None
    if manifest is not None:
        corpus = sum(int(d["tokens"]) for d in manifest["datasets"].values())
    out: dict[str, Any] = {
        "compute_flops": c,
        "config": {"M": m_cfg, "tokens": tokens, "batch_tokens": tokens_per_step, "lr": t["lr"]},
        "optimal": {
            "M": opt_m,
            "tokens": opt_d,
            "batch_tokens": opt_b,
            "batch_rows": max(1, round(opt_b / seq)),
            "lr": lr_opt(c),
            "model": shape_for(opt_m, seq),
        },
        "corpus_tokens": corpus,
        "flags": [],
    }
    flags = out["flags"]
    if not FIT_RANGE[0] <= c <= FIT_RANGE[1]:
        flags.append(
            f"compute {c:.3g} FLOPs is outside the range the formulas were fitted on "
            f"({FIT_RANGE[0]:.0e}–{FIT_RANGE[1]:.0e}): read them as a direction, not a value"
        )
    if not compute:
        flags += [
            f
            for f in (
                _ratio_flag("the token budget", tokens, opt_d),
                _ratio_flag("the model scale M", m_cfg, opt_m),
                _ratio_flag("the batch (tokens)", tokens_per_step, opt_b),
                _ratio_flag("the learning rate", float(t["lr"]), lr_opt(c)),
            )
            if f
        ]
    if manifest is not None and corpus:
        # Training reads `tokens / corpus` of the (shuffled) mix, which already holds each
        # dataset `epochs` times over: a dataset is read the product.
        passes = tokens / corpus
        repeats = {d: float(m.get("epochs", 1.0)) * passes for d, m in manifest["datasets"].items()}
        out["dataset_repeats"] = repeats
        flags += repeat_warnings(repeats, "training on this mix")
    if corpus:
        epochs = opt_d / corpus
        out["optimal"]["epochs_of_corpus"] = epochs
        if epochs > MAX_GOOD_EPOCHS:
            flags.append(
                f"the optimal {opt_d:.3g} tokens are {epochs:.1f} epochs of the "
                f"{corpus:.3g}-token corpus: beyond ~{MAX_GOOD_EPOCHS:.0f} epochs repeats stop "
                "paying; prefer a smaller model or more data"
            )
    return out


def render(p: Mapping[str, Any]) -> str:
    o, c = p["optimal"], p["config"]
    lines = [
        f"compute C = M·D = {p['compute_flops']:.3g} FLOPs",
        f"{'':24}{'config':>14}{'optimal':>14}",
        f"{'M (FLOPs/token)':24}{c['M']:>14.3g}{o['M']:>14.3g}",
        f"{'tokens D':24}{c['tokens']:>14.3g}{o['tokens']:>14.3g}",
        f"{'batch (tokens)':24}{c['batch_tokens']:>14.3g}{o['batch_tokens']:>14.3g}",
        f"{'learning rate':24}{c['lr']:>14.3g}{o['lr']:>14.3g}",
        "recommended model: n_layer={n_layer} n_embd={n_embd} n_head={n_head}".format(**o["model"])
        + f", batch ≈ {o['batch_rows']} rows, lr ≈ {o['lr']:.2g}",
    ]
    if p["corpus_tokens"]:
        lines.append(
            f"corpus: {p['corpus_tokens']:,} tokens; optimal D = "
            f"{o['epochs_of_corpus']:.2f} epochs of it"
        )
    if p.get("dataset_repeats"):
        lines.append(
            "passes over each dataset: "
            + ", ".join(f"{d} {r:.1f}×" for d, r in sorted(p["dataset_repeats"].items()))
        )
    lines += [f"WARNING: {f}" for f in p["flags"]]
    return "\n".join(lines) + "\n"


def load_manifest(path: Path | None) -> dict[str, Any] | None:
    if path is None or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text("utf-8"))
