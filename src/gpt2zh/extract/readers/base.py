"""The reader contract: what every format's reader is given (`FileJob`), what it yields (records,
`Bad`s, `SKIPPED`), and the steps the byte-stream formats share (open, decode, own the file).

A reader turns one file into its records in order. A record is whatever the format gives (a JSON
value, a CSV row as a dict, a Parquet row as a dict, `{"text": ...}` for txt) or a `Bad` when
that record cannot be read. Every yielded item is one record in: the caller numbers them (the
document ordinal `n`) and turns `Bad`s into quarantine entries. Readers never raise for bad data:
a file that cannot be read at all is one `Bad`, a file that breaks off midway (truncated or
corrupt compression, a decoding error in a codec that cannot resynchronise, JSON that stops
parsing while streaming) yields what it read and then one `Bad` for the rest.

Two kinds of reader implement the one method `Reader.records(job)`: Parquet reads its file
itself (a columnar file, decompressed to a spool when compressed), the byte-stream formats
(jsonl, json, csv, txt) derive from `StreamReader`, which opens and decompresses the file,
counts a UTF-8 BOM, and hands the open file to the format's `read`; most formats then pick the
decoding with `decoding` and parse the decoded stream in `parse`.
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..assign import SPAN, position
from ..streams import (
    CORRUPT_ERRORS,
    READ_CHUNK,
    UTF8,
    ChunkStream,
    Decoding,
    Opened,
    detect_encoding,
    make_decoding,
    transcode_to_utf8,
)

log = logging.getLogger(__name__)

EXCERPT_CHARS = 300
#: Yielded in place of a record another shard owns (see `FileJob.lo`): still one record, unparsed.
SKIPPED = object()


@dataclass(slots=True)
class Bad:
    """A record that cannot be read: quarantine reason, error message, raw excerpt, position."""

    reason: str
    error: str
    excerpt: str = ""
    where: dict[str, Any] | None = None


def excerpt_of(raw: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw[: limit * 4]).decode("utf-8", errors="replace")
    return raw[:limit]


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


@dataclass
class FileJob:
    """One file to read with one reader's settings, plus per-file counters."""

    path: str  # the file on disk (os-level string: pathlib costs show up per file)
    relpath: str
    reader: Mapping[str, Any]
    max_doc_bytes: int
    json_stream_bytes: int
    bytes_in: int = 0
    #: counted over the whole file (every piece of a split file sees it all; the first counts)
    changes: Counter[str] = field(default_factory=Counter)
    #: counted over this piece's own records only (every piece's count is summed)
    owned_changes: Counter[str] = field(default_factory=Counter)
    decoding: Decoding | None = None
    #: False when no record can hold CR or NUL: a JSON file without `\r` / `\u000` escapes
    #: (JSON strings cannot hold raw control characters), so the per-record checks are skipped.
    may_have_controls: bool = True
    #: The caller keeps records n with lo <= position(n) < hi (`assign.py`); readers that can
    #: tell a record's bounds without parsing it (JSON lines, Parquet rows) yield SKIPPED for
    #: the others, which every shard reading a piece of the file would otherwise parse.
    lo: int = 0
    hi: int = SPAN

    def owns(self) -> Callable[[int], bool] | None:
        """A test of record ordinals when this job reads a piece of the file, else None."""
        if (self.lo, self.hi) == (0, SPAN):
            return None
        lo, hi = self.lo, self.hi
        return lambda n: lo <= position(n) < hi


class Reader:
    """One input format: its `format:` name, the file name endings `format: auto` maps to it,
    and its records."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    def records(self, job: FileJob) -> Iterable[Any]:
        """The file's records: a list when the file was read whole (small JSON, or a file that
        is one `Bad`), else a generator that owns the open file until it is exhausted or
        closed. Adds the bytes read to `job.bytes_in`."""
        raise NotImplementedError


class StreamReader(Reader):
    """A format read as one decompressed byte stream: opens the file (a file whose compression
    is broken from the start is one `corrupt_file`), counts a BOM, and closes the file once
    `read` is done with it: at once when `read` returns a list, else when its records run out."""

    def records(self, job: FileJob) -> Iterable[Any]:
        try:
            opened = Opened(job.path, job.reader.get("compression", "auto"), job.relpath)
        except FileNotFoundError:
            raise
        except CORRUPT_ERRORS as e:
            job.bytes_in += os.stat(job.path).st_size
            return [Bad("corrupt_file", error_text(e), where={"offset": 0})]
        streaming = False
        try:
            if opened.bom:
                job.changes["bom_stripped"] += 1
            items = self.read(job, opened)
            if items.__class__ is list:
                return items
            streaming = True
            return _owned(job, opened, items)
        except CORRUPT_ERRORS as e:
            return [Bad("corrupt_file", error_text(e))]
        finally:
            if not streaming:
                job.bytes_in += opened.bytes_read
                opened.close()

    def read(self, job: FileJob, opened: Opened) -> Iterable[Any]:
        """Records of the open file: its decoding (`decoding`), then `parse`."""
        dec = decoding(job, opened)
        if dec is None:
            return unknown_encoding(opened)
        return self.parse(job, opened, dec)

    def parse(self, job: FileJob, opened: Opened, dec: Decoding) -> Iterator[Any]:
        """Records of the open file decoded with `dec` (a generator: it reads as it yields)."""
        raise NotImplementedError


def _owned(job: FileJob, opened: Opened, items: Iterable[Any]) -> Iterator[Any]:
    with opened:
        try:
            yield from guard(items)
        finally:
            job.bytes_in += opened.bytes_read


def guard(items: Iterable[Any]) -> Iterator[Any]:
    """`items`, ended by one `corrupt_file` where the compressed data breaks off."""
    try:
        yield from items
    except CORRUPT_ERRORS as e:
        yield Bad("corrupt_file", error_text(e))


# --- decoding --------------------------------------------------------------------------------


def decoding(job: FileJob, opened: Opened) -> Decoding | None:
    """The reader's `encoding`, or with `auto` the one detected from the file's first bytes
    (None: unknown); recorded in `job.decoding`."""
    setting = job.reader.get("encoding", "auto")
    dec = (
        detect_encoding(opened.sample)
        if setting == "auto"
        else make_decoding(setting, detected=False)
    )
    if dec is not None:
        job.decoding = dec
        if dec.label != "utf-8":
            log.info("%s: decoding as %s", job.relpath, dec.label)
    return dec


def unknown_encoding(opened: Opened, drain: bool = True) -> list[Any]:
    """The whole file as one `unknown_encoding`; `drain` reads the rest of it so that its bytes
    are counted in (False: it was read whole already)."""
    if drain:
        while opened.stream.read(READ_CHUNK):
            pass
    return [
        Bad(
            "unknown_encoding",
            "not UTF-8, not confidently GB18030, no confident charset_normalizer guess",
            excerpt_of(opened.sample),
        )
    ]


def utf8_stream(opened: Opened, dec: Decoding) -> tuple[io.BufferedReader, Decoding]:
    """Codecs that are not ASCII-compatible (UTF-16, ...) are transcoded to UTF-8 up front."""
    if dec.ascii_compatible:
        return opened.stream, dec
    chunks = transcode_to_utf8(opened.stream, dec.codec)
    return io.BufferedReader(ChunkStream(chunks), buffer_size=READ_CHUNK), UTF8


def transcode_guard(items: Iterator[Any], dec: Decoding) -> Iterator[Any]:
    """`items`, ended by one decoding error for the rest of the file where up-front
    transcoding (`utf8_stream`) meets bytes `dec` cannot decode."""
    try:
        yield from items
    except UnicodeDecodeError as e:
        yield Bad(dec.error_reason, error_text(e), where={"note": "rest of file"})


def utf8_in_legacy(raw: bytes, orig: Decoding) -> bool:
    """A record that is valid UTF-8 with non-ASCII bytes, in a file whose code page was detected
    from its start: such a file mixes encodings, and a code page (GB18030, cp1252, ...) decodes
    UTF-8 bytes into mojibake without an error. Real GB/Big5 text is practically never valid
    UTF-8, so the record is quarantined (`mixed_encoding`), not guessed."""
    if not orig.detected or orig.is_utf8 or not orig.ascii_compatible or raw.isascii():
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def mixed(raw: bytes, orig: Decoding, where: dict[str, Any]) -> Bad:
    return Bad(
        "mixed_encoding",
        f"valid UTF-8 in a file detected as {orig.label}",
        excerpt_of(raw),
        where,
    )
