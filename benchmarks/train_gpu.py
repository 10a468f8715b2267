"""Training throughput: our loop (gpt2zh.train) against a plain-PyTorch nanoGPT-style reference.

Same batch shape, same precision (bf16 autocast on GPU), same optimizer (AdamW, fused on CUDA),
both compiled on GPU; N timed steps after warm-up. Prints the card, versions, tokens/s, MFU
(6N + 12·L·H·Q·T FLOPs per token over the card's dense bf16 peak) and the ratio ours/reference.

    python benchmarks/train_gpu.py                    # GPT-2 124M, seq 1024, on one GPU (≤ 5 min)
    python benchmarks/train_gpu.py --tiny --steps 2   # a tiny model on CPU (what the tests run)

Batches are random token ids in pinned CPU memory (the real loop pins each batch on CUDA too),
moved per micro-batch.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata as md
import math
import platform
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gpt2zh.train.mfu import flops_per_token, model_flops_per_token, peak_flops

# --- the reference: nanoGPT's model (SDPA, tied embeddings, GELU MLP) ----------------------


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class RefGPT(nn.Module):
    def __init__(self, vocab: int, seq: int, layers: int, d: int, heads: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))[:, :-1]
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), idx[:, 1:].reshape(-1))


def reference_runner(args: argparse.Namespace, device: torch.device) -> tuple[Callable, int]:
    model = RefGPT(args.vocab, args.seq, args.layers, args.d, args.heads).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
        lr=6e-4,
        betas=(0.9, 0.95),
        fused=device.type == "cuda",
    )
    cmodel = torch.compile(model) if args.compile else model
    bf16 = device.type == "cuda"
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    fpt = flops_per_token(n, args.layers, args.heads, args.d // args.heads, args.seq)

    def step(batches: list[torch.Tensor]) -> None:
        for x in batches:
            x = x.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = cmodel(x) / len(batches)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step, fpt


# --- ours: the model and train_step of gpt2zh.train ----------------------------------------


def ours_runner(args: argparse.Namespace, device: torch.device) -> tuple[Callable, int]:
    from accelerate import Accelerator

    from gpt2zh.train.loop import train_step
    from gpt2zh.train.model import build_model, gpt2_config, param_groups

    acc = Accelerator(mixed_precision="bf16" if device.type == "cuda" else "no", cpu=args.cpu)
    m = {"n_layer": args.layers, "n_embd": args.d, "n_head": args.heads, "dropout": 0.0}
    m["pad_vocab_multiple"] = 1
    config = gpt2_config(m, vocab_size=args.vocab, seq_len=args.seq, eos_id=0)
    model = build_model(config, args.attention, acc.device)
    fpt = model_flops_per_token(model, args.seq)
    opt = torch.optim.AdamW(
        param_groups(model, 0.1), lr=6e-4, betas=(0.9, 0.95), fused=acc.device.type == "cuda"
    )
    model, opt = acc.prepare(model, opt)
    if args.compile:
        model = torch.compile(model)

    def step(batches: list[torch.Tensor]) -> None:
        train_step(model, opt, batches, acc, 1.0)

    return step, fpt


def measure(name: str, make: Callable, args: argparse.Namespace, device: torch.device) -> float:
    torch.manual_seed(0)
    step, fpt = make(args, device)
    gen = torch.Generator().manual_seed(0)
    batches = [
        torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
        for _ in range(args.accum)
    ]
    if device.type == "cuda":
        batches = [b.pin_memory() for b in batches]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step(batches)
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(batches)
    sync()
    dt = time.perf_counter() - t0
    tok_s = args.steps * args.accum * args.batch * args.seq / dt
    peak = peak_flops(device)
    mfu = f"{100 * tok_s * fpt / peak:.1f}%" if peak else "n/a (no peak known for this device)"
    print(
        f"{name:>12}: {tok_s:12,.0f} tokens/s  {dt / args.steps * 1e3:8.1f} ms/step  MFU {mfu}"
        f"  ({fpt / 1e9:.3f} GFLOPs/token)"
    )
    del step
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return tok_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="a tiny model (CPU test)")
    p.add_argument("--steps", type=int, default=30, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, help="untimed steps first (compile)")
    p.add_argument("--batch", type=int, help="rows per micro-batch")
    p.add_argument("--accum", type=int, default=1, help="micro-batches per step")
    p.add_argument("--attention", default="auto", help="auto, sdpa, flash_attention_2, eager")
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--cpu", action="store_true", help="run on CPU even with a GPU")
    args = p.parse_args()
    args.cpu = args.cpu or not torch.cuda.is_available()
    device = torch.device("cpu" if args.cpu else "cuda")
    if args.tiny:
        args.vocab, args.seq, args.layers, args.d, args.heads = 512, 64, 2, 64, 2
        args.batch = args.batch or 4
        args.warmup = 1 if args.warmup is None else args.warmup
    else:
        args.vocab, args.seq, args.layers, args.d, args.heads = 50304, 1024, 12, 768, 12
        args.batch = args.batch or 16
        args.warmup = 10 if args.warmup is None else args.warmup
    args.compile = args.compile and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(min(2, torch.get_num_threads()))

    card = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor()
    versions = {}
    for pkg in ("torch", "transformers", "accelerate", "gpt2zh", "flash-attn"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:  # gpt2zh from PYTHONPATH=src on a GPU image
            versions[pkg] = "not installed"
    print(f"device: {device.type} {card or platform.machine()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        f"model: {args.layers} layers × {args.d}, {args.heads} heads, vocab {args.vocab}, "
        f"seq {args.seq}; batch {args.batch} × accum {args.accum}; "
        f"{'bf16' if device.type == 'cuda' else 'fp32'}, compile {args.compile}; "
        f"{args.steps} steps after {args.warmup} warm-up"
    )
    ours = measure("gpt2zh loop", ours_runner, args, device)
    ref = measure("reference", reference_runner, args, device)
    ratio = ours / ref
    print(f"ratio (gpt2zh loop / reference tokens/s): {ratio:.3f}")
    assert math.isfinite(ratio)


if __name__ == "__main__":
    main()
