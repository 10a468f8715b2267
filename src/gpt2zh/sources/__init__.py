"""The download stage: fetch one configured source and write its `manifest.json`.

    from gpt2zh.sources import download, DownloadError
    manifest = download(source_spec(cfg, name), out_dir)

Every source type ends in the same place, `out_dir/manifest.json`:
`{source, type, root, files: [{path, bytes, sha256}], resolved, seconds}` where `files` paths are
relative to `root` (`out_dir/files` for fetched sources, the folder itself for `local`). The
manifest is written last and atomically, so its existence means the download is complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import DownloadError
from .hf import download_hf
from .http import Options
from .local import download_local
from .manifest import SourceFiles, build_manifest, write_manifest
from .npm import download_npm
from .url import download_url

__all__ = ["DownloadError", "download"]

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Path, Options], SourceFiles]

HANDLERS: dict[str, Handler] = {
    "hf": download_hf,
    "local": download_local,
    "npm": download_npm,
    "url": download_url,
}


def download(spec: Mapping[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Fetches the source `spec` (from `gpt2zh.config.source_spec`) and writes/returns its
    manifest. Raises DownloadError, whose message names the source and says what to do."""
    t0 = time.perf_counter()
    spec = dict(spec)
    name, kind = spec.get("name", "?"), spec.get("type")
    handler = HANDLERS.get(str(kind))
    if handler is None:
        raise DownloadError(f"source {name!r}: unknown type {kind!r} (known: {sorted(HANDLERS)})")
    out_dir = Path(out_dir)
    options = Options.from_config(spec.get("download_options"))
    logger.info("source %r (%s): downloading into %s", name, kind, out_dir)
    try:
        result = handler(spec, out_dir, options)
        manifest = build_manifest(spec, result, time.perf_counter() - t0)
    except DownloadError as err:
        raise DownloadError(f"source {name!r} ({kind}): {err}") from err
    write_manifest(out_dir, manifest)
    total = sum(f["bytes"] for f in manifest["files"])
    logger.info(
        "source %r: %d files, %d bytes in %.1fs",
        name,
        len(manifest["files"]),
        total,
        manifest["seconds"],
    )
    return manifest
