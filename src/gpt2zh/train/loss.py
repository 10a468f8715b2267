"""Next-token cross-entropy of packed rows, with a backward that writes the gradient once.

On CPU, `F.cross_entropy` over a (rows × seq_len × vocab) logits tensor is a fifth of a small
model's step: log_softmax writes a full-size output, and its backward first fills a full-size
zero tensor, scatters into it, then reads both to write the gradient. `NextTokenLoss` keeps only
the log-sum-exp per position in the forward and writes `softmax − one_hot` straight into the
gradient in the backward (the same numbers, ~17 ms less per step at the demo's size). On a GPU
the fused kernels of `F.cross_entropy` stay.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class NextTokenLoss(torch.autograd.Function):
    """Mean NLL of `ids[:, 1:]` given `logits[:, :-1]` (the last position predicts nothing)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: torch.Tensor, ids: torch.Tensor):
        body, target = logits[:, :-1], ids[:, 1:].unsqueeze(-1)
        lse = torch.logsumexp(body, dim=-1)
        picked = body.gather(-1, target).squeeze(-1)
        ctx.save_for_backward(logits, lse, target)
        return (lse - picked).mean()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor):
        logits, lse, target = ctx.saved_tensors
        grad = torch.empty_like(logits)
        grad[:, -1] = 0
        body = grad[:, :-1]
        body.copy_(logits[:, :-1]).sub_(lse.unsqueeze(-1)).exp_()  # softmax
        body.scatter_add_(-1, target, torch.full(target.shape, -1.0, dtype=grad.dtype))
        body.mul_(grad_out / target.numel())
        return grad, None


def next_token_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of every row's tokens 1.. given the ones before (fp32 or wider)."""
    if logits.element_size() < 4:  # bf16/fp16 logits are upcast, as transformers does
        logits = logits.float()
    if logits.device.type == "cpu":
        return NextTokenLoss.apply(logits, ids)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
