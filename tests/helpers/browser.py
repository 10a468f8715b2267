"""Headless Chromium for the report tests: the DOM after rendering and screenshots.

Chromium comes from the Debian package `chromium` (`make test-deps` installs it with
`fonts-noto-cjk`). Each call starts a fresh browser with its own throw-away profile, no network
services and no sandbox (tests run as root in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from helpers import REPO

TIMEOUT_S = 120


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("chromium is not installed: run `make test-deps` (Debian: chromium)")
    return found


def _run(url: str, *flags: str) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *flags,
            url,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def dump_dom(page: Path) -> str:
    """The DOM once the page has loaded and its scripts ran, serialised as HTML."""
    return _run(page.resolve().as_uri(), "--dump-dom")


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    _run(page.resolve().as_uri(), f"--screenshot={png}", f"--window-size={width},{height}")
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png


def artifacts_dir() -> Path:
    """Where screenshots are kept after the test: $GPT2ZH_ARTIFACTS, else results/test-artifacts
    in the repository (git-ignored)."""
    out = Path(os.environ.get("GPT2ZH_ARTIFACTS") or REPO / "results" / "test-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out
