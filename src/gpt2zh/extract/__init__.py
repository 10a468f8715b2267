"""The extract stage: a dataset's downloaded files → Parquet document shards, stats, quarantine.

    stats = extract_shard(spec, shard, manifest_path, out_path)

`spec` is `gpt2zh.config.dataset_spec(cfg, name)`; `manifest_path` the download manifest of its
source (`root` + `files`). Writes `out_path` (a document shard), `<stem>.stats.json` (the
stage ledger, `in == out + drops` enforced) and `<stem>.quarantine.jsonl` (always created).

Which files a shard reads (`assign.py`)
    All manifest files matching a reader's `files` globs (a file belongs to the FIRST reader that
    matches it; `*`/`?` stay in one folder, `**` spans folders), sorted by path. With many files
    they are assigned whole to the `shards` shards by longest-processing-time greedy on byte size
    (ties by path), as long as that leaves no shard empty and none more than 10 % above the mean;
    otherwise the files are laid end to end and cut into `shards` equal byte ranges, and a file
    that straddles a cut is split: each shard it overlaps keeps the records whose ordinal falls in
    its piece (`assign.position`), in proportion to its bytes of the file. So `shards` is the
    parallelism of every stage whatever the number and size of the files (one 2 GB file and
    `shards: 8` gives eight balanced shards). Every shard job computes the same plan from the
    manifest, every output name is known up front, and a record is extracted by exactly one
    shard. A piece job reads its whole file (gzip cannot be seeked) but JSON lines and Parquet
    rows it does not own are skipped unparsed; a split file's bytes_in is divided among its
    pieces by span and its file-level changes (BOM, blank lines) are counted by the first piece.
    Globs matching no file at all are an error naming the dataset and globs; a shard that gets no
    records writes an empty shard with zero stats.

Documents
    `id = f"{dataset}/{relpath}#{n}"`, n the 0-based ordinal of the record within its file,
    counting quarantined records too, so ids are stable when a bad record is fixed or breaks.
    `meta` = JSON {"file": relpath, "n": n, and each configured `meta` field path → value
    (missing → omitted, null kept)}, keys sorted. `text` comes from the reader's `text` template
    (`template.py`): `{a}`, `{a.b}`, `{a[].b}`, optional `{a?}`, `{{`/`}}`. A required field
    must be present (else `missing_field`) and not blank (else `empty_text`: a title alone is no
    document); an optional one may be missing, and a template line holding an optional field that
    renders blank is removed. Extract normalises only line ends (CRLF/CR → LF,
    `changes.crlf_normalized`), removes NUL characters (`nul_removed`) and a file's UTF-8 BOM
    (`bom_stripped`); everything else is the clean stage's job.

Formats (`readers/`, one module per format behind `readers.base.Reader`; `format: auto` picks
    by extension after a compression suffix, except that a `.json` whose first bytes hold two
    top-level values on consecutive lines is read as jsonl, counted in `changes.sniffed_jsonl`:
    C4 ships JSON lines as `.json.gz`)
    jsonl/ndjson — one record per line, read as bytes and decoded per line, so one bad line is one
        quarantine entry (`bad_utf8`/`bad_encoding`, `bad_json`, `not_an_object`, `too_large`
        for a line over max_doc_bytes, which is never held whole). Blank lines are not records:
        they are counted in `changes.blank_lines_skipped`, not in docs_in.
    json — the whole file through `json.loads` when it has at most `json_stream_bytes`
        (decompressed), else streamed with ijson; `records` (`content[].content[]`) selects the
        records, empty means the items of a top-level list or the top-level object itself. A
        file that does not parse is one `bad_json`; a records path that leads nowhere is one
        `records_path_missing`. Both parse paths give identical records. A record nested
        deeper than 512 levels is one `bad_json` naming the depth (`depth.py`; in bounded
        memory: ijson alone needs memory quadratic in the depth), the records around it kept.
    parquet — row batches as dicts (only the columns the template and meta need).
    csv/tsv — csv rows as dicts keyed by the header (`.tsv` → tab unless `csv_delimiter` is set);
        blank rows are counted in `blank_lines_skipped`, rows of another width in
        `csv_ragged_rows`, rows whose quoted field spans lines in `csv_multiline_rows`;
        unparsable ones (strict quoting: a quote left open to the end of the file, or closed
        where no delimiter follows) are quarantined `bad_csv` naming the lines they span.
    txt — `txt_unit: file` one document per file, `paragraph` one per blank-line-separated
        paragraph (streamed); the record is {"text": ...}, so the template is `{text}`.
    Compression gz/zst/bz2 (`auto`: magic bytes, then suffix). A truncated or corrupt
    compressed file keeps the records read so far; the rest is one `corrupt_file` entry.

Encoding `auto` (`streams.py`, `charsets.py`): UTF-8 (ASCII carrying ISO-2022 or HZ escapes is
    read in that codec); else UTF-8 when the sample is mostly UTF-8 (≤ 10 % bad non-ASCII bytes)
    or ASCII with a few stray bytes: those records alone fail as `bad_utf8`; else GB18030, Big5
    or Big5-HKSCS when exactly one of their strict decodings of the first 64 KiB reads as
    common Chinese (Japanese and Korean text is refused, not read as Chinese); else
    charset_normalizer with low chaos, never a multi-byte CJK guess; else the file is one
    `unknown_encoding` entry. In a file decoded with a detected code page, a record that is
    valid UTF-8 is `mixed_encoding` (a code page would turn it into mojibake without an error).
    An explicit `encoding:` is used as given (undecodable records: `bad_encoding`). Documents
    kept from a file decoded as anything but UTF-8 are counted in `changes.decoded_<codec>`.
    Codecs that are not ASCII-compatible (UTF-16, ...) are transcoded to UTF-8 first.

Accounting: every record is one document in; it is kept or dropped with exactly one quarantine
    entry ({reason, file, n, line/offset where known, error, excerpt}) and one ledger drop.
    Drop reasons: bad_json, bad_utf8, bad_encoding, unknown_encoding, mixed_encoding,
    not_an_object, missing_field, bad_field_type, empty_text, too_large, corrupt_file, bad_csv,
    records_path_missing, all_items_dropped (every list item flagged by the reader's
    `drop_items`, see `items.py`; the items dropped from kept records are counted in
    `changes.items_dropped`). A template drop also names the fields the record has (`fields`).
    chars_in counts the built text of every record that got one;
    bytes_in the decompressed bytes read; chars_out/bytes_out the kept text. The quarantine is
    JSONL with every line break inside a line escaped.

A shard that quarantined more than `extract.max_quarantine_fraction` (default 0.5) of its
    records fails `gpt2zh extract` after writing its outputs (`verdict.py`), naming the main
    reason, the templates, the records' fields and an example: a reader that does not fit the data
    stops here, not at the tokenizer's empty sample.

Output: zstd level 1 Parquet (`shard.ZSTD_LEVEL`): extract shards are read once, by clean, and
    level 1 halves the write time for ~20 % more bytes.

Speed (benchmarks/extract_bench.py): JSON files read whole take a path of C-level loops over all
    their records (`_Run._whole_file`), ids and simple metas are built column-wise in Arrow, and
    templates and meta builders are generated Python compiled once per reader.

Known limits: a template cannot reach fields of the objects above a record (`records:` selects
    the record; put what you need into each record or use a coarser records path); streamed JSON
    (ijson) refuses NaN/Infinity, which json.loads accepts; record-path keys containing "." or
    named "item" cannot be streamed (a clear error); a CSV field is held whole however large.
"""

from .assign import ExtractError, FileTask, assign_shards, match_files, shard_files
from .shard import extract_shard
from .template import Template
from .verdict import check_quarantine_share

__all__ = [
    "ExtractError",
    "FileTask",
    "Template",
    "assign_shards",
    "check_quarantine_share",
    "extract_shard",
    "match_files",
    "shard_files",
]
