"""The convert stage: Traditional → Simplified Chinese with the official OpenCC, per shard.

    stats = convert_shard(spec, shard, in_path, out_path)

`spec` is `gpt2zh.config.dataset_spec(cfg, name)`. Its `convert` picks the OpenCC configuration:
`t2s` (OpenCC standard Traditional), `tw2sp` (Taiwan, with mainland phrases: 滑鼠 → 鼠标),
`hk2s` (Hong Kong), `none` (documents pass through), or `auto`: `t2s` for `script: traditional`
and `mixed`, `none` for `simplified`. The stage never drops a document and never reorders them.

Ledger (`changes` in `<shard>.stats.json`)
    `docs_converted`  documents whose text differs after conversion;
    `chars_converted` characters OpenCC replaced (see "Counting" below);
    `docs_length_changed` documents whose length in characters changed (only `tw2sp`'s phrase
        dictionary does that; their characters are counted by alignment, not by position).
Extra keys in the stats (`extra=` of the runner)
    `conversion` (resolved: t2s|tw2sp|hk2s|none), `conversion_requested` (the config value),
    `opencc_version`, `opencc_tofu_risk` (see below), `convert_batch_fallbacks` (batches
    converted document by document because the batch trick did not apply), and
    `changed_pairs`: the `TOP_PAIRS` most frequent replacements, each
    `{"from", "to", "count", "before", "after"}`, with `before`/`after` an excerpt of the input
    and output where the replacement was first found (deterministic: shard order, except that
    within a batch documents that kept their length come first);
    `changed_pairs_distinct` (how many different replacements) and `changed_pairs_unlisted`
    (occurrences of replacements not listed). A replacement is one character (國 → 国), or a
    span where a document's length changed (記憶體 → 内存, which counts max(len) characters), so
    listed + unlisted counts equal `chars_converted` whenever no document changed length.

Speed
    One OpenCC instance per (configuration, process). OpenCC's per-call overhead dominates on
    short documents (poems are ~224 B), so a batch of documents is joined with a separator that no
    OpenCC dictionary contains (a private-use character absent from the batch), converted in one
    call and split again. OpenCC segments by maximum forward matching on phrases, and no phrase
    can span a character that is in no dictionary, so the result equals per-document conversion
    (the benchmark and tests check this); if the split count does not match, the batch falls back
    to one call per document (`convert_batch_fallbacks`).

Counting (`chars_converted`)
    A changed character is one position where input and output differ; where lengths differ, a
    replaced span counts `max(len(old), len(new))` (記憶體 → 内存 counts 3, 症 → 综合征 counts 3).
    Documents of equal length before and after are compared position by position on UTF-32 code
    point arrays (numpy, one pass per batch). That is exact for `t2s` and `hk2s`: every entry of
    their dictionaries (TSPhrases, TSCharacters, TSCharactersExt, HK variants, CJK compatibility
    normalisation) maps a key to a value of the same length (checked against OpenCC 1.4.2's
    dictionaries). Only `tw2sp`'s TWPhrasesRev changes length (223 of its 810 entries). A
    document whose length changed is aligned without difflib: both sides are cut into clauses at
    whitespace and sentence punctuation (no OpenCC dictionary key or value holds any of them;
    `·` and `-` do and are not cut at); a clause that kept its length is compared by position; in
    one that did not, the common prefix and suffix are stripped and the rest (at most
    `MAX_ALIGN_CELLS` = len(old)·len(new), plenty for a clause) is aligned on a longest common
    subsequence, whose gaps are the replacements, so unchanged characters between two phrases are
    not counted. Upper bounds remain only in two rare cases: a middle too long to align is one
    span, and under `tw2sp` a document whose lengthening and shortening phrases cancel out is
    compared by position. `docs_length_changed` says how many documents were aligned.

Tofu-risk dictionary (`opencc_tofu_risk`, default False)
    OpenCC 1.4 adds TSCharactersExt ("may_output_tofu") to t2s/tw2sp/hk2s: it maps BMP
    characters to their Simplified forms in CJK Extensions B–H (殢 → 𣨼, 鶒 → 𫛶, 爇 → 𦶟), which
    many fonts and tokenizers lack. Real Simplified text keeps the BMP form: the already
    Simplified Song ci of chinese-poetry has 殢 167×, 鶒 30×, 爇 43× and none of the Extension
    forms. So by default the stage leaves those characters as they are (`False`), which also makes
    a Traditional edition agree with Simplified editions of the same text for dedup. The dataset
    key `convert_tofu_risk: true`, when the schema has it, or the `tofu_risk=` argument turns the
    dictionary on.
"""

from __future__ import annotations

import argparse
import logging
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import opencc

from gpt2zh.config import dataset_spec
from gpt2zh.contract import Stage, add_doc_shard_args, read_named_spec
from gpt2zh.docstage import DocBatch, Drop, Step, run_doc_stage
from gpt2zh.ledger import Ledger

log = logging.getLogger(__name__)

CONVERSIONS = ("t2s", "tw2sp", "hk2s")
AUTO = {"traditional": "t2s", "mixed": "t2s", "simplified": "none"}

#: Replacement pairs kept per shard (the report shows fewer; more per shard keeps merges right).
TOP_PAIRS = 200
#: Characters of context on each side of a pair's example.
EXAMPLE_CONTEXT = 8
#: Batches are converted in chunks of at most this many characters, so a batch of huge documents
#: costs a bounded amount of extra memory.
CHUNK_CHARS = 4 << 20
#: Batch separators, tried in order: private-use characters (no OpenCC dictionary holds any).
SEPARATORS = ("\ue000", "\uf8ff", "\U000f0000", "\U0010fffd")
#: Where a length-changed document is cut into clauses (no OpenCC dictionary entry holds these).
_ANCHORS = re.compile(r"([\s，。！？；：、,.!?;:]+)")
#: Largest clause middle (len(old) * len(new)) aligned on a common subsequence.
MAX_ALIGN_CELLS = 4096
#: Per-batch replacement counts are summed every this many batches.
COMPACT_EVERY = 64


class ConvertError(ValueError):
    """The dataset's `convert` value cannot be resolved."""


def resolve_conversion(spec: Mapping[str, Any]) -> str:
    """The OpenCC configuration a dataset uses: t2s, tw2sp, hk2s or none."""
    conv = spec.get("convert", "auto")
    if conv == "auto":
        script = spec.get("script", "simplified")
        if script not in AUTO:
            raise ConvertError(f"datasets.{spec.get('name')}.script: unknown script {script!r}")
        return AUTO[script]
    if conv != "none" and conv not in CONVERSIONS:
        raise ConvertError(
            f"datasets.{spec.get('name')}.convert: {conv!r} is not one of auto, "
            f"{', '.join(CONVERSIONS)}, none"
        )
    return conv


def opencc_version() -> str:
    return str(getattr(opencc, "__version__", "unknown"))


def converter(conversion: str, tofu_risk: bool = False) -> opencc.OpenCC:
    """One OpenCC instance per configuration and process (loading dictionaries costs ~ms)."""
    if conversion not in CONVERSIONS:
        raise ConvertError(f"no OpenCC configuration for {conversion!r}")
    return _converter(conversion, bool(tofu_risk))


@cache
def _converter(conversion: str, tofu_risk: bool) -> opencc.OpenCC:
    return opencc.OpenCC(conversion, include_tofu_risk_dictionaries=tofu_risk)


def convert_texts(
    cc: opencc.OpenCC, texts: Sequence[str], batch: bool = True
) -> tuple[list[str], bool]:
    """Converts `texts` with few OpenCC calls; returns the texts and whether batching held (False:
    at least one chunk went document by document). `batch=False` converts one text per call."""
    if not batch:
        return [cc.convert(t) for t in texts], True
    out: list[str] = []
    ok = True
    start = 0
    while start < len(texts):
        end, size = start, 0
        while end < len(texts) and (end == start or size + len(texts[end]) <= CHUNK_CHARS):
            size += len(texts[end])
            end += 1
        chunk = texts[start:end]
        done = _convert_joined(cc, chunk)
        if done is None:
            ok = False
            done = [cc.convert(t) for t in chunk]
        out += done
        start = end
    return out, ok


def _convert_joined(cc: opencc.OpenCC, texts: Sequence[str]) -> list[str] | None:
    if len(texts) == 1:
        return [cc.convert(texts[0])]
    for sep in SEPARATORS:
        joined = sep.join(texts)
        if joined.count(sep) != len(texts) - 1:
            continue  # some text holds this separator: try the next one
        parts = cc.convert(joined).split(sep)
        if len(parts) == len(texts):
            return parts
        log.warning("OpenCC changed the batch separator U+%04X; converting per document", ord(sep))
        return None
    return None


class ChangeCounter:
    """Counts what a conversion changed: documents, characters, and which replacements.

    Single-character replacements are kept as numpy arrays of (old << 32 | new) keys and counts
    per batch, so a batch costs a few vector operations plus one Python step per replacement
    never seen before (which also takes its example); span replacements of documents whose
    length changed are rare and kept in a Counter."""

    def __init__(self) -> None:
        self.docs = 0
        self.chars = 0
        self.docs_length_changed = 0
        self.spans: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], tuple[str, str]] = {}
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._seen = np.empty(0, np.uint64)

    def add(self, ins: Sequence[str], outs: Sequence[str]) -> tuple[int, int, int]:
        """Counts one batch; returns (docs changed, chars changed, docs whose length changed)."""
        len_in, len_out = list(map(len, ins)), list(map(len, outs))
        if len_in == len_out:  # t2s, hk2s: always; compare the whole batch at once
            n_docs = sum(map(operator.ne, ins, outs))
            chars = self._positional(ins, outs) if n_docs else 0
            n_other = 0
        else:
            changed = [i for i, (a, b) in enumerate(zip(ins, outs, strict=True)) if a != b]
            same = [i for i in changed if len_in[i] == len_out[i]]
            other = [i for i in changed if len_in[i] != len_out[i]]
            chars = self._positional([ins[i] for i in same], [outs[i] for i in same])
            chars += sum(self._aligned(ins[i], outs[i]) for i in other)
            n_docs, n_other = len(changed), len(other)
        self.docs += n_docs
        self.chars += chars
        self.docs_length_changed += n_other
        return n_docs, chars, n_other

    def _positional(self, ins: Sequence[str], outs: Sequence[str]) -> int:
        if not ins:
            return 0
        a_text, b_text = "\n".join(ins), "\n".join(outs)
        a = np.frombuffer(a_text.encode("utf-32-le"), np.uint32)
        b = np.frombuffer(b_text.encode("utf-32-le"), np.uint32)
        pos = np.flatnonzero(a != b)
        keys, counts, first = pair_counts(a[pos], b[pos])
        self._keys.append(keys)
        self._counts.append(counts)
        if len(self._keys) >= COMPACT_EVERY:
            self._compact()
        new = ~np.isin(keys, self._seen, assume_unique=True)
        for key, f in zip(keys[new].tolist(), first[new].tolist(), strict=True):
            pair = (chr(key >> 32), chr(key & 0xFFFFFFFF))
            if pair not in self.examples:
                p = int(pos[f])
                self.examples[pair] = _excerpt(a_text, b_text, p, p + 1, p, p + 1)
        if new.any():
            self._seen = np.union1d(self._seen, keys[new])
        return int(pos.size)

    def _aligned(self, a: str, b: str) -> int:
        chars = 0
        for old, new, example in changed_spans(a, b):
            chars += max(len(old), len(new))
            self.spans[old, new] += 1
            self.examples.setdefault((old, new), example)
        return chars

    def _compact(self) -> None:
        """Sums the per-batch arrays into one (memory stays bounded by distinct pairs)."""
        if len(self._keys) > 1:
            uniq, inv = np.unique(np.concatenate(self._keys), return_inverse=True)
            totals = np.zeros(uniq.size, np.int64)
            np.add.at(totals, inv, np.concatenate(self._counts))
            self._keys, self._counts = [uniq], [totals]

    def pairs(self) -> Counter[tuple[str, str]]:
        """Every replacement with its count."""
        out = Counter(self.spans)
        self._compact()
        for keys, counts in zip(self._keys, self._counts, strict=True):
            for key, n in zip(keys.tolist(), counts.tolist(), strict=True):
                out[chr(key >> 32), chr(key & 0xFFFFFFFF)] += n
        return out

    def summary(self, top: int = TOP_PAIRS) -> dict[str, Any]:
        pairs = self.pairs()
        listed = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return {
            "changed_pairs": [
                {
                    "from": old,
                    "to": new,
                    "count": n,
                    "before": self.examples[old, new][0],
                    "after": self.examples[old, new][1],
                }
                for (old, new), n in listed
            ],
            "changed_pairs_distinct": len(pairs),
            "changed_pairs_unlisted": sum(pairs.values()) - sum(n for _, n in listed),
        }


def pair_counts(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct pairs of `old[i] → new[i]` (uint32 code point arrays) as keys `old << 32 | new`
    (uint64), their counts and the index of each pair's first occurrence: what `np.unique` over
    the keys gives (in another order), in linear time. Nearly every character has a single
    replacement, so pairs are counted by a bincount over the old code point; only characters seen
    with two or more replacements take the sorting path."""
    n = old.size
    if not n:
        return np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int64)
    lo = int(old.min())
    span = int(old.max()) - lo + 1
    idx = (old - lo).astype(np.intp)
    target = np.zeros(span, np.uint32)
    target[idx] = new  # one of each character's replacements (any one will do)
    ambiguous = np.zeros(span, bool)
    ambiguous[idx[target[idx] != new]] = True
    amb = ambiguous[idx]
    order = np.arange(n)
    plain = ~amb
    pi = idx[plain]
    counts = np.bincount(pi, minlength=span)
    first = np.full(span, n, np.int64)
    np.minimum.at(first, pi, order[plain])
    chars = np.flatnonzero(counts)
    keys = ((chars + lo).astype(np.uint64) << np.uint64(32)) | target[chars]
    counts, first = counts[chars], first[chars]
    if amb.any():
        amb_keys = (old[amb].astype(np.uint64) << np.uint64(32)) | new[amb]
        uniq, f, c = np.unique(amb_keys, return_index=True, return_counts=True)
        keys = np.concatenate([keys, uniq])
        counts = np.concatenate([counts, c])
        first = np.concatenate([first, order[amb][f]])
    return keys, counts.astype(np.int64), first.astype(np.int64)


def changed_spans(a: str, b: str) -> Iterator[tuple[str, str, tuple[str, str]]]:
    """Replacements that turned `a` into `b`, as (old, new, (input excerpt, output excerpt)):
    single characters where an aligned piece kept its length, else the piece as one span (see
    "Counting" in the module doc)."""
    pa, pb = _ANCHORS.split(a), _ANCHORS.split(b)
    if len(pa) != len(pb) or pa[1::2] != pb[1::2]:
        pa, pb = [a], [b]
    at = bt = 0  # offsets of the current clause in a and b
    for k, (x, y) in enumerate(zip(pa, pb, strict=True)):
        if k % 2 == 0 and x != y:
            blocks = [(0, len(x), 0, len(y))] if len(x) == len(y) else _diff_blocks(x, y)
            for i0, i1, j0, j1 in blocks:
                if i1 - i0 == j1 - j0:
                    for i in range(i1 - i0):
                        if x[i0 + i] != y[j0 + i]:
                            ia, jb = at + i0 + i, bt + j0 + i
                            yield x[i0 + i], y[j0 + i], _excerpt(a, b, ia, ia + 1, jb, jb + 1)
                else:
                    ex = _excerpt(a, b, at + i0, at + i1, bt + j0, bt + j1)
                    yield x[i0:i1], y[j0:j1], ex
        at += len(x)
        bt += len(y)


def _diff_blocks(x: str, y: str) -> list[tuple[int, int, int, int]]:
    """Blocks (i0, i1, j0, j1) where x[i0:i1] became y[j0:j1]: the common prefix and suffix are
    stripped, and a middle of at most MAX_ALIGN_CELLS cells (clauses are short) is aligned on a
    longest common subsequence; a longer middle is one block."""
    p = _common_prefix(x, y)
    s = _common_prefix(x[p:][::-1], y[p:][::-1])
    mx, my = x[p : len(x) - s], y[p : len(y) - s]
    n, m = len(mx), len(my)
    if not n or not m or n * m > MAX_ALIGN_CELLS:
        return [(p, p + n, p, p + m)]
    # lcs[i][j] = length of a longest common subsequence of mx[i:] and my[j:]
    lcs = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = lcs[i], lcs[i + 1]
        for j in range(m - 1, -1, -1):
            row[j] = below[j + 1] + 1 if mx[i] == my[j] else max(below[j], row[j + 1])
    blocks = []
    i = j = i0 = j0 = 0
    while i < n and j < m:
        if mx[i] == my[j] and lcs[i][j] == lcs[i + 1][j + 1] + 1:
            if (i0, j0) != (i, j):
                blocks.append((p + i0, p + i, p + j0, p + j))
            i, j = i + 1, j + 1
            i0, j0 = i, j
        elif lcs[i + 1][j] >= lcs[i][j + 1]:
            i += 1
        else:
            j += 1
    if (i0, j0) != (n, m):
        blocks.append((p + i0, p + n, p + j0, p + m))
    return blocks


def _common_prefix(x: str, y: str) -> int:
    n = 0
    for c, d in zip(x, y, strict=False):
        if c != d:
            break
        n += 1
    return n


def _excerpt(a: str, b: str, a_start: int, a_end: int, b_start: int, b_end: int) -> tuple[str, str]:
    """The replacement a[a_start:a_end] → b[b_start:b_end] with EXAMPLE_CONTEXT characters of
    context on each side, not crossing a line end."""
    return (
        a[_line_start(a, a_start) : _line_end(a, a_end)],
        b[_line_start(b, b_start) : _line_end(b, b_end)],
    )


def _line_start(s: str, start: int) -> int:
    return max(start - EXAMPLE_CONTEXT, s.rfind("\n", 0, start) + 1)


def _line_end(s: str, end: int) -> int:
    nl = s.find("\n", end)
    return min(end + EXAMPLE_CONTEXT, len(s) if nl < 0 else nl)


#: Ledger change counts the stage always writes (zero included, so reports need no defaults).
CHANGE_KEYS = ("docs_converted", "chars_converted", "docs_length_changed")


def convert_step(
    conversion: str, tofu_risk: bool = False, batch: bool = True, probe: str | None = None
) -> tuple[Step, Callable[[Ledger], None]]:
    """The batch Step for `run_doc_stage` (converts, counts into the ledger, never drops) and
    its `finish` hook, which writes the replacement summary into `ledger.extra`.
    `batch=False` calls OpenCC once per document (for benchmarks and as a reference).
    `probe` (with conversion `none`) runs that conversion without applying it and records what
    it would have changed: the evidence for leaving a Simplified dataset alone."""
    counter = ChangeCounter()
    cc = None if conversion == "none" else converter(conversion, tofu_risk)
    probe_cc = converter(probe, tofu_risk) if probe and cc is None else None
    probe_counter = ChangeCounter()

    def step(docs: DocBatch, ledger: Ledger) -> list[str | Drop]:
        ins = docs.texts
        if cc is None:
            if probe_cc is not None:
                probe_counter.add(ins, convert_texts(probe_cc, ins, batch)[0])
            return list(ins)  # the very input objects: the runner writes those docs as they are
        outs, batched = convert_texts(cc, ins, batch)
        if not batched:
            ledger.extra["convert_batch_fallbacks"] += 1
        n_docs, n_chars, n_len = counter.add(ins, outs)
        ledger.changed("docs_converted", n_docs)
        ledger.changed("chars_converted", n_chars)
        ledger.changed("docs_length_changed", n_len)
        # unchanged texts stay the very input objects, so the runner keeps their Doc as is
        return [b if a != b else a for a, b in zip(ins, outs, strict=True)]

    def finish(ledger: Ledger) -> None:
        for key in CHANGE_KEYS:
            ledger.changes.setdefault(key, 0)
        ledger.extra.update(counter.summary())
        if probe_cc is not None:
            ledger.extra["probe"] = {
                "conversion": probe,
                "docs": probe_counter.docs,
                "chars": probe_counter.chars,
                **probe_counter.summary(),
            }

    return step, finish


def convert_shard(
    spec: Mapping[str, Any],
    shard: int,
    in_path: str | Path,
    out_path: str | Path,
    *,
    tofu_risk: bool | None = None,
    batch: bool = True,
) -> dict[str, Any]:
    """Converts one document shard; writes `out_path` and `<stem>.stats.json`; returns the stats.
    `tofu_risk` overrides the dataset's `convert_tofu_risk` (default False, see module doc)."""
    conversion = resolve_conversion(spec)
    if tofu_risk is None:
        tofu_risk = bool(spec.get("convert_tofu_risk", False))
    extra: dict[str, Any] = {
        "conversion": conversion,
        "conversion_requested": spec.get("convert", "auto"),
        "opencc_version": opencc_version(),
        "opencc_tofu_risk": tofu_risk if conversion != "none" else None,
        "convert_batch_fallbacks": 0,
        **ChangeCounter().summary(),
    }
    log.info("convert %s/%d: %s (OpenCC %s)", spec["name"], shard, conversion, opencc_version())
    # A dataset left unconverted still shows what t2s would have done to it (Simplified text
    # has characters OpenCC maps one way, e.g. 沈→沉, 乾→干): the evidence behind `none`.
    probe = "t2s" if conversion == "none" and spec.get("lang", "zh") == "zh" else None
    step, finish = convert_step(conversion, tofu_risk, batch, probe)
    return run_doc_stage(
        "convert",
        in_path,
        out_path,
        step,
        dataset=spec["name"],
        shard=shard,
        extra=extra,
        finish=finish,
    )


def _run(args: argparse.Namespace) -> None:
    convert_shard(read_named_spec(args, "dataset", dataset_spec), args.shard, args.inp, args.out)


#: The stage's contract (gpt2zh.contract): the dataset's spec, the shard-to-shard arguments.
CONVERT = Stage(
    help="convert Traditional Chinese to Simplified (OpenCC) in one shard",
    description="Convert one shard with OpenCC (t2s, tw2sp, hk2s or none, from the dataset's "
    "`convert`) and count the documents and characters changed.",
    arguments=add_doc_shard_args,
    run=_run,
    per_shard=True,
)
