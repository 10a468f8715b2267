"""Parquet (`.parquet`): row batches as dicts, only the columns the template and meta need. A
columnar file needs random access, so it is read by path (a compressed one is first decompressed
to an unlinked spool file), not as a byte stream; a piece of a split file turns only the rows it
owns into Python objects."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..assign import positions
from ..paths import parse_path
from ..streams import READ_CHUNK, Opened, resolve_compression
from .base import SKIPPED, Bad, FileJob, Reader, error_text, guard

PARQUET_BATCH = 2048


class ParquetReader(Reader):
    name = "parquet"
    suffixes = (".parquet",)

    def records(self, job: FileJob) -> Iterable[Any]:
        compression = resolve_compression(
            job.reader.get("compression", "auto"), job.path, job.relpath
        )
        return guard(_rows(job, compression))


def _rows(job: FileJob, compression: str) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    job.bytes_in += os.stat(job.path).st_size
    spool = None
    try:
        source: Any = job.path
        if compression != "none":
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed in `finally`
            with Opened(job.path, compression, job.relpath) as opened:
                while chunk := opened.stream.read(READ_CHUNK):
                    spool.write(chunk)
            spool.seek(0)
            source = spool
        try:
            pf = pq.ParquetFile(source)
        except (pa.ArrowException, OSError) as e:
            yield Bad("corrupt_file", error_text(e))
            return
        needed = _needed_columns(job.reader)
        names = pf.schema_arrow.names
        columns = [c for c in names if c in needed] or None
        count = 0
        piece = job.owns() is not None
        try:
            for batch in pf.iter_batches(batch_size=PARQUET_BATCH, columns=columns):
                if piece:  # only the owned rows become Python objects
                    mine = _owned_rows(job, count, batch.num_rows)
                    kept = iter(batch.filter(pa.array(mine)).to_pylist())
                    count += batch.num_rows
                    for own in mine.tolist():
                        yield next(kept) if own else SKIPPED
                    continue
                rows = batch.to_pylist()
                count += len(rows)
                yield from rows
        except (pa.ArrowException, OSError) as e:
            rest = {"note": f"rest of file after {count} rows"}
            yield Bad("corrupt_file", error_text(e), where=rest)
    finally:
        if spool is not None:
            spool.close()


def _owned_rows(job: FileJob, start: int, n: int) -> Any:
    """Boolean mask of the rows start..start+n-1 that `job` owns (vectorised `FileJob.owns`)."""
    pos = positions(start, n)
    return (pos >= job.lo) & (pos < job.hi)


def _needed_columns(reader: Mapping[str, Any]) -> set[str]:
    from ..template import parse_template

    out: set[str] = set()
    for line in parse_template(reader["text"]):
        for seg in line:
            if not isinstance(seg, str) and seg.steps:
                out.add(seg.steps[0])
    for path in reader.get("meta", []):
        steps = parse_path(path)
        if steps and steps[0] is not None:
            out.add(steps[0])
    return out


READER = ParquetReader()
