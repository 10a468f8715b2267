"""A tiktoken encoder built from our trained byte-level BPE, token-for-token identical to HF's.

HF `tokenizers` encodes Chinese at ~4 MB/s per thread; tiktoken runs the same split regex and
merges several times faster. The two BPE loops differ in one way: HF merges the adjacent pair
with the lowest *merge* rank, tiktoken merges any adjacent pair whose concatenation is a token,
by that token's rank (and returns a piece that is itself a token as is). With our trainer the
token ids follow the merge order, so on merge pairs the two agree; they part only where
tiktoken joins a pair that is not a merge (`言` from `è` + `¨Ģ` where the merge was `è¨` + `Ģ`).

Such a join leaves a mark: the final tokens of a piece are built each inside its own span, in
the same order as when the token's bytes are encoded alone. So every vocab token is encoded
alone once, at load, with tiktoken's loop (no whole-piece shortcut): a token whose loop ends
in itself through merge pairs only is *clean*. When every token of a document is clean,
tiktoken took only merge pairs, in HF's order, and stopped where HF stops, so the ids are HF's.
A document holding an unclean token is re-encoded with HF (none of the tokenizers trained on
the default corpus, 2k-32k vocab, zh or GPT-2 regex, has one).
tests/unit/tokenize/test_tokenize_fast.py, `verify` and `benchmarks/tokenize_bench.py --verify`
check identity on the corpus, on adversarial text, and the split regex on every code point.

A batch is encoded in one tiktoken call, texts joined by the EOS special token (tiktoken cuts
at special tokens before the regex, so each text is split alone, as HF does), which gives the
packed ids with EOS after each text directly; a batch whose text holds a special token's text
is encoded text by text instead.

Eligible (`encoder: auto` picks it) is a tokenizer.json that is exactly what we train: BPE with
no dropout/unk/prefix/suffix/byte fallback, no normalizer, pre-tokenizer
`Sequence[Split(<one of our patterns>, isolated), ByteLevel(no prefix space, no regex)]`,
special added tokens only, and token ids that follow the merge order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gpt2zh.tokenize import pretok

#: Han run bounds whose `zh` pattern is recognised (plus the GPT-2 pattern).
KNOWN_PATTERNS = {pretok.GPT2_PATTERN} | {pretok.zh_pattern(k) for k in range(1, 65)}


class NotEligible(ValueError):
    """The tokenizer is not one the fast encoder reproduces exactly."""


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode alphabet, inverted: symbol -> byte."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    bs += range(ord("®"), ord("ÿ") + 1)
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


@lru_cache(maxsize=1)
def _symbol_table() -> dict[int, int]:
    return {ord(ch): b for ch, b in byte_decoder().items()}


def _to_bytes(symbols: str) -> bytes:
    """Byte-level symbols back to the bytes they stand for."""
    return symbols.translate(_symbol_table()).encode("latin-1")


def check_eligible(tj: dict[str, Any]) -> str:
    """The split pattern of a tokenizer.json the fast encoder reproduces, else NotEligible."""
    m = tj.get("model") or {}
    if m.get("type") != "BPE":
        raise NotEligible("model is not BPE")
    for key in ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"):
        if m.get(key) is not None:
            raise NotEligible(f"BPE {key} is set")
    if m.get("byte_fallback") or m.get("ignore_merges"):
        raise NotEligible("BPE byte_fallback/ignore_merges is set")
    if tj.get("normalizer") is not None:
        raise NotEligible("has a normalizer")
    pt = tj.get("pre_tokenizer") or {}
    steps = pt.get("pretokenizers") if pt.get("type") == "Sequence" else None
    if not steps or len(steps) != 2:
        raise NotEligible("pre-tokenizer is not Sequence[Split, ByteLevel]")
    split, bl = steps
    pat = (split.get("pattern") or {}).get("Regex")
    if (
        split.get("type") != "Split"
        or split.get("behavior") != "Isolated"
        or split.get("invert")
        or pat not in KNOWN_PATTERNS
    ):
        raise NotEligible("split is not one of our patterns (isolated)")
    if bl.get("type") != "ByteLevel" or bl.get("add_prefix_space") or bl.get("use_regex"):
        raise NotEligible("second pre-tokenizer is not ByteLevel without prefix space/regex")
    for t in tj.get("added_tokens") or []:
        if not t.get("special") or t.get("normalized"):
            raise NotEligible(f"added token {t.get('content')!r} is not a plain special token")
        if t.get("lstrip") or t.get("rstrip") or t.get("single_word"):
            raise NotEligible(f"added token {t.get('content')!r} strips or is single-word")
    return pat


def _tiktoken_loop(piece: bytes, ranks: dict[bytes, int], merges: set[tuple[bytes, bytes]]):
    """tiktoken's merge loop on one piece (no whole-piece shortcut): the final parts, and
    whether every join was a merge pair."""
    parts = [piece[i : i + 1] for i in range(len(piece))]
    only_merges = True
    while len(parts) > 1:
        best, at = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best):
                best, at = r, i
        if best is None:
            break
        only_merges &= (parts[at], parts[at + 1]) in merges
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return parts, only_merges


class FastEncoder:
    """tiktoken on our merges, HF for the few documents holding an unclean token."""

    def __init__(self, tokenizer_dir: str | Path, hf_tok: Any | None = None) -> None:
        import tiktoken

        path = Path(tokenizer_dir) / "tokenizer.json"
        tj = json.loads(path.read_text("utf-8"))
        pat = check_eligible(tj)
        m = tj["model"]
        special = {t["content"]: int(t["id"]) for t in tj.get("added_tokens") or []}
        ranks: dict[bytes, int] = {}
        for sym, i in m["vocab"].items():
            if sym in special and special[sym] == i:
                continue
            ranks[_to_bytes(sym)] = int(i)
        if len(ranks) + len(special) != len(set(ranks.values()) | set(special.values())):
            raise NotEligible("token ids are not unique")
        if any(bytes([b]) not in ranks for b in range(256)):
            raise NotEligible("a byte has no token")
        merges: set[tuple[bytes, bytes]] = set()
        last = -1
        for mg in m["merges"]:
            a, b = mg.split(" ") if isinstance(mg, str) else mg
            pa_, pb_ = _to_bytes(a), _to_bytes(b)
            rank = ranks.get(pa_ + pb_)
            if rank is None or rank <= last:
                raise NotEligible("token ids do not follow the merge order")
            last = rank
            merges.add((pa_, pb_))
        self.n_vocab = max([*ranks.values(), *special.values()]) + 1
        unclean = np.zeros(self.n_vocab, dtype=bool)
        for tb, i in ranks.items():
            if len(tb) > 1:
                parts, only_merges = _tiktoken_loop(tb, ranks, merges)
                unclean[i] = not (only_merges and parts == [tb])
        self.unclean = unclean
        self.pattern = pat
        self.special = special
        self.enc = tiktoken.Encoding(
            f"gpt2zh-{path.parent.name}",
            pat_str=pat,
            mergeable_ranks=ranks,
            special_tokens=special,
        )
        self._allowed = set(special)
        self._hf = hf_tok
        self._path = path
        self._pool: ThreadPoolExecutor | None = None
        self.fallback_docs = 0

    @property
    def hf(self) -> Any:
        if self._hf is None:
            from tokenizers import Tokenizer

            self._hf = Tokenizer.from_file(str(self._path))
        return self._hf

    def _encode_many(self, texts: Sequence[str]) -> list[np.ndarray]:
        """tiktoken alone, one call per text (no HF fallback)."""
        return [self._ids(t) for t in texts]

    def _ids(self, text: str) -> np.ndarray:
        core = self.enc._core_bpe
        if hasattr(core, "encode_to_tiktoken_buffer"):  # tiktoken >= 0.8: no Python list
            buf = core.encode_to_tiktoken_buffer(text, self._allowed)
            return np.frombuffer(buf, dtype=np.uint32)
        return np.asarray(core.encode(text, self._allowed), dtype=np.uint32)

    def _encode_joined(self, texts: Sequence[str], sep: str) -> np.ndarray:
        """tiktoken alone, one call for all texts: `text sep text sep ...`. tiktoken cuts at
        special tokens first and runs the regex on each segment alone, as HF does per text, so
        this is the per-text ids with the separator's id after each."""
        return self._ids(sep.join(texts) + sep)

    def _joinable(self, texts: Sequence[str], sep: str | None) -> bool:
        """Joining is exact when no text holds a special token's text (checked on the join:
        exactly one separator per text, no other special) and the separator cannot overlap
        itself (no proper prefix equal to a suffix)."""
        if sep is None or any(sep[:k] == sep[-k:] for k in range(1, len(sep))):
            return False
        joined = sep.join(texts) + sep
        return all(joined.count(s) == (len(texts) if s == sep else 0) for s in self.special)

    def encode_packed(
        self, texts: Sequence[str], eos_id: int, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """All texts' ids end to end, `eos_id` after each (uint32), and the offsets (int64,
        len(texts) + 1) of each text's ids in them: HF `encode_batch_fast`
        (`add_special_tokens=False`) ids plus EOS, token for token."""
        texts = list(texts)
        sep = next((s for s, i in self.special.items() if i == eos_id), None)
        n_chunks = max(1, min(threads, len(texts) // 64))
        step = max(1, -(-len(texts) // n_chunks))
        chunks = [texts[i : i + step] for i in range(0, len(texts), step)]
        eos = np.array([eos_id], dtype=np.uint32)

        def work(c: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
            """(ids with EOS after each text, ids per text including its EOS)."""
            if sep is not None and self._joinable(c, sep):
                v = self._encode_joined(c, sep)
                ends = np.flatnonzero(v == eos_id)  # the text ids hold no special token here
                if len(ends) == len(c):
                    return v, np.diff(ends, prepend=-1)
            arrs = self._encode_many(c)
            lens = np.fromiter((len(a) + 1 for a in arrs), dtype=np.int64, count=len(arrs))
            parts = [x for a in arrs for x in (a, eos)]
            return (np.concatenate(parts) if parts else np.zeros(0, np.uint32)), lens

        if len(chunks) > 1:
            if self._pool is None or self._pool._max_workers != len(chunks):
                self._pool = ThreadPoolExecutor(len(chunks))
            res = list(self._pool.map(work, chunks))
        else:
            res = [work(c) for c in chunks]
        values = np.concatenate([v for v, _ in res]) if res else np.zeros(0, np.uint32)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        if res:
            np.cumsum(np.concatenate([n for _, n in res]), out=offsets[1:])
        hits = np.flatnonzero(self.unclean[values])
        if len(hits):
            redo = np.unique(np.searchsorted(offsets, hits, side="right") - 1).tolist()
            encs = self.hf.encode_batch_fast([texts[i] for i in redo], add_special_tokens=False)
            docs = [values[offsets[i] : offsets[i + 1]] for i in range(len(texts))]
            for i, e in zip(redo, encs, strict=True):
                docs[i] = np.asarray([*e.ids, eos_id], dtype=np.uint32)
            self.fallback_docs += len(redo)
            lens = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
            np.cumsum(lens, out=offsets[1:])
            values = np.concatenate(docs)
        return values, offsets

    def encode_batch(self, texts: Sequence[str], threads: int = 1) -> list[np.ndarray]:
        """Token ids (uint32 arrays) of each text, identical to HF `encode_batch_fast`
        (`add_special_tokens=False`)."""
        eos_id = min(self.special.values(), default=0)  # any id: it is cut off again
        values, offsets = self.encode_packed(texts, eos_id, threads)
        return [values[offsets[i] : offsets[i + 1] - 1] for i in range(len(offsets) - 1)]


def make_encoder(tokenizer_dir: str | Path, kind: str = "auto", hf_tok: Any | None = None):
    """The fast encoder for `kind` fast/auto when the tokenizer is eligible; None for hf (and
    for auto on an ineligible tokenizer). `fast` on an ineligible tokenizer raises."""
    if kind == "hf":
        return None
    if kind not in ("auto", "fast"):
        raise ValueError(f"unknown encoder {kind!r} (auto, hf or fast)")
    try:
        return FastEncoder(tokenizer_dir, hf_tok)
    except NotEligible:
        if kind == "fast":
            raise
        return None


def verify(tokenizer_dir: str | Path, texts: Sequence[str], batch: int = 1024) -> dict[str, int]:
    """Compares fast and HF ids on every text: tokens compared, mismatching docs and tokens,
    and how many docs the fast encoder sent to HF."""
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    fast = FastEncoder(tokenizer_dir, hf)
    res = {"docs": 0, "tokens": 0, "mismatch_docs": 0, "raw_mismatch_docs": 0, "fallback_docs": 0}
    for i in range(0, len(texts), batch):
        chunk = list(texts[i : i + batch])
        want = [e.ids for e in hf.encode_batch_fast(chunk, add_special_tokens=False)]
        got = fast.encode_batch(chunk)
        raw = fast._encode_many(chunk)  # tiktoken alone, before the fallback
        for w, g, r in zip(want, got, raw, strict=True):
            res["docs"] += 1
            res["tokens"] += len(w)
            res["mismatch_docs"] += g.tolist() != w
            res["raw_mismatch_docs"] += r.tolist() != w
    res["fallback_docs"] = fast.fallback_docs
    res["unclean_tokens"] = int(fast.unclean.sum())
    return res
