"""The download stage's contract: a source's spec (with its locked commit), `download`, `lock`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpt2zh.config import ConfigError, load_config, source_spec
from gpt2zh.contract import Stage, add_spec_args, read_named_spec

from .lock import with_lock

log = logging.getLogger("gpt2zh")


def download_spec(cfg: Mapping[str, Any], name: str, config_path: str | Path) -> dict[str, Any]:
    """Source `name` of `cfg`; an hf source also carries the commit locked beside
    `config_path` (`<config>.lock.yaml`), so a rerun fetches the same files."""
    return with_lock(source_spec(cfg, name), config_path)


def _download_args(p: argparse.ArgumentParser) -> None:
    add_spec_args(p, "source")
    p.add_argument("--out", type=Path, required=True, help="output folder of this source")


def _download(args: argparse.Namespace) -> None:
    from gpt2zh.sources import download

    spec = read_named_spec(
        args, "source", lambda cfg, name: download_spec(cfg, name, args.config[0])
    )
    manifest = download(spec, args.out)
    log.info(
        "%s: %d files, %d bytes",
        manifest["source"],
        len(manifest["files"]),
        sum(f["bytes"] for f in manifest["files"]),
    )


DOWNLOAD = Stage(
    help="fetch a source (npm, url, hf, local) and write its manifest",
    description="Download one source into OUT/files and write OUT/manifest.json with the "
    "sha256 of every file. Resumes partial HTTP downloads and retries with backoff.",
    arguments=_download_args,
    run=_download,
)


def _lock_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", action="append", type=Path, required=True, metavar="YAML", help="config"
    )
    p.add_argument("--source", action="append", help="only this source (repeatable)")


def _lock(args: argparse.Namespace) -> None:
    from gpt2zh.layout import manifest

    from .hf import resolve_branch
    from .lock import lock_path_for, update

    cfg = load_config(args.config)
    hub = sorted(n for n, s in cfg["sources"].items() if s["type"] == "hf")
    for name in args.source or []:
        if name not in hub:
            raise ConfigError(f"--source {name}: not an hf source of the config (those: {hub})")
    specs = {n: download_spec(cfg, n, args.config[0]) for n in args.source or hub}
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


LOCK = Stage(
    help="resolve the Hub branches of the config's hf sources again and update its lock",
    description="Downloads of hf sources fetch the commit recorded in <config>.lock.yaml "
    "(written on a source's first download). This resolves each branch or tag now, "
    "rewrites the lock and removes the download manifest of every source whose commit "
    "changed, so the next `snakemake` run fetches the new commit and rebuilds what "
    "depends on it (run it where you run snakemake).",
    arguments=_lock_args,
    run=_lock,
)
