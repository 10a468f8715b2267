"""Train a byte-level BPE tokenizer on a weighted sample of the last document stage.

The sample is drawn per dataset by its mix weight, up to `sample_bytes` in all: a document is
taken when a keyed hash of its id falls below the dataset's sampling fraction, so the sample is
deterministic, streams shard by shard in constant memory and does not depend on shard order.
A small hold-out (documents whose hash lands in the top `HOLDOUT` of the range) is never trained
on; benchmarks measure compression on it.

Saved with `save_pretrained` as a `PreTrainedTokenizerFast` (`<|endoftext|>` as BOS, EOS and
UNK, as in GPT-2; byte-level, so nothing is ever unknown), so `AutoTokenizer.from_pretrained`
loads it anywhere.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gpt2zh.digest import doc_unit
from gpt2zh.errors import UserError
from gpt2zh.layout import sidecar
from gpt2zh.ledger import write_json
from gpt2zh.tokenize import pretok

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
#: Share of documents (by id hash) that tokenizer training never sees.
HOLDOUT = 0.01
TRAINING_INFO = "training.json"


def is_holdout(doc_id: str, seed: int) -> bool:
    return doc_unit(doc_id, seed, "holdout") >= 1 - HOLDOUT


def sample_fractions(
    weights: Mapping[str, float], dataset_bytes: Mapping[str, int], sample_bytes: int
) -> dict[str, float]:
    """Per dataset the share of its documents to take so the sample holds about `sample_bytes`
    split by weight; a dataset smaller than its share is taken whole (the rest is not
    redistributed, so weights stay meaningful)."""
    total_w = sum(w for d, w in weights.items() if dataset_bytes.get(d, 0) > 0)
    out = {}
    for d, w in weights.items():
        have = dataset_bytes.get(d, 0)
        if have <= 0 or w <= 0 or total_w <= 0:
            out[d] = 0.0
            continue
        want = sample_bytes * w / total_w
        out[d] = min(1.0, want / have / (1 - HOLDOUT))
    return out


def iter_sample(
    shards: Mapping[str, Sequence[Path]],
    fractions: Mapping[str, float],
    seed: int,
    counts: dict[str, dict[str, int]] | None = None,
) -> Iterator[str]:
    """Yields the sampled texts, dataset by dataset, shard by shard (deterministic order)."""
    for dataset in sorted(shards):
        frac = fractions.get(dataset, 0.0)
        c = (counts if counts is not None else {}).setdefault(dataset, {"docs": 0, "bytes": 0})
        if frac <= 0:
            continue
        for path in shards[dataset]:
            with pq.ParquetFile(path) as pf:
                for batch in pf.iter_batches(batch_size=8192, columns=["id", "text"]):
                    for doc_id, text in zip(
                        batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
                    ):
                        if is_holdout(doc_id, seed) or doc_unit(doc_id, seed) >= frac:
                            continue
                        c["docs"] += 1
                        c["bytes"] += len(text.encode("utf-8"))
                        yield text


def new_tokenizer(kind: pretok.Kind = "zh", max_han_run: int = 2):
    from tokenizers import Tokenizer, decoders, models

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pretok.pre_tokenizer(kind, max_han_run)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    *,
    min_frequency: int = 2,
    kind: pretok.Kind = "zh",
    max_han_run: int = 2,
):
    """A trained `tokenizers.Tokenizer` (EOS has id 0; the 256 byte symbols follow)."""
    from tokenizers import pre_tokenizers, trainers

    tok = new_tokenizer(kind, max_han_run)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def wrap(tok: Any):
    """The `transformers` fast tokenizer around a `tokenizers.Tokenizer`."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, model_max_length=10**9
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_tokenizer(spec: Mapping[str, Any], shard_paths: Sequence[Path], out_dir: Path) -> dict:
    """The `gpt2zh tokenizer` stage: trains (or copies `pretrained`) into `out_dir`.

    `spec`: `{"tokenizer": <config tokenizer block>, "weights": {dataset: weight}}`; shard
    paths are grouped by dataset from the shards' own `dataset` column via their stats."""
    cfg = spec["tokenizer"]
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    if cfg.get("pretrained"):
        info = _use_pretrained(Path(cfg["pretrained"]), out_dir)
    else:
        shards: dict[str, list[Path]] = {}
        sizes: dict[str, int] = {}
        for p in map(Path, shard_paths):
            stats = json.loads(sidecar(p, ".stats.json").read_text("utf-8"))
            shards.setdefault(stats["dataset"], []).append(p)
            sizes[stats["dataset"]] = sizes.get(stats["dataset"], 0) + stats["bytes_out"]
        weights = {d: float(spec["weights"].get(d, 0.0)) for d in shards}
        fractions = sample_fractions(weights, sizes, int(cfg["sample_bytes"]))
        counts: dict[str, dict[str, int]] = {}
        texts = iter_sample(shards, fractions, int(cfg["seed"]), counts)
        tok = train_tokenizer(
            texts,
            int(cfg["vocab_size"]),
            min_frequency=int(cfg["min_frequency"]),
            kind=cfg["pretokenizer"],
            max_han_run=int(cfg["max_han_run"]),
        )
        sampled = sum(c["bytes"] for c in counts.values())
        if sampled == 0:
            raise UserError(
                "tokenizer: the sample is empty (no documents in the pretraining datasets "
                f"{sorted(shards)} after the last document stage)"
            )
        wrap(tok).save_pretrained(out_dir)
        info = {
            "source": "trained",
            "vocab_size": tok.get_vocab_size(),
            "requested_vocab_size": int(cfg["vocab_size"]),
            "pretokenizer": cfg["pretokenizer"],
            "max_han_run": int(cfg["max_han_run"]),
            "pattern": pretok.pattern(cfg["pretokenizer"], int(cfg["max_han_run"])),
            "min_frequency": int(cfg["min_frequency"]),
            "seed": int(cfg["seed"]),
            "sample_bytes": sampled,
            "sample": {d: {**counts.get(d, {}), "fraction": fractions[d]} for d in sorted(shards)},
        }
    info.update(
        eos_token=EOS, seconds=round(time.perf_counter() - t0, 3), peak_rss_mb=round(peak_rss_mb())
    )
    write_json(out_dir / TRAINING_INFO, info)
    log.info(
        "tokenizer: vocab %d, sample %s bytes, %.1f s, peak RSS %d MB",
        info["vocab_size"],
        info.get("sample_bytes"),
        info["seconds"],
        info["peak_rss_mb"],
    )
    return info


def _use_pretrained(src: Path, out_dir: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    if not src.is_dir():
        raise UserError(f"tokenizer.pretrained: {src} is not a directory")
    tok = AutoTokenizer.from_pretrained(src)
    if tok.eos_token is None:
        raise UserError(f"tokenizer.pretrained: {src} has no eos_token")
    tok.save_pretrained(out_dir)
    return {"source": str(src), "vocab_size": len(tok), "pretokenizer": "pretrained"}


def load_tokenizer(path: Path):
    """The `tokenizers.Tokenizer` and its EOS id from a saved tokenizer directory."""
    from tokenizers import Tokenizer

    path = Path(path)
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    cfg_path = path / "tokenizer_config.json"
    eos = EOS
    if cfg_path.exists():
        eos_cfg = json.loads(cfg_path.read_text("utf-8")).get("eos_token", EOS)
        eos = eos_cfg["content"] if isinstance(eos_cfg, dict) else (eos_cfg or EOS)
    eos_id = tok.token_to_id(eos)
    if eos_id is None:
        raise UserError(f"{path}: eos token {eos!r} not in the vocabulary")
    return tok, eos_id
