"""CSV and TSV (`.csv`, `.tsv`): rows as dicts keyed by the header (`.tsv` → tab unless
`csv_delimiter` is set). Blank rows, rows of another width and rows whose quoted field spans
lines are counted; a row that does not parse under strict quoting is one `bad_csv`."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from typing import Any

from ..streams import Decoding, Opened, split_compression
from .base import Bad, FileJob, StreamReader, error_text


class CsvReader(StreamReader):
    name = "csv"
    suffixes = (".csv", ".tsv")

    def parse(self, job: FileJob, opened: Opened, dec: Decoding) -> Iterator[Any]:
        csv.field_size_limit(sys.maxsize)
        delimiter = job.reader.get("csv_delimiter", ",")
        if delimiter == "," and split_compression(job.relpath)[0].lower().endswith(".tsv"):
            delimiter = "\t"
        text = io.TextIOWrapper(opened.stream, encoding=dec.codec, errors="strict", newline="")
        # strict: a quote left open (to the end of the file, or closed where a delimiter must
        # follow) is an error, not a field that silently swallows the rows after it
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            yield from _rows(job, reader)
        except UnicodeDecodeError as e:
            where = {"line": reader.line_num, "note": "rest of file"}
            yield Bad(dec.error_reason, error_text(e), where=where)
        finally:
            text.detach()


def _rows(job: FileJob, reader: Any) -> Iterator[Any]:
    try:
        header = next(reader, None)
    except csv.Error as e:
        yield Bad("bad_csv", error_text(e), where={"line": 1, "note": "header: rest of file"})
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
            yield Bad("bad_csv", error_text(e) + span, where={"line": first, "last_line": last})
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


READER = CsvReader()
