"""A next-line cloze on held-out text, as an lm-evaluation-harness task on local files.

Each item is a validation document's lines up to some line, and four candidate next lines: the
true one and three other validation lines of the same length in characters (so length gives
nothing away), picked with the seed. A line ends at a newline or after 。！？, so a poem stored
as one paragraph still has lines, and prose has sentences. The task is a YAML file plus a JSONL
file under `results/eval/<run>/lm_eval/`; `lm_eval --model hf --model_args pretrained=<model
dir> --include_path <that folder> --tasks gpt2zh_next_line` runs it with nothing from the Hub.
Chance is 0.25.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gpt2zh.errors import UserError
from gpt2zh.eval.loss import document_ids
from gpt2zh.eval.text import TokenBytes

log = logging.getLogger(__name__)

TASK = "gpt2zh_next_line"
CHOICES = 4
CHANCE = 1 / CHOICES
#: Lines shorter than this are too easy to confuse (a lone title); longer ones are prose.
MIN_LINE, MAX_LINE = 4, 48
LINE_END = re.compile(r"\n|(?<=[。！？])")
#: The harness must never reach the Hub: the model and the data are local.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class HarnessError(UserError):
    """lm-evaluation-harness is missing (when required) or failed."""


def documents(rows: Iterable[np.ndarray], token_bytes: TokenBytes) -> Iterator[str]:
    """The complete documents of a packed split (each ends with EOS; a cut tail is left out)."""
    for doc in document_ids(rows, token_bytes.special):
        yield token_bytes.text(doc).decode("utf-8", errors="replace")


def _lines(doc: str) -> list[str]:
    """A document's non-empty lines, up to the first holding U+FFFD: a document cut inside a
    character (the last of a dataset's val rows) ends there, and a broken line gives itself away."""
    lines = [s for line in LINE_END.split(doc) if (s := line.strip())]
    bad = next((i for i, line in enumerate(lines) if "\ufffd" in line), len(lines))
    return lines[:bad]


def cloze_items(docs: Iterable[str], n_items: int, seed: int) -> list[dict[str, Any]]:
    """One item per document that has a usable next line and three same-length distractors from
    other documents; at most `n_items`, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    by_doc = [_lines(d) for d in docs]
    pool: dict[int, list[str]] = defaultdict(list)  # length -> distinct lines, sorted
    for line in sorted({line for lines in by_doc for line in lines}):
        pool[len(line)].append(line)
    items = []
    for lines in by_doc:
        targets = [j for j in range(1, len(lines)) if MIN_LINE <= len(lines[j]) <= MAX_LINE]
        if not targets:
            continue
        j = targets[int(rng.integers(len(targets)))]
        truth, own, same = lines[j], set(lines), pool[len(lines[j])]
        others = []
        for k in rng.permutation(len(same)).tolist():
            if same[k] not in own:
                others.append(same[k])
                if len(others) == CHOICES - 1:
                    break
        else:
            continue  # fewer than three lines of this length elsewhere
        choices = [truth, *others]
        order = rng.permutation(CHOICES).tolist()
        items.append(
            {
                "context": "\n".join(lines[:j]) + "\n",
                "choices": [choices[k] for k in order],
                "label": order.index(0),
            }
        )
    if len(items) > n_items:
        keep = np.sort(rng.choice(len(items), n_items, replace=False))
        items = [items[k] for k in keep.tolist()]
    return items


def write_task(items: list[dict[str, Any]], folder: Path) -> Path:
    """The task YAML and its JSONL data in `folder` (the data path is absolute: lm_eval resolves
    it from its own working directory)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{TASK}.jsonl"
    data.write_text(
        "".join(json.dumps(it, ensure_ascii=False, sort_keys=True) + "\n" for it in items), "utf-8"
    )
    task = {
        "task": TASK,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data.resolve())}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "context",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "target_delimiter": "",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    path = folder / f"{TASK}.yaml"
    path.write_text(yaml.safe_dump(task, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def available() -> bool:
    return importlib.util.find_spec("lm_eval") is not None


def command(model_dir: Path, task_dir: Path, out: Path, device: str, batch: int) -> list[str]:
    """The `lm_eval` command line (what a user would type, with this interpreter)."""
    return [
        sys.executable,
        "-m",
        "lm_eval",
        "run",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={model_dir.resolve()},dtype=float32",
        "--tasks",
        TASK,
        "--include_path",
        str(task_dir.resolve()),
        "--device",
        device,
        "--batch_size",
        str(batch),
        "--output_path",
        str(out.resolve()),
    ]


def run_harness(model_dir: Path, task_dir: Path, n: int, device: str, batch: int) -> dict[str, Any]:
    """Runs the task under lm_eval in a subprocess, offline; its output goes to our stderr."""
    out = task_dir / "output"
    shutil.rmtree(out, ignore_errors=True)
    cmd = command(model_dir, task_dir, out, device, batch)
    log.info("lm_eval: %s", " ".join(cmd[1:]))
    proc = subprocess.run(
        cmd, stdout=sys.stderr, stderr=sys.stderr, env={**os.environ, **OFFLINE_ENV}, check=False
    )
    found = sorted(out.rglob("results_*.json"))
    if proc.returncode != 0 or not found:
        raise HarnessError(
            f"lm_eval failed (exit {proc.returncode}); the log above has its error. The task is "
            f"in {task_dir}; set eval.lm_eval: never to skip it"
        )
    result = json.loads(found[-1].read_text("utf-8"))["results"][TASK]
    stderr = result.get("acc_stderr,none")
    return {
        "task": TASK,
        "acc": float(result["acc,none"]),
        "acc_stderr": float(stderr) if isinstance(stderr, int | float) else None,
        "chance": CHANCE,
        "n": n,
    }
