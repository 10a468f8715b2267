"""Links in a `local` source: links that leave the folder are refused (tarball policy) unless
the source opts in; skipped links are counted and named in the manifest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpt2zh.config import source_spec, validate_config
from gpt2zh.sources import DownloadError, download


def local_spec(path: str, **extra: object) -> dict:
    cfg = {
        "sources": {"mine": {"type": "local", "path": path, **extra}},
        "datasets": {"d": {"source": "mine", "read": [{"files": "*", "text": "{text}"}]}},
    }
    return source_spec(validate_config(cfg), "mine")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data" / "src"
    root.mkdir(parents=True)
    (root / "a.txt").write_text("正文", "utf-8")
    (root / "sub").mkdir()
    (root / "sub" / "b.txt").write_text("正文二", "utf-8")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.jsonl").write_text('{"text": "外"}\n', "utf-8")
    return root


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "../../../outside/x.jsonl", "../../../outside"],
    ids=["absolute", "relative-up", "folder-outside"],
)
def test_a_file_link_out_of_the_folder_is_refused_naming_it(folder: Path, target: str) -> None:
    os.symlink(target, folder / "sub" / "leak.txt")
    if target.endswith("outside"):  # a link to a folder is not followed: skipped and named
        manifest = download(local_spec("data/src"), Path("out"))
        assert manifest["resolved"]["skipped"] == {"folder_link": ["sub/leak.txt"]}
        return
    with pytest.raises(DownloadError, match=r"'sub/leak.txt' is a link to .*outside the source"):
        download(local_spec("data/src"), Path("out"))
    assert not Path("out/manifest.json").exists()


def test_links_out_of_the_folder_are_read_with_the_opt_in(folder: Path) -> None:
    os.symlink("../../outside/x.jsonl", folder / "x.jsonl")
    manifest = download(local_spec("data/src", links_outside=True), Path("out"))
    assert [f["path"] for f in manifest["files"]] == ["a.txt", "sub/b.txt", "x.jsonl"]


def test_links_inside_the_folder_are_read(folder: Path) -> None:
    os.symlink("sub/b.txt", folder / "alias.txt")
    manifest = download(local_spec("data/src"), Path("out"))
    assert [f["path"] for f in manifest["files"]] == ["a.txt", "alias.txt", "sub/b.txt"]
    assert "skipped" not in manifest["resolved"]


def test_dangling_and_folder_links_are_counted_and_named(folder: Path) -> None:
    os.symlink("gone.txt", folder / "dangling.txt")
    os.symlink("sub", folder / "sub-link")
    manifest = download(local_spec("data/src"), Path("out"))
    assert [f["path"] for f in manifest["files"]] == ["a.txt", "sub/b.txt"]
    assert manifest["resolved"]["skipped"] == {
        "dangling_link": ["dangling.txt"],
        "folder_link": ["sub-link"],
    }
