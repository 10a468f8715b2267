"""The convert stage's run: resolve the OpenCC configuration, convert batches with few OpenCC
calls, and count what changed into the ledger (`changes.ChangeCounter`). See the package doc."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import opencc

from gpt2zh.docstage import DocBatch, Drop, Step, run_doc_stage
from gpt2zh.ledger import Ledger

from .changes import ChangeCounter

log = logging.getLogger(__name__)

CONVERSIONS = ("t2s", "tw2sp", "hk2s")
AUTO = {"traditional": "t2s", "mixed": "t2s", "simplified": "none"}

#: Batches are converted in chunks of at most this many characters, so a batch of huge documents
#: costs a bounded amount of extra memory.
CHUNK_CHARS = 4 << 20
#: Batch separators, tried in order: private-use characters (no OpenCC dictionary holds any).
SEPARATORS = ("\ue000", "\uf8ff", "\U000f0000", "\U0010fffd")


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
