"""`gpt2zh`: one subcommand per stage; the only module that knows every stage.

Rules call these subcommands (`shell:`), so every job is its own process, can be rerun by hand,
and never loads torch into the Snakemake scheduler. Stage modules are imported lazily for the
same reason: `gpt2zh extract` must not pay for importing the training stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gpt2zh import __version__
from gpt2zh.config import ConfigError, dataset_spec, load_config, source_spec
from gpt2zh.errors import UserError

log = logging.getLogger("gpt2zh")


def _spec_args(p: argparse.ArgumentParser, what: str | None = None) -> None:
    """Stages take their part of the config either resolved (`--spec`, from a rule) or from
    config files (`--config`); per-dataset and per-source stages also need `--<what> NAME`."""
    title = "configuration (give --spec, or --config" + (f" with --{what})" if what else ")")
    g = p.add_argument_group(title)
    g.add_argument("--spec", help="the stage's resolved config as JSON, or @file.json")
    g.add_argument(
        "--config", action="append", type=Path, metavar="YAML", help="config file (repeatable)"
    )
    if what:
        g.add_argument(f"--{what}", help=f"{what} name in the config")


def _spec_json(spec: str) -> Any:
    return json.loads(Path(spec[1:]).read_text("utf-8") if spec.startswith("@") else spec)


def _resolve(args: argparse.Namespace, what: str) -> dict[str, Any]:
    if args.spec:
        return _spec_json(args.spec)
    name = getattr(args, what)
    if not (args.config and name):
        raise ConfigError(f"give --spec, or --config FILE together with --{what} NAME")
    cfg = load_config(args.config)
    if what == "dataset":
        return dataset_spec(cfg, name)
    from gpt2zh.sources.lock import with_lock

    return with_lock(source_spec(cfg, name), args.config[0])


def cmd_download(args: argparse.Namespace) -> None:
    from gpt2zh.sources import download

    manifest = download(_resolve(args, "source"), args.out)
    log.info(
        "%s: %d files, %d bytes",
        manifest["source"],
        len(manifest["files"]),
        sum(f["bytes"] for f in manifest["files"]),
    )


def cmd_lock(args: argparse.Namespace) -> None:
    from gpt2zh.layout import manifest
    from gpt2zh.sources.hf import resolve_branch
    from gpt2zh.sources.lock import lock_path_for, update, with_lock

    cfg = load_config(args.config)
    hub = sorted(n for n, s in cfg["sources"].items() if s["type"] == "hf")
    for name in args.source or []:
        if name not in hub:
            raise ConfigError(f"--source {name}: not an hf source of the config (those: {hub})")
    specs = {n: with_lock(source_spec(cfg, n), args.config[0]) for n in args.source or hub}
    path = lock_path_for(args.config[0])
    for name, old, new in update(path, specs, resolve_branch):
        if old == new:
            sys.stdout.write(f"{name}: {new[:12]} (unchanged)\n")
            continue
        sys.stdout.write(f"{name}: {old[:12] if old else '(none)'} → {new[:12]}\n")
        stale = Path(manifest(name))
        if stale.exists():  # so the next Snakemake run fetches the new commit
            stale.unlink()
            sys.stdout.write(f"  removed {stale}: the next run downloads {new[:12]}\n")
    sys.stdout.write(f"wrote {path}\n")


def cmd_extract(args: argparse.Namespace) -> None:
    from gpt2zh.extract import check_quarantine_share, extract_shard

    spec = _resolve(args, "dataset")
    stats = extract_shard(spec, args.manifest, args.shard, args.out)
    log.info(
        "%s shard %d: %d docs in, %d out, drops %s",
        stats["dataset"],
        args.shard,
        stats["docs_in"],
        stats["docs_out"],
        stats["drops"],
    )
    check_quarantine_share(spec, stats)


def cmd_clean(args: argparse.Namespace) -> None:
    from gpt2zh.clean import clean_shard

    clean_shard(_resolve(args, "dataset"), args.inp, args.out, args.shard)


def cmd_convert(args: argparse.Namespace) -> None:
    from gpt2zh.convert import convert_shard

    convert_shard(_resolve(args, "dataset"), args.inp, args.out, args.shard)


def _shard_stage(sub: Any, name: str, func: Any, help: str, description: str) -> None:
    """A shard-to-shard text stage: same arguments for every one of them."""
    p = sub.add_parser(name, help=help, description=description)
    _spec_args(p, "dataset")
    p.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    p.add_argument("--in", dest="inp", type=Path, required=True, help="input shard (.parquet)")
    p.add_argument("--out", type=Path, required=True, help="output shard (.parquet)")
    p.set_defaults(func=func, per_shard=True)


def _dedup_spec(args: argparse.Namespace) -> dict[str, Any]:
    from gpt2zh.dedup.spec import dedup_spec

    return _stage_spec(args, dedup_spec)


def cmd_dedup_signatures(args: argparse.Namespace) -> None:
    from gpt2zh.dedup.signatures import signature_shard

    signature_shard(_dedup_spec(args), args.dataset, args.inp, args.out)


def cmd_dedup_buckets(args: argparse.Namespace) -> None:
    from gpt2zh.dedup.bands import bucket_pairs

    bucket_pairs(_dedup_spec(args), args.group, args.signatures, args.out)


def cmd_dedup_clusters(args: argparse.Namespace) -> None:
    from gpt2zh.dedup.clusters import build_clusters

    build_clusters(
        _dedup_spec(args), args.signatures, args.pairs, args.docs, args.out, args.summary
    )


def cmd_dedup_filter(args: argparse.Namespace) -> None:
    from gpt2zh.dedup.filter import filter_shard

    filter_shard(_dedup_spec(args), args.dataset, args.shard, args.inp, args.clusters, args.out)


def cmd_report_dataset(args: argparse.Namespace) -> None:
    from gpt2zh.report import dataset_report

    spec = json.loads(args.spec) if args.spec else None
    dataset_report(
        args.dataset,
        args.manifest,
        args.stats,
        args.json,
        args.html,
        spec,
        dedup=args.dedup,
        counts=args.counts,
        mix=args.mix,
    )


def cmd_report_index(args: argparse.Namespace) -> None:
    from gpt2zh.report import index_report

    index_report(args.reports, args.html, args.mix, args.run)


def cmd_report_run(args: argparse.Namespace) -> None:
    from gpt2zh.report import run_report

    run_report(args.run, args.reports, args.out, args.mix, args.eval, args.log)


def _stage_spec(args: argparse.Namespace, build: Callable[[dict[str, Any]], Any]) -> Any:
    """A whole-corpus stage's spec: `--spec` JSON (from a rule) or built from `--config`."""
    if args.spec:
        return _spec_json(args.spec)
    if not args.config:
        raise ConfigError("give --spec, or --config FILE")
    return build(load_config(args.config))


def tokenizer_spec(cfg: dict[str, Any]) -> dict[str, Any]:
    from gpt2zh.mix.plan import mix_weights

    return {"tokenizer": cfg["tokenizer"], "weights": mix_weights(cfg)}


def mix_spec(cfg: dict[str, Any]) -> dict[str, Any]:
    from gpt2zh.layout import DOC_STAGES
    from gpt2zh.mix.plan import mix_weights

    return {"mix": cfg["mix"], "weights": mix_weights(cfg), "stage": DOC_STAGES[-1]}


def cmd_tokenizer(args: argparse.Namespace) -> None:
    from gpt2zh.tokenize.train_bpe import build_tokenizer

    build_tokenizer(_stage_spec(args, tokenizer_spec), args.inputs or [], args.out)


def cmd_tokenize(args: argparse.Namespace) -> None:
    import os

    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before tokenizers starts its pool
    from gpt2zh.tokenize.encode import encode_shard

    encode_shard(
        args.inp,
        args.tokenizer,
        args.out,
        dataset=args.dataset,
        shard=args.shard,
        batch_docs=args.batch_docs,
        encoder=args.encoder,
        threads=args.threads,
    )


def cmd_count(args: argparse.Namespace) -> None:
    from gpt2zh.tokenize.count import write_counts, write_table

    if args.count_command == "dataset":
        c = write_counts(args.dataset, args.role, args.stats, args.out)
        log.info("%s: %d docs, %d tokens", c["dataset"], c["docs"], c["tokens"])
    else:
        sys.stdout.write(write_table(args.counts, args.mix, args.out))


def cmd_mix(args: argparse.Namespace) -> None:
    from gpt2zh.mix.pack import build_mix

    inputs = list(args.inputs or [])
    if args.inputs_from:
        inputs += [Path(x) for x in args.inputs_from.read_text("utf-8").split("\n") if x]
    build_mix(_stage_spec(args, mix_spec), inputs, args.out)


def cmd_verify(args: argparse.Namespace) -> None:
    from gpt2zh.mix.verify import verify_mix

    verify_mix(args.mix, args.out, args.threads)


def _add_token_stages(sub: Any) -> None:
    p = sub.add_parser(
        "tokenizer",
        help="train the byte-level BPE tokenizer (or copy a pretrained one)",
        description="Train a byte-level BPE on a sample of the last document stage drawn by mix "
        "weight (tokenizer.sample_bytes), with the Chinese-aware pre-tokenizer, and save it with "
        "save_pretrained (AutoTokenizer loads it) plus training.json (sample, seconds, peak RSS).",
    )
    _spec_args(p)
    p.add_argument("--inputs", type=Path, nargs="*", help="document shards (.parquet)")
    p.add_argument("--out", type=Path, required=True, help="output tokenizer folder")
    p.set_defaults(func=cmd_tokenizer)

    p = sub.add_parser(
        "tokenize",
        help="encode one document shard into an Arrow token shard",
        description="Batch-encode one shard, EOS appended to each document; write an Arrow IPC "
        "shard (id, input_ids list<uint16>, uint32 if the vocab needs it) and .stats.json.",
    )
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer folder")
    p.add_argument("--dataset", required=True)
    p.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    p.add_argument("--in", dest="inp", type=Path, required=True, help="document shard (.parquet)")
    p.add_argument("--out", type=Path, required=True, help="token shard (.arrow)")
    p.add_argument("--batch-docs", type=int, default=1024, help="documents per encode batch")
    p.add_argument("--threads", type=int, default=1, help="encoder threads")
    p.add_argument(
        "--encoder",
        choices=["auto", "hf", "fast"],
        default="auto",
        help="fast = tiktoken over our merges (token-identical to HF, verified at load); "
        "auto = fast when the tokenizer allows it",
    )
    p.set_defaults(func=cmd_tokenize, per_shard=True)

    p = sub.add_parser(
        "count",
        help="token counts per dataset, and the table of the corpus",
        description="`count dataset` sums a dataset's token shard stats into counts.json; "
        "`count table` prints per dataset docs, tokens, chars/token, share of the mix, "
        "effective epochs and the totals.",
    )
    csub = p.add_subparsers(dest="count_command", required=True, metavar="KIND")
    c = csub.add_parser("dataset", help="one dataset's counts.json", description="counts.json")
    c.add_argument("--dataset", required=True)
    c.add_argument("--role", default="pretrain", choices=["pretrain", "sft"])
    c.add_argument("--stats", type=Path, nargs="+", required=True, help="token shard stats")
    c.add_argument("--out", type=Path, required=True, help="output counts.json")
    c.set_defaults(func=cmd_count)
    c = csub.add_parser("table", help="the corpus table", description="the corpus token table")
    c.add_argument("--counts", type=Path, nargs="+", required=True, help="counts.json files")
    c.add_argument("--mix", type=Path, help="mix manifest.json (share, epochs)")
    c.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    c.set_defaults(func=cmd_count)

    p = sub.add_parser(
        "mix",
        help="hold out validation, mix datasets by weight and pack rows of seq_len",
        description="Hold out validation documents per dataset, take each dataset's token budget "
        "(repeats reshuffled, subsets seeded), interleave and pack end to end into rows of "
        "seq_len; write train/, val/, val_by_dataset/<d>/ Arrow shards, docs.arrow, manifest.json.",
    )
    _spec_args(p)
    p.add_argument("--inputs", type=Path, nargs="*", help="token shards (.arrow)")
    p.add_argument("--inputs-from", type=Path, help="file listing token shards, one a line")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=cmd_mix)

    p = sub.add_parser(
        "verify",
        help="check every mixed shard against the sha256 in the mix manifest",
        description="Hash every shard the mix manifest lists (in parallel, streamed) and fail "
        "naming each missing or corrupted one; write OUT (sizes and mtimes) so that training "
        "only stats the shards instead of hashing them again.",
    )
    p.add_argument("--mix", type=Path, required=True, help="mix folder (manifest.json)")
    p.add_argument("--out", type=Path, required=True, help="output record (verified.json)")
    p.add_argument("--threads", type=int, default=1, help="files hashed at once")
    p.set_defaults(func=cmd_verify)


def train_spec(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"model": cfg["model"], "train": cfg["train"]}


def cmd_train(args: argparse.Namespace) -> None:
    from gpt2zh.train.loop import train

    summary = train(
        _stage_spec(args, train_spec),
        args.mix,
        args.tokenizer,
        args.out,
        threads=args.threads,
        until_step=args.until_step,
    )
    log.info("train: %s", {k: v for k, v in summary.items() if k != "samples"})


def cmd_launch(args: argparse.Namespace) -> None:
    import os
    import shlex

    from gpt2zh.train.launch import Request, launch_command

    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    req = Request(args.config_file, args.gpus, args.gres, args.threads, args.port)
    cmd = launch_command(req, train_args)
    if args.print:
        sys.stdout.write(shlex.join(cmd) + "\n")
        return
    log.info("launch: %s", shlex.join(cmd))
    os.execvp(cmd[0], cmd)


def cmd_plan(args: argparse.Namespace) -> None:
    from gpt2zh.train.plan import load_manifest, plan, render

    p = plan(load_config(args.config), load_manifest(args.mix), compute=args.compute)
    sys.stdout.write(json.dumps(p, indent=1) + "\n" if args.json else render(p))


def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train GPT-2 on the mixed shards (run it under `accelerate launch`)",
        description="Train GPT-2 on the packed mix with a plain loop on accelerate.Accelerator: "
        "checkpoints (exact resume) under OUT/checkpoints, log.jsonl and TensorBoard under OUT, "
        "the final model + tokenizer (save_pretrained) in OUT/model. A rerun resumes from the "
        "newest valid checkpoint; SIGTERM saves one and stops. Several processes: "
        "`accelerate launch --config_file workflow/accelerate/X.yaml -m gpt2zh.train ARGS`.",
    )
    _spec_args(p)
    p.add_argument("--mix", type=Path, required=True, help="mix folder (manifest.json, train/)")
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer folder")
    p.add_argument("--out", type=Path, required=True, help="run folder (results/train/<run>)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--until-step", type=int, help="checkpoint and stop after this step")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "launch",
        help="run `accelerate launch -m gpt2zh.train ARGS` for this job (CPU, GPUs, SLURM nodes)",
        description="Build the accelerate launch command from the job's GPUs and threads and, "
        "inside a multi-node SLURM step (one task per node), from SLURM_NNODES, SLURM_NODEID "
        "and the first host of the step's node list (c10d rendezvous), then exec it. "
        "Example: gpt2zh launch --config-file workflow/accelerate/multi_gpu.yaml --gpus 4 "
        "--print -- --config config.yaml --mix results/mix --tokenizer results/tokenizer "
        "--out results/train/demo",
    )
    p.add_argument("--config-file", type=Path, required=True, help="accelerate config (YAML)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs of the job on one node (0: CPU)")
    p.add_argument("--gres", default="", help="SLURM gres per node for several nodes (gpu:4)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per process (CPU only)")
    p.add_argument("--port", type=int, help="rendezvous port (default: 29500 + job id %% 1000)")
    p.add_argument("--print", action="store_true", help="print the command instead of running")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then gpt2zh train's args")
    p.set_defaults(func=cmd_launch)

    p = sub.add_parser(
        "plan",
        help="scaling-law estimate: model size, tokens, batch, lr (DeepSeek LLM)",
        description="DeepSeek LLM scaling laws: M = 72·n_layer·d² + 12·n_layer·d·seq "
        "(non-embedding FLOPs/token), C = M·D; optimal M, D, batch (tokens) and lr for the "
        "config's compute (or --compute), against the corpus's token count from the mix "
        "manifest. Flags budgets far (> 3×) from optimal.",
    )
    p.add_argument(
        "--config", action="append", type=Path, required=True, metavar="YAML", help="config"
    )
    p.add_argument("--mix", type=Path, help="mix manifest.json (the corpus's token count)")
    p.add_argument("--compute", type=float, help="compute budget in FLOPs (default: config's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_plan)


def eval_spec(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": cfg["run"],
        "eval": cfg["eval"],
        "seed": cfg["train"]["seed"],
        "attention": cfg["model"]["attention"],
    }


def cmd_eval(args: argparse.Namespace) -> None:
    from gpt2zh.eval.run import evaluate
    from gpt2zh.layout import RESULTS

    spec = _stage_spec(args, eval_spec)
    r = evaluate(
        spec,
        args.model or Path(RESULTS) / "train" / spec["run"] / "model",
        args.mix,
        args.out or Path(RESULTS) / "eval" / spec["run"],
        tokenizer_dir=args.tokenizer,
        threads=args.threads,
    )
    if "all" in r["splits"]:
        s = r["splits"]["all"]
        log.info(
            "eval: bits/char %.3f (untrained %.3f, unigram %.3f), lm_eval %s",
            s["model"]["bits_per_char"],
            s["untrained"]["bits_per_char"],
            s["unigram"]["bits_per_char"],
            r["lm_eval"] and r["lm_eval"]["acc"],
        )


def _add_eval(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate the trained model: bits/char vs baselines, samples, lm-eval cloze",
        description="Validation loss, perplexity and bits per character / per UTF-8 byte on the "
        "combined val set and per dataset, beside the untrained model (training seed) and a "
        "character unigram fitted on the train split; seeded samples for eval.prompts with "
        "distinct-1/2 and repeat ratio, and the same on validation text; a next-line cloze "
        "task for lm-evaluation-harness (run when lm_eval is installed). Writes OUT/eval.json, "
        "OUT/eval.md and OUT/lm_eval/.",
    )
    _spec_args(p)
    p.add_argument(
        "--model", type=Path, help="saved model folder (default: results/train/<run>/model)"
    )
    p.add_argument(
        "--mix", type=Path, default=Path("results/mix"), help="mix folder (default: results/mix)"
    )
    p.add_argument("--tokenizer", type=Path, help="tokenizer folder (default: the model's)")
    p.add_argument("--out", type=Path, help="output folder (default: results/eval/<run>)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(func=cmd_eval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpt2zh",
        description="Build a Chinese pretraining corpus and train GPT-2 on it. Each subcommand "
        "is one pipeline stage; Snakemake calls them, and so can you.",
    )
    parser.add_argument("--version", action="version", version=f"gpt2zh {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    p = sub.add_parser(
        "download",
        help="fetch a source (npm, url, hf, local) and write its manifest",
        description="Download one source into OUT/files and write OUT/manifest.json with the "
        "sha256 of every file. Resumes partial HTTP downloads and retries with backoff.",
    )
    _spec_args(p, "source")
    p.add_argument("--out", type=Path, required=True, help="output folder of this source")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser(
        "lock",
        help="resolve the Hub branches of the config's hf sources again and update its lock",
        description="Downloads of hf sources fetch the commit recorded in <config>.lock.yaml "
        "(written on a source's first download). This resolves each branch or tag now, "
        "rewrites the lock and removes the download manifest of every source whose commit "
        "changed, so the next `snakemake` run fetches the new commit and rebuilds what "
        "depends on it (run it where you run snakemake).",
    )
    p.add_argument(
        "--config", action="append", type=Path, required=True, metavar="YAML", help="config"
    )
    p.add_argument("--source", action="append", help="only this source (repeatable)")
    p.set_defaults(func=cmd_lock)

    p = sub.add_parser(
        "extract",
        help="turn a source's files into Parquet document shards",
        description="Read the files of one dataset assigned to one shard, build each document "
        "from the dataset's text template and write a Parquet shard, its .stats.json and its "
        ".quarantine.jsonl (records that could not be read, with the reason).",
    )
    _spec_args(p, "dataset")
    p.add_argument("--manifest", type=Path, required=True, help="download manifest.json")
    p.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    p.add_argument("--out", type=Path, required=True, help="output shard (.parquet)")
    p.set_defaults(func=cmd_extract, per_shard=True)

    _shard_stage(
        sub,
        "clean",
        cmd_clean,
        "normalize, redact PII and filter documents of one shard",
        "Normalize text (Unicode, invisible characters, HTML, full-width, whitespace), redact "
        "PII (e-mail, phone, ID card, IPv4) and drop low-quality documents with a named reason. "
        "Writes the shard, its .stats.json and, with clean.keep_dropped, .dropped.parquet.",
    )
    _shard_stage(
        sub,
        "convert",
        cmd_convert,
        "convert Traditional Chinese to Simplified (OpenCC) in one shard",
        "Convert one shard with OpenCC (t2s, tw2sp, hk2s or none, from the dataset's `convert`) "
        "and count the documents and characters changed.",
    )

    # --- dedup: four steps, each its own job ---
    p = sub.add_parser(
        "dedup",
        help="exact + MinHash near-duplicate removal across datasets (4 steps)",
        description="Dedup runs in four steps, each its own job: signatures (per shard) → "
        "buckets (per band group) → clusters (one gather job) → filter (per shard).",
    )
    dsub = p.add_subparsers(dest="dedup_command", required=True, metavar="STEP")
    d = dsub.add_parser(
        "signatures",
        help="exact hash, MinHash and LSH band keys of one shard",
        description="Normalize every document of one shard, hash it whole and compute its "
        "datasketch-compatible (affine32) MinHash over character or word n-grams, vectorised; "
        "write one row per document: id, length, exact hash, band keys, full signature.",
    )
    _spec_args(d)
    d.add_argument("--dataset", required=True, help="dataset of the shard")
    d.add_argument("--in", dest="inp", type=Path, required=True, help="document shard (.parquet)")
    d.add_argument("--out", type=Path, required=True, help="output signature file (.parquet)")
    d.set_defaults(func=cmd_dedup_signatures, per_shard=True)
    d = dsub.add_parser(
        "buckets",
        help="candidate pairs from one band group (scatter)",
        description="Read one group's band columns (and, for group 0, the exact hashes) of "
        "every signature file, sort them and write the pairs of documents sharing a bucket.",
    )
    _spec_args(d)
    d.add_argument("--group", type=int, required=True, help="band group index (0-based)")
    d.add_argument("--signatures", type=Path, required=True, help="folder of signature files")
    d.add_argument("--out", type=Path, required=True, help="output pairs (.parquet)")
    d.set_defaults(func=cmd_dedup_buckets)
    d = dsub.add_parser(
        "clusters",
        help="union-find over candidate pairs; survivors and the drop list (gather)",
        description="Merge all candidate pairs, optionally verify each pair's Jaccard estimate, "
        "form clusters, keep one document per cluster (dataset priority, then longest, then "
        "smallest id) and write the drop list plus a JSON summary for the reports.",
    )
    _spec_args(d)
    d.add_argument("--signatures", type=Path, required=True, help="folder of signature files")
    d.add_argument("--pairs", type=Path, nargs="+", required=True, help="pair files (.parquet)")
    d.add_argument("--docs", type=Path, required=True, help="folder of the input document shards")
    d.add_argument("--out", type=Path, required=True, help="output drop list (.parquet)")
    d.add_argument("--summary", type=Path, required=True, help="output summary (.json)")
    d.set_defaults(func=cmd_dedup_clusters)
    d = dsub.add_parser(
        "filter",
        help="drop one shard's duplicates (reasons exact_duplicate, near_duplicate)",
        description="Copy one shard without the documents the drop list names, with stats.",
    )
    _spec_args(d)
    d.add_argument("--dataset", required=True, help="dataset of the shard")
    d.add_argument("--shard", type=int, required=True, help="shard index (0-based)")
    d.add_argument("--in", dest="inp", type=Path, required=True, help="document shard (.parquet)")
    d.add_argument("--clusters", type=Path, required=True, help="drop list (.parquet)")
    d.add_argument("--out", type=Path, required=True, help="output shard (.parquet)")
    d.set_defaults(func=cmd_dedup_filter, per_shard=True)

    # --- tokenizer, tokenize, count, mix ---
    _add_token_stages(sub)

    p = sub.add_parser(
        "report",
        help="render per-dataset and index reports (HTML + JSON)",
        description="Render reports from the stage stats written by the other stages.",
    )
    rsub = p.add_subparsers(dest="report_command", required=True, metavar="KIND")
    r = rsub.add_parser(
        "dataset",
        help="one dataset's report",
        description="One dataset's "
        "funnel, drop reasons with examples and quarantine, as JSON and HTML.",
    )
    r.add_argument("--dataset", required=True)
    r.add_argument("--spec", help="the dataset's resolved config as JSON (for its description)")
    r.add_argument("--manifest", type=Path, required=True, help="download manifest.json")
    r.add_argument("--stats", type=Path, nargs="+", required=True, help="*.stats.json files")
    r.add_argument("--dedup", type=Path, help="dedup clusters summary (.json), if dedup ran")
    r.add_argument("--counts", type=Path, help="the dataset's token counts.json")
    r.add_argument("--mix", type=Path, help="the mix manifest.json")
    r.add_argument("--json", type=Path, required=True, help="output report JSON")
    r.add_argument("--html", type=Path, required=True, help="output report HTML")
    r.set_defaults(func=cmd_report_dataset)
    r = rsub.add_parser(
        "index",
        help="the overall index page",
        description="An index of all datasets from their report JSON files.",
    )
    r.add_argument("--reports", type=Path, nargs="+", required=True, help="dataset report JSONs")
    r.add_argument("--html", type=Path, required=True, help="output index HTML")
    r.add_argument("--mix", type=Path, help="the mix manifest.json (the mix table)")
    r.add_argument("--run", help="the run whose report the page links to (config `run`)")
    r.set_defaults(func=cmd_report_index)
    r = rsub.add_parser(
        "run",
        help="the run's pages: index and datasets with eval results and training curves",
        description="The corpus pages plus the model: training curves from the run's log.jsonl, "
        "eval.json's results against the baselines, samples; written to OUT/index.html and "
        "OUT/<dataset>.html.",
    )
    r.add_argument("--run", required=True, help="the run's name (config `run`)")
    r.add_argument("--reports", type=Path, nargs="+", required=True, help="dataset report JSONs")
    r.add_argument("--out", type=Path, required=True, help="output folder")
    r.add_argument("--mix", type=Path, help="the mix manifest.json (the mix table)")
    r.add_argument("--eval", type=Path, help="the run's eval.json (omitted: not evaluated yet)")
    r.add_argument("--log", type=Path, help="the run's training log.jsonl (read if it exists)")
    r.set_defaults(func=cmd_report_run)

    # --- train, launch, plan ---
    _add_train(sub)

    # --- eval ---
    _add_eval(sub)
    return parser


class _NoPandas:
    """A meta path finder that makes `import pandas` fail (see `_without_pandas`)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"{name} is not imported by per-shard jobs", name=name)


def _without_pandas() -> None:
    """pyarrow imports pandas (~0.17 CPU-s) on its first conversion of a Python list, only to
    ask whether the list is a pandas object. Per-shard jobs never hold one and start once per
    shard and stage, so their process refuses the import (pyarrow's shim reads the ImportError
    as "no pandas"); a pandas imported already is left alone."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "per_shard", False):
        _without_pandas()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except UserError as e:
        log.error("%s", e)
        return 2
    _log_usage()
    return 0


def _log_usage() -> None:
    """The job's own CPU time and peak memory, last line of its log: Snakemake's `benchmark:`
    files sample and undercount short jobs, this is exact (start-up included)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    log.info(
        "done: %.3f CPU-s (user %.3f, sys %.3f), peak RSS %.0f MB",
        r.ru_utime + r.ru_stime,
        r.ru_utime,
        r.ru_stime,
        r.ru_maxrss / 1024,
    )


if __name__ == "__main__":
    sys.exit(main())
