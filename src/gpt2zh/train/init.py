"""The model a run starts from: a fresh GPT-2 shaped by `model:`, or, with `train.init_from`, an
existing `save_pretrained` GPT-2 whose training goes on (continued pretraining).

An existing model is only useful with the tokenizer it was trained with: token ids mean nothing
to a model under another vocabulary. So its folder must hold that tokenizer and it must be the
one the corpus was tokenized with (`tokenizer.pretrained: <the same folder>`); anything else is
refused before a step is taken, naming what differs and the fix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerBase

from gpt2zh.train.model import ModelError, build_model, gpt2_config, log_shape, pick_attention

log = logging.getLogger(__name__)

KEY = "train.init_from"


def initial_model(
    m: Mapping[str, Any],
    init_from: Path | None,
    tokenizer: PreTrainedTokenizerBase,
    *,
    seq_len: int,
    eos_id: int,
    device: torch.device,
) -> GPT2LMHeadModel:
    """The step-0 model: built from the `model:` block `m`, or loaded from `init_from`."""
    if init_from is None:
        config = gpt2_config(m, vocab_size=len(tokenizer), seq_len=seq_len, eos_id=eos_id)
        return build_model(config, m["attention"], device)
    config = _pretrained_config(init_from)
    _check_tokenizer(init_from, tokenizer, config)
    if seq_len > config.n_positions:
        raise ModelError(
            f"{KEY}: {init_from} attends over {config.n_positions} positions, shorter than "
            f"mix.seq_len ({seq_len}); rebuild the mix with seq_len <= {config.n_positions}"
        )
    # the architecture is the folder's; dropout is a training choice, so the config's applies
    p = float(m["dropout"])
    config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = p
    impl = pick_attention(m["attention"], device)
    model = GPT2LMHeadModel.from_pretrained(
        str(init_from), config=config, attn_implementation=impl, torch_dtype=torch.float32
    )
    log_shape(model, f"GPT-2 from {init_from} (its n_layer, n_embd, n_head; attention {impl})")
    return model


def _pretrained_config(folder: Path) -> GPT2Config:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelError(
            f"{KEY}: {folder} has no config.json: give the folder a GPT-2 was saved to with "
            "save_pretrained (e.g. results/train/<run>/model)"
        )
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{KEY}: {path} is not readable JSON ({e})") from e
    if raw.get("model_type") != "gpt2":
        raise ModelError(
            f"{KEY}: {folder} holds a {raw.get('model_type')!r} model; only GPT-2 "
            "(model_type gpt2) can be trained on"
        )
    if not any(folder.glob("*.safetensors")):
        raise ModelError(
            f"{KEY}: {folder} has no .safetensors weights (pickled .bin weights are not loaded)"
        )
    return GPT2Config.from_pretrained(str(folder))


def _check_tokenizer(folder: Path, tokenizer: PreTrainedTokenizerBase, config: GPT2Config) -> None:
    """The model's own tokenizer must be the run's, token for token."""
    fix = (
        f"set tokenizer.pretrained: {folder} so the corpus is tokenized with the model's tokenizer"
    )
    try:
        own = AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as e:
        raise ModelError(
            f"{KEY}: {folder} has no tokenizer to check the corpus's against ({e}); save the "
            f"model's tokenizer beside it (tokenizer.save_pretrained) and {fix}"
        ) from e
    ours, theirs = tokenizer.get_vocab(), own.get_vocab()
    if ours != theirs:
        differ = sorted(set(ours.items()) ^ set(theirs.items()), key=lambda kv: kv[1])[:3]
        raise ModelError(
            f"{KEY}: the model's tokenizer ({len(theirs)} tokens) is not the one the corpus was "
            f"tokenized with ({len(ours)} tokens; e.g. {differ}): {fix}"
        )
    if config.vocab_size < len(tokenizer):
        raise ModelError(
            f"{KEY}: {folder}'s embeddings have {config.vocab_size} rows, fewer than its "
            f"tokenizer's {len(tokenizer)} tokens"
        )
