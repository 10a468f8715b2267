"""Broken sources end in an error naming the file, never a raw traceback: a truncated package
tarball, a tar holding a file and a folder of one name, a file name that is not UTF-8."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from gpt2zh.sources import DownloadError, download
from helpers import REPO


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def npm_spec(package: str) -> dict:
    return {"name": "pkg", "type": "npm", "package": package}


def test_a_truncated_package_tarball_is_an_error_naming_it(workdir: Path) -> None:
    noise = random.Random(1).randbytes(200_000)  # incompressible: the cut lands mid-member
    full = _tgz(
        workdir / "full.tgz",
        {"package/data.bin": noise, "package/package.json": json.dumps({"name": "x"}).encode()},
    )
    cut = workdir / "cut.tgz"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DownloadError, match=r"cut\.tgz: corrupt or truncated archive"):
        download(npm_spec(str(cut)), Path("out"))
    assert not Path("out/files").exists()


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({"package/a": b"file", "package/a/b.json": b"[]"}, r"'package/a' is a file, but"),
        ({"package/x.json": b"[]", "./package/x.json": b"{}"}, r"are both 'x\.json'"),
    ],
    ids=["file-and-folder", "same-path-twice"],
)
def test_a_tar_whose_members_collide_is_refused_naming_them(
    workdir: Path, members: dict[str, bytes], error: str
) -> None:
    tgz = _tgz(workdir / "pkg.tgz", members)
    with pytest.raises(DownloadError, match=error):
        download(npm_spec(str(tgz)), Path("out"))
    assert not Path("out/files").exists()


def _non_utf8_folder(workdir: Path) -> Path:
    root = workdir / "src"
    root.mkdir()
    (root / "ok.txt").write_text("好", "utf-8")
    with open(os.path.join(os.fsencode(root), b"bad\xff.txt"), "wb") as f:
        f.write(b"x")
    return root


def test_a_file_name_that_is_not_utf8_is_an_error_naming_it(workdir: Path) -> None:
    _non_utf8_folder(workdir)
    spec = {"name": "mine", "type": "local", "path": "src"}
    with pytest.raises(DownloadError, match=r"file name b'bad\\xff\.txt' is not UTF-8"):
        download(spec, Path("out"))
    assert not Path("out/manifest.json").exists()


def test_the_cli_reports_it_without_a_traceback(workdir: Path) -> None:
    _non_utf8_folder(workdir)
    spec = json.dumps({"name": "mine", "type": "local", "path": "src"})
    proc = subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", "download", "--spec", spec, "--out", "out"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == 2, proc.stderr
    assert "bad\\xff.txt" in proc.stderr and "Traceback" not in proc.stderr
