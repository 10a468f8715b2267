"""Deep JSON nesting in the streaming path: the record is bad_json naming the depth, the records
around it are kept, and memory stays bounded."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt2zh.extract.depth import SENTINEL, DepthLimit
from helpers import REPO
from helpers.extract import TEXT, extract


class Trickle(io.RawIOBase):
    """Bytes handed out at most `size` at a time: every chunk boundary gets exercised."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._pos, self._size = data, 0, size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._size, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def _deep(levels: int) -> bytes:
    return b'{"text": "x", "y": ' + b"[" * levels + b"]" * levels + b"}"


def _array(deep_levels: int) -> bytes:
    good = [json.dumps({"text": f"第{i}条", "s": 'a]b}\\"[{'}).encode() for i in range(3)]
    return b"[" + b", ".join([good[0], good[1], _deep(deep_levels), good[2]]) + b"]"


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_depth_limit_replaces_only_the_too_deep_value(chunk: int) -> None:
    data = b'[{"a": [[[1, "]]]\\\\"]]], "b": "\\"[["}, [[[[2]]]], 3]'
    reader = io.BufferedReader(DepthLimit(Trickle(data, chunk), 3))
    assert json.loads(reader.read()) == [
        {"a": [SENTINEL], "b": '"[['},
        [[SENTINEL]],
        3,
    ]


def _reference(value: Any, limit: int, depth: int = 0) -> Any:
    """What DepthLimit must give: containers opening past `limit` become SENTINEL."""
    if isinstance(value, list | dict):
        if depth + 1 > limit:
            return SENTINEL
        if isinstance(value, list):
            return [_reference(v, limit, depth + 1) for v in value]
        return {k: _reference(v, limit, depth + 1) for k, v in value.items()}
    return value


tricky_text = st.text(alphabet='ab[]{}"\\\n，文', max_size=8)
json_value = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(tricky_text, kids, max_size=3),
    max_leaves=30,
)


@given(json_value, st.integers(1, 5), st.integers(1, 40))
@settings(max_examples=400, deadline=None)
def test_depth_limit_agrees_with_a_reference(value: Any, limit: int, chunk: int) -> None:
    data = json.dumps(value, ensure_ascii=False).encode()
    reader = io.BufferedReader(DepthLimit(Trickle(data, chunk), limit))
    assert json.loads(reader.read()) == _reference(value, limit)


def test_a_deep_record_is_bad_json_and_its_neighbours_are_kept(tmp_path: Path) -> None:
    r = extract(tmp_path, {"a.json": _array(5000)}, TEXT, json_stream_bytes=64)
    assert r.texts == ["第0条", "第1条", "第2条"]
    (q,) = r.quarantine
    assert q["reason"] == "bad_json" and q["n"] == 2
    assert "nesting deeper than 512 levels (at least 5002)" in q["error"]
    whole = extract(tmp_path, {"a.json": _array(5000)}, TEXT, out="whole")  # json.loads path
    assert whole.texts == r.texts and whole.reasons() == ["bad_json"]


def test_deep_nesting_streams_in_bounded_memory(tmp_path: Path) -> None:
    """50k levels: about 5 GB with ijson alone (the memory grows with the depth squared)."""
    path = tmp_path / "deep.json"
    path.write_bytes(_array(50_000))
    script = f"""
import resource, sys
sys.path.insert(0, {str(REPO / "tests")!r})
from pathlib import Path
from gpt2zh.extract.depth import MAX_JSON_DEPTH
from helpers.extract import TEXT, extract
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = extract(Path({str(tmp_path)!r}), {{"a.json": Path({str(path)!r}).read_bytes()}}, TEXT,
            json_stream_bytes=64)
assert r.reasons() == ["bad_json"], r.reasons()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    grown_mb = int(proc.stdout.split()[-1])
    assert grown_mb < 200, grown_mb
