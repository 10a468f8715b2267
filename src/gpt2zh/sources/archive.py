"""Safe tar extraction: an archive from the network may never write outside its destination.

Stricter than tarfile's `data` filter on purpose: instead of skipping or rewriting a suspicious
member we refuse the whole archive (absolute paths, `..`, links, devices, fifos, a file and a
folder of one name, two files on one path), because a package
containing one is not a package we want to train on. Members are extracted into a temporary folder
beside the destination which is renamed into place only when every member is written, so a killed
job never leaves a half tree that looks done.
"""

from __future__ import annotations

import logging
import lzma
import os
import shutil
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from gpt2zh.globs import glob_match

from .errors import DownloadError
from .paths import safe_relpath

logger = logging.getLogger(__name__)

#: What reading a corrupt or truncated archive raises, whatever the compression.
ARCHIVE_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)


def _check_member(member: tarfile.TarInfo, archive: str) -> None:
    """Raises DownloadError naming the member if it is anything but a plain file or folder."""
    what = f"{archive}: member {member.name!r}"
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hard link"
        raise DownloadError(f"{what}: refusing {kind} (to {member.linkname!r})")
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        raise DownloadError(f"{what}: refusing device or fifo")
    if not (member.isfile() or member.isdir()):
        raise DownloadError(f"{what}: refusing unsupported member type {member.type!r}")
    if member.isdir() and member.name in ("", ".", "./"):
        return  # the archive's own root entry, `./`
    safe_relpath(member.name, what)


def _open_tar(tarball: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(tarball, "r:*")
    except ARCHIVE_ERRORS as err:
        raise DownloadError(f"{tarball.name}: cannot read archive: {err}") from err


def _strip(rel: str, components: int) -> str | None:
    parts = rel.split("/")
    return "/".join(parts[components:]) if len(parts) > components else None


def extract_tar(
    tarball: Path,
    dest: Path,
    *,
    strip_components: int = 0,
    include: Iterable[str] | None = None,
    chunk_bytes: int = 1 << 20,
) -> list[str]:
    """Extracts regular files of `tarball` (any compression tarfile knows) into `dest`, which it
    replaces as a whole. `include` globs match the path after stripping. Returns the extracted
    relative paths, sorted. Every member is checked before anything is written."""
    tarball, dest = Path(tarball), Path(dest)
    label = tarball.name
    globs = list(include or [])
    with _open_tar(tarball) as tf:
        try:
            members = tf.getmembers()
        except ARCHIVE_ERRORS as err:
            raise DownloadError(f"{label}: corrupt or truncated archive: {err}") from err
        for member in members:
            _check_member(member, label)
        _check_layout(members, label, strip_components)

        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.extracting-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        written: set[str] = set()
        try:
            for member in members:
                if not member.isfile():
                    continue
                rel = _strip(safe_relpath(member.name, label), strip_components)
                if rel is None or (globs and not glob_match(globs, rel)):
                    continue
                target = tmp / rel
                # Belt and braces: the checks above already make this impossible.
                if not target.resolve().is_relative_to(tmp.resolve()):
                    raise DownloadError(f"{label}: member {member.name!r} escapes the destination")
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                if src is None:  # pragma: no cover - isfile() members always have data
                    raise DownloadError(f"{label}: member {member.name!r} has no data")
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, chunk_bytes)
                written.add(rel)
            if globs and not written:
                raise DownloadError(f"{label}: no member matches include {globs}")
            _replace_tree(tmp, dest)
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DownloadError(f"{label}: corrupt or truncated archive: {err}") from err
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info("%s: extracted %d of %d members into %s", label, len(written), len(members), dest)
    return sorted(written)


def _check_layout(members: list[tarfile.TarInfo], archive: str, strip_components: int) -> None:
    """Raises DownloadError naming the members when two files land on one path, or a file
    and a folder share a name (`a` and `a/b`): on disk one would overwrite or block the
    other, so the archive is refused as a whole, like one holding a link."""
    files: dict[str, str] = {}
    for member in members:
        if not member.isfile():
            continue
        rel = _strip(safe_relpath(member.name, archive), strip_components)
        if rel is None:
            continue
        if rel in files:
            raise DownloadError(
                f"{archive}: members {files[rel]!r} and {member.name!r} are both {rel!r}"
            )
        files[rel] = member.name
    for rel, name in files.items():
        parts = rel.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder in files:
                raise DownloadError(
                    f"{archive}: member {files[folder]!r} is a file, but {name!r} needs a "
                    f"folder of that name"
                )


def _replace_tree(new: Path, dest: Path) -> None:
    """Puts `new` at `dest`; an old `dest` is moved aside first and deleted after."""
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)
