"""`url` sources: a list of plain HTTP(S) files, each optionally pinned by sha256."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from .errors import DownloadError, UnreachableError
from .http import Options, display_url, fetch
from .manifest import SourceFiles, file_entry
from .paths import safe_relpath

OFFLINE_HINT = (
    "If this machine cannot reach that host, download the file on a machine that can, copy it "
    "here and use a `local` source (type: local, path: <folder>) instead of this `url` source."
)


def default_name(url: str) -> str:
    """The URL's last path segment (percent-decoded): what a browser would save it as."""
    segment = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if not segment:
        raise DownloadError(f"{display_url(url)}: URL has no file name; give the entry a `name`")
    return segment


def download_url(spec: dict[str, Any], out_dir: Path, options: Options) -> SourceFiles:
    files_dir = out_dir / "files"
    entries, resolved = [], []
    for item in spec["urls"]:
        url = item["url"]
        rel = safe_relpath(item.get("name") or default_name(url), f"url {display_url(url)}")
        try:
            got = fetch(url, files_dir / rel, options=options, sha256=item.get("sha256"), label=rel)
        except UnreachableError as err:
            raise DownloadError(f"{err}\n{OFFLINE_HINT}") from err
        entries.append(file_entry(rel, got.bytes, got.sha256))
        resolved.append({"url": display_url(url), "path": rel, "reused": got.reused})
    return SourceFiles(root=files_dir.as_posix(), files=entries, resolved={"urls": resolved})
