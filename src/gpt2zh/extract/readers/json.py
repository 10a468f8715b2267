"""JSON documents (`.json`): the whole file through `json.loads` when it has at most
`json_stream_bytes` (decompressed), else streamed with ijson; `records` selects the records.
Both parse paths give identical records (`walk_records` follows ijson's semantics).

With `format: auto` the content decides, not the name: a `.json` whose first bytes hold two
top-level values on consecutive lines is JSON lines (C4's `.json.gz`) and is read as such."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..charsets import utf8_or_chinese
from ..depth import DepthLimit, count_sentinels
from ..paths import EACH, ijson_prefix, parse_path
from ..streams import (
    CORRUPT_ERRORS,
    READ_CHUNK,
    UTF8,
    UTF8_DETECTED,
    ChunkStream,
    Decoding,
    Opened,
    transcode_to_utf8,
)
from . import jsonl
from .base import Bad, FileJob, StreamReader, decoding, error_text, excerpt_of, unknown_encoding

# One top-level JSON value ends and another begins on the next line: no JSON document has that
# (values in a document are separated by commas, and strings cannot hold a raw newline).
_NEXT_VALUE = re.compile(rb'[}\]"]\s*\n\s*[{\["]')


def looks_like_json_lines(sample: bytes) -> bool:
    """Whether a file's first (decompressed) bytes are JSON lines rather than one JSON document:
    two top-level values on consecutive lines. A file of one line is read the same either way."""
    return _NEXT_VALUE.search(sample) is not None


class JsonReader(StreamReader):
    name = "json"
    suffixes = (".json",)

    def read(self, job: FileJob, opened: Opened) -> Iterable[Any]:
        """A small file is read whole (with `encoding: auto`, UTF-8 is tried on all of it
        first: the detection would decode the same bytes twice); a large one is streamed."""
        if _json_lines_in_disguise(job, opened):
            job.changes["sniffed_jsonl"] += 1
            return jsonl.READER.read(job, opened)
        limit = job.json_stream_bytes
        head = opened.read_upto(limit)
        steps = parse_path(job.reader.get("records", ""), allow_leading_each=True)
        whole = len(head) <= limit
        if whole:
            job.may_have_controls = _has_control_escapes(head)
            if job.reader.get("encoding", "auto") == "auto":
                try:
                    text = head.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    if not utf8_or_chinese(opened.sample):  # else: unknown, below
                        job.decoding = UTF8_DETECTED
                        return _json_text(text, steps)
        dec = decoding(job, opened)
        if dec is None:
            return unknown_encoding(opened, drain=not whole)
        if whole:
            if not dec.ascii_compatible:
                job.may_have_controls = True
            return _json_whole(head, dec, steps)
        return _json_stream(job, opened, head, dec, steps)


def _json_lines_in_disguise(job: FileJob, opened: Opened) -> bool:
    """`format: auto` named json from the extension, but the content is JSON lines."""
    if job.reader.get("format", "auto") != "auto":
        return False
    return not job.reader.get("records") and looks_like_json_lines(opened.sample)


def _has_control_escapes(raw: bytes) -> bool:
    """Whether JSON bytes may encode CR or NUL (`\\r`, `\\u000d`, `\\u0000`). Backslashes are
    rare in text, and finding one byte is a memchr, so most files are cleared in microseconds."""
    if raw.find(b"\\") < 0:
        return False
    return b"\\r" in raw or b"\\u000" in raw


def _json_whole(head: bytes, dec: Decoding, steps: tuple[str | None, ...]) -> list[Any]:
    try:
        text = head.decode(dec.codec)
    except UnicodeDecodeError as e:
        where = {"offset": e.start}
        excerpt = excerpt_of(head[max(0, e.start - 100) :])
        return [Bad(dec.error_reason, error_text(e), excerpt, where)]
    del head
    return _json_text(text, steps)


def _json_text(text: str, steps: tuple[str | None, ...]) -> list[Any]:
    try:
        data = json.loads(text)
    except RecursionError:
        # nested too deep for json.loads: the streaming parser quarantines only the deep records
        raw = text.encode()
        del text

        def reopen() -> Any:
            return io.BufferedReader(io.BytesIO(raw))

        return list(_ijson_records(reopen(), UTF8, steps, reopen))
    except ValueError as e:
        return [Bad("bad_json", error_text(e), excerpt_of(text))]
    del text
    if not steps and isinstance(data, list):
        return data
    return list(walk_records(data, steps))


def _chain_chunks(head: bytes, stream: Any) -> Iterator[bytes]:
    yield head
    while chunk := stream.read(READ_CHUNK):
        yield chunk


def walk_records(data: Any, steps: tuple[str | None, ...]) -> Iterator[Any]:
    """Records of an in-memory JSON document, with the same semantics as ijson.items on the
    path's prefix (see `_json_stream`); a path that leads nowhere is one `records_path_missing`."""
    if not steps:
        if isinstance(data, list):
            yield from data
        else:
            yield data
        return
    found = False
    last = len(steps) - 1

    def walk(value: Any, i: int) -> Iterator[Any]:
        nonlocal found
        step = steps[i]
        if step is EACH:
            if not isinstance(value, list):
                return
            if i == last:
                found = True
                yield from value
            else:
                for item in value:
                    yield from walk(item, i + 1)
        elif isinstance(value, dict) and step in value:
            if i == last:
                found = True
                yield value[step]
            else:
                yield from walk(value[step], i + 1)

    yield from walk(data, 0)
    if not found:
        yield Bad("records_path_missing", f"no value at records path {_path_text(steps)!r}")


def _path_text(steps: tuple[str | None, ...]) -> str:
    out = ""
    for s in steps:
        out += "[]" if s is EACH else ("." if out else "") + s
    return out


def _json_stream(
    job: FileJob, opened: Opened, head: bytes, dec: Decoding, steps: tuple[str | None, ...]
) -> Iterator[Any]:
    """ijson over the file (head already read + the rest): constant memory per record."""
    stream = io.BufferedReader(ChunkStream(_chain_chunks(head, opened.stream)), READ_CHUNK)
    del head
    if not dec.is_utf8:
        stream = io.BufferedReader(ChunkStream(transcode_to_utf8(stream, dec.codec)), READ_CHUNK)

    def reopen() -> Any:
        opened = Opened(job.path, job.reader.get("compression", "auto"), job.relpath)
        if job.decoding is not None and not job.decoding.is_utf8:
            chunks = transcode_to_utf8(opened.stream, job.decoding.codec)
            return contextlib.closing(io.BufferedReader(ChunkStream(chunks, opened), READ_CHUNK))
        return opened.stream

    return _ijson_records(stream, dec, steps, reopen)


def _ijson_records(
    stream: Any, dec: Decoding, steps: tuple[str | None, ...], reopen: Callable[[], Any]
) -> Iterator[Any]:
    """Records of a UTF-8 JSON stream via ijson, nesting limited (`depth.DepthLimit`): a record
    too deep is one `bad_json` and the others are kept. `reopen` gives the stream again (for
    the check that an empty records path exists)."""
    import ijson

    limiter = DepthLimit(stream)
    stream = io.BufferedReader(limiter, READ_CHUNK)
    if steps:
        prefix = ijson_prefix(steps)
    else:
        first = b""
        while peeked := stream.peek(1):
            first = peeked.lstrip()[:1]
            if first:
                break
            stream.read(len(peeked))  # only whitespace so far: skip it
        prefix = "item" if first == b"[" else ""
    count = too_deep = 0
    try:
        for value in ijson.items(stream, prefix, use_float=True):
            count += 1
            if limiter.elided > too_deep and (found := count_sentinels(value)):
                too_deep += found
                yield _too_deep(limiter, None)
                continue
            yield value
        if limiter.elided > too_deep:  # deep nesting outside the records
            yield _too_deep(limiter, {"note": f"outside the records, after {count} records"})
    except ijson.JSONError as e:
        rest = {"note": f"rest of file after {count} records"}
        yield Bad("bad_json", error_text(e), where=rest)
        return
    except UnicodeDecodeError as e:
        rest = {"note": f"rest of file after {count} records"}
        yield Bad(dec.error_reason, error_text(e), where=rest)
        return
    if count == 0 and steps and not _stream_has_path(reopen, prefix, steps):
        yield Bad("records_path_missing", f"no value at records path {_path_text(steps)!r}")


def _too_deep(limiter: DepthLimit, where: dict[str, Any] | None) -> Bad:
    return Bad(
        "bad_json",
        f"nesting deeper than {limiter.limit} levels (at least {limiter.deepest})",
        where=where,
    )


def _stream_has_path(reopen: Callable[[], Any], prefix: str, steps: tuple[str | None, ...]) -> bool:
    """Whether an (empty) container exists at the records path: a second, event-level pass."""
    import ijson

    container = prefix.rpartition(".")[0] if steps[-1] is EACH else prefix
    want = "start_array" if steps[-1] is EACH else None
    try:
        with reopen() as stream:
            limited = io.BufferedReader(DepthLimit(stream), READ_CHUNK)
            for pfx, event, _ in ijson.parse(limited):
                if pfx == container and (want is None or event == want):
                    return True
    except (ijson.JSONError, UnicodeDecodeError, *CORRUPT_ERRORS):
        return False
    return False


READER = JsonReader()
