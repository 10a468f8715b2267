"""GPT-2 from the config: `transformers.GPT2LMHeadModel`, tied embeddings, vocab from the tokenizer.

Attention: `auto` picks `flash_attention_2` when flash-attn is installed and a CUDA device is
used, else `sdpa`; `eager` is the fallback everything supports.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gpt2zh.errors import UserError

log = logging.getLogger(__name__)


class ModelError(UserError):
    """The model config does not fit the data (seq_len, vocab) or itself."""


def pick_attention(requested: str, device: torch.device) -> str:
    has_flash = importlib.util.find_spec("flash_attn") is not None
    if requested == "auto":
        return "flash_attention_2" if has_flash and device.type == "cuda" else "sdpa"
    if requested == "flash_attention_2" and not (has_flash and device.type == "cuda"):
        raise ModelError(
            "model.attention: flash_attention_2 needs the `gpu` extra (flash-attn) and a CUDA "
            "device; use auto or sdpa"
        )
    return requested


def padded_vocab(vocab: int, multiple: int) -> int:
    """Embedding rows: the tokenizer's vocab rounded up (tensor cores like multiples of 64)."""
    return -(-vocab // multiple) * multiple


def gpt2_config(
    model_cfg: Mapping[str, Any], *, vocab_size: int, seq_len: int, eos_id: int
) -> GPT2Config:
    n_embd, n_head = int(model_cfg["n_embd"]), int(model_cfg["n_head"])
    if n_embd % n_head:
        raise ModelError(f"model.n_embd ({n_embd}) must be a multiple of model.n_head ({n_head})")
    n_positions = int(model_cfg.get("n_positions") or seq_len)
    if seq_len > n_positions:
        raise ModelError(
            f"mix.seq_len ({seq_len}) is longer than model.n_positions ({n_positions}): the "
            "model cannot attend over a whole packed row; raise n_positions or rebuild the mix"
        )
    p = float(model_cfg["dropout"])
    return GPT2Config(
        vocab_size=padded_vocab(vocab_size, int(model_cfg["pad_vocab_multiple"])),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=int(model_cfg["n_layer"]),
        n_head=n_head,
        resid_pdrop=p,
        embd_pdrop=p,
        attn_pdrop=p,
        # GPT-2's tanh GELU as one ATen kernel (gelu_new is the same formula in five ops)
        activation_function="gelu_pytorch_tanh",
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=True,
        use_cache=True,
    )


def build_model(config: GPT2Config, attention: str, device: torch.device) -> GPT2LMHeadModel:
    impl = pick_attention(attention, device)
    model = GPT2LMHeadModel._from_config(config, attn_implementation=impl)
    log_shape(model, f"GPT-2 (attention {impl})")
    return model


def log_shape(model: GPT2LMHeadModel, what: str) -> None:
    """One log line with the shape the run trains: the first thing to check in a job log."""
    c = model.config
    log.info(
        "%s: %d layers, %d dims, %d heads, %.2fM parameters, vocab %d, context %d",
        what,
        c.n_layer,
        c.n_embd,
        c.n_head,
        sum(p.numel() for p in model.parameters()) / 1e6,
        c.vocab_size,
        c.n_positions,
    )


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices of Linear/Conv1D layers only: no decay on biases, LayerNorms, embeddings."""
    decay, no_decay, seen = [], [], set()
    for _, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen or not p.requires_grad:
                continue  # tied lm_head = wte: counted once, as an embedding
            seen.add(id(p))
            is_embedding = isinstance(module, torch.nn.Embedding)
            is_norm = isinstance(module, torch.nn.LayerNorm)
            (no_decay if name == "bias" or is_embedding or is_norm else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
