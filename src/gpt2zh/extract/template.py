"""Text templates and meta fields: how a record (a JSON object, CSV row, ...) becomes a document.

Template syntax: `{a}` a field, `{a.b}` nested, `{a[].b}` mapped over a list, `{a?}` optional,
`{{`/`}}` literal braces. Field values: strings as they are; numbers and booleans as JSON writes
them (`true`, not Python's `True`); lists (nested ones flattened, None items skipped) joined with
the reader's `join`; an object is an error (`bad_field_type`: point the template into it). A
required field that is missing or None (or, for `a[].b`, missing in any item) is
`missing_field`, one that renders blank is `empty_text`; an optional one renders as "" when
missing, and a template line that contains an optional field and renders empty or
whitespace-only is removed with its newline.

Each template is compiled once per reader into two functions that agree on every input: `fast`, a
generated function indexing the record directly (the common case: fields present, strings or lists
of strings), and `slow`, a general interpreter that gives the exact error. Callers try `fast` and
fall back to `slow` on any exception, so the error path never slows the common one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from json.encoder import encode_basestring
from typing import Any

from .paths import EACH, PathSyntaxError, parse_path


class TemplateSyntaxError(ValueError):
    """The `text` template of a reader cannot be parsed."""


class TemplateError(Exception):
    """A record does not fit the template; `reason` is the quarantine reason."""

    def __init__(self, reason: str, field: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def resolve(value: Any, steps: Sequence[str | None], i: int = 0) -> Any:
    """The value at `steps` below `value`: a plain value, a list (one entry per EACH item, MISSING
    where an item lacks the rest of the path) or MISSING."""
    n = len(steps)
    while i < n:
        step = steps[i]
        if step is EACH:
            if value is None:
                return MISSING
            items = value if isinstance(value, list) else [value]
            return [resolve(item, steps, i + 1) for item in items]
        if isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return MISSING
        i += 1
    return value


def _flatten(value: list[Any], out: list[str], field: Field) -> None:
    for item in value:
        cls = item.__class__
        if cls is str:
            out.append(item)
        elif item is None:
            continue
        elif item is MISSING:
            if not field.optional:
                raise TemplateError("missing_field", field.path, f"missing field {field.path!r}")
        elif cls is list:
            _flatten(item, out, field)
        else:
            out.append(_scalar(item, field))


def _scalar(value: Any, field: Field) -> str:
    if isinstance(value, bool | int | float):
        # JSON's spelling (true, NaN, Infinity), not Python's (True, nan, inf)
        return json.dumps(value)
    if isinstance(value, bytes | bytearray):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TemplateError("bad_field_type", field.path, f"field {field.path!r}: {e}") from e
    if isinstance(value, str):
        return value
    kind = "an object" if isinstance(value, dict) else type(value).__name__
    raise TemplateError(
        "bad_field_type",
        field.path,
        f"field {field.path!r} holds {kind}, not text (address a path inside it)",
    )


@dataclass(frozen=True)
class Field:
    path: str
    steps: tuple[str | None, ...]
    optional: bool

    def text(self, record: Any, join: str) -> str:
        """The field's text in `record`, or TemplateError. A required field must be present and
        not blank: a record whose substance is empty is `empty_text` (a title alone is no doc)."""
        value = resolve(record, self.steps)
        if value is MISSING or value is None:
            if self.optional:
                return ""
            raise TemplateError("missing_field", self.path, f"missing field {self.path!r}")
        if value.__class__ is str:
            text = value
        elif isinstance(value, list):
            out: list[str] = []
            _flatten(value, out, self)
            text = join.join(out)
        else:
            text = _scalar(value, self)
        if not self.optional and (not text or text.isspace()):
            raise TemplateError("empty_text", self.path, f"required field {self.path!r} is blank")
        return text


def parse_template(template: str) -> list[list[str | Field]]:
    """Lines of segments (literal strings and Fields)."""
    lines: list[list[str | Field]] = [[]]
    buf: list[str] = []

    def literal() -> None:
        if buf:
            lines[-1].append("".join(buf))
            buf.clear()

    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c in "{}" and template.startswith(c * 2, i):
            buf.append(c)
            i += 2
            continue
        if c == "}":
            raise TemplateSyntaxError(f"template {template!r}: lone '}}' at {i} (write '}}}}')")
        if c == "{":
            j = template.find("}", i + 1)
            if j < 0:
                raise TemplateSyntaxError(f"template {template!r}: unclosed '{{' at {i}")
            spec = template[i + 1 : j]
            optional = spec.endswith("?")
            path = spec[:-1] if optional else spec
            if not path or "{" in path:
                raise TemplateSyntaxError(f"template {template!r}: bad field {{{spec}}} at {i}")
            try:
                steps = parse_path(path)
            except PathSyntaxError as e:
                raise TemplateSyntaxError(f"template {template!r}: {e}") from e
            if steps[-1] is EACH:
                steps = steps[:-1]  # `{paragraphs[]}` means the same as `{paragraphs}`
            literal()
            lines[-1].append(Field(path, steps, optional))
            i = j + 1
            continue
        if c == "\n":
            literal()
            lines.append([])
        else:
            buf.append(c)
        i += 1
    literal()
    if not any(isinstance(s, Field) for line in lines for s in line):
        raise TemplateSyntaxError(f"template {template!r} has no {{field}}")
    return lines


def _fast_conv(join: str) -> Callable[[Any], str]:
    def conv(value: Any) -> str:
        cls = value.__class__
        if cls is list:
            return join.join(value)  # TypeError on non-strings → caller falls back to `slow`
        if cls is int or (cls is float and math.isfinite(value)):
            return str(value)  # the same as json.dumps for these
        raise LookupError(value)

    return conv


class Template:
    """A compiled `text` template (see the module docstring)."""

    def __init__(self, template: str, join: str = "\n") -> None:
        self.source = template
        self.join = join
        self.lines = parse_template(template)
        self.fields = [s for line in self.lines for s in line if isinstance(s, Field)]
        self.fast: Callable[[Any], str] = self._generate()

    def slow(self, record: Any) -> str:
        """Renders `record` or raises TemplateError (the reference implementation)."""
        out: list[str] = []
        join = self.join
        for line in self.lines:
            parts = [s if s.__class__ is str else s.text(record, join) for s in line]
            text = "".join(parts)
            if any(isinstance(s, Field) and s.optional for s in line) and not text.strip():
                continue
            out.append(text)
        return "\n".join(out)

    def _generate(self) -> Callable[[Any], str]:
        """Source of `fast`: fields read straight from the record, lines built by f-strings."""
        env: dict[str, Any] = {"conv": _fast_conv(self.join), "J": self.join}
        body: list[str] = []
        names: dict[Field, str] = {}
        literals: dict[str, str] = {}  # literal text → parameter name (a fast local)

        def lit(text: str) -> str:
            if text not in literals:
                literals[text] = f"L{len(literals)}"
            return literals[text]

        for k, field in enumerate(dict.fromkeys(self.fields)):
            name = f"f{k}"
            names[field] = name
            if EACH in field.steps:
                env[f"get{k}"] = field.text
                body.append(f"{name} = get{k}(r, J)")
                continue
            if not field.optional:
                body.append(f"{name} = r" + "".join(f"[{s!r}]" for s in field.steps))
                fallback = f"conv({name})"
            else:  # a missing key or a non-object on the way reads as None → ""
                first, *rest = field.steps
                body.append(f"{name} = r.get({first!r})")
                for s in rest:
                    body.append(f"{name} = {name}.get({s!r}) if {name}.__class__ is dict else None")
                fallback = f"'' if {name} is None else conv({name})"
            body.append(f"if {name}.__class__ is not str:")
            body.append(f"    {name} = J.join({name}) if {name}.__class__ is list else {fallback}")
            if not field.optional:  # blank → raise: `slow` then reports empty_text
                body.append(f"if not {name} or {name}.isspace(): raise LookupError({field.path!r})")

        def expr(segments: list[str | Field]) -> str:
            if not segments:
                return "''"
            if len(segments) == 1:
                s = segments[0]
                return lit(s) if isinstance(s, str) else names[s]
            parts = (lit(s) if isinstance(s, str) else names[s] for s in segments)
            return 'f"' + "".join("{" + p + "}" for p in parts) + '"'

        nl = lit("\n")
        state = "none"  # is `res` unset, maybe None, or surely a string?
        for line in self.lines:
            optional = any(isinstance(s, Field) and s.optional for s in line)
            body.append(f"s = {expr(line)}")
            if optional:
                body.append("if s and not s.isspace():")
                indent = "    "
            else:
                indent = ""
            if state == "none":
                body.append(f"{indent}res = s")
            elif state == "maybe":
                body.append(f'{indent}res = s if res is None else f"{{res}}{{{nl}}}{{s}}"')
            else:
                body.append(f'{indent}res = f"{{res}}{{{nl}}}{{s}}"')
            if optional:
                if state == "none":
                    body.insert(len(body) - 3, "res = None")
                state = "some" if state == "some" else "maybe"
            else:
                state = "some"
        body.append("return res" if state == "some" else "return '' if res is None else res")
        params = "".join(f", {v}={k!r}" for k, v in literals.items())
        source = f"def render(r{params}):\n" + "".join(f"    {line}\n" for line in body)
        exec(compile(source, f"<template {self.source!r}>", "exec"), env)
        fn: Callable[[Any], str] = env["render"]
        fn.source = source  # the generated code, for reading when debugging: `t.fast.source`
        return fn


class MetaBuilder:
    """Builds a document's `meta` JSON: {"file", "n", and each configured field path → value}.

    Keys are sorted (as `Doc.make` does); a missing field is omitted (a present null is kept);
    for `a[].b` items lacking `b` are left out. This runs once per document, so the builder is
    generated code (compiled once per set of paths) concatenating pre-encoded pieces.
    """

    def __init__(self, relpath: str, paths: Sequence[str]) -> None:
        fields = tuple(dict.fromkeys(p for p in paths if p not in ("file", "n")))
        self._file = encode_basestring(relpath)  # "file" and "n" are reserved: position wins
        self._head = '{"file":' + self._file + ',"n":'
        self._simple = not fields
        self._build = None if self._simple else _meta_function(fields)

    def build(self, n: int, record: Any) -> str:
        if self._build is None:
            return self._head + str(n) + "}"
        return self._build(n, record, self._file)

    def head(self) -> str:
        """Prefix of the meta of a record without extra fields: head() + str(n) + '}'."""
        return self._head

    @property
    def simple(self) -> bool:
        return self._simple


def _dumps(value: Any) -> str:
    if value.__class__ is str:
        return encode_basestring(value)
    if value.__class__ is int:
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _resolved(record: Any, steps: tuple[str | None, ...]) -> Any:
    value = resolve(record, steps)
    return _drop_missing(value) if isinstance(value, list) and value is not MISSING else value


@cache
def _meta_function(paths: tuple[str, ...]) -> Callable[[int, Any, str], str]:
    env: dict[str, Any] = {
        "M": MISSING,
        "dumps": _dumps,
        "enc": encode_basestring,
        "resolved": _resolved,
    }
    literals: dict[str, str] = {}

    def lit(text: str) -> str:
        if text not in literals:
            literals[text] = f"L{len(literals)}"
        return literals[text]

    body: list[str] = []
    pieces: dict[str, str] = {
        "file": "{" + lit('"file":') + "}{F}",
        "n": "{" + lit(',"n":') + "}{n}",
    }
    for k, path in enumerate(paths):
        steps = parse_path(path)
        v = f"v{k}"
        if EACH in steps:
            env[f"S{k}"] = steps
            body.append(f"{v} = resolved(r, S{k})")
        else:
            first, *rest = steps
            body.append(f"{v} = r.get({first!r}, M)")
            for step in rest:
                body.append(
                    f"if {v} is not M: {v} = {v}.get({step!r}, M) if {v}.__class__ is dict else M"
                )
        key = encode_basestring(path) + ":"
        before_file = path < "file"  # keys sort as strings; "file" is always there
        prefix, suffix = ("", ",") if before_file else (",", "")
        head, tail = lit(prefix + key), lit(suffix)
        body.append(f"if {v} is M: p{k} = ''")
        body.append(f"elif {v}.__class__ is str: p{k} = f'{{{head}}}{{enc({v})}}{{{tail}}}'")
        body.append(f"else: p{k} = f'{{{head}}}{{dumps({v})}}{{{tail}}}'")
        pieces[path] = f"{{p{k}}}"
    ordered = "".join(pieces[key] for key in sorted(pieces))
    body.append(f"return f'{{{lit('{')}}}{ordered}{{{lit('}')}}}'")
    params = "".join(f", {name}={text!r}" for text, name in literals.items())
    source = f"def build(n, r, F{params}):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, f"<meta {list(paths)!r}>", "exec"), env)
    fn = env["build"]
    fn.source = source
    return fn


def _drop_missing(values: list[Any]) -> list[Any]:
    return [_drop_missing(v) if isinstance(v, list) else v for v in values if v is not MISSING]
