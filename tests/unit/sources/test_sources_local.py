"""`local` sources (nothing copied, every file hashed), the dispatcher, and glob semantics."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gpt2zh.config import source_spec, validate_config
from gpt2zh.globs import glob_match
from gpt2zh.sources import DownloadError, download
from gpt2zh.sources.paths import safe_relpath


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "mirror"
    files = {
        "top.jsonl": b'{"text": "a"}\n',
        "news/2024/01.jsonl.gz": b"\x1f\x8bnot-really",
        "news/2024/02.jsonl": b'{"text": "b"}\n',
        "notes/readme.txt": "说明".encode(),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "empty-dir").mkdir()
    os.symlink(root, root / "loop")  # a folder link loop must not hang or duplicate files
    return root


def local_spec(path: str, patterns=None) -> dict:
    cfg = {
        "sources": {"mine": {"type": "local", "path": path}},
        "datasets": {"d": {"source": "mine", "read": [{"files": "*", "text": "{text}"}]}},
    }
    if patterns is not None:
        cfg["sources"]["mine"]["patterns"] = patterns
    return source_spec(validate_config(cfg), "mine")  # the real config path, defaults filled


def test_default_patterns_list_every_file_and_copy_nothing(corpus, tmp_path):
    manifest = download(local_spec("mirror"), Path("out/mine"))
    assert manifest["root"] == "mirror"  # relative, as the user wrote it
    assert manifest["type"] == "local"
    assert [f["path"] for f in manifest["files"]] == [
        "news/2024/01.jsonl.gz",
        "news/2024/02.jsonl",
        "notes/readme.txt",
        "top.jsonl",
    ]
    for entry in manifest["files"]:
        data = (corpus / entry["path"]).read_bytes()
        assert entry == {
            "path": entry["path"],
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    assert sorted(p.name for p in (tmp_path / "out/mine").iterdir()) == ["manifest.json"]
    assert json.loads((tmp_path / "out/mine/manifest.json").read_text()) == manifest
    assert manifest["seconds"] >= 0


def test_patterns_filter(corpus):
    manifest = download(local_spec(str(corpus), ["news/**/*.jsonl", "**/*.txt"]), Path("out"))
    assert manifest["root"] == corpus.as_posix()  # absolute stays absolute
    assert [f["path"] for f in manifest["files"]] == ["news/2024/02.jsonl", "notes/readme.txt"]


def test_missing_folder_names_source_and_path(corpus):
    with pytest.raises(DownloadError) as err:
        download(local_spec("no/such/folder"), Path("out"))
    assert "source 'mine'" in str(err.value) and "'no/such/folder'" in str(err.value)
    assert not Path("out/manifest.json").exists()


def test_no_matching_file_is_an_error(corpus):
    with pytest.raises(DownloadError, match=r"no files under 'mirror' match \['\*\.csv'\]"):
        download(local_spec("mirror", "*.csv"), Path("out"))


def test_unknown_type_is_an_error(tmp_path):
    with pytest.raises(DownloadError, match="unknown type 'ftp'"):
        download({"name": "x", "type": "ftp"}, tmp_path)


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("a.txt", "**/*", True),
        ("x/y/a.txt", "**/*", True),
        ("dist/lunyu/lunyu.json", "dist/lunyu/*", True),
        ("dist/lunyu/lunyu.json", "dist/lunyu/", True),
        ("dist/x.json", "dist/**/*.json", True),
        ("dist/a/b/x.json", "dist/**/*.json", True),
        ("data/sub/x.jsonl", "data/*.jsonl", False),  # `*` stays in one folder
        ("dist/songci/ci.song.0.json", "dist/songci/ci.song.*.json", True),
        ("dist/songci/author.song.json", "dist/songci/ci.song.*.json", False),
        ("README.md", "*.json", False),
        ("A.JSON", "*.json", False),  # case-sensitive on every platform
    ],
)
def test_glob_semantics(path, pattern, expected):
    assert glob_match(pattern, path) is expected


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "C:/x", "", "./."])
def test_safe_relpath_refuses(bad):
    with pytest.raises(DownloadError):
        safe_relpath(bad, "test")


def test_safe_relpath_normalises():
    assert safe_relpath("./a//b/./c.json", "test") == "a/b/c.json"
