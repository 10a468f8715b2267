"""Byte streams of source files: decompression (gz/zst/bz2), a peeked sample, encoding detection.

Every file is opened as one buffered binary stream of its decompressed bytes. Compression `auto`
trusts the magic bytes first and the suffix second. Truncated or corrupt compressed data raises one
of `CORRUPT_ERRORS` from a read; readers catch it and quarantine the rest of the file.

Encoding `auto` looks at the first `SAMPLE_BYTES` of decompressed data (`charsets.py` tells the CJK
code pages apart):
- a UTF-16/32 BOM → that codec (the sample must decode);
- valid UTF-8 (an incomplete sequence at the sample's end is ignored; a UTF-8 BOM is skipped and
  counted) → UTF-8, unless it is ASCII carrying ISO-2022 or HZ escapes (that codec, or unknown),
  or it may as well be CJK text in a code page (`utf8_or_chinese`: unknown);
- ASCII with a few stray bytes (at most `MAX_STRAY_BYTES`) → UTF-8: those records alone fail,
  as `bad_utf8`, instead of the whole file being read in a code page;
- GB18030, Big5 or Big5-HKSCS when exactly one decoding is clearly Chinese (`detect_cjk`);
- mostly UTF-8 (at most `MAX_BAD_UTF8` of the non-ASCII bytes invalid) → UTF-8, as above;
- unknown when any CJK code page decodes the sample at all (a code-page guess would be
  mojibake) or it has under `MIN_GUESS_BYTES` non-ASCII bytes;
- else charset_normalizer's best guess when its chaos is at most `MAX_CHAOS`, no other guess
  within `GUESS_MARGIN` of it reads the bytes differently, and it is no multi-byte CJK codec;
  else unknown.
An unknown file is `unknown_encoding`. An explicit encoding is used as given.
"""

from __future__ import annotations

import bz2
import codecs
import io
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zstandard
from isal import isal_zlib

from .charsets import (
    MULTIBYTE_CJK,
    decode_strict,
    decodes_as_cjk,
    detect_cjk,
    detect_seven_bit,
    utf8_or_chinese,
)

log = logging.getLogger(__name__)

SAMPLE_BYTES = 64 * 1024
READ_CHUNK = 1 << 20
ZSTD_INPUT_CHUNK = 64 * 1024
#: zlib's window bits for a gzip header and trailer around a deflate stream.
GZIP_WBITS = 16 + 15
MAX_CHAOS = 0.10
#: An ASCII sample with at most this many non-ASCII bytes (and under 1 % of it) is UTF-8 with
#: a few bad bytes: too little evidence for any code page.
MAX_STRAY_BYTES = 16
#: A generic guess (charset_normalizer) needs at least this many non-ASCII bytes.
MIN_GUESS_BYTES = 32
#: A generic guess with a rival this close in chaos that decodes differently is refused.
GUESS_MARGIN = 0.05

_COMPRESSION_SUFFIXES = {".gz": "gz", ".gzip": "gz", ".zst": "zst", ".zstd": "zst", ".bz2": "bz2"}
_MAGIC = ((b"\x1f\x8b", "gz"), (b"\x28\xb5\x2f\xfd", "zst"), (b"BZh", "bz2"))
_NON_ASCII = re.compile("[^\x00-\x7f]")
_ESCAPED = re.compile("[\udc80-\udcff]")
MAX_BAD_UTF8 = 0.10


class TruncatedError(EOFError):
    """A compressed stream ended inside a frame."""


CORRUPT_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    isal_zlib.error,
    zstandard.ZstdError,
)


def split_compression(relpath: str) -> tuple[str, str | None]:
    """('data.jsonl', 'gz') for 'data.jsonl.gz'; the suffix is matched case-insensitively."""
    lower = relpath.lower()
    for suffix, kind in _COMPRESSION_SUFFIXES.items():
        if lower.endswith(suffix):
            return relpath[: -len(suffix)], kind
    return relpath, None


def _sniff(head: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def sniff_compression(path: str | Path) -> str | None:
    with open(path, "rb") as f:
        return _sniff(f.read(4))


def resolve_compression(
    setting: str, path: str | Path, relpath: str, head: bytes | None = None
) -> str:
    """'none' | 'gz' | 'zst' | 'bz2' for one file (`head`: its first bytes, if already read)."""
    if setting != "auto":
        return setting
    sniffed = _sniff(head) if head is not None else sniff_compression(path)
    by_suffix = split_compression(relpath)[1]
    if sniffed and by_suffix and sniffed != by_suffix:
        log.warning(
            "%s: suffix says %s but content is %s; using %s", relpath, by_suffix, sniffed, sniffed
        )
    return sniffed or by_suffix or "none"


def _zstd_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """zstd frames one after another; a frame cut short raises TruncatedError (zstandard's own
    stream reader returns a silent EOF there)."""
    dctx = zstandard.ZstdDecompressor()
    obj = dctx.decompressobj()
    started = False
    while True:
        data = raw.read(ZSTD_INPUT_CHUNK)
        if not data:
            if started and not obj.eof:
                raise TruncatedError("zstd stream ended inside a frame (truncated file)")
            return
        while data:
            started = True
            out = obj.decompress(data)
            if out:
                yield out
            if obj.eof:
                data = obj.unused_data
                obj = dctx.decompressobj()
                started = False
            else:
                data = b""


def _gzip_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """gzip members one after another (zero padding between them skipped), through ISA-L's
    inflate: twice the standard library's GzipFile (RESULTS.md, "gzip through ISA-L"), with the
    same CRC and length checks. Output comes in pieces of at most READ_CHUNK (a gzip bomb never
    sits in memory whole), and the data before a truncation point is handed out before
    TruncatedError (ISA-L's own IGzipFile drops it)."""
    obj = isal_zlib.decompressobj(GZIP_WBITS)
    started = False
    data = raw.read(READ_CHUNK)
    while True:
        if not started:
            while not (data := data.lstrip(b"\x00")):
                if not (data := raw.read(READ_CHUNK)):
                    return
            started = True
        out = obj.decompress(data, READ_CHUNK)
        if out:
            yield out
        if obj.eof:
            data = obj.unused_data
            obj = isal_zlib.decompressobj(GZIP_WBITS)
            started = False
        elif not (data := obj.unconsumed_tail) and not (data := raw.read(READ_CHUNK)) and not out:
            raise TruncatedError("gzip stream ended inside a member (truncated file)")


def _file_chunks(f: BinaryIO, first: int = READ_CHUNK) -> Iterator[bytes]:
    size = first
    while chunk := f.read(size):
        yield chunk
        size = READ_CHUNK


def _decompressed_chunks(f: Any) -> Iterator[bytes]:
    """read1: whatever one step of decompression gives, so that the data before a truncation
    point is handed out before the error (read(n) would raise and lose it)."""
    while chunk := f.read1(READ_CHUNK):
        yield chunk


#: A plain file up to this size is read with one exact-size read (like `f.read()`).
WHOLE_READ_MAX = 64 * 1024 * 1024


class ChunkStream(io.RawIOBase):
    """A raw binary stream over byte chunks: `first[offset:]`, then `chunks` (usually wrapped in
    a BufferedReader; `take_upto` reads whole chunks without copying them)."""

    def __init__(
        self,
        chunks: Iterator[bytes],
        on_close: BinaryIO | None = None,
        first: bytes = b"",
        offset: int = 0,
    ) -> None:
        self._chunks = chunks
        self._cur = first
        self._pos = offset
        self._on_close = on_close
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:
        while self._pos >= len(self._cur):
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._cur, self._pos = chunk, 0
        pos = self._pos
        n = min(len(b), len(self._cur) - pos)
        b[:n] = memoryview(self._cur)[pos : pos + n]
        self._pos = pos + n
        self.consumed += n
        return n

    def take_upto(self, limit: int) -> bytes:
        """Up to `limit + 1` bytes straight from the chunks (only before any buffered read): the
        cheap way to read a small file whole and learn whether it is larger than `limit`."""
        cur, pos = self._cur, self._pos
        parts = [cur if pos == 0 else cur[pos:]] if pos < len(cur) else []
        self._cur, self._pos = b"", 0
        size = len(parts[0]) if parts else 0
        while size <= limit:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if len(data) > limit + 1:
            self._cur, self._pos = data, limit + 1
            data = data[: limit + 1]
        self.consumed += len(data)
        return data

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close.close()
            self._on_close = None
        super().close()


def open_decompressed(
    path: str | Path, setting: str, relpath: str
) -> tuple[BinaryIO, Iterator[bytes], str]:
    """(file to close, iterator of decompressed chunks, compression used)."""
    # unbuffered: plain files are read in one exact-size read, decompressors buffer themselves
    raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller via the handle
    try:
        head = os.pread(raw.fileno(), 4, 0) if setting == "auto" else None
    except OSError:  # not a regular file (a pipe): peek through a buffer instead
        raw = io.BufferedReader(raw)
        head = raw.peek(4)[:4]
    compression = resolve_compression(setting, path, relpath, head)
    return raw, _decompressed(raw, compression), compression


def _decompressed(raw: BinaryIO, compression: str) -> Iterator[bytes]:
    if compression == "none":
        size = os.fstat(raw.fileno()).st_size
        return _file_chunks(raw, size + 1 if size < WHOLE_READ_MAX else READ_CHUNK)
    if compression == "gz":
        return _gzip_chunks(raw)
    if compression == "bz2":
        return _decompressed_chunks(bz2.BZ2File(raw, mode="rb"))
    if compression == "zst":
        return _zstd_chunks(raw)
    raw.close()
    raise ValueError(f"unknown compression {compression!r}")


@dataclass(frozen=True)
class Decoding:
    codec: str  # Python codec name
    label: str  # for stats: "utf-8", "gb18030", ...
    detected: bool  # chosen by `auto` rather than configured
    ascii_compatible: bool  # b"\n", quotes, braces and digits are the same single bytes

    @property
    def is_utf8(self) -> bool:
        return self.label == "utf-8"

    @property
    def error_reason(self) -> str:
        return "bad_utf8" if self.is_utf8 else "bad_encoding"


def _ascii_compatible(codec: str) -> bool:
    probe = '\n\r\t {}[]":,0123456789abcXYZ\\'
    try:
        return probe.encode(codec) == probe.encode("ascii") and "a".encode(codec) == b"a"
    except (UnicodeError, LookupError):
        return False


def make_decoding(codec: str, detected: bool) -> Decoding:
    info = codecs.lookup(codec)
    name = info.name
    label = "utf-8" if name in ("utf-8", "utf-8-sig") else name
    return Decoding("utf-8" if label == "utf-8" else name, label, detected, _ascii_compatible(name))


UTF8 = make_decoding("utf-8", detected=False)
UTF8_DETECTED = make_decoding("utf-8", detected=True)


def _is_utf8(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        # an incomplete sequence cut by the end of the sample is fine
        return e.reason == "unexpected end of data" and e.end == len(sample)
    return True


def _mostly_utf8(sample: bytes) -> bool:
    """UTF-8 with a few bad bytes (which then fail only their own records): at least one valid
    multi-byte character and at most MAX_BAD_UTF8 of the non-ASCII bytes invalid."""
    text = sample.decode("utf-8", "surrogateescape")
    bad = len(_ESCAPED.findall(text))
    multibyte = len(_NON_ASCII.findall(text)) - bad
    non_ascii_bytes = len(sample) - len(text.encode("ascii", "ignore"))
    return multibyte > 0 and bad <= MAX_BAD_UTF8 * non_ascii_bytes


_UTF16_32_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _non_ascii_bytes(sample: bytes) -> int:
    return len(sample) - len(sample.decode("latin-1").encode("ascii", "ignore"))


def _stray_bytes(sample: bytes) -> bool:
    """ASCII with a few bytes that are not (too few to tell a code page by)."""
    non_ascii = _non_ascii_bytes(sample)
    return non_ascii <= MAX_STRAY_BYTES and non_ascii * 100 <= len(sample)


def detect_encoding(sample: bytes) -> Decoding | None:
    """The encoding of a file from its first bytes (a UTF-8 BOM already removed), or None if
    unknown."""
    for bom, codec in _UTF16_32_BOMS:
        if sample.startswith(bom):
            return make_decoding(codec, detected=True) if decode_strict(sample, codec) else None
    if _is_utf8(sample):
        if sample.isascii():
            seven = detect_seven_bit(sample)
            if seven == "unknown":
                return None
            if seven is not None:
                return make_decoding(seven, detected=True)
        elif utf8_or_chinese(sample):
            return None
        return UTF8_DETECTED
    if _stray_bytes(sample):
        return UTF8_DETECTED
    cjk = detect_cjk(sample)
    if cjk is not None:
        return make_decoding(cjk, detected=True)
    if _mostly_utf8(sample):  # after CJK: GB or Big5 text is never mostly UTF-8, and this is dearer
        return UTF8_DETECTED
    if decodes_as_cjk(sample) or _non_ascii_bytes(sample) < MIN_GUESS_BYTES:
        # valid in a CJK code page but not clearly Chinese in one, or too little to guess from
        # (a generic detector calls four bytes UTF-16 with full confidence, CJK bytes Thai)
        return None
    try:
        import charset_normalizer

        matches = charset_normalizer.from_bytes(sample)
        best = matches.best()
        if best is None or not best.encoding or best.chaos > MAX_CHAOS:
            return None
        # Latin code pages differ only in their accented letters and the detector picks among
        # them by a hair (French cp1252 came out as Baltic cp1257): a close rival that reads
        # the bytes differently means the guess is a coin toss
        text = str(best)
        if any(
            m is not best and m.chaos <= best.chaos + GUESS_MARGIN and str(m) != text
            for m in matches
        ):
            return None
    except Exception as e:  # pragma: no cover - detector bugs must not kill a shard
        log.warning("charset_normalizer failed: %s", e)
        return None
    try:
        found = make_decoding(best.encoding, detected=True)
    except LookupError:
        return None
    return None if found.codec in MULTIBYTE_CJK else found


class Opened:
    """One source file as a stream of decompressed bytes, its start peeked, a UTF-8 BOM removed.

    `stream` (a BufferedReader) is made on first use; `read_upto` reads small files whole
    without it, as cheaply as `open(...).read()`."""

    def __init__(self, path: str | Path, compression: str, relpath: str = "") -> None:
        self._handle, chunks, self.compression = open_decompressed(
            path, compression, relpath or os.path.basename(path)
        )
        first = b""
        try:
            first = next(chunks, b"")
            while len(first) < SAMPLE_BYTES:
                more = next(chunks, None)
                if more is None:
                    break
                first += more
        except CORRUPT_ERRORS as e:
            if not first:
                self._handle.close()
                raise
            chunks = _raise(e)  # hand out what was read, then fail where the data fails
        except BaseException:
            self._handle.close()
            raise
        self.bom = first.startswith(codecs.BOM_UTF8)
        self._offset = 3 if self.bom else 0
        self._first = first
        self._sample: bytes | None = None
        self._raw = ChunkStream(chunks, self._handle, first, self._offset)
        self._stream: io.BufferedReader | None = None

    @property
    def sample(self) -> bytes:
        """The first SAMPLE_BYTES (after a BOM), for encoding detection."""
        if self._sample is None:
            self._sample = self._first[self._offset : self._offset + SAMPLE_BYTES]
        return self._sample

    @property
    def stream(self) -> io.BufferedReader:
        if self._stream is None:
            self._stream = io.BufferedReader(self._raw, buffer_size=READ_CHUNK)
        return self._stream

    def read_upto(self, limit: int) -> bytes:
        """Up to `limit + 1` bytes from the start (call before any other read)."""
        return self._raw.take_upto(limit)

    @property
    def bytes_read(self) -> int:
        """Decompressed bytes handed out so far (after the BOM)."""
        return self._raw.consumed

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        else:
            self._raw.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _raise(error: BaseException) -> Iterator[bytes]:
    """A chunk iterator that fails at once: the error found while reading the sample."""
    raise error
    yield b""  # pragma: no cover - makes this a generator


def transcode_to_utf8(stream: BinaryIO, codec: str) -> Iterator[bytes]:
    """Decompressed bytes in `codec` → UTF-8 bytes, chunk by chunk (strict: raises on bad bytes)."""
    dec = codecs.getincrementaldecoder(codec)("strict")
    while chunk := stream.read(READ_CHUNK):
        text = dec.decode(chunk)
        if text:
            yield text.encode("utf-8")
    tail = dec.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8")
