"""Seeded samples from the model, for reading and for the degeneration measures.

The prompt follows an EOS: in training every document starts right after the previous one's
EOS, so that is how the model knows a text begins. Each prompt has its own seed (`seed + i`),
so adding a prompt leaves the other samples unchanged; on CPU a rerun gives the same text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


@torch.no_grad()
def sample(
    model: Any,
    tokenizer: Any,
    prompt: str,
    sampling: Mapping[str, Any],
    seed: int,
    device: torch.device,
) -> str:
    """The continuation of `prompt` (without the prompt), up to `max_new_tokens` or an EOS, and
    never past the model's context (GPT-2 has no position embeddings beyond it)."""
    model.eval()
    eos = tokenizer.eos_token_id
    context = int(model.config.n_positions)
    ids = torch.tensor([[eos, *tokenizer(prompt).input_ids][-(context - 1) :]], device=device)
    torch.manual_seed(seed)
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=True,
        temperature=float(sampling["temperature"]),
        top_k=int(sampling["top_k"] or 0),  # 0 and None switch it off
        top_p=float(sampling["top_p"] or 1.0),
        max_new_tokens=min(int(sampling["max_new_tokens"]), context - ids.shape[1]),
        pad_token_id=eos,
        eos_token_id=eos,
    )
    text = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    # a byte-level token budget can end inside a character: its first bytes decode to U+FFFD,
    # an artefact of where we stopped, not the model's output (mid-text ones are kept)
    return text.rstrip("\ufffd")
