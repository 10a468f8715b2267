"""`npm` sources: a package tarball fetched with `npm pack`, integrity-checked, safely unpacked.

`npm pack` (not our HTTP client) fetches registry packages because it already knows the user's
registry, mirror, proxy and auth settings (`.npmrc`, `NPM_CONFIG_*`). We never trust its word
alone: the tarball is hashed here and compared with the config's Subresource-Integrity string.
A `package` that is an existing `.tgz` file is read directly, so an offline machine needs no npm
at all: pack it elsewhere, copy the tarball over, point `package:` at it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from gpt2zh.globs import as_list

from .archive import ARCHIVE_ERRORS, extract_tar
from .errors import DownloadError
from .http import Options
from .manifest import SourceFiles, hash_files

logger = logging.getLogger(__name__)

DEFAULT_ALGO = "sha512"
STDERR_TAIL_LINES = 15


def mirror_hint(package: str) -> str:
    return (
        "To fetch it another way: set NPM_CONFIG_REGISTRY to a reachable npm registry mirror, or "
        f"run `npm pack {package}` on a machine with access, copy the .tgz here and set this "
        "source's `package:` to the tarball's path (a local tarball needs neither npm nor network)."
    )


def sri(path: Path, algo: str = DEFAULT_ALGO, chunk_bytes: int = 1 << 20) -> str:
    """Subresource-Integrity string (`sha512-<base64>`) of a file, as npm writes it."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return f"{algo}-{base64.b64encode(h.digest()).decode('ascii')}"


def _npm_arg(package: str) -> str:
    """npm reads `dir/pkg` as a GitHub shorthand; an existing path is passed as `./dir/pkg`."""
    p = Path(package).expanduser()
    if p.exists() and not p.is_absolute() and not package.startswith(("./", "../")):
        return f"./{package}"
    return str(p) if p.exists() else package


def _parse_pack_json(stdout: str) -> dict[str, Any]:
    text = stdout[stdout.find("[") :] if "[" in stdout else stdout
    try:
        data = json.loads(text)
    except ValueError as err:
        raise DownloadError(
            f"cannot parse `npm pack --json` output ({err}): {stdout[-500:]!r}"
        ) from err
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]
    raise DownloadError(f"unexpected `npm pack --json` output: {stdout[-500:]!r}")


_STACK_FRAME = re.compile(r"^npm (error|ERR!)\s+at \S")


def _stderr_tail(stderr: str) -> list[str]:
    """npm's last words without its JavaScript stack frames, which push the reason off screen."""
    lines = [line for line in stderr.strip().splitlines() if not _STACK_FRAME.match(line)]
    return lines[-STDERR_TAIL_LINES:]


def npm_pack(package: str, dest_dir: Path, options: Options) -> tuple[Path, dict[str, Any]]:
    """Runs `npm pack` into `dest_dir`; returns the tarball and npm's JSON record of it."""
    npm = shutil.which("npm")
    if npm is None:
        raise DownloadError(
            f"`npm` is not installed, cannot fetch {package!r}.\n{mirror_hint(package)}"
        )
    cmd = [
        npm,
        "pack",
        _npm_arg(package),
        "--json",
        "--pack-destination",
        str(dest_dir),
        "--ignore-scripts",  # packing a folder would otherwise run its prepack/prepare scripts
        f"--fetch-retries={options.retries}",
        f"--fetch-retry-mintimeout={int(min(options.backoff_seconds * 1000, 60_000))}",
    ]
    logger.info("running: %s", " ".join(cmd[1:]))
    proc = subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(_stderr_tail(proc.stderr))
        raise DownloadError(
            f"`npm pack {package}` failed (exit {proc.returncode}); npm said:\n{tail}\n"
            f"{mirror_hint(package)}"
        )
    entry = _parse_pack_json(proc.stdout)
    tarball = dest_dir / str(entry.get("filename", ""))
    if not tarball.is_file():
        found = sorted(dest_dir.glob("*.tgz"))
        if len(found) != 1:
            raise DownloadError(f"`npm pack {package}` produced no single tarball: {found}")
        tarball = found[0]
    return tarball, entry


def _package_json(tarball: Path) -> dict[str, Any]:
    """The packed package.json (name, version) without unpacking; `{}` when absent or broken."""
    try:
        with tarfile.open(tarball, "r:*") as tf:
            for member in tf:
                parts = member.name.strip("/").split("/")
                if member.isfile() and len(parts) == 2 and parts[1] == "package.json":
                    f = tf.extractfile(member)
                    return json.loads(f.read()) if f is not None else {}
    except (*ARCHIVE_ERRORS, ValueError):
        pass  # a broken archive is reported, naming it, by extract_tar
    return {}


def download_npm(spec: dict[str, Any], out_dir: Path, options: Options) -> SourceFiles:
    package: str = spec["package"]
    expected: str | None = spec.get("integrity")
    algo = expected.split("-", 1)[0] if expected else DEFAULT_ALGO
    globs = as_list(spec.get("include"))
    files_dir = out_dir / "files"
    out_dir.mkdir(parents=True, exist_ok=True)

    local = Path(package).expanduser()
    with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=out_dir) as tmp:
        npm_entry: dict[str, Any] = {}
        if local.is_file():
            tarball = local
            logger.info("using local tarball %s (npm not needed)", package)
        else:
            tarball, npm_entry = npm_pack(package, Path(tmp), options)

        actual = sri(tarball, algo, options.chunk_bytes)
        if expected and actual != expected:
            raise DownloadError(
                f"integrity mismatch for {package!r}: expected {expected}, actual {actual}"
            )
        npm_says = npm_entry.get("integrity")
        if npm_says and npm_says.startswith(f"{algo}-") and npm_says != actual:
            raise DownloadError(
                f"npm reports integrity {npm_says} for {package!r}, "
                f"but the tarball hashes to {actual}"
            )
        meta = _package_json(tarball)
        rels = extract_tar(
            tarball, files_dir, strip_components=1, include=globs, chunk_bytes=options.chunk_bytes
        )
        resolved = {
            "package": package,
            "name": meta.get("name", npm_entry.get("name")),
            "version": meta.get("version", npm_entry.get("version")),
            "integrity": actual,
            "integrity_checked": bool(expected),
            "tarball": tarball.name,
            "tarball_bytes": tarball.stat().st_size,
            "via": "local tarball" if local.is_file() else "npm pack",
        }
        # The packed tarball is deleted with `tmp` here; a user's own local tarball is kept.
    return SourceFiles(
        root=files_dir.as_posix(),
        files=hash_files(files_dir, rels, options.chunk_bytes),
        resolved=resolved,
    )
