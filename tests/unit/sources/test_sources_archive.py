"""Safe tar extraction: hostile tarballs (built here with tarfile) are refused as a whole, the
error names the member, and nothing is written anywhere, inside or outside the destination."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from gpt2zh.sources import DownloadError, download
from gpt2zh.sources.archive import extract_tar


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                name, data = m
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def snapshot(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """A sandbox whose every file we can list before and after: the archive lives in it."""
    box = tmp_path / "box"
    (box / "out").mkdir(parents=True)
    return box


def refuse(box: Path, members: list, member_name: str, reason: str) -> None:
    tarball = make_tar(box / "evil.tgz", [("package/ok.txt", b"fine"), *members])
    before = snapshot(box.parent)
    with pytest.raises(DownloadError) as err:
        extract_tar(tarball, box / "out/files", strip_components=1)
    msg = str(err.value)
    assert repr(member_name) in msg, msg
    assert reason in msg, msg
    assert snapshot(box.parent) == before  # nothing written inside or outside


def test_parent_traversal_is_refused(box):
    refuse(box, [("../evil", b"x")], "../evil", "'..'")
    refuse(box, [("package/../../evil", b"x")], "package/../../evil", "'..'")


def test_absolute_path_is_refused(box):
    target = box.parent / "abs-evil"
    refuse(box, [(str(target), b"x")], str(target), "absolute")
    assert not target.exists()


def test_symlink_is_refused(box):
    # The classic: a link pointing outside, then a file written "through" it.
    link = special("package/link", tarfile.SYMTYPE, str(box.parent))
    refuse(box, [link, ("package/link/evil", b"x")], "package/link", "symlink")


def test_hard_link_is_refused(box):
    link = special("package/hard", tarfile.LNKTYPE, "package/ok.txt")
    refuse(box, [link], "package/hard", "hard link")


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_devices_and_fifos_are_refused(box, kind):
    refuse(box, [special("package/dev", kind)], "package/dev", "device or fifo")


def test_hostile_tarball_through_the_npm_source(box, monkeypatch):
    monkeypatch.chdir(box)
    make_tar(box / "evil.tgz", [("package/ok.txt", b"fine"), ("package/../../evil", b"x")])
    with pytest.raises(DownloadError, match=r"source 'pkg' \(npm\).*'package/\.\./\.\./evil'"):
        download(
            {"name": "pkg", "type": "npm", "package": "evil.tgz", "download_options": {}},
            Path("out"),
        )
    assert not (box.parent / "evil").exists()
    assert not (box / "out/files").exists()


def test_extracts_strips_filters_and_replaces_the_old_tree(box):
    tarball = make_tar(
        box / "ok.tgz",
        [
            special("./", tarfile.DIRTYPE),
            special("package", tarfile.DIRTYPE),
            ("package/package.json", b"{}"),
            ("package/dist/a/x.json", b"[1]"),
            ("package/dist/b.txt", b"b"),
            ("top-level-file", b"stripped away"),
        ],
    )
    dest = box / "out/files"
    (dest / "stale").mkdir(parents=True)
    (dest / "stale/old.txt").write_text("from a previous run")
    assert extract_tar(tarball, dest, strip_components=1, include=["dist/**/*.json"]) == [
        "dist/a/x.json"
    ]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "dist",
        "dist/a",
        "dist/a/x.json",
    ]
    assert (dest / "dist/a/x.json").read_bytes() == b"[1]"
    assert sorted(p.name for p in (box / "out").iterdir()) == ["files"]  # no temp folders left
    everything = extract_tar(tarball, dest, strip_components=1)
    assert everything == ["dist/a/x.json", "dist/b.txt", "package.json"]
