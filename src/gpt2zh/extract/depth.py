"""A nesting limit for streamed JSON, in bounded memory.

ijson keeps a prefix string per open level (`item.y.item.item…`), so its memory grows with the
square of the nesting depth: 20k levels take about 1 GB and 100k levels (a 200 KB record) kill
the job. `DepthLimit` sits between the bytes and ijson and tracks the depth of `[`/`{` outside
strings; a value that would open level `limit + 1` is replaced by the string `SENTINEL` and its
bytes are skipped (counting only the depth, never holding them). ijson then parses a shallow
document, and the reader quarantines each record holding a sentinel as `bad_json`, naming the
depth; the records around it are kept.
"""

from __future__ import annotations

import io
import re
from typing import Any, BinaryIO

import numpy as np

#: Deeper than this is not text worth keeping (json.loads stops near 1,000 levels anyway).
MAX_JSON_DEPTH = 512
SENTINEL = "\x00gpt2zh: nesting too deep\x00"
_SENTINEL_JSON = b'"\\u0000gpt2zh: nesting too deep\\u0000"'
_BRACKET = re.compile(rb"[\[\]{}]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[]{}", bytes([1, 255, 1, 255]))  # +1 / -1 as int8
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_BACKSLASH = ord("\\")
READ_CHUNK = 1 << 20


class DepthLimit(io.RawIOBase):
    """UTF-8 JSON bytes from `raw` with every value deeper than `limit` replaced by SENTINEL."""

    def __init__(self, raw: BinaryIO, limit: int = MAX_JSON_DEPTH) -> None:
        self._raw = raw
        self.limit = limit
        self.depth = 0
        #: values replaced so far, and the deepest level seen in one of them
        self.elided = 0
        self.deepest = 0
        self._in_string = False
        self._escape_next = False  # the chunk ended on a backslash inside a string
        self._skip_to: int | None = None  # depth at which the skipped value closes
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not len(self._buf):
            chunk = self._raw.read(READ_CHUNK)
            if not chunk:
                return 0
            self._buf = memoryview(chunk if self._fast(chunk) else self._filter(chunk))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _fast(self, chunk: bytes) -> bool:
        """The common case, mostly in C: split at quotes, keep the parts outside strings, sum
        their brackets. True (state advanced) when nothing in the chunk goes past the limit;
        False leaves the state for `_filter`, which walks the chunk bracket by bracket."""
        if self._skip_to is not None:
            return False
        in_string = self._in_string
        parts = (chunk[1:] if self._escape_next else chunk).split(b'"')
        last = len(parts) - 1
        outside: list[bytes] = []
        for k, part in enumerate(parts):
            if not in_string:
                outside.append(part)
            elif k < last and _odd_trailing_backslashes(part):
                continue  # an escaped quote: still inside the string
            if k < last:
                in_string = not in_string
        depth = self.depth
        brackets = b"".join(outside).translate(None, _NOT_BRACKETS)
        if brackets:
            steps = np.cumsum(np.frombuffer(brackets.translate(_STEP), np.int8), dtype=np.int64)
            if depth + int(steps.max()) > self.limit:
                return False
            depth += int(steps[-1])
        self.depth = depth
        self._in_string = in_string
        self._escape_next = in_string and _odd_trailing_backslashes(parts[last])
        return True

    def _filter(self, chunk: bytes) -> bytes:
        """The chunk with too-deep values replaced. Strings are skipped with `find` (memchr
        speed), brackets between them found by a regex: Python work per string and bracket,
        not per byte."""
        out: list[bytes] = []
        start = 0  # first byte not yet handed out (when not skipping)
        pos = 0
        n = len(chunk)
        if self._in_string:  # a string left open by the previous chunk
            begin = 1 if self._escape_next else 0  # an escaped first byte escapes nothing
            pos = _string_end(chunk, begin)
            if pos < 0:
                self._escape_next = _odd_trailing_backslashes(chunk[begin:])
                return chunk if self._skip_to is None else b""
            self._in_string = self._escape_next = False
        find = chunk.find
        brackets = _BRACKET.finditer
        while pos < n:
            quote = find(b'"', pos)
            for m in brackets(chunk, pos, n if quote < 0 else quote):
                i = m.start()
                if chunk[i] in _OPEN:
                    self.depth += 1
                    if self._skip_to is not None:
                        self.deepest = max(self.deepest, self.depth)
                    elif self.depth > self.limit:
                        out.append(chunk[start:i])
                        out.append(_SENTINEL_JSON)
                        self.elided += 1
                        self.deepest = max(self.deepest, self.depth)
                        self._skip_to = self.depth - 1
                else:
                    self.depth -= 1
                    if self._skip_to is not None and self.depth == self._skip_to:
                        self._skip_to = None
                        start = i + 1
            if quote < 0:
                break
            pos = _string_end(chunk, quote + 1)
            if pos < 0:  # the chunk ends inside this string
                self._in_string = True
                self._escape_next = _odd_trailing_backslashes(chunk)
                break
        if self._skip_to is None:
            if not out:
                return chunk if start == 0 else chunk[start:]
            out.append(chunk[start:])
        return b"".join(out)


def _string_end(chunk: bytes, begin: int) -> int:
    """The position after the quote closing a string whose content starts at `begin`, or -1
    when the chunk ends first."""
    pos = begin
    while (quote := chunk.find(b'"', pos)) >= 0:
        k = quote
        while k > begin and chunk[k - 1] == _BACKSLASH:
            k -= 1
        if (quote - k) % 2 == 0:
            return quote + 1
        pos = quote + 1
    return -1


def _odd_trailing_backslashes(chunk: bytes) -> bool:
    return (len(chunk) - len(chunk.rstrip(b"\\"))) % 2 == 1


def count_sentinels(value: Any) -> int:
    """How many SENTINELs a parsed record holds (iterative: records are at most `limit` deep)."""
    found = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if v.__class__ is str:
            found += v == SENTINEL
        elif v.__class__ is dict:
            stack.extend(v.values())
        elif v.__class__ is list:
            stack.extend(v)
    return found
