"""One process of the FSDP checkpoint test (`torchrun --nproc_per_node 2 fsdp_worker.py OUT`).

accelerate prepares FSDP only on accelerators, so the model is sharded here the way its FSDP2
plugin shards it (`fully_shard` per GPT2Block, then the root) on gloo. What is tested is ours:
`Checkpoints` and `full_state` on really sharded (DTensor) weights and optimizer state.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.distributed.fsdp import fully_shard

from gpt2zh.train.checkpoint import Checkpoints, full_state
from gpt2zh.train.model import build_model, gpt2_config, param_groups

MODEL = {"n_layer": 2, "n_embd": 32, "n_head": 2, "dropout": 0.0, "pad_vocab_multiple": 1}


def sharded(seed: int, acc: Accelerator) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    set_seed(seed)
    model = build_model(gpt2_config(MODEL, vocab_size=64, seq_len=16, eos_id=0), "sdpa", acc.device)
    for block in model.transformer.h:
        fully_shard(block)
    fully_shard(model)
    return model, torch.optim.AdamW(param_groups(model, 0.1), lr=1e-2)


def step(model: torch.nn.Module, opt: torch.optim.Optimizer, i: int, rank: int) -> float:
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(100 * i + rank))
    loss = model(input_ids=x, labels=x).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    total = loss.detach().clone()
    torch.distributed.all_reduce(total)
    return float(total)


def main(out: Path) -> None:
    acc = Accelerator(cpu=True)
    assert acc.num_processes == 2, acc.num_processes
    model, opt = sharded(1, acc)
    assert type(next(model.parameters())).__name__ == "DTensor"
    ckpts = Checkpoints(out / "checkpoints", acc, keep=2, fingerprint="fsdp")
    straight = [step(model, opt, i, acc.process_index) for i in (1, 2)]
    ckpts.save(2, model, opt, {"step": 2})
    straight += [step(model, opt, i, acc.process_index) for i in (3, 4)]

    again, opt2 = sharded(2, acc)  # other initial weights: the checkpoint must replace them
    ckpts.load(ckpts.latest_valid(), again, opt2)
    resumed = [step(again, opt2, i, acc.process_index) for i in (3, 4)]

    weights, _ = full_state(again, again)
    probe = torch.arange(16).reshape(1, 16)
    with torch.no_grad():
        logits = again(input_ids=probe).logits
    if acc.is_main_process:
        shapes = {k: list(v.shape) for k, v in weights.items()}
        report = {"straight": straight, "resumed": resumed, "shapes": shapes}
        (out / "result.json").write_text(json.dumps(report), "utf-8")
        torch.save(logits, out / "logits.pt")
        acc.unwrap_model(again).save_pretrained(out / "model", state_dict=weights)
    acc.wait_for_everyone()
    acc.end_training()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
