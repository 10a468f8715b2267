"""extract's parts: globs, file→shard assignment, templates, meta, encoding detection; plus the
property that no input makes extract_shard raise or lose count."""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt2zh.extract import ExtractError, assign_shards, extract_shard, match_files
from gpt2zh.extract.assign import FileTask
from gpt2zh.extract.paths import EACH, ijson_prefix, parse_path
from gpt2zh.extract.readers.json import walk_records
from gpt2zh.extract.streams import detect_encoding
from gpt2zh.extract.template import (
    MISSING,
    MetaBuilder,
    Template,
    TemplateError,
    TemplateSyntaxError,
    resolve,
)
from gpt2zh.globs import glob_match
from gpt2zh.shards import iter_docs
from helpers.extract import make_spec, write_source

# --- globs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "path", "hit"),
    [
        ("dist/quantangshi/poet.tang.*.json", "dist/quantangshi/poet.tang.1000.json", True),
        ("dist/quantangshi/poet.tang.*.json", "dist/quantangshi/poet.song.0.json", False),
        ("dist/*.json", "dist/a/b.json", False),  # * stays in one folder
        ("dist/**/*.json", "dist/b.json", True),  # **/ matches zero folders
        ("dist/**/*.json", "dist/a/b/c.json", True),
        ("**", "a/b/c", True),
        ("**/x.txt", "x.txt", True),
        ("data/file?.jsonl", "data/file1.jsonl", True),
        ("data/file?.jsonl", "data/file10.jsonl", False),
        ("data/[ab].txt", "data/a.txt", True),
        ("data/[!ab].txt", "data/c.txt", True),
        ("data/[!ab].txt", "data/a.txt", False),
        ("a+b (1).json", "a+b (1).json", True),  # regex metacharacters are literal
        ("段落/*.jsonl", "段落/一.jsonl", True),
    ],
)
def test_glob(glob: str, path: str, hit: bool) -> None:
    assert glob_match(glob, path) is hit


# --- file → shard assignment -----------------------------------------------------------------


def test_lpt_assignment_is_complete_balanced_and_deterministic() -> None:
    rng = random.Random(1)
    tasks = [FileTask(f"f{i:03d}.json", rng.randint(1, 10_000), 0) for i in range(200)]
    shards = assign_shards(tasks, 7)
    flat = [t.relpath for s in shards for t in s]
    assert sorted(flat) == sorted(t.relpath for t in tasks) and len(flat) == len(set(flat))
    loads = [sum(t.nbytes for t in s) for s in shards]
    assert max(loads) - min(loads) <= max(t.nbytes for t in tasks)  # LPT bound
    assert shards == assign_shards(list(reversed(tasks)), 7)  # input order does not matter
    for s in shards:
        assert [t.relpath for t in s] == sorted(t.relpath for t in s)


def test_lpt_ties_and_more_shards_than_files() -> None:
    tasks = [FileTask(name, 5, 0) for name in ("c", "a", "b")]
    shards = assign_shards(tasks, 5)
    assert [[t.relpath for t in s] for s in shards] == [["a"], ["b"], ["c"], [], []]


def test_match_files_first_reader_and_sorted() -> None:
    spec = {"name": "ds", "read": [{"files": "a/*"}, {"files": ["**/*.json", "z"]}]}
    manifest = {"files": [{"path": p, "bytes": 1} for p in ("b/y.json", "a/x.json", "z", "q.txt")]}
    got = [(t.relpath, t.reader) for t in match_files(spec, manifest)]
    assert got == [("a/x.json", 0), ("b/y.json", 1), ("z", 1)]


def test_match_files_refuses_paths_outside_the_root() -> None:
    spec = {"name": "ds", "read": [{"files": "**"}]}
    with pytest.raises(ExtractError, match="relative"):
        match_files(spec, {"files": [{"path": "../etc/passwd", "bytes": 1}]})


def test_shard_index_out_of_range(tmp_path: Path) -> None:
    manifest = write_source(tmp_path, {"a.jsonl": b'{"text": "x"}\n'})
    spec = make_spec([{"files": "*", "text": "{text}"}], shards=2)
    with pytest.raises(ExtractError, match="shard 2"):
        extract_shard(spec, 2, manifest, tmp_path / "o" / "shard-00002.parquet")


# --- paths -----------------------------------------------------------------------------------


def test_record_paths() -> None:
    assert parse_path("content[].content[]", True) == ("content", None, "content", None)
    assert ijson_prefix(parse_path("content[].content[]", True)) == "content.item.content.item"
    assert ijson_prefix(parse_path("[]", True)) == "item"
    assert parse_path("段落[].内容") == ("段落", None, "内容")


# --- templates -------------------------------------------------------------------------------


def fast_must_render(template: Template, record: Any) -> bool:
    """Whether `record` is in the generated code's domain (the module docstring's common case):
    every field outside a `[]` path holds a string, a list of strings, an int or a finite float,
    or is an optional field that is missing or None. Only outside it may `fast` decline (raise)
    and leave the record to `slow`; production falls back silently, so a `fast` that declines
    the common case would only make extract slow, and no other test would notice."""
    for field in template.fields:
        if EACH in field.steps:
            continue  # rendered by the interpreter's own `Field.text`
        value = resolve(record, field.steps)
        if field.optional and (value is MISSING or value is None):
            continue
        cls = value.__class__
        if cls is str or cls is int or (cls is float and math.isfinite(value)):
            continue
        if cls is list and all(item.__class__ is str for item in value):
            continue
        return False
    return True


def both(template: Template, record: Any) -> str:
    """Renders with the reference interpreter and checks that the generated code agrees: it must
    render every record in its domain, and may only decline (raise) outside it."""
    expected = template.slow(record)
    if fast_must_render(template, record):
        assert template.fast(record) == expected
    else:
        try:
            fast = template.fast(record)
        except Exception:
            return expected
        assert fast == expected
    return expected


def test_template_fields_lists_and_literal_braces() -> None:
    t = Template("{{{a}}} {b.c} {d[].e}\n{n} {f} {flag}", join="/")
    rec = {
        "a": "A",
        "b": {"c": "C"},
        "d": [{"e": "1"}, {"e": ["2", "3"]}],
        "n": 7,
        "f": 1.5,
        "flag": True,
    }
    assert both(t, rec) == "{A} C 1/2/3\n7 1.5 true"


def test_optional_lines_are_removed_only_when_empty() -> None:
    t = Template("{title?}\n\n{author?}：{x?}\n{body}")
    assert both(t, {"body": "B"}) == "\n：\nB"
    assert both(t, {"title": "T", "author": " ", "body": "B"}) == "T\n\n ：\nB"
    t2 = Template("{title?}\n{sub?}\n{body}")
    assert both(t2, {"body": "B", "sub": None, "title": "  "}) == "B"
    assert both(t2, {"body": "B", "sub": "S"}) == "S\nB"


def test_missing_field_errors_name_the_field() -> None:
    t = Template("{a.b}\n{c[].d}")
    with pytest.raises(TemplateError) as e:
        t.slow({"a": {}, "c": []})
    assert e.value.reason == "missing_field" and e.value.field == "a.b"
    with pytest.raises(TemplateError) as e:
        t.slow({"a": {"b": "x"}, "c": [{"d": "1"}, {"x": "2"}]})
    assert e.value.field == "c[].d"
    assert Template("{c[].d?}").slow({"c": [{"d": "1"}, {"x": "2"}]}) == "1"


def test_object_valued_field_is_bad_field_type() -> None:
    with pytest.raises(TemplateError) as e:
        Template("{a}").slow({"a": {"b": 1}})
    assert e.value.reason == "bad_field_type"


@pytest.mark.parametrize("bad", ["{a", "a}", "{}", "{a..b}", "plain text", "{a{b}}"])
def test_template_syntax_errors(bad: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        Template(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), json_values, max_size=4))
@settings(max_examples=300, deadline=None)
def test_generated_template_agrees_with_interpreter(record: dict[str, Any]) -> None:
    for source in ("{a}", "{a?}\n{b}", "{a.b?} {c}\n{d[].a?}", "x{a}y{b?}z", "{a[].b}\n{c?}"):
        t = Template(source, join="|")
        try:
            t.slow(record)
        except TemplateError:
            with pytest.raises(Exception):  # noqa: B017 - any error sends the record to `slow`
                t.fast(record)
            continue
        both(t, record)  # declining is allowed only outside fast's domain; disagreeing never


def test_meta_builder() -> None:
    m = MetaBuilder("d/a.json", ["title", "no#", "content[].chapter", "missing", "n"])
    rec = {"title": '题"目', "no#": 3, "content": [{"chapter": "一"}, {"x": 1}]}
    meta = json.loads(m.build(5, rec))
    assert meta == {
        "file": "d/a.json",
        "n": 5,
        "title": '题"目',
        "no#": 3,
        "content[].chapter": ["一"],
    }
    assert list(meta) == sorted(meta)
    assert MetaBuilder("x", []).build(2, {}) == '{"file":"x","n":2}'


# --- encoding detection ----------------------------------------------------------------------


def test_detect_encoding() -> None:
    text = "床前明月光，疑是地上霜。举头望明月，低头思故乡。" * 20
    assert detect_encoding(text.encode("utf-8")).label == "utf-8"
    assert detect_encoding(text.encode("utf-8")[:-1]).label == "utf-8"  # cut mid-character
    assert detect_encoding(text.encode("gb18030")).label == "gb18030"
    assert detect_encoding(text.encode("gbk")).label == "gb18030"
    assert detect_encoding(random.Random(5).randbytes(4096)) is None
    latin = ("Déjà vu, naïve café — élève. " * 40).encode("cp1252")
    assert detect_encoding(latin) is None  # Latin code pages tie: a guess would be a coin toss
    cyrillic = ("Население города составляет двенадцать миллионов человек. " * 40).encode("cp1251")
    assert detect_encoding(cyrillic).label == "cp1251"


def test_walk_records_matches_ijson_semantics() -> None:
    import ijson

    doc = {"content": [{"content": [{"x": 1}, 2]}, {"other": []}, "s", {"content": []}]}
    steps = parse_path("content[].content[]", True)
    raw = json.dumps(doc).encode()
    assert list(walk_records(doc, steps)) == list(ijson.items(io.BytesIO(raw), ijson_prefix(steps)))


# --- the property: nothing raises, nothing is lost -------------------------------------------


def _run(tmp_path: Path, name: str, data: bytes, reader: dict[str, Any]) -> dict[str, Any]:
    manifest = write_source(tmp_path, {name: data})
    out = tmp_path / "out" / "shard-00000.parquet"
    stats = extract_shard(make_spec([reader], max_doc_bytes=4096), 0, manifest, out)
    assert stats["docs_in"] == stats["docs_out"] + sum(stats["drops"].values())
    quarantine = out.with_name("shard-00000.quarantine.jsonl").read_text("utf-8").splitlines()
    assert len(quarantine) == sum(stats["drops"].values())
    assert len(list(iter_docs(out))) == stats["docs_out"]
    return stats


json_line = st.one_of(
    st.builds(
        lambda v: json.dumps(v, ensure_ascii=False).encode(),
        st.dictionaries(st.sampled_from(["text", "t", "x"]), json_values, max_size=3),
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.just(b""),
    st.just(b'{"text": "\\ud800"}'),
    st.just(b'{"text": "a\\u0000\\r\\n"}'),
)


@given(st.lists(json_line, max_size=12), st.sampled_from([b"\n", b"\r\n"]))
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_jsonl_never_raises_and_balances(
    tmp_path: Path, lines: list[bytes], eol: bytes
) -> None:
    _run(tmp_path, "a.jsonl", eol.join(lines), {"files": "*", "text": "{text}\n{x?}"})


@given(
    st.binary(max_size=3000),
    st.sampled_from(
        ["a.jsonl", "a.json", "a.csv", "a.txt", "a.jsonl.gz", "a.json.zst", "a.parquet"]
    ),
)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_bytes_never_raise_and_balance(tmp_path: Path, data: bytes, name: str) -> None:
    stats = _run(tmp_path, name, data, {"files": "*", "text": "{text}"})
    assert stats["docs_in"] >= (0 if name.endswith((".jsonl", ".csv", ".txt", ".gz")) else 1)
