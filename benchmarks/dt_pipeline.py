"""The datatrove side of datatrove_compare.py: runs inside the throwaway datatrove venv.

    python dt_pipeline.py PLAN.json STAGE        STAGE: docs | buckets | clusters | filter

Each STAGE is one `LocalPipelineExecutor.run()` (its own process tree, measured from outside by
the caller) of the closest datatrove equivalent of our data stages:

  docs      reader (the same files and templates as our extract) → PIIFormatter → Gopher
            repetition + quality filters with each dataset's thresholds over character tokens (our
            token definition) → OpenCC t2s for Traditional/mixed datasets (a custom step: datatrove
            has no converter; the same OpenCC library and dictionary) → ParquetWriter (what the
            filter stage re-reads) → MinhashDedupSignature (char 5-grams, our bands × rows)
  buckets   MinhashDedupBuckets, one task per band
  clusters  MinhashDedupCluster
  filter    the rank's Parquet file → MinhashDedupFilter → ParquetWriter → DocumentTokenizer (our
            tokenizer.json, no shuffle)

Every step is wrapped by `Timed`, which charges process CPU time to whichever step is running (a
step's own work, not the upstream steps it pulls documents from), and the last step of a task
writes those per-step CPU seconds to `ledger/<stage>-<rank>.json`. What a process spends outside
all steps (interpreter and import start-up, the executor, the pool) is the difference between
the process tree's CPU and the sum of its steps.

This file is not imported by the project: it needs datatrove, which is not a dependency.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import time
from typing import Any

from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.tokens import DocumentTokenizer
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.word_tokenizers import WordTokenizer

_LEDGER: dict[str, float] = {}
_CLOCK = {"label": None, "t": 0.0}


def _switch(label: str | None) -> None:
    """Charge the CPU time since the last switch to the running step; `label` runs from now."""
    now = time.process_time()
    if _CLOCK["label"] is not None:
        _LEDGER[_CLOCK["label"]] = _LEDGER.get(_CLOCK["label"], 0.0) + now - _CLOCK["t"]
    _CLOCK["label"], _CLOCK["t"] = label, now


class Timed(PipelineStep):
    """Runs `step`, charging CPU to `label` while the step itself (not its upstream) works."""

    def __init__(self, label: str, step: PipelineStep, dump: str | None = None) -> None:
        super().__init__()
        self.label, self.step, self.dump = label, step, dump
        self.name, self.type, self.stats = step.name, step.type, step.stats  # datatrove's report

    def _input(self, data):
        for doc in data or ():
            _switch(self.label)
            yield doc

    def run(self, data, rank: int = 0, world_size: int = 1):
        try:
            _switch(self.label)
            out = self.step.run(self._input(data) if data is not None else None, rank, world_size)
            gen = iter(out) if out is not None else iter(())  # a sink step returns nothing
            while True:
                _switch(self.label)
                try:
                    doc = next(gen)
                except StopIteration:
                    return
                yield doc
        finally:
            if self.dump:
                _switch(None)
                os.makedirs(os.path.dirname(self.dump), exist_ok=True)
                with open(self.dump.format(rank=rank), "w") as f:
                    json.dump(_LEDGER, f)
                _LEDGER.clear()


class CharTokenizer(WordTokenizer):
    """Our token definition: letter/digit runs, every Han character and other symbol alone."""

    _re = re.compile(r"[^\W_]+|\S")
    _han = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")

    def word_tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for tok in self._re.findall(text):
            out.extend(self._han.findall(tok) if self._han.search(tok) else [tok])
        return out

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def _flatten(value: Any, out: list[str]) -> None:
    if isinstance(value, list):
        for v in value:
            _flatten(v, out)
    elif value is not None:
        out.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _records(value: Any, steps: list[str]) -> list[Any]:
    """`content[].content[]`-style record paths (the ones our configs use)."""
    items = value if isinstance(value, list) else [value]
    for step in steps:
        nxt = []
        for item in items:
            sub = item.get(step) if isinstance(item, dict) else None
            nxt.extend(sub if isinstance(sub, list) else [])
        items = nxt
    return items


class PoetryReader(PipelineStep):
    """Reads this rank's JSON files (files are dealt round-robin over ranks, as datatrove's
    readers do) and renders each record with its reader's template: optional heading lines, then
    the body field (lists joined with newlines). Records without a body are skipped."""

    name = "poetry reader"
    type = "📖 - READER"

    def __init__(self, root: str, readers: list[dict[str, Any]]) -> None:
        super().__init__()
        self.root, self.readers = root, readers

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        jobs = []
        for r in self.readers:
            for pattern in r["files"]:
                jobs.extend((p, r) for p in sorted(glob.glob(os.path.join(self.root, pattern))))
        for path, r in jobs[rank::world_size]:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            rel = os.path.relpath(path, self.root)
            for i, rec in enumerate(_records(data, r["records"])):
                if not isinstance(rec, dict):
                    continue
                body: list[str] = []
                _flatten(rec.get(r["body"]), body)
                if not body:
                    continue
                heads = [rec[h] for h in r["heads"] if isinstance(rec.get(h), str) and rec[h]]
                text = "\n".join([*heads, "\n".join(body)])
                yield Document(
                    text=text, id=f"{r['dataset']}/{rel}#{i}", metadata={"dataset": r["dataset"]}
                )


class PerDatasetGopher(BaseFilter):
    """GopherRepetitionFilter then GopherQualityFilter with the document's dataset's thresholds
    (our per-dataset `clean.filters`), over character tokens."""

    name = "gopher rep+qual per dataset"

    def __init__(self, params: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        tok = CharTokenizer("zh")
        self.filters = {}
        for ds, p in params.items():
            rep = GopherRepetitionFilter(
                dup_line_frac=p["dup_line_frac"],
                dup_para_frac=p["dup_para_frac"],
                dup_line_char_frac=p["dup_line_char_frac"],
                dup_para_char_frac=p["dup_para_char_frac"],
                top_n_grams=[(n, p[f"top_{n}gram_frac"]) for n in (2, 3, 4)],
                dup_n_grams=[(n, p[f"dup_{n}gram_frac"]) for n in range(5, 11)],
                language=tok,
            )
            qual = GopherQualityFilter(
                min_doc_words=p["min_chars"],
                max_doc_words=p["max_chars"],
                min_avg_word_length=None,
                max_avg_word_length=None,
                max_symbol_word_ratio=p["max_symbol_ratio"],
                max_bullet_lines_ratio=p["max_bullet_line_ratio"],
                max_ellipsis_lines_ratio=p["max_ellipsis_line_ratio"],
                max_non_alpha_words_ratio=None,
                min_stop_words=p["min_stopwords"] or None,
                stop_words=p["stopwords"],
                language=tok,
            )
            self.filters[ds] = (rep, qual)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        rep, qual = self.filters[doc.metadata["dataset"]]
        verdict = rep.filter(doc)
        return qual.filter(doc) if verdict is True else verdict


class OpenCCConvert(PipelineStep):
    """Traditional → Simplified with the official OpenCC (t2s), one call per document, for the
    datasets whose script is not already Simplified: the custom step a datatrove user writes."""

    name = "OpenCC t2s"
    type = "✂️ - FORMAT"

    def __init__(self, datasets: list[str]) -> None:
        super().__init__()
        self.datasets = set(datasets)

    def run(self, data, rank: int = 0, world_size: int = 1):
        import opencc

        cc = opencc.OpenCC("t2s")
        for doc in data:
            if doc.metadata["dataset"] in self.datasets:
                doc.text = cc.convert(doc.text)
            yield doc


class RankParquet(PipelineStep):
    """Reads back exactly the Parquet file this rank wrote in the docs stage (in order), so the
    MinHash filter's document indices line up with the signatures' even when a rank wrote none."""

    name = "rank parquet reader"
    type = "📖 - READER"

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        import pyarrow.parquet as pq

        # ParquetWriter numbers the files it rolls over to: 000_00007.parquet, 001_00007.parquet
        for path in sorted(glob.glob(os.path.join(self.folder, f"[0-9]*_{rank:05d}.parquet"))):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=10000):
                for row in batch.to_pylist():
                    yield Document(text=row["text"], id=row["id"], metadata=row["metadata"])


def _minhash(plan: dict[str, Any]) -> MinhashConfig:
    return MinhashConfig(
        n_grams=plan["ngram"], num_buckets=plan["bands"], hashes_per_bucket=plan["rows"]
    )


def pipeline(plan: dict[str, Any], stage: str) -> tuple[list[PipelineStep], int]:
    """The steps of `stage` as (label, step) wrapped in Timed, and its number of tasks."""
    w = plan["work"]
    ledger = os.path.join(w, "ledger", stage + "-{rank}.json")
    if stage == "docs":
        sig = MinhashDedupSignature(
            os.path.join(w, "signatures"), config=_minhash(plan), language=CharTokenizer("zh")
        )
        steps = [
            ("reading", PoetryReader(plan["root"], plan["readers"])),
            ("cleaning", PIIFormatter()),
            ("cleaning", PerDatasetGopher(plan["filters"])),
            ("conversion", OpenCCConvert(plan["convert"])),
            ("writing", ParquetWriter(os.path.join(w, "docs"), output_filename="${rank}.parquet")),
            ("signatures", sig),
        ]
        tasks = plan["tasks"]
    elif stage == "buckets":
        steps = [
            (
                "buckets",
                MinhashDedupBuckets(
                    os.path.join(w, "signatures"), os.path.join(w, "buckets"), config=_minhash(plan)
                ),
            )
        ]
        tasks = plan["bands"]
    elif stage == "clusters":
        steps = [
            (
                "clustering",
                MinhashDedupCluster(
                    os.path.join(w, "buckets"), os.path.join(w, "remove_ids"), config=_minhash(plan)
                ),
            )
        ]
        tasks = 1
    else:
        steps = [
            ("reading", RankParquet(os.path.join(w, "docs"))),
            ("dedup filter", MinhashDedupFilter(os.path.join(w, "remove_ids"))),
            (
                "writing",
                ParquetWriter(os.path.join(w, "dedup"), output_filename="${rank}.parquet"),
            ),
            (
                "tokenizing",
                DocumentTokenizer(
                    os.path.join(w, "tokens"),
                    tokenizer_name_or_path=plan["tokenizer"],
                    eos_token="<|endoftext|>",
                    shuffle_documents=False,
                ),
            ),
        ]
        tasks = plan["tasks"]
    wrapped = [
        Timed(label, step, ledger if i == len(steps) - 1 else None)
        for i, (label, step) in enumerate(steps)
    ]
    return wrapped, tasks


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        plan = json.load(f)
    stage = sys.argv[2]
    steps, tasks = pipeline(plan, stage)
    LocalPipelineExecutor(
        pipeline=steps,
        tasks=tasks,
        workers=min(plan["workers"], tasks),
        logging_dir=os.path.join(plan["work"], "logs", stage),
    ).run()


if __name__ == "__main__":
    main()
