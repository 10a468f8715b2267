"""Model FLOPs utilisation: the FLOPs a step needs, over what the hardware could do.

FLOPs per token (PaLM, appendix B; nanoGPT): `6·N + 12·L·H·Q·T`, where N is the parameter count
without the position embeddings (the token embedding stays: tied, it is also the output
projection, a real matmul), L layers, H heads, Q head size, T sequence length. 6N covers forward
(2N) and backward (4N) of every matmul weight; 12·L·H·Q·T the attention scores and weighted sum.
MFU = tokens/s per device × FLOPs per token / peak FLOP/s of one device. No recomputation is
counted (that would be HFU).
"""

from __future__ import annotations

import os

import torch

#: Dense bf16 tensor-core peak, TFLOP/s, by a substring of `torch.cuda.get_device_name()`.
#: Order matters: the first match wins (H100 PCIe before the H100 SXM default).
PEAK_TFLOPS_BF16: tuple[tuple[str, float], ...] = (
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM
    ("H800", 989.0),
    ("H20", 148.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
    ("V100", 125.0),  # fp16
    ("T4", 65.0),  # fp16
)


def flops_per_token(n_params: int, n_layer: int, n_head: int, head_dim: int, seq_len: int) -> int:
    """Training FLOPs per token: 6N + 12·L·H·Q·T."""
    return 6 * n_params + 12 * n_layer * n_head * head_dim * seq_len


def model_flops_per_token(model: torch.nn.Module, seq_len: int) -> int:
    cfg = model.config
    n = sum(p.numel() for p in model.parameters())
    wpe = getattr(getattr(model, "transformer", None), "wpe", None)
    if wpe is not None:
        n -= wpe.weight.numel()
    return flops_per_token(n, cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head, seq_len)


def device_name(device: torch.device | str) -> str:
    """The card's name on CUDA (what MFU's peak is looked up by), else the device type."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return device.type


def peak_flops(device: torch.device | str) -> float | None:
    """Peak dense bf16 FLOP/s of one device, or None when unknown (CPU, an unlisted GPU).
    `GPT2ZH_PEAK_TFLOPS` overrides the table."""
    override = os.environ.get("GPT2ZH_PEAK_TFLOPS")
    if override:
        return float(override) * 1e12
    name = device_name(device)  # "cpu" on CPU: no GPU's name contains it
    for key, tflops in PEAK_TFLOPS_BF16:
        if key in name:
            return tflops * 1e12
    return None


def mfu(tokens_per_second_per_device: float, flops_token: int, peak: float | None) -> float | None:
    if not peak:
        return None
    return tokens_per_second_per_device * flops_token / peak
