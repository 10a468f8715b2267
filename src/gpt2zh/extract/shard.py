"""extract_shard: one dataset shard from its assigned source files to a document shard."""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyarrow as pa

from gpt2zh import arrowfn as pc
from gpt2zh.chain import output_record
from gpt2zh.layout import sidecar
from gpt2zh.ledger import Ledger
from gpt2zh.progress import Progress
from gpt2zh.shards import ShardWriter

from .assign import SPAN, ExtractError, FileTask, position, shard_files
from .paths import PathSyntaxError, parse_path
from .readers import Bad, FileJob, excerpt_of, records
from .template import MetaBuilder, Template, TemplateError, TemplateSyntaxError
from .verify import verify_files

log = logging.getLogger(__name__)

STAGE = "extract"
#: Documents are handed to the shard writer in batches of at most this many documents or chars.
BATCH_DOCS = 8192
BATCH_CHARS = 16 * 1024 * 1024
#: Extract shards are read once, by clean: zstd level 1 writes them about twice as fast as level 3
#: for ~20 % more bytes (measured on chinese-poetry: 18.1 vs 15.0 MB, 0.10 vs 0.18 s).
ZSTD_LEVEL = 1


class _Reader:
    """One `read:` entry, compiled once."""

    def __init__(self, dataset: str, index: int, cfg: Mapping[str, Any]) -> None:
        where = f"datasets.{dataset}.read[{index}]"
        try:
            self.template = Template(cfg["text"], cfg.get("join", "\n"))
            for p in cfg.get("meta", []):
                parse_path(p)
            parse_path(cfg.get("records", ""), allow_leading_each=True)
        except (TemplateSyntaxError, PathSyntaxError) as e:
            raise ExtractError(f"{where}: {e}") from e
        enc = cfg.get("encoding", "auto")
        if enc != "auto":
            try:
                codecs.lookup(enc)
            except LookupError as e:
                raise ExtractError(f"{where}.encoding: unknown codec {enc!r}") from e
        self.cfg = cfg
        self.meta_paths = list(cfg.get("meta", []))


_LINE_BREAKS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


class _Quarantine:
    """quarantine.jsonl, written through a tmp file renamed on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(path.name + ".tmp")
        self._f: TextIO = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115

    def add(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, default=str)
        # JSON leaves these unescaped, but str.splitlines() and some editors break lines at them
        for sep, esc in _LINE_BREAKS:
            if sep in line:
                line = line.replace(sep, esc)
        self._f.write(line + "\n")

    def close(self) -> None:
        self._f.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._f.close()
        self._tmp.unlink(missing_ok=True)


class _Run:
    writer: ShardWriter

    def __init__(self, spec: Mapping[str, Any], shard: int, q: _Quarantine) -> None:
        self.dataset: str = spec["name"]
        opts = spec.get("extract_options") or {}
        self.max_doc_bytes = int(opts.get("max_doc_bytes", 8 * 1024 * 1024))
        self.json_stream_bytes = int(opts.get("json_stream_bytes", 64 * 1024 * 1024))
        self.readers = [_Reader(self.dataset, k, r) for k, r in enumerate(spec["read"])]
        self.ledger = Ledger(STAGE, self.dataset, shard)
        self.q = q
        self.texts: list[str] = []  # the current batch of kept texts, across files
        self.segs: list[_Segment] = []  # which file and record each of them came from
        self.batch_chars = 0

    # -- output --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Hands the batch to the writer. ids and simple metas are built column-wise: per-document
        work in Python is what extract's speed is made of."""
        if not self.texts:
            return
        segs = [seg for seg in self.segs if seg.ns]
        led = self.ledger
        led.chars_in += self.batch_chars
        chars = self.batch_chars
        texts: pa.Array | None = None
        with contextlib.suppress(UnicodeEncodeError):  # lone surrogates ("\ud800" in JSON)
            texts = pa.array(self.texts, pa.string())
        if texts is None:
            texts, segs, chars = self._repair(segs)
        if len(texts):
            ids, metas = _id_meta_columns(segs)
            led.bytes_out += self.writer.write_batch(ids, texts, self.dataset, metas)
            led.docs_out += len(texts)
            led.chars_out += chars
            # Kept records are the documents that enter the pipeline: their lengths are the
            # extract histogram (records dropped here have no text to measure).
            led.add_lengths(pc.utf8_length(texts).to_pylist(), out=True)
        self.texts = []
        self.segs = []
        self.batch_chars = 0

    def _repair(self, segs: list[_Segment]) -> tuple[pa.Array, list[_Segment], int]:
        """A batch that Arrow refused (lone surrogates, from JSON "\\ud800" escapes): texts that
        cannot be encoded as UTF-8 are dropped as bad_utf8, such metas escaped as ASCII JSON."""
        texts: list[str] = []
        clean: list[_Segment] = []
        chars = 0
        k = 0
        for seg in segs:
            out = _Segment(
                seg.id_prefix, seg.meta_head, seg.relpath, [], None if seg.metas is None else []
            )
            for i, n in enumerate(seg.ns):
                text = self.texts[k]
                k += 1
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as e:
                    error = f"{type(e).__name__}: {e}"
                    self.drop("bad_utf8", seg.relpath, n, error, excerpt_of(text))
                    continue
                texts.append(text)
                chars += len(text)
                out.ns.append(n)
                if out.metas is not None:
                    meta = seg.metas[i]
                    try:
                        meta.encode("utf-8")
                    except UnicodeEncodeError:  # keep the doc; escape the meta as ASCII JSON
                        meta = json.dumps(json.loads(meta), ensure_ascii=True, sort_keys=True)
                    out.metas.append(meta)
            if out.ns:
                clean.append(out)
        return pa.array(texts, pa.string()), clean, chars

    def drop(
        self, reason: str, relpath: str, n: int, error: str, excerpt: str, **where: Any
    ) -> None:
        error, excerpt = _printable(error), _printable(excerpt[:300])
        entry = {"reason": reason, "file": relpath, "n": n, **where, "error": error}
        entry["excerpt"] = excerpt
        self.q.add(entry)
        self.ledger.dropped(reason, excerpt, file=relpath, n=n, error=error[:300], **where)

    # -- one file ------------------------------------------------------------------------------

    def file(self, root: str, task: FileTask) -> None:
        reader = self.readers[task.reader]
        path = os.path.join(root, task.relpath)
        job = FileJob(
            path,
            task.relpath,
            reader.cfg,
            self.max_doc_bytes,
            self.json_stream_bytes,
            lo=task.lo,
            hi=task.hi,
        )
        kept_before = self.ledger.docs_out + len(self.texts)
        try:
            items = records(job)
        except FileNotFoundError as e:
            raise ExtractError(
                f"dataset {self.dataset!r}: {task.relpath!r} is in the manifest but not under "
                f"the source root {root!r} (re-run the download stage)"
            ) from e
        seen = self._records(job, reader, items)
        led = self.ledger
        led.docs_in += seen
        if task.whole:
            led.bytes_in += job.bytes_in
        else:  # every piece reads the whole file: each counts its span's share of the bytes
            led.bytes_in += job.bytes_in * task.hi // SPAN - job.bytes_in * task.lo // SPAN
        if task.lo == 0:  # file-level changes (BOM, blank lines) once, by the first piece
            for what, count in job.changes.items():
                led.changed(what, count)
        for what, count in job.owned_changes.items():
            led.changed(what, count)
        dec = job.decoding
        if dec is not None and dec.label != "utf-8":
            self.flush()  # so that the count below is exact
            led.changed(f"decoded_{dec.label}", led.docs_out - kept_before)

    def _records(self, job: FileJob, reader: _Reader, items: Iterable[Any]) -> int:
        """The hot loop: every record becomes a kept text or one drop. Returns the count of
        records this shard owns (all of the file's, unless it reads one piece of it)."""
        relpath = job.relpath
        meta = MetaBuilder(relpath, reader.meta_paths)
        limit = self.max_doc_bytes
        quick_chars = limit // 4  # a text of at most this many chars fits in `limit` bytes
        lo, hi = job.lo, job.hi
        piece = (lo, hi) != (0, SPAN)
        owned = 0
        if items.__class__ is list and not job.may_have_controls and not piece:
            count = self._whole_file(relpath, reader, meta, items, quick_chars)
            if count is not None:
                return count
        fast = reader.template.fast
        slow = reader.template.slow
        simple_meta = meta.simple
        batch_docs, batch_chars_max = BATCH_DOCS, BATCH_CHARS
        seg = _Segment(
            f"{self.dataset}/{relpath}#",
            meta.head() if simple_meta else None,
            relpath,
            [],
            None if simple_meta else [],
        )
        self.segs.append(seg)
        texts, ns, metas = self.texts, seg.ns, seg.metas
        batch_chars = self.batch_chars
        controls = job.may_have_controls
        crlf = nul = 0
        n = -1
        for rec in items:
            n += 1
            if piece:
                if not lo <= position(n) < hi:
                    continue  # another shard's record (readers may yield SKIPPED for it)
                owned += 1
            if rec.__class__ is dict:
                try:
                    text = fast(rec)
                except Exception:
                    try:
                        text = slow(rec)
                    except TemplateError as e:
                        excerpt = _record_excerpt(rec)
                        fields = [str(k) for k in rec][:50]  # what the template could have named
                        self.drop(
                            e.reason, relpath, n, str(e), excerpt, field=e.field, fields=fields
                        )
                        continue
            elif rec.__class__ is Bad:
                self.drop(rec.reason, relpath, n, rec.error, rec.excerpt, **(rec.where or {}))
                continue
            else:
                error = f"record is {type(rec).__name__}, not an object"
                self.drop("not_an_object", relpath, n, error, _record_excerpt(rec))
                continue
            if controls:
                if "\r" in text:
                    text = text.replace("\r\n", "\n").replace("\r", "\n")
                    crlf += 1
                if "\x00" in text:
                    text = text.replace("\x00", "")
                    nul += 1
            size = len(text)
            if not size or text.isspace():
                self.ledger.chars_in += size
                self.drop("empty_text", relpath, n, "text is empty or whitespace", text)
                continue
            if size > quick_chars:
                nbytes = len(text.encode("utf-8", "surrogatepass"))
                if nbytes > limit:
                    self.ledger.chars_in += size
                    error = f"text of {nbytes} bytes > max_doc_bytes {limit}"
                    self.drop("too_large", relpath, n, error, excerpt_of(text))
                    continue
            texts.append(text)
            ns.append(n)
            if not simple_meta:
                metas.append(meta.build(n, rec))
            batch_chars += size
            if batch_chars >= batch_chars_max or len(texts) >= batch_docs:
                self.batch_chars = batch_chars
                self.flush()
                batch_chars = 0
                texts = self.texts
                seg = _Segment(
                    seg.id_prefix, seg.meta_head, relpath, [], None if simple_meta else []
                )
                self.segs.append(seg)
                ns, metas = seg.ns, seg.metas
        self.batch_chars = batch_chars
        self.ledger.changed("crlf_normalized", crlf)
        self.ledger.changed("nul_removed", nul)
        return owned if piece else n + 1

    def _whole_file(
        self,
        relpath: str,
        reader: _Reader,
        meta: MetaBuilder,
        records: list[Any],
        quick_chars: int,
    ) -> int | None:
        """All records of a file read whole, in one pass of C-level loops, when every record
        renders and none needs a drop or a check (the common case); None sends the file to the
        per-record loop, which redoes it exactly (templates are pure)."""
        try:
            texts = list(map(reader.template.fast, records))  # non-objects fail here too
        except Exception:
            return None
        if not all(texts) or any(map(str.isspace, texts)):
            return None
        lengths = list(map(len, texts))
        if lengths and max(lengths) > quick_chars:
            return None
        count = len(texts)
        self.texts.extend(texts)
        self.segs.append(
            _Segment(
                f"{self.dataset}/{relpath}#",
                meta.head() if meta.simple else None,
                relpath,
                range(count),
                None if meta.simple else [meta.build(n, r) for n, r in enumerate(records)],
            )
        )
        self.batch_chars += sum(lengths)
        if self.batch_chars >= BATCH_CHARS or len(self.texts) >= BATCH_DOCS:
            self.flush()
        return count


def _printable(text: str) -> str:
    """Text that can be written as UTF-8 (lone surrogates replaced)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


@dataclass(slots=True)
class _Segment:
    """Consecutive kept documents of one file in the current batch."""

    id_prefix: str
    meta_head: str | None  # None: metas are built per document (configured meta fields)
    relpath: str
    ns: list[int] | range  # record ordinals of the kept documents
    metas: list[str] | None


def _id_meta_columns(segs: list[_Segment]) -> tuple[pa.Array, pa.Array]:
    """ids `prefix + n` and simple metas `head + n + "}"` for the whole batch in a few Arrow
    calls (per-document string building in Python costs more than parsing the record)."""
    lengths = np.fromiter((len(seg.ns) for seg in segs), dtype=np.int32, count=len(segs))
    which = pa.array(np.repeat(np.arange(len(segs), dtype=np.int32), lengths))
    parts = [
        np.arange(seg.ns.start, seg.ns.stop, dtype=np.int64)
        if isinstance(seg.ns, range)
        else np.array(seg.ns, dtype=np.int64)
        for seg in segs
    ]
    ns = pc.cast(pa.array(np.concatenate(parts)), pa.string())
    prefixes = pa.DictionaryArray.from_arrays(which, pa.array([s.id_prefix for s in segs]))
    ids = pc.binary_join_element_wise(pc.cast(prefixes, pa.string()), ns, "")
    if all(seg.meta_head is not None for seg in segs):
        heads = pa.DictionaryArray.from_arrays(which, pa.array([s.meta_head for s in segs]))
        metas = pc.binary_join_element_wise(pc.cast(heads, pa.string()), ns, "}", "")
        return ids, metas
    built: list[str] = []
    for seg in segs:
        if seg.metas is not None:
            built.extend(seg.metas)
        else:
            built.extend(f"{seg.meta_head}{n}}}" for n in seg.ns)
    return ids, pa.array(built, pa.string())


def _record_excerpt(rec: Any) -> str:
    try:
        return excerpt_of(json.dumps(rec, ensure_ascii=False, default=str)[:1000])
    except (TypeError, ValueError):
        return excerpt_of(repr(rec))


def _progress(files: list[FileTask], desc: str) -> Iterator[FileTask]:
    bar = Progress(len(files), desc, "file", log_interval=5.0)
    for task in files:
        yield task
        bar.update()
    bar.close()


def extract_shard(
    spec: Mapping[str, Any], shard: int, manifest_path: str | Path, out_path: str | Path
) -> dict[str, Any]:
    """Extracts shard `shard` of the dataset `spec` (see the package docstring).

    Writes `out_path` (Parquet document shard), `<stem>.stats.json` and `<stem>.quarantine.jsonl`
    beside it and returns the stats dict.
    """
    out_path = Path(out_path)
    manifest_path = Path(manifest_path)
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    root = str(manifest.get("root", "."))
    tasks = shard_files(spec, manifest, shard)
    dataset = spec["name"]
    log.info(
        "extract %s shard %d: %d files (%d of them in part), %d bytes",
        dataset,
        shard,
        len(tasks),
        sum(not t.whole for t in tasks),
        sum(t.share for t in tasks),
    )
    verify_files(root, manifest, (t.relpath for t in tasks))
    q = _Quarantine(sidecar(out_path, ".quarantine.jsonl"))
    try:
        run = _Run(spec, shard, q)  # compiles the readers: config errors before any output
        with ShardWriter(out_path, compression_level=ZSTD_LEVEL) as writer:
            run.writer = writer
            for task in _progress(tasks, f"extract {dataset} shard {shard}"):
                run.file(root, task)
            run.flush()
    except BaseException:
        q.abort()
        raise
    q.close()
    led = run.ledger
    led.extra.update(
        files=[t.relpath for t in tasks],
        file_bytes=sum(t.share for t in tasks),
        quarantined=sum(led.drops.values()),
        **output_record(out_path),
    )
    pieces = {t.relpath: [t.lo, t.hi] for t in tasks if not t.whole}
    if pieces:  # the files this shard read in part: [lo, hi) of assign.SPAN
        led.extra["pieces"] = pieces
    stats = led.write(sidecar(out_path, ".stats.json"))
    log.info(
        "extract %s shard %d: %d records in, %d documents out, drops %s, %.1f s",
        dataset,
        shard,
        led.docs_in,
        led.docs_out,
        dict(led.drops) or "none",
        stats["seconds"],
    )
    return stats
