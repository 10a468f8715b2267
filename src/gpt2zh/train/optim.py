"""`train.optimizer`: AdamW, or Muon for the hidden matrices and AdamW for everything else.

Muon (Jordan et al., 2024; `torch.optim.Muon`) orthogonalises the momentum of each weight
matrix before the update; it is meant for the 2-D matrices inside the blocks only, so the
embeddings (and the tied output layer), biases and LayerNorms keep AdamW. Its step is scaled
with `match_rms_adamw` (Liu et al., 2025), so one `train.lr` and one schedule serve both.
`MuonAdamW` holds both as one `torch.optim.Optimizer` (one state dict, one LR scheduler, the
checkpoints unchanged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gpt2zh.errors import UserError
from gpt2zh.train.model import param_groups
from gpt2zh.train.settings import TrainSettings


class MuonAdamW(torch.optim.Optimizer):
    """Muon on `muon_params`, AdamW on `adamw_groups`; the groups are shared with the two inner
    optimizers, so schedulers and state dicts see one optimizer."""

    def __init__(
        self,
        muon_params: list[torch.nn.Parameter],
        adamw_groups: list[dict[str, Any]],
        *,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float],
        eps: float,
        foreach: bool,
    ) -> None:
        self._muon = torch.optim.Muon(
            muon_params, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw"
        )
        self._adamw = torch.optim.AdamW(adamw_groups, lr=lr, betas=betas, eps=eps, foreach=foreach)
        super().__init__(self._muon.param_groups + self._adamw.param_groups, {"lr": lr})
        self._link()

    def _link(self) -> None:
        n = len(self._muon.param_groups)
        self._muon.param_groups, self._adamw.param_groups = (
            self.param_groups[:n],
            self.param_groups[n:],
        )
        self._muon.state = self._adamw.state = self.state  # keyed by parameter: disjoint

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = closure() if closure is not None else None
        self._muon.step()
        self._adamw.step()
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)  # new group dicts and state: share them again
        self._link()


def build_optimizer(
    model: torch.nn.Module, s: TrainSettings, device: torch.device, *, sharded: bool
) -> torch.optim.Optimizer:
    """`train.optimizer` for `model`; `sharded` (FSDP) rules Muon out (it needs whole matrices)."""
    groups = param_groups(model, s.weight_decay)
    cuda = device.type == "cuda"
    # CUDA: one fused kernel; CPU: foreach (one op per kind over all tensors, not per tensor)
    adamw = {"lr": s.lr, "betas": (s.beta1, s.beta2), "eps": s.eps}
    if s.optimizer == "adamw":
        return torch.optim.AdamW(groups, **adamw, fused=cuda, foreach=not cuda)
    if sharded:
        raise UserError(
            "train.optimizer: muon orthogonalises whole weight matrices, which FSDP shards "
            "over processes; use adamw with fsdp.yaml"
        )
    matrices, rest = groups  # param_groups: the blocks' matrices, then everything else
    return MuonAdamW(
        matrices["params"],
        [rest],
        weight_decay=s.weight_decay,
        foreach=not cuda,
        **adamw,
    )
