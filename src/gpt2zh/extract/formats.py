"""Record readers, one per format: each yields a file's records in order.

A record is whatever the format gives (a JSON value, a CSV row as a dict, a Parquet row as a dict,
`{"text": ...}` for txt) or a `Bad` when that record cannot be read. Every yielded item is one
record in: the caller numbers them (the document ordinal `n`) and turns `Bad`s into quarantine
entries. Readers never raise for bad data: a file that cannot be read at all is one `Bad`, a file
that breaks off midway (truncated or corrupt compression, a decoding error in a codec that cannot
resynchronise, JSON that stops parsing while streaming) yields what it read and then one `Bad`
for the rest.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from . import items as drop_items
from .assign import SPAN, ExtractError, position, positions
from .charsets import utf8_or_chinese
from .depth import DepthLimit, count_sentinels
from .paths import EACH, PathSyntaxError, ijson_prefix, parse_path
from .streams import (
    CORRUPT_ERRORS,
    READ_CHUNK,
    UTF8,
    UTF8_DETECTED,
    ChunkStream,
    Decoding,
    Opened,
    detect_encoding,
    make_decoding,
    resolve_compression,
    split_compression,
    transcode_to_utf8,
)

log = logging.getLogger(__name__)

EXCERPT_CHARS = 300
FORMAT_BY_SUFFIX = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "txt",
}
PARQUET_BATCH = 2048
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


def resolve_format(setting: str, relpath: str) -> str:
    if setting != "auto":
        return setting
    stem = split_compression(relpath)[0].lower()
    for suffix, fmt in FORMAT_BY_SUFFIX.items():
        if stem.endswith(suffix):
            return fmt
    raise ExtractError(
        f"{relpath}: cannot tell the format from the name; set `format:` on the reader "
        f"(one of jsonl, json, parquet, csv, txt) or narrow its `files:` globs"
    )


# One top-level JSON value ends and another begins on the next line: no JSON document has that
# (values in a document are separated by commas, and strings cannot hold a raw newline).
_NEXT_VALUE = re.compile(rb'[}\]"]\s*\n\s*[{\["]')


def looks_like_json_lines(sample: bytes) -> bool:
    """Whether a file's first (decompressed) bytes are JSON lines rather than one JSON document:
    two top-level values on consecutive lines. A file of one line is read the same either way."""
    return _NEXT_VALUE.search(sample) is not None


@cache
def _item_filters(paths: tuple[str, ...]) -> list[drop_items.ItemFilter]:
    return drop_items.parse_filters(paths)


def _dropped_record(reason: str, error: str, record: Any) -> Bad:
    return Bad(reason, error, excerpt_of(json.dumps(record, ensure_ascii=False)))


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
    fmt: str = ""
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

    def records(self) -> Iterable[Any]:
        """The file's records: a list when the file was read whole (small JSON), else a
        generator that owns the open file until it is exhausted or closed. Items a source
        flags (`drop_items`, see `items.py`) are already removed."""
        paths = self.reader.get("drop_items")
        if not paths:
            return self._records()
        try:
            filters = _item_filters(tuple(paths))
        except PathSyntaxError as e:
            raise ExtractError(f"drop_items: {e}") from e
        return drop_items.apply(
            self._records(), filters, self.owned_changes, _dropped_record, self.owns()
        )

    def _records(self) -> Iterable[Any]:
        self.fmt = resolve_format(self.reader.get("format", "auto"), self.relpath)
        setting = self.reader.get("compression", "auto")
        if self.fmt == "parquet":
            return _guard(_parquet(self, resolve_compression(setting, self.path, self.relpath)))
        try:
            opened = Opened(self.path, setting, self.relpath)
        except FileNotFoundError:
            raise
        except CORRUPT_ERRORS as e:
            self.bytes_in += os.stat(self.path).st_size
            return [Bad("corrupt_file", _err(e), where={"offset": 0})]
        streaming = False
        try:
            if self._json_lines_in_disguise(opened):
                self.fmt = "jsonl"
                self.changes["sniffed_jsonl"] += 1
            if opened.bom:
                self.changes["bom_stripped"] += 1
            setting = self.reader.get("encoding", "auto")
            head = None
            if self.fmt == "json":
                # small files are read whole; with `auto`, try UTF-8 on all of it first (the
                # sample check below would decode the same bytes twice)
                head = opened.read_upto(self.json_stream_bytes)
                steps = parse_path(self.reader.get("records", ""), allow_leading_each=True)
                if len(head) <= self.json_stream_bytes:
                    self.may_have_controls = _has_control_escapes(head)
                if setting == "auto" and len(head) <= self.json_stream_bytes:
                    try:
                        text = head.decode("utf-8")
                    except UnicodeDecodeError:
                        pass
                    else:
                        if not utf8_or_chinese(opened.sample):  # else: unknown, below
                            self.decoding = UTF8_DETECTED
                            return _json_text(text, steps)
            dec = (
                detect_encoding(opened.sample)
                if setting == "auto"
                else make_decoding(setting, detected=False)
            )
            if dec is None:
                if head is None or len(head) > self.json_stream_bytes:
                    while opened.stream.read(READ_CHUNK):  # counts the file's bytes in
                        pass
                return [
                    Bad(
                        "unknown_encoding",
                        "not UTF-8, not confidently GB18030, no confident charset_normalizer guess",
                        excerpt_of(opened.sample),
                    )
                ]
            self.decoding = dec
            if dec.label != "utf-8":
                log.info("%s: decoding as %s", self.relpath, dec.label)
            if head is not None:
                if len(head) <= self.json_stream_bytes:
                    if not dec.ascii_compatible:
                        self.may_have_controls = True
                    return _json_whole(head, dec, steps)
                items = _json_stream(self, opened, head, dec, steps)
            else:
                reader = {"jsonl": _jsonl, "csv": _csv, "txt": _txt}[self.fmt]
                items = reader(self, opened, dec)
            streaming = True
            return self._owned(opened, items)
        except CORRUPT_ERRORS as e:
            return [Bad("corrupt_file", _err(e))]
        finally:
            if not streaming:
                self.bytes_in += opened.bytes_read
                opened.close()

    def _json_lines_in_disguise(self, opened: Opened) -> bool:
        """`format: auto` named json from the extension, but the content is JSON lines (C4's
        `.json.gz`): read it as jsonl. The content decides, not the name."""
        if self.fmt != "json" or self.reader.get("format", "auto") != "auto":
            return False
        return not self.reader.get("records") and looks_like_json_lines(opened.sample)

    def _owned(self, opened: Opened, items: Iterator[Any]) -> Iterator[Any]:
        with opened:
            try:
                yield from _guard(items)
            finally:
                self.bytes_in += opened.bytes_read


def _guard(items: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from items
    except CORRUPT_ERRORS as e:
        yield Bad("corrupt_file", _err(e))


def _err(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _utf8_stream(opened: Opened, dec: Decoding) -> tuple[io.BufferedReader, Decoding]:
    """Codecs that are not ASCII-compatible (UTF-16, ...) are transcoded to UTF-8 up front."""
    if dec.ascii_compatible:
        return opened.stream, dec  # type: ignore[return-value]
    chunks = transcode_to_utf8(opened.stream, dec.codec)  # type: ignore[arg-type]
    return io.BufferedReader(ChunkStream(chunks), buffer_size=READ_CHUNK), UTF8


def _utf8_in_legacy(raw: bytes, orig: Decoding) -> bool:
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


def _mixed(raw: bytes, orig: Decoding, where: dict[str, Any]) -> Bad:
    return Bad(
        "mixed_encoding",
        f"valid UTF-8 in a file detected as {orig.label}",
        excerpt_of(raw),
        where,
    )


def _transcode_guard(items: Iterator[Any], dec: Decoding) -> Iterator[Any]:
    try:
        yield from items
    except UnicodeDecodeError as e:
        yield Bad(dec.error_reason, _err(e), where={"note": "rest of file"})


# --- jsonl -----------------------------------------------------------------------------------


def _jsonl(job: FileJob, opened: Opened, dec: Decoding) -> Iterator[Any]:
    stream, line_dec = _utf8_stream(opened, dec)
    yield from _transcode_guard(_jsonl_lines(job, stream, line_dec, dec), dec)


def _jsonl_lines(
    job: FileJob, stream: io.BufferedReader, dec: Decoding, orig: Decoding
) -> Iterator[Any]:
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
            yield Bad(reason, _err(e), excerpt_of(line), {"line": lineno})
            continue
        if legacy and _utf8_in_legacy(line, orig):
            yield _mixed(line, orig, {"line": lineno})
            continue
        try:
            yield loads(text)
        except (ValueError, RecursionError) as e:
            yield Bad("bad_json", _err(e), excerpt_of(text), {"line": lineno})
    if blank:
        job.changes["blank_lines_skipped"] += blank


# --- json ------------------------------------------------------------------------------------


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
        return [Bad(dec.error_reason, _err(e), excerpt_of(head[max(0, e.start - 100) :]), where)]
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
        return [Bad("bad_json", _err(e), excerpt_of(text))]
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
            chunks = transcode_to_utf8(opened.stream, job.decoding.codec)  # type: ignore[arg-type]
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
        yield Bad("bad_json", _err(e), where={"note": f"rest of file after {count} records"})
        return
    except UnicodeDecodeError as e:
        yield Bad(dec.error_reason, _err(e), where={"note": f"rest of file after {count} records"})
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


# --- csv -------------------------------------------------------------------------------------


def _csv(job: FileJob, opened: Opened, dec: Decoding) -> Iterator[Any]:
    csv.field_size_limit(sys.maxsize)
    delimiter = job.reader.get("csv_delimiter", ",")
    if delimiter == "," and split_compression(job.relpath)[0].lower().endswith(".tsv"):
        delimiter = "\t"
    text = io.TextIOWrapper(opened.stream, encoding=dec.codec, errors="strict", newline="")
    # strict: a quote left open (to the end of the file, or closed where a delimiter must
    # follow) is an error, not a field that silently swallows the rows after it
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        try:
            header = next(reader, None)
        except csv.Error as e:
            yield Bad("bad_csv", _err(e), where={"line": 1, "note": "header: rest of file"})
            return
        if header is None:
            return
        width = len(header)
        blank = ragged = multiline = 0
        while True:
            first = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                last = reader.line_num
                span = f" (lines {first}-{last} are this one entry)" if last > first else ""
                yield Bad("bad_csv", _err(e) + span, where={"line": first, "last_line": last})
                continue
            if not row:
                blank += 1
                continue
            if len(row) != width:
                ragged += 1
            if reader.line_num > first:
                multiline += 1
            yield dict(zip(header, row, strict=False))
        if blank:
            job.changes["blank_lines_skipped"] += blank
        if ragged:
            job.changes["csv_ragged_rows"] += ragged
        if multiline:
            job.changes["csv_multiline_rows"] += multiline
    except UnicodeDecodeError as e:
        yield Bad(
            dec.error_reason, _err(e), where={"line": reader.line_num, "note": "rest of file"}
        )
    finally:
        text.detach()


# --- txt -------------------------------------------------------------------------------------


def _txt(job: FileJob, opened: Opened, dec: Decoding) -> Iterator[Any]:
    stream, line_dec = _utf8_stream(opened, dec)
    if job.reader.get("txt_unit", "file") == "file":
        items = _txt_file(job, stream, line_dec, dec)
    else:
        items = _txt_paragraphs(job, stream, line_dec, dec)
    yield from _transcode_guard(items, dec)


def _txt_file(
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
            _err(e),
            excerpt_of(data[max(0, e.start - 100) :]),
            {"offset": e.start},
        )
        return
    if _utf8_in_legacy(data, orig):
        yield _mixed(data, orig, {"offset": 0})
        return
    yield {"text": text}


def _txt_paragraphs(
    job: FileJob, stream: io.BufferedReader, dec: Decoding, orig: Decoding
) -> Iterator[Any]:
    """Paragraphs are runs of non-blank lines; blank (whitespace-only) lines separate them and are
    not records. A paragraph over max_doc_bytes is counted, not held: only an excerpt is kept."""
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
        return Bad(orig.error_reason, _err(e), excerpt_of(raw), {"line": line})
    if _utf8_in_legacy(raw, orig):
        return _mixed(raw, orig, {"line": line})
    return {"text": text}


# --- parquet ---------------------------------------------------------------------------------


def _parquet(job: FileJob, compression: str) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    job.bytes_in += os.stat(job.path).st_size
    spool = None
    try:
        source: Any = job.path
        if compression != "none":
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed in `finally`
            with Opened(job.path, compression, job.relpath) as opened:
                while chunk := opened.stream.read(READ_CHUNK):
                    spool.write(chunk)
            spool.seek(0)
            source = spool
        try:
            pf = pq.ParquetFile(source)
        except (pa.ArrowException, OSError) as e:
            yield Bad("corrupt_file", _err(e))
            return
        needed = _needed_columns(job.reader)
        names = pf.schema_arrow.names
        columns = [c for c in names if c in needed] or None
        count = 0
        piece = job.owns() is not None
        try:
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=columns):
                if piece:  # only the owned rows become Python objects
                    mine = _owned_rows(job, count, batch.num_rows)
                    kept = iter(batch.filter(pa.array(mine)).to_pylist())
                    count += batch.num_rows
                    for own in mine.tolist():
                        yield next(kept) if own else SKIPPED
                    continue
                rows = batch.to_pylist()
                count += len(rows)
                yield from rows
        except (pa.ArrowException, OSError) as e:
            yield Bad("corrupt_file", _err(e), where={"note": f"rest of file after {count} rows"})
    finally:
        if spool is not None:
            spool.close()


def _owned_rows(job: FileJob, start: int, n: int) -> Any:
    """Boolean mask of the rows start..start+n-1 that `job` owns (vectorised `FileJob.owns`)."""
    pos = positions(start, n)
    return (pos >= job.lo) & (pos < job.hi)


def _needed_columns(reader: Mapping[str, Any]) -> set[str]:
    from .template import parse_template

    out: set[str] = set()
    for line in parse_template(reader["text"]):
        for seg in line:
            if not isinstance(seg, str) and seg.steps:
                out.add(seg.steps[0])  # type: ignore[arg-type]
    for path in reader.get("meta", []):
        steps = parse_path(path)
        if steps and steps[0] is not None:
            out.add(steps[0])
    return out
