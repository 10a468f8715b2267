"""Everything a GPU session should check, prepared here and run there in one command.

Device time is scarce (one short call), so the data, the specs and the one package the GPU
image lacks (jsonschema, for `gpt2zh.config`) are prepared on this machine and carried:

    python benchmarks/gpu_session.py prepare results/gpu_session        # here, on CPU
    # then, on the device (run tool: carry ["results/gpu_session"], timeout ~540 s):
    PYTHONPATH=src:results/gpu_session/site python3 benchmarks/gpu_session.py run \\
        results/gpu_session --out "$OUT"

`run` does, in this order, so that a timeout still leaves the short checks' results:
1. the real loop (`accelerate launch -m gpt2zh.train`) on the GPU with single_gpu.yaml: a
   straight run, a run paused half-way and resumed, and the same with fsdp.yaml on one process
   (FSDP2 sharding, bf16, checkpoint gather); each final model must load and generate;
2. `benchmarks/train_gpu.py` (GPT-2 124M: tokens/s, MFU, ratio to the nanoGPT-style reference).
It writes `gpu_session.json` (the figures) and one log per launch to `--out`. Record the
figures, with the card's name, in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # helpers.train_fixtures: training data and curves
#: The packages the GPU image lacks: jsonschema and those of its dependencies it does not hold.
CARRIED = ("jsonschema", "jsonschema-specifications", "referencing", "rpds-py")
STEPS = 30


def prepare(folder: Path, download: bool, steps: int = STEPS) -> None:
    from helpers.train_fixtures import make_mix, make_tokenizer, spec

    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(folder / "tokenizer", vocab_size=300)
    make_mix(folder / "mix", tok, seq_len=128, train_rows=1024, val_rows=64)
    s = spec(n_layer=4, n_embd=256, n_head=4, dropout=0.0, batch_size=8, max_steps=steps,
             checkpoint_every=steps // 2, eval_every=10, log_every=1, precision="auto",
             warmup_steps=5, lr=1e-3)  # fmt: skip
    (folder / "spec.json").write_text(json.dumps(s), "utf-8")
    if download:
        wheels = folder / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", *CARRIED, "--no-deps", "-q",
             "--only-binary=:all:", "--python-version", "3.12", "--platform",
             "manylinux_2_17_x86_64", "-d", str(wheels)],
            check=True,
        )  # fmt: skip
        for whl in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(whl) as z:
                z.extractall(folder / "site")
    print(f"prepared {folder}: tokenizer, mix, spec.json{', site/' if download else ''}")


def _launch(
    folder: Path, out: Path, config: str, name: str, label: str, *extra: str
) -> dict[str, Any]:
    """One `accelerate launch -m gpt2zh.train` into `out/name`, logged to `out/label.log`."""
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO / "workflow" / "accelerate" / config),
        *(["--num_processes", "1"] if config != "cpu.yaml" else []),
        "-m", "gpt2zh.train", "--spec", f"@{folder / 'spec.json'}", "--mix",
        str(folder / "mix"), "--tokenizer", str(folder / "tokenizer"), "--out",
        str(out / name), *extra,
    ]  # fmt: skip
    t0 = time.perf_counter()
    with open(out / f"{label}.log", "w", encoding="utf-8") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=300).returncode
    return {"rc": rc, "seconds": round(time.perf_counter() - t0, 1)}


def _gap(a: Path, b: Path) -> float | None:
    from helpers.train_fixtures import curve

    ca, cb = curve(a), curve(b)
    if not ca or [x[:2] for x in ca] != [x[:2] for x in cb]:
        return None
    return max(abs(x[2] - y[2]) for x, y in zip(ca, cb, strict=True))


def _loads(run: Path) -> str:
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(run / "model")
        tok = AutoTokenizer.from_pretrained(run / "model")
        ids = tok("床前", return_tensors="pt").input_ids
        return tok.decode(model.generate(ids, max_new_tokens=5, do_sample=False)[0])
    except Exception as e:  # reported, not raised: the next check still runs
        return f"FAILED: {type(e).__name__}: {e}"


def run(folder: Path, out: Path, configs: list[str], benchmark: bool) -> dict[str, Any]:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
    }
    save = lambda: (out / "gpu_session.json").write_text(json.dumps(report, indent=1), "utf-8")  # noqa: E731
    half = json.loads((folder / "spec.json").read_text("utf-8"))["train"]["max_steps"] // 2
    for config in configs:
        name = config.removesuffix(".yaml")
        straight, paused = out / name, out / f"{name}-resumed"
        res = {"straight": _launch(folder, out, config, name, name)}
        res["paused"] = _launch(
            folder, out, config, paused.name, f"{name}-paused", "--until-step", str(half)
        )
        res["resumed"] = _launch(folder, out, config, paused.name, f"{name}-resumed")
        res["resume_max_abs_diff"] = _gap(straight, paused)
        res["model_generates"] = _loads(straight)
        log = [json.loads(x) for x in (straight / "log.jsonl").read_text("utf-8").splitlines()]
        rates = [r["train.tokens_per_s"] for r in log if "train.tokens_per_s" in r]
        res["tokens_per_s_last"] = rates[-1] if rates else None
        report[name] = res
        save()
    if len(configs) > 1:
        first = configs[0].removesuffix(".yaml")
        for config in configs[1:]:
            name = config.removesuffix(".yaml")
            report[f"{name}_vs_{first}_max_abs_diff"] = _gap(out / first, out / name)
    save()
    if benchmark:
        bench = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "train_gpu.py")],
            capture_output=True, text=True, timeout=330, env={**os.environ},
        )  # fmt: skip
        (out / "train_gpu.txt").write_text(bench.stdout + bench.stderr, "utf-8")
        report["train_gpu"] = {"rc": bench.returncode, "stdout": bench.stdout.splitlines()}
        save()
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prepare", help="data, specs and carried packages (here, on CPU)")
    pr.add_argument("folder", type=Path)
    pr.add_argument("--no-download", dest="download", action="store_false")
    pr.add_argument("--steps", type=int, default=STEPS, help="training steps of each run")
    ru = sub.add_parser("run", help="the checks (on the GPU)")
    ru.add_argument("folder", type=Path)
    ru.add_argument("--out", type=Path, required=True)
    ru.add_argument("--configs", nargs="+", default=["single_gpu.yaml", "fsdp.yaml"])
    ru.add_argument("--no-benchmark", dest="benchmark", action="store_false")
    a = p.parse_args()
    if a.cmd == "prepare":
        prepare(a.folder, a.download, a.steps)
    else:
        print(json.dumps(run(a.folder, a.out, a.configs, a.benchmark), indent=1))


if __name__ == "__main__":
    main()
