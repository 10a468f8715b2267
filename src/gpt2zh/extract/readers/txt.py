"""Plain text (`.txt`): `txt_unit: file` makes the file one record, `paragraph` one record per
blank-line-separated paragraph (streamed); a record is `{"text": ...}`, so the template is
`{text}`. A file or paragraph over `max_doc_bytes` is counted, not held: only an excerpt is kept."""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import partial
from typing import Any

from ..streams import READ_CHUNK, Decoding, Opened
from .base import (
    EXCERPT_CHARS,
    Bad,
    FileJob,
    StreamReader,
    error_text,
    excerpt_of,
    mixed,
    transcode_guard,
    utf8_in_legacy,
    utf8_stream,
)


class TxtReader(StreamReader):
    name = "txt"
    suffixes = (".txt",)

    def parse(self, job: FileJob, opened: Opened, dec: Decoding) -> Iterator[Any]:
        stream, line_dec = utf8_stream(opened, dec)
        if job.reader.get("txt_unit", "file") == "file":
            items = _whole_file(job, stream, line_dec, dec)
        else:
            items = _paragraphs(job, stream, line_dec, dec)
        yield from transcode_guard(items, dec)


def _whole_file(
    job: FileJob, stream: io.BufferedReader, dec: Decoding, orig: Decoding
) -> Iterator[Any]:
    limit = job.max_doc_bytes
    data = stream.read(limit + 1)
    if len(data) > limit:
        size = len(data)
        while chunk := stream.read(READ_CHUNK):
            size += len(chunk)
        yield Bad("too_large", f"file of {size} bytes > max_doc_bytes {limit}", excerpt_of(data))
        return
    try:
        text = data.decode(dec.codec)
    except UnicodeDecodeError as e:
        yield Bad(
            orig.error_reason,
            error_text(e),
            excerpt_of(data[max(0, e.start - 100) :]),
            {"offset": e.start},
        )
        return
    if utf8_in_legacy(data, orig):
        yield mixed(data, orig, {"offset": 0})
        return
    yield {"text": text}


def _paragraphs(
    job: FileJob, stream: io.BufferedReader, dec: Decoding, orig: Decoding
) -> Iterator[Any]:
    """Paragraphs are runs of non-blank lines; blank (whitespace-only) lines separate them and are
    not records."""
    limit = job.max_doc_bytes
    readline = partial(stream.readline, READ_CHUNK)
    buf: list[bytes] = []
    size = 0
    start = lineno = 0
    at_line_start = True
    for line in iter(readline, b""):
        complete = line.endswith(b"\n")
        if at_line_start:
            lineno += 1
            if (complete or len(line) < READ_CHUNK) and line.isspace():
                if size:
                    yield _paragraph(buf, size, limit, dec, orig, start)
                    buf, size = [], 0
                continue
        at_line_start = complete
        if not size:
            start = lineno
        if size <= limit < size + len(line):
            buf = [(b"".join(buf) + line)[: EXCERPT_CHARS * 4]]  # oversized: keep an excerpt
        elif size + len(line) <= limit:
            buf.append(line)
        size += len(line)
    if size:
        yield _paragraph(buf, size, limit, dec, orig, start)


def _paragraph(
    buf: list[bytes], size: int, limit: int, dec: Decoding, orig: Decoding, line: int
) -> Any:
    raw = b"".join(buf)
    if size > limit:
        return Bad(
            "too_large",
            f"paragraph of {size} bytes > max_doc_bytes {limit}",
            excerpt_of(raw),
            {"line": line},
        )
    try:
        text = raw.decode(dec.codec).rstrip("\r\n")
    except UnicodeDecodeError as e:
        return Bad(orig.error_reason, error_text(e), excerpt_of(raw), {"line": line})
    if utf8_in_legacy(raw, orig):
        return mixed(raw, orig, {"line": line})
    return {"text": text}


READER = TxtReader()
