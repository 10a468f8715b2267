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


def _spec_args(p: argparse.ArgumentParser, what: str) -> None:
    """Stages take their part of the config either resolved (from a rule) or from config files."""
    g = p.add_argument_group("configuration (give --spec, or --config with --" + what + ")")
    g.add_argument("--spec", help=f"the {what}'s resolved config as JSON, or @file.json")
    g.add_argument(
        "--config", action="append", type=Path, metavar="YAML", help="config file (repeatable)"
    )
    g.add_argument(f"--{what}", help=f"{what} name in the config")


def _resolve(args: argparse.Namespace, what: str) -> dict[str, Any]:
    if args.spec:
        text = Path(args.spec[1:]).read_text("utf-8") if args.spec.startswith("@") else args.spec
        return json.loads(text)
    name = getattr(args, what)
    if not (args.config and name):
        raise ConfigError(f"give --spec, or --config FILE together with --{what} NAME")
    cfg = load_config(args.config)
    return (dataset_spec if what == "dataset" else source_spec)(cfg, name)


def cmd_download(args: argparse.Namespace) -> None:
    from gpt2zh.sources import download

    manifest = download(_resolve(args, "source"), args.out)
    log.info(
        "%s: %d files, %d bytes",
        manifest["source"],
        len(manifest["files"]),
        sum(f["bytes"] for f in manifest["files"]),
    )


def cmd_extract(args: argparse.Namespace) -> None:
    from gpt2zh.extract import extract_shard

    stats = extract_shard(_resolve(args, "dataset"), args.manifest, args.shard, args.out)
    log.info(
        "%s shard %d: %d docs in, %d out, drops %s",
        stats["dataset"],
        args.shard,
        stats["docs_in"],
        stats["docs_out"],
        stats["drops"],
    )


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
    p.set_defaults(func=func)


def cmd_report_dataset(args: argparse.Namespace) -> None:
    from gpt2zh.report import dataset_report

    spec = json.loads(args.spec) if args.spec else None
    dataset_report(args.dataset, args.manifest, args.stats, args.json, args.html, spec)


def cmd_report_index(args: argparse.Namespace) -> None:
    from gpt2zh.report import index_report

    index_report(args.reports, args.html)


def cmd_not_built(stage: str, issue: int) -> Callable[[argparse.Namespace], None]:
    def run(_: argparse.Namespace) -> None:
        raise NotBuiltError(
            f"gpt2zh {stage}: not built yet (tracked in issue #{issue}); "
            "the data stages (`snakemake --cores N`) work today"
        )

    return run


class NotBuiltError(UserError):
    pass


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
    p.set_defaults(func=cmd_extract)

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

    # --- dedup (issue 4): subcommands added here ---

    # --- tokenizer, tokenize, count, mix (issue 5): subcommands added here ---

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
    r.set_defaults(func=cmd_report_index)

    for stage, issue, text in (
        ("train", 6, "train GPT-2 with accelerate (not built yet)"),
        ("eval", 7, "evaluate a trained model (not built yet)"),
    ):
        p = sub.add_parser(stage, help=text, description=text)
        p.set_defaults(func=cmd_not_built(stage, issue))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
