"""Record readers, one module per input format, behind one contract (`base.Reader`).

    items = records(job)   # job: a base.FileJob (one file, one `read:` entry's settings)

`records` picks the file's reader, by the `format:` setting or, with `auto`, by the extension
after a compression suffix (the json reader then lets the content overrule the name: JSON lines
in a `.json` file are read as jsonl), and removes the items a source flags (`drop_items`, see
`items.py`). What each format yields, and how bad data becomes a `base.Bad`, is in its module
and in `base.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from json import dumps  # the stdlib's: `json` in this package is the json reader
from typing import Any

from .. import items as drop_items
from ..assign import ExtractError
from ..paths import PathSyntaxError
from ..streams import split_compression
from . import csv, json, jsonl, parquet, txt
from .base import SKIPPED, Bad, FileJob, Reader, excerpt_of

__all__ = ["SKIPPED", "Bad", "FileJob", "Reader", "excerpt_of", "records", "resolve_format"]

#: Every reader by its `format:` name (the order the error message lists them in).
READERS: dict[str, Reader] = {
    r.name: r for r in (jsonl.READER, json.READER, parquet.READER, csv.READER, txt.READER)
}
FORMAT_BY_SUFFIX = {suffix: r.name for r in READERS.values() for suffix in r.suffixes}


def resolve_format(setting: str, relpath: str) -> str:
    if setting != "auto":
        return setting
    stem = split_compression(relpath)[0].lower()
    for suffix, fmt in FORMAT_BY_SUFFIX.items():
        if stem.endswith(suffix):
            return fmt
    raise ExtractError(
        f"{relpath}: cannot tell the format from the name; set `format:` on the reader "
        f"(one of {', '.join(READERS)}) or narrow its `files:` globs"
    )


def records(job: FileJob) -> Iterable[Any]:
    """The file's records (see `base.Reader.records`), less the items its source flags."""
    paths = job.reader.get("drop_items")
    if not paths:
        return _reader(job).records(job)
    try:
        filters = _item_filters(tuple(paths))
    except PathSyntaxError as e:
        raise ExtractError(f"drop_items: {e}") from e
    return drop_items.apply(
        _reader(job).records(job), filters, job.owned_changes, _dropped_record, job.owns()
    )


def _reader(job: FileJob) -> Reader:
    return READERS[resolve_format(job.reader.get("format", "auto"), job.relpath)]


@cache
def _item_filters(paths: tuple[str, ...]) -> list[drop_items.ItemFilter]:
    return drop_items.parse_filters(paths)


def _dropped_record(reason: str, error: str, record: Any) -> Bad:
    return Bad(reason, error, excerpt_of(dumps(record, ensure_ascii=False)))
