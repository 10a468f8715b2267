"""The tiktoken encoder (`gpt2zh.tokenize.fast`) gives HF's ids, token for token, and the same
token shard bytes; tricky text, other pre-tokenizers, eligibility and the HF fallback."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gpt2zh.shards import Doc, ShardWriter
from gpt2zh.tokenize import pretok
from gpt2zh.tokenize.fast import FastEncoder, NotEligible, make_encoder, verify
from gpt2zh.tokenize.train_bpe import EOS, train_tokenizer, wrap
from helpers.tokenizing import encode_both

BASE = [
    "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "「子曰：学而时习之，不亦说乎？」\n——《论语·学而》",
    "It's 2023-12-31, they'll say: \"we've won\" (I'M SURE) don't you?",
    "三十而立，四十而不惑，五十而知天命。一作：二十四年。",
]


def tricky_texts(n_random: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    fixed = [
        "",
        " ",
        "\n\n\n",
        "   leading and trailing   ",
        "tabs\t\tand\r\nCRLF\r\n\r\n  \n",
        "全角空格\u3000\u3000中文\u00a0nbsp\u2003em\u0085nel",
        "数字1234567890和١٢٣٤ and ①②③ and 〇一二 and ½",
        "emoji 🙂👍🏽👨‍👩‍👧‍👦🇨🇳 ❤️ 😀😀😀",
        "CJK Ext B 𠀀𠀁𪜀𫝀 Ext H 𱍐𱍑 radicals ⺀⼀ compat 豈",
        "kana ひらがなカタカナー 한국어 ภาษาไทย العربية हिन्दी",
        "combining e\u0301 a\u0308\u0308 Z\u0335\u0358 中\u0301",
        "CONTRACTIONS 'S 'T 'RE 'VE 'M 'LL 'D 'll's''' 's",
        "punct!!!...???，。、；：“”‘’（）《》【】——……\n",
        "literal <|endoftext|> in text<|endoftext|><|endoftext|>x",
        "\x00\x01\x1b[0m control \ufeffbom \u200bzwsp \u200d",
        "mixed中English混合text，with标点and数字42个。",
        "long " + "哈" * 500 + " " + "a" * 300 + " " + "1" * 50,
        "   \n  \t \u3000\n",
        "\U0010fffd\U000e0001\ue000 private",
        *BASE,
    ]
    pools = [
        (0x20, 0x7F),
        (0x4E00, 0x9FFF),
        (0x3000, 0x30FF),
        (0xFF00, 0xFFEF),
        (0x20000, 0x2A6DF),
        (0x1F300, 0x1FAFF),
        (0x0300, 0x036F),
        (0x0080, 0x07FF),
        (0x0E00, 0x0E7F),
        (0x0009, 0x000D),
    ]
    out = list(fixed)
    for _ in range(n_random):
        chars = []
        for _ in range(rng.randint(1, 60)):
            lo, hi = rng.choice(pools)
            chars.append(chr(rng.randint(lo, hi)))
            if rng.random() < 0.15:
                chars.append(rng.choice([" ", "  ", "\n", "'s", "，", "。", "\u3000", "7"]))
        out.append("".join(chars))
    # random code points anywhere (no surrogates)
    for _ in range(n_random):
        cps = [rng.randint(0, 0x10FFFF) for _ in range(rng.randint(1, 20))]
        out.append("".join(chr(c) for c in cps if not 0xD800 <= c < 0xE000))
    return out


TRICKY = tricky_texts()


def _save(tok, path: Path) -> Path:
    wrap(tok).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tokdirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tokenizers trained on base + tricky text: zh (runs 2 and 4) and the GPT-2 regex."""
    root = tmp_path_factory.mktemp("toks")
    corpus = (BASE * 20) + TRICKY
    out = {}
    for name, kind, k, vocab in [
        ("zh2", "zh", 2, 1500),
        ("zh4", "zh", 4, 3000),
        ("gpt2", "gpt2", 2, 1500),
    ]:
        tok = train_tokenizer(corpus, vocab, min_frequency=1, kind=kind, max_han_run=k)
        out[name] = _save(tok, root / name)
    return out


@pytest.mark.parametrize("name", ["zh2", "zh4", "gpt2"])
def test_fast_ids_equal_hf_on_tricky_text(tokdirs: dict[str, Path], name: str) -> None:
    res = verify(tokdirs[name], TRICKY + BASE, batch=97)
    assert res["docs"] == len(TRICKY) + len(BASE) and res["tokens"] > 0
    assert res["mismatch_docs"] == 0, res


def test_fast_threads_give_the_same_ids(tokdirs: dict[str, Path]) -> None:
    fast = FastEncoder(tokdirs["zh2"])
    one = [a.tolist() for a in fast.encode_batch(TRICKY, 1)]
    three = [a.tolist() for a in fast.encode_batch(TRICKY, 3)]
    assert one == three


def _shard(path: Path, texts: list[str]) -> Path:
    with ShardWriter(path) as w:
        for i, t in enumerate(texts):
            w.write(Doc.make(f"t:{i}", t, "t"))
    return path


def test_token_shard_bytes_identical_hf_vs_fast(tokdirs: dict[str, Path], tmp_path: Path) -> None:
    shard = _shard(tmp_path / "d.parquet", BASE * 50 + TRICKY)
    hf, fast, s_hf, s_fast = encode_both(shard, tokdirs["zh2"], tmp_path)
    assert hf == fast
    assert (s_hf["encoder"], s_fast["encoder"]) == ("hf", "fast")
    assert s_hf["tokens"] == s_fast["tokens"]


def test_auto_picks_fast_only_for_our_tokenizers(tokdirs: dict[str, Path], tmp_path: Path) -> None:
    assert make_encoder(tokdirs["zh2"], "auto") is not None
    assert make_encoder(tokdirs["zh2"], "hf") is None
    tj = json.loads((tokdirs["zh2"] / "tokenizer.json").read_text("utf-8"))
    other = tmp_path / "other"
    other.mkdir()
    tj["normalizer"] = {"type": "NFKC"}
    (other / "tokenizer.json").write_text(json.dumps(tj), "utf-8")
    assert make_encoder(other, "auto") is None
    with pytest.raises(NotEligible):
        make_encoder(other, "fast")
    tj["normalizer"] = None
    tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\p{L}+|\s+|."
    (other / "tokenizer.json").write_text(json.dumps(tj), "utf-8")
    assert make_encoder(other, "auto") is None
    with pytest.raises(ValueError, match="unknown encoder"):
        make_encoder(tokdirs["zh2"], "fastest")


def test_unclean_tokens_fall_back_to_hf(tmp_path: Path) -> None:
    """merges b+c, a+b, ab+c: tiktoken would join a+bc into `abc` (not a merge; HF stops at
    a|bc), so `abc` is unclean and documents holding it go to HF."""
    from tokenizers import Tokenizer, decoders, models

    from gpt2zh.tokenize.fast import byte_decoder

    alphabet = sorted(byte_decoder(), key=lambda c: byte_decoder()[c])
    vocab = {EOS: 0, **{c: i + 1 for i, c in enumerate(alphabet)}}
    for t in ("bc", "ab", "abc"):
        vocab[t] = len(vocab)
    tok = Tokenizer(models.BPE(vocab, [("b", "c"), ("a", "b"), ("ab", "c")]))
    tok.pre_tokenizer = pretok.pre_tokenizer("zh", 2)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOS])
    _save(tok, tmp_path / "tok")
    fast = FastEncoder(tmp_path / "tok")
    assert fast.unclean[vocab["abc"]] and int(fast.unclean.sum()) == 1
    texts = ["abc", "xabcx abc ab bc", "abd cab", *TRICKY[:50]]
    raw = [a.tolist() for a in fast._encode_many(texts)]
    assert raw[0] == [vocab["abc"]]  # tiktoken alone differs from HF here
    res = verify(tmp_path / "tok", texts)
    assert res["raw_mismatch_docs"] >= 2 and res["mismatch_docs"] == 0
    assert res["fallback_docs"] >= 2
    hf = tok.encode("abc", add_special_tokens=False).ids
    assert [a.tolist() for a in fast.encode_batch(["abc"])] == [hf] == [[vocab["a"], vocab["bc"]]]


def test_pattern_is_known_for_all_han_runs() -> None:
    from gpt2zh.tokenize.fast import KNOWN_PATTERNS

    assert pretok.zh_pattern(2) in KNOWN_PATTERNS and pretok.GPT2_PATTERN in KNOWN_PATTERNS
