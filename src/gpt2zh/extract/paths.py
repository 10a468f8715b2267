"""Small path languages of the extract config: record paths and field paths.

- File globs (`files:`) are `gpt2zh.globs` (shared with the download stage).
- Record paths (`records:`) and field paths (template fields, `meta:`) are dot-separated keys, each
  optionally followed by `[]` ("every item of this list"): `content[].content[]`, `段落[].内容`.
  A record path may start with `[]` (the items of a top-level list).
"""

from __future__ import annotations

import re
from functools import cache

#: One step of a parsed path: a key (str) or EACH (iterate over a list).
EACH = None

_SEGMENT = re.compile(r"([^.\[\]{}]*)((?:\[\])?)")


class PathSyntaxError(ValueError):
    """A glob, record path or field path that cannot be parsed."""


@cache
def parse_path(path: str, allow_leading_each: bool = False) -> tuple[str | None, ...]:
    """`a.b[].c` → ('a', 'b', EACH, 'c'). Empty path → ()."""
    if path == "":
        return ()
    steps: list[str | None] = []
    for k, part in enumerate(path.split(".")):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            raise PathSyntaxError(f"path {path!r}: bad segment {part!r} (use key or key[])")
        key, each = m.group(1), m.group(2)
        if key:
            steps.append(key)
        elif not (each and k == 0 and allow_leading_each):
            raise PathSyntaxError(f"path {path!r}: empty key in segment {k + 1}")
        if each:
            steps.append(EACH)
    return tuple(steps)


def ijson_prefix(steps: tuple[str | None, ...]) -> str:
    """ijson prefix of a parsed record path: `content[].content[]` → content.item.content.item."""
    for s in steps:
        if s is not None and ("." in s or s == "item"):
            raise PathSyntaxError(f"record path key {s!r} cannot be streamed (ijson prefix syntax)")
    return ".".join("item" if s is EACH else s for s in steps)
