"""Property tests: extract → clean → convert on hostile input (random bytes, random JSON, Unicode
that breaks naive code: lone surrogates in JSON escapes, astral CJK, bidi marks, NUL, BOM,
combining marks) never crash, and every stage's books balance: `in == out + Σdrops`, the next
stage reads exactly what the last one kept, and every dropped record is in the quarantine."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt2zh.clean import clean_shard
from gpt2zh.convert import convert_shard
from helpers.extract import extract

#: Characters that broke or could break text code: surrogates (only reachable through JSON
#: escapes), CJK Extension B, bidi controls, NUL, BOM, zero-width and combining marks, line and
#: paragraph separators, full-width forms, Traditional characters OpenCC rewrites.
NASTY = [
    "\ud800", "\udfff", "\ud83d", "𠀀", "𪚥", "𠮷", "\u200f", "\u202e", "\u2066", "\x00",
    "\ufeff", "\u200b", "\u0301", "\u0308", "\u2028", "\u2029", "\r", "\x85", "Ａ", "，",
    "國", "語", "後", "髮", "\ufffd", "<b>", "&amp;", "@", "13812345678",
]  # fmt: skip
text = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.just("床前明月光，疑是地上霜。")),
    max_size=12,
).map("".join)
scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text)
json_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["text", "t", "x"]), inner)
    ),
    max_leaves=6,
)
record = st.dictionaries(st.sampled_from(["text", "title", "n"]), json_value, max_size=3)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
NAMES = ["a.jsonl", "a.json", "a.txt", "a.csv", "a.jsonl.gz", "a.txt.zst"]
READER = {"files": "**/*", "text": "{title?}\n{text}", "meta": ["n"]}


def _through_all_stages(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        extracted = extract(root, files, READER)  # asserts the extract books and quarantine
        upstream = root / "out" / "shard-00000.parquet"
        docs = extracted.stats["docs_out"]
        for stage, run in (("clean", clean_shard), ("convert", convert_shard)):
            out = root / stage / "shard-00000.parquet"
            spec: dict[str, Any] = {"name": "ds", "lang": "zh", "clean": {}, "convert": "t2s"}
            stats = run(spec, 0, upstream, out)
            assert stats["docs_in"] == docs, stage  # nothing lost between stages
            assert stats["docs_in"] == stats["docs_out"] + sum(stats["drops"].values()), stage
            on_disk = json.loads(out.with_name("shard-00000.stats.json").read_text("utf-8"))
            assert on_disk["docs_out"] == stats["docs_out"]
            upstream, docs = out, stats["docs_out"]


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(NAMES))
def test_random_bytes(data: bytes, name: str) -> None:
    _through_all_stages({name: data})


@FUZZ
@given(st.lists(st.one_of(record, json_value), max_size=6), st.booleans())
def test_random_json_records(records: list[Any], ascii_escapes: bool) -> None:
    """`ensure_ascii` writes lone surrogates as `\\udXXX` escapes: valid JSON, invalid UTF-8."""
    lines = (json.dumps(r, ensure_ascii=ascii_escapes) for r in records)
    jsonl = "\n".join(lines).encode("utf-8", "surrogatepass")
    whole = json.dumps(records, ensure_ascii=True).encode()
    _through_all_stages({"a.jsonl": jsonl, "b.json": whole})


@FUZZ
@given(st.lists(text, max_size=6))
def test_random_unicode_text(paragraphs: list[str]) -> None:
    body = "\n\n".join(paragraphs).encode("utf-8", "surrogatepass")
    _through_all_stages({"a.txt": body, "b.txt": b"\xef\xbb\xbf" + body})
