"""The one glob language of every config path pattern (source `patterns`/`include`, reader
`files`): `*` and `?` stay inside one folder, `**` spans folders (`**/` also matches no folder),
`[abc]`/`[!abc]` are character sets, a trailing `/` means everything below that folder. Matching
is case-sensitive on every platform. One language for all of them, so a pattern that selects
files for download selects the same files for extract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache


class GlobSyntaxError(ValueError):
    """A glob that cannot be parsed."""


@cache
def glob_regex(glob: str) -> re.Pattern[str]:
    """Compiles one glob to a regex that must match a whole relpath."""
    if glob.endswith("/"):
        glob += "**"
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                at_start = i == 0 or glob[i - 1] == "/"
                if at_start and glob.startswith("**/", i):
                    out.append("(?:.*/)?")  # zero or more whole folders
                    i += 3
                else:
                    out.append(".*")
                    i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = glob.find("]", i + 2 if glob.startswith("[!", i) else i + 1)
            if j < 0:
                raise GlobSyntaxError(f"glob {glob!r}: unclosed '[' at position {i}")
            body = glob[i + 1 : j]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def as_list(globs: str | Iterable[str] | None) -> list[str]:
    """The schema allows one glob or a list; callers always want a list."""
    if globs is None:
        return []
    return [globs] if isinstance(globs, str) else list(globs)


def glob_match(globs: str | Iterable[str], relpath: str) -> bool:
    """True when `relpath` (POSIX, relative) matches any of `globs`."""
    return any(glob_regex(g).fullmatch(relpath) for g in as_list(globs))
