"""JSON lines (`.jsonl`, `.ndjson`): one record per line, read as bytes and decoded per line, so
one bad line is one quarantine entry; a line over `max_doc_bytes` is never held whole. A piece of
a split file skips the lines it does not own unparsed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from functools import partial
from typing import Any

from ..streams import READ_CHUNK, Decoding, Opened
from .base import (
    EXCERPT_CHARS,
    SKIPPED,
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


class JsonLinesReader(StreamReader):
    name = "jsonl"
    suffixes = (".jsonl", ".ndjson")

    def parse(self, job: FileJob, opened: Opened, dec: Decoding) -> Iterator[Any]:
        stream, line_dec = utf8_stream(opened, dec)
        yield from transcode_guard(_lines(job, stream, line_dec, dec), dec)


def _lines(job: FileJob, stream: io.BufferedReader, dec: Decoding, orig: Decoding) -> Iterator[Any]:
    limit = job.max_doc_bytes
    readline = partial(stream.readline, limit + 1)
    loads = json.loads
    codec = dec.codec
    reason = orig.error_reason
    legacy = orig.detected and not orig.is_utf8
    lineno = 0
    blank = 0
    owns = job.owns()
    n = -1  # record ordinal: every yield below is one record
    for line in iter(readline, b""):
        lineno += 1
        if len(line) > limit and not line.endswith(b"\n"):
            n += 1
            head = line[: EXCERPT_CHARS * 4]
            size = len(line)
            while chunk := stream.readline(READ_CHUNK):
                size += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            if owns is not None and not owns(n):
                yield SKIPPED
                continue
            yield Bad(
                "too_large",
                f"line of {size} bytes > max_doc_bytes {limit}",
                excerpt_of(head),
                {"line": lineno},
            )
            continue
        if line.isspace():
            blank += 1
            continue
        n += 1
        if owns is not None and not owns(n):
            yield SKIPPED
            continue
        try:
            text = line.decode(codec)
        except UnicodeDecodeError as e:
            yield Bad(reason, error_text(e), excerpt_of(line), {"line": lineno})
            continue
        if legacy and utf8_in_legacy(line, orig):
            yield mixed(line, orig, {"line": lineno})
            continue
        try:
            yield loads(text)
        except (ValueError, RecursionError) as e:
            yield Bad("bad_json", error_text(e), excerpt_of(text), {"line": lineno})
    if blank:
        job.changes["blank_lines_skipped"] += blank


READER = JsonLinesReader()
