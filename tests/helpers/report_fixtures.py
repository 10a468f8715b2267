"""Input data for the report tests: an eval.json in the eval contract's shape, a training log in
RunLog's shape, and corpus report JSONs, so the pages can be tested without training anything."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gpt2zh.ledger import Ledger
from gpt2zh.report import build_dataset_report

MANIFEST = {
    "source": "s",
    "type": "local",
    "root": "data",
    "files": [{"path": "a.jsonl", "bytes": 100, "sha256": "0" * 64}],
    "resolved": {},
}
LN2 = math.log(2)


def _split(bpc: float, tokens: int = 100) -> dict[str, Any]:
    chars, nbytes = 130, 390
    loss = bpc * chars * LN2 / tokens
    return {
        "tokens": tokens,
        "chars": chars,
        "bytes": nbytes,
        "model": {
            "loss": loss,
            "ppl": math.exp(loss),
            "bits_per_char": bpc,
            "bits_per_byte": bpc * chars / nbytes,
        },
        "untrained": {
            "loss": 6.5,
            "ppl": math.exp(6.5),
            "bits_per_char": 9.4,
            "bits_per_byte": 3.1,
        },
        "unigram": {"bits_per_char": 8.8, "bits_per_byte": 2.9},
        "gain_bits_per_char": {"vs_untrained": 9.4 - bpc, "vs_unigram": 8.8 - bpc},
    }


def eval_json(datasets: list[str], run: str = "tiny") -> dict[str, Any]:
    return {
        "run": run,
        "model_dir": f"results/train/{run}/model",
        "step": 6,
        "params": 36_512,
        "tokens_seen": 384,
        "splits": {"all": _split(6.1, 400)}
        | {d: _split(5.5 + i / 2) for i, d in enumerate(datasets)},
        "sampling": {
            "temperature": 0.8,
            "top_k": 50,
            "top_p": 0.95,
            "max_new_tokens": 32,
            "seed": 1,
        },
        "samples": [
            {
                "prompt": "床前明月光",
                "text": "床前明月光，疑是地上霜。举头望明月，",
                "distinct_1": 0.93,
                "distinct_2": 1.0,
                "repeat_ratio": 0.12,
                "clause_lengths": [5, 5, 5],
            },
            {
                "prompt": "今天天气",
                "text": "今天天气很好很好很好很好",
                "distinct_1": 0.42,
                "distinct_2": 0.45,
                "repeat_ratio": 0.67,
                "clause_lengths": [],
            },
        ],
        "degeneration": {
            "model": {"distinct_1": 0.61, "distinct_2": 0.72, "repeat_ratio": 0.4},
            "reference": {"distinct_1": 0.82, "distinct_2": 0.97, "repeat_ratio": 0.05},
        },
        "form": {
            "model": {"verse_clauses": 1.0, "clauses": 3, "clause_chars": 5.0},
            "reference": {"verse_clauses": 0.62, "clauses": 40, "clause_chars": 5.8},
        },
        "lm_eval": {
            "task": "poem_next_line",
            "acc": 0.41,
            "acc_stderr": 0.03,
            "chance": 0.25,
            "n": 200,
        },
    }


def log_records(steps: int = 6, mfu: bool = False) -> list[dict[str, Any]]:
    """RunLog's records: val at 0, train every step (MFU only on a GPU), val every 3 steps."""
    start = {"run.start": "scratch", "run.processes": 1, "run.device": "cpu",
             "run.precision": "fp32", "run.rows_per_step": 2, "run.tokens_per_step": 64,
             "run.max_steps": steps}  # fmt: skip
    out: list[dict[str, Any]] = [{"step": 0, **start}, {"step": 0, "val.loss": 6.5, "tokens": 0}]
    for s in range(1, steps + 1):
        if s == 4:  # resumed from the checkpoint of step 3 on two processes
            out.append({"step": 3, **start, "run.start": "resumed", "run.processes": 2})
        rec = {"step": s, "train.loss": 6.5 - s / 4, "train.lr": 3e-4 * min(s, 2) / 2,
               "train.grad_norm": 1.5, "tokens": 64 * s, "train.tokens_per_s": 6000.0 + 100 * s,
               "elapsed_s": 0.1 * s}  # fmt: skip
        if mfu:
            rec["train.mfu"] = 0.31
        out.append(rec)
        if s % 3 == 0:
            out.append({"step": s, "val.loss": 6.5 - s / 5, "tokens": 64 * s})
    return out


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def ledger_stats(
    dataset: str, stage: str, kept: int, dropped: int, reason: str = "too_short"
) -> dict[str, Any]:
    led = Ledger(stage, dataset, 0)
    if stage == "clean":
        led.extra["clean"] = {"profile": "zh", "filters": {"min_chars": 8}}
    for _ in range(kept):
        led.seen(chars=12, nbytes=36)
        led.kept(chars=12, nbytes=36)
    for i in range(dropped):
        led.seen(chars=3, nbytes=9)
        led.dropped(reason, "短文", n=i)
    return led.to_dict()


def corpus_reports(tmp: Path, datasets: dict[str, int]) -> list[Path]:
    """One report JSON per dataset with `kept` documents surviving extract → clean (0 allowed)."""
    paths = []
    for name, kept in datasets.items():
        stats = [ledger_stats(name, "extract", 3, 0), ledger_stats(name, "clean", kept, 3 - kept)]
        rep = build_dataset_report(name, MANIFEST, stats, {"description": f"{name} 数据集"})
        paths.append(tmp / f"{name}.json")
        paths[-1].write_text(json.dumps(rep, ensure_ascii=False), "utf-8")
    return paths
