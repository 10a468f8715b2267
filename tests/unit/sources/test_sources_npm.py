"""`npm` sources: real `npm pack` on a tiny package made here (offline), integrity, include,
npm failures; and one slow test that fetches the real chinese-poetry package."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gpt2zh.sources import DownloadError, download
from helpers.httpserver import closed_port

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")

FAST = {"retries": 0, "backoff_seconds": 0.01, "timeout_seconds": 5, "chunk_bytes": 4096}

PACKAGE_FILES = {
    "package.json": json.dumps({"name": "tiny-poems", "version": "1.2.3", "files": ["dist"]}),
    "README.md": "# tiny poems\n",
    "dist/lunyu/lunyu.json": json.dumps([{"chapter": "学而", "paragraphs": ["学而时习之"]}]),
    "dist/songci/ci.song.0.json": json.dumps([{"rhythmic": "水调歌头", "paragraphs": ["明月"]}]),
    "dist/songci/ci.song.1000.json": "[]",
    "scripts/not-packed.js": "// excluded by `files`",
}


def sri512(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


@pytest.fixture
def package_dir(tmp_path: Path) -> Path:
    pkg = tmp_path / "tiny-poems"
    for rel, text in PACKAGE_FILES.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text, encoding="utf-8")
    return pkg


@pytest.fixture
def tarball(package_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    """A tarball made by the real `npm pack`, and the integrity npm reports for it."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    dest = tmp_path / "packed"
    dest.mkdir()
    proc = subprocess.run(
        ["npm", "pack", str(package_dir), "--json", "--pack-destination", str(dest)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(proc.stdout)[0]
    return dest / info["filename"], info["integrity"]


def npm_spec(package: str, **extra) -> dict:
    return {"name": "poetry", "type": "npm", "package": package, "download_options": FAST, **extra}


def test_local_tarball_with_integrity_and_include(tarball, workdir):
    path, integrity = tarball
    assert sri512(path) == integrity  # our SRI agrees with npm's
    manifest = download(
        npm_spec(str(path), integrity=integrity, include=["dist/lunyu/*", "dist/songci/*.0.json"]),
        Path("out/poetry"),
    )
    assert manifest["root"] == "out/poetry/files"
    assert [f["path"] for f in manifest["files"]] == [
        "dist/lunyu/lunyu.json",
        "dist/songci/ci.song.0.json",
    ]
    for entry in manifest["files"]:
        data = (workdir / "out/poetry/files" / entry["path"]).read_bytes()
        assert data == PACKAGE_FILES[entry["path"]].encode()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    resolved = manifest["resolved"]
    assert resolved["integrity"] == integrity and resolved["integrity_checked"] is True
    assert resolved["name"] == "tiny-poems" and resolved["version"] == "1.2.3"
    assert resolved["tarball_bytes"] == path.stat().st_size
    assert path.exists()  # the user's own tarball is never deleted
    assert sorted(p.name for p in (workdir / "out/poetry").iterdir()) == ["files", "manifest.json"]


@needs_npm
def test_package_folder_is_packed_with_npm(package_dir, workdir):
    manifest = download(npm_spec(str(package_dir)), Path("out"))
    # npm's `files` rule applies (scripts/ is not packed); `package/` is stripped.
    assert [f["path"] for f in manifest["files"]] == [
        "README.md",
        "dist/lunyu/lunyu.json",
        "dist/songci/ci.song.0.json",
        "dist/songci/ci.song.1000.json",
        "package.json",
    ]
    assert manifest["resolved"]["via"] == "npm pack"
    assert manifest["resolved"]["integrity"].startswith("sha512-")
    assert manifest["resolved"]["integrity_checked"] is False
    # The packed tarball and its temp folder are gone.
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["files", "manifest.json"]


@needs_npm
def test_relative_package_folder_is_not_mistaken_for_github(package_dir, workdir, monkeypatch):
    monkeypatch.chdir(package_dir.parent)
    manifest = download(npm_spec("tiny-poems", include="dist/lunyu/"), Path("out"))
    assert [f["path"] for f in manifest["files"]] == ["dist/lunyu/lunyu.json"]


def test_wrong_integrity_fails_and_extracts_nothing(tarball, workdir):
    path, integrity = tarball
    wrong = "sha512-" + base64.b64encode(b"\0" * 64).decode()
    with pytest.raises(DownloadError) as err:
        download(npm_spec(str(path), integrity=wrong), Path("out"))
    msg = str(err.value)
    assert "source 'poetry'" in msg and wrong in msg and integrity in msg
    assert not (workdir / "out/files").exists()
    assert not (workdir / "out/manifest.json").exists()


def test_sha256_integrity_is_supported(tarball, workdir):
    path, _ = tarball
    sri256 = "sha256-" + base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
    manifest = download(npm_spec(str(path), integrity=sri256), Path("out"))
    assert manifest["resolved"]["integrity"] == sri256


def test_include_matching_nothing_is_an_error(tarball, workdir):
    path, _ = tarball
    with pytest.raises(DownloadError, match=r"no member matches include \['dist/tang/\*'\]"):
        download(npm_spec(str(path), include="dist/tang/*"), Path("out"))
    assert not (workdir / "out/files").exists()


@needs_npm
def test_registry_failure_shows_npm_stderr_and_mirror_hint(workdir, monkeypatch):
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.setenv("NPM_CONFIG_CACHE", str(workdir / "npm-cache"))
    monkeypatch.setenv("NPM_CONFIG_OFFLINE", "false")
    with pytest.raises(DownloadError) as err:
        download(npm_spec("tiny-poems-does-not-exist@9.9.9"), Path("out"))
    msg = str(err.value)
    assert "source 'poetry'" in msg
    assert "npm pack tiny-poems-does-not-exist@9.9.9" in msg
    assert "ECONNREFUSED" in msg  # npm's own words
    assert "NPM_CONFIG_REGISTRY" in msg and "`package:`" in msg
    assert not list((workdir / "out").glob(".npm-pack-*"))


def test_missing_npm_is_explained(workdir, monkeypatch):
    monkeypatch.setenv("PATH", str(workdir))  # no npm on PATH
    with pytest.raises(DownloadError, match=r"(?s)`npm` is not installed.*NPM_CONFIG_REGISTRY"):
        download(npm_spec("chinese-poetry@2.0.1"), Path("out"))


def test_corrupt_tarball_is_an_error(workdir):
    bad = workdir / "bad.tgz"
    bad.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    with pytest.raises(DownloadError, match=r"bad\.tgz"):
        download(npm_spec(str(bad)), Path("out"))
    assert not (workdir / "out/files").exists()


CHINESE_POETRY_INTEGRITY = (
    "sha512-KtYARvV7CWNtax0na9+Jn6PlhGgSoid7PWyDzXI4KsCEm2odZcqEQyval5koaLygZnM/EQ3lfJ//"
    "25K8p3uHNg=="
)


@pytest.mark.slow
@needs_npm
def test_real_chinese_poetry_package(workdir):
    """Needs npm registry access (or a mirror in NPM_CONFIG_REGISTRY); about 85 MB."""
    manifest = download(
        {
            **npm_spec("chinese-poetry@2.0.1", integrity=CHINESE_POETRY_INTEGRITY),
            "include": ["dist/lunyu/*"],
            "download_options": {**FAST, "retries": 2},
        },
        Path("out"),
    )
    paths = [f["path"] for f in manifest["files"]]
    assert "dist/lunyu/lunyu.json" in paths
    assert all(p.startswith("dist/lunyu/") for p in paths)
    lunyu = json.loads((workdir / "out/files/dist/lunyu/lunyu.json").read_text(encoding="utf-8"))
    assert any("学而时习之" in "".join(r["paragraphs"]) for r in lunyu)
    assert manifest["resolved"]["integrity"] == CHINESE_POETRY_INTEGRITY
    assert manifest["resolved"]["version"] == "2.0.1"
    assert manifest["resolved"]["tarball_bytes"] == 85464664
