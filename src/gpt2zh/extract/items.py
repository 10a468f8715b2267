"""`drop_items`: remove list items a source itself flags, before the template renders.

Some corpora mark parts of a record rather than whole records: MNBVC's 通用文本 format lists a
document's paragraphs under `段落`, each with `是否重复` (repeats a paragraph of the same file) and
`是否跨文件重复` (repeats one in another file). A reader's `drop_items: [段落[].是否重复,
段落[].是否跨文件重复]` removes every item of `段落` whose flag is true, so `{段落[].内容}` renders
only the rest. The dropped items are counted in `changes.items_dropped`; a record whose every item
was dropped is not a document at all: it leaves as one `all_items_dropped` drop (not
`empty_text`), so the report says the source marked it.

A flag is true when it is `true`, a non-zero number or the string "true"/"1" (any case); missing,
null or anything else keeps the item.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .paths import EACH, PathSyntaxError, parse_path

REASON = "all_items_dropped"


@dataclass(frozen=True)
class ItemFilter:
    """Items of the list at `list_steps` whose field at `flag_steps` is true are dropped."""

    list_steps: tuple[str, ...]
    flags: tuple[tuple[str, ...], ...]
    label: str


def parse_filters(paths: Sequence[str]) -> list[ItemFilter]:
    """`["段落[].是否重复", "段落[].是否跨文件重复"]` → one filter on `段落` with two flags."""
    grouped: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in paths:
        steps = parse_path(path)
        if steps.count(EACH) != 1 or steps[-1] is EACH or steps[0] is EACH:
            raise PathSyntaxError(
                f"drop_items path {path!r}: write list[].flag (one [] then the item's field)"
            )
        cut = steps.index(EACH)
        grouped.setdefault(tuple(steps[:cut]), []).append(tuple(steps[cut + 1 :]))
    return [ItemFilter(lst, tuple(flags), ".".join(lst) + "[]") for lst, flags in grouped.items()]


def _true(value: Any) -> bool:
    if value is True:
        return True
    if value.__class__ is int or value.__class__ is float:
        return value != 0
    return isinstance(value, str) and value.strip().lower() in ("true", "1")


def _get(value: Any, steps: tuple[str, ...]) -> Any:
    for step in steps:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _flagged(item: Any, flags: tuple[tuple[str, ...], ...]) -> bool:
    return isinstance(item, dict) and any(_true(_get(item, f)) for f in flags)


def apply(
    records: Iterable[Any],
    filters: Sequence[ItemFilter],
    changes: Counter[str],
    bad: Any,
    owns: Callable[[int], bool] | None = None,
) -> Iterable[Any]:
    """`records` with flagged items removed (a list stays a list); `bad(reason, error, record)`
    builds the drop entry yielded in place of a record whose lists lost every item. `owns`
    (a split file's piece test) leaves other pieces' records alone, so each item is counted once."""
    out = _apply(records, filters, changes, bad, owns)
    return list(out) if isinstance(records, list) else out


def _apply(
    records: Iterable[Any],
    filters: Sequence[ItemFilter],
    changes: Counter[str],
    bad: Any,
    owns: Callable[[int], bool] | None,
) -> Iterator[Any]:
    for n, rec in enumerate(records):
        if rec.__class__ is not dict or (owns is not None and not owns(n)):
            yield rec
            continue
        lists, kept_lists = 0, []
        for f in filters:
            parent = _get(rec, f.list_steps[:-1])
            items = parent.get(f.list_steps[-1]) if isinstance(parent, dict) else None
            if not isinstance(items, list) or not items:
                continue
            lists += 1
            kept = [it for it in items if not _flagged(it, f.flags)]
            if len(kept) < len(items):
                changes["items_dropped"] += len(items) - len(kept)
                kept_lists.append((parent, f.list_steps[-1], kept))
        if lists and sum(not kept for _, _, kept in kept_lists) == lists:
            labels = ", ".join(f.label for f in filters)  # the record as the source had it
            yield bad(REASON, f"every item of {labels} is flagged by drop_items", rec)
            continue
        for parent, key, kept in kept_lists:
            parent[key] = kept
        yield rec
