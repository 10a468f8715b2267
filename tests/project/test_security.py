"""Security audits of the source tree and the rules: no pickle, `torch.load` only with
`weights_only=True`, weights as safetensors, config strings never spliced into a shell unquoted,
and names that become paths and shell words restricted by the schema."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

import pytest

from gpt2zh.config import ConfigError, validate_config
from helpers import REPO
from helpers.config import tiny_config

#: Modules that unpickle (run code from the file) when they load.
PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _keyword(call: ast.Call, name: str) -> object:
    kw = next((k for k in call.keywords if k.arg == name), None)
    return kw.value.value if kw and isinstance(kw.value, ast.Constant) else None


def unsafe_loads(source: str, where: str) -> list[str]:
    """Every line of `source` that imports a pickler, calls torch.load without a literal
    `weights_only=True`, lets numpy unpickle, or saves weights without safetensors."""
    found = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            found += [f"{at}: imports {n}" for n in names if (n or "").split(".")[0] in PICKLERS]
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        func = ast.unparse(node.func)
        if func.endswith("torch.load") and _keyword(node, "weights_only") is not True:
            found.append(f"{at}: {func}(...) without weights_only=True")
        if func.split(".")[-1] == "load" and _keyword(node, "allow_pickle") is True:
            found.append(f"{at}: {func}(..., allow_pickle=True)")
        if func.endswith("save_pretrained") and _keyword(node, "safe_serialization") is False:
            found.append(f"{at}: {func}(..., safe_serialization=False)")
    return found


def test_no_pickle_and_torch_load_only_with_weights_only() -> None:
    files = sorted([*(REPO / "src").rglob("*.py"), *(REPO / "benchmarks").rglob("*.py")])
    assert len(files) > 20
    found = [
        hit for f in files for hit in unsafe_loads(f.read_text("utf-8"), str(f.relative_to(REPO)))
    ]
    assert not found, "loading these can run code from a file:\n" + "\n".join(found)


def test_the_audit_catches_what_it_forbids() -> None:
    bad = """
import pickle
from joblib import load
import torch, numpy as np
torch.load(path)
torch.load(path, weights_only=False)
np.load(path, allow_pickle=True)
model.save_pretrained(out, safe_serialization=False)
torch.load(path, map_location="cpu", weights_only=True)
"""
    lines = sorted(int(hit.split(":")[1]) for hit in unsafe_loads(bad, "x"))
    assert lines == [2, 3, 5, 6, 7, 8]


def test_checkpoint_weights_are_safetensors() -> None:
    source = (REPO / "src/gpt2zh/train/checkpoint.py").read_text("utf-8")
    assert "save_file(weights" in source and '"model.safetensors"' in source


# --- shell commands in the rules ------------------------------------------------------------

#: Unquoted on purpose; each value is safe for the reason given.
UNQUOTED = {
    "threads": "an integer from Snakemake",
    "resources.gpu": "an integer resource",
    "params.mpi": "several words by design, re-quoted word by word by launch.mpi_prefix",
}
#: A wildcard may stay unquoted when its constraint is one character class of [A-Za-z0-9_-].
SAFE_CONSTRAINT = re.compile(r"\[[A-Za-z0-9_-]+\](\+|\{\d+\})")


def _shell_commands(text: str) -> list[str]:
    """The string literals that follow each `shell:` of a rule file, joined."""
    cmds = []
    for block in re.findall(r"\n    shell:\n((?:        .*\n?)+)", text):
        cmds.append("".join(ast.literal_eval(line.strip()) for line in block.splitlines()))
    return cmds


def _constraints(texts: list[str]) -> dict[str, str]:
    pairs = re.findall(r'^\s+(\w+)="([^"]+)",\s*$', "\n".join(texts), re.M)
    return dict(pairs)


def test_every_shell_placeholder_is_quoted_or_safe() -> None:
    texts = [p.read_text("utf-8") for p in sorted((REPO / "rules").glob("*.smk"))]
    constraints = _constraints(
        [t.split("wildcard_constraints:")[1][:300] for t in texts if "wildcard_constraints:" in t]
    )
    commands = [c for t in texts for c in _shell_commands(t)]
    assert len(commands) >= 12  # every rule has one: the parser found them
    bad = []
    for cmd in commands:
        for name, quoted in re.findall(r"(?<!\{)\{([\w.]+)(:q)?\}", cmd):
            if quoted or name in UNQUOTED:
                continue
            wildcard = name.removeprefix("wildcards.")
            if name.startswith("wildcards.") and SAFE_CONSTRAINT.fullmatch(
                constraints.get(wildcard, "")
            ):
                continue
            bad.append(f"{{{name}}} in: {cmd}")
    assert not bad, "quote these with :q (a config value could hold `;`):\n" + "\n".join(bad)


# --- names from the config ------------------------------------------------------------------

HOSTILE = "bad name; rm -rf ~"


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c["datasets"].update({HOSTILE: c["datasets"]["news"]}), "datasets"),
        (lambda c: c["sources"].update({HOSTILE: c["sources"]["tiny"]}), "sources"),
        (lambda c: c["datasets"]["news"].update(source=HOSTILE), "datasets.news.source"),
        (lambda c: c.update(run=HOSTILE), "run"),
        (lambda c: c["mix"]["weights"].update({HOSTILE: 1}), "mix.weights"),
        (lambda c: c["dedup"]["priority"].append(HOSTILE), "dedup.priority.4"),
        (lambda c: c["train"].update(accelerate_config="x; y.yaml"), "train.accelerate_config"),
    ],
    ids=["dataset", "source", "source-ref", "run", "weight", "priority", "accelerate"],
)
def test_names_with_shell_characters_are_refused(mutate: Callable[[dict], None], key: str) -> None:
    """Names become paths, wildcards and words on a shell line: only [a-z0-9_] (run: also . -)."""
    cfg = tiny_config()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert f"  - {key}: '" in str(err.value) and "does not match" in str(err.value)
