"""gpt2zh eval: bits per character by hand, the baselines, degeneration measures, sampling, the
cloze task, eval.json end to end on a tiny trained model, lm-eval when installed, bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gpt2zh.config import ConfigError, load_config
from gpt2zh.eval import harness
from gpt2zh.eval.degeneration import distinct_n, measures, repeat_ratio
from gpt2zh.eval.form import clause_lengths, form
from gpt2zh.eval.loss import bits, score_documents, score_split, windows
from gpt2zh.eval.text import REPLACEMENT, TokenBytes, Utf8Stream
from gpt2zh.eval.unigram import SCALARS, Unigram, count_chars
from gpt2zh.train.loop import train
from helpers import REPO
from helpers.eval_contract import check_contract
from helpers.train_fixtures import POEMS, make_mix, make_tokenizer, spec

TINY = REPO / "workflow" / "configs" / "tiny.yaml"
CHUANG = "床".encode()  # 3 bytes: e5 ba 8a
CPU = torch.device("cpu")


class Uniform(torch.nn.Module):
    """Equal logits for every token: NLL is ln(vocab) per scored token, whatever the input."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, input_ids: torch.Tensor) -> Any:
        class Out:
            logits = torch.zeros(*input_ids.shape, self.vocab)

        return Out()


def hand_table() -> TokenBytes:
    """0: first two bytes of 床, 1: its last byte, 2: "a", 3: EOS."""
    pieces = [CHUANG[:2], CHUANG[2:], b"a", b""]
    table = np.zeros((4, 2), dtype=np.uint8)
    for i, p in enumerate(pieces):
        table[i, : len(p)] = list(p)
    return TokenBytes(table, np.array([2, 1, 1, 0]), np.array([False, False, False, True]))


def _score(rows: list[list[int]], char_bits: Any = lambda cps, eos: 0.0) -> Any:
    batches = iter([np.array(rows, dtype=np.int64)])
    return score_split(
        batches, {"uniform": Uniform(4)}, hand_table(), char_bits, torch.device("cpu")
    )


def test_bits_per_char_by_hand() -> None:
    # row a 床(0,1) EOS a: a is context only; scored 0,1,3,2 = bytes 2+1+1+1, chars 床 EOS a
    s = _score([[2, 0, 1, 3, 2]])
    assert (s.tokens, s.bytes, s.chars) == (4, 5, 3)
    assert s.loss("uniform") == pytest.approx(math.log(4))
    assert s.bits_per_char("uniform") == pytest.approx(4 * 2 / 3)  # 4 tokens × 2 bits / 3 chars
    assert s.bits_per_byte("uniform") == pytest.approx(4 * 2 / 5)
    # 床 starts in the unscored first token: its last byte counts, the character does not
    s = _score([[0, 1, 2, 3]])
    assert (s.tokens, s.bytes, s.chars) == (3, 3, 2)
    assert bits(2 * math.log(2), 1) == pytest.approx(2.0)


def test_a_character_split_across_rows_counts_once_in_the_row_of_its_first_byte() -> None:
    seen: list[int] = []
    s = _score([[2, 2, 0], [1, 2, 3]], lambda cps, eos: seen.extend(cps.tolist()) or 0.0)
    # row 1 scores a 床-head; row 2's first token (床's tail) is context: 床 is counted in row 1
    assert (s.tokens, s.bytes, s.chars) == (4, 5, 4)
    assert seen == [ord("a"), ord("床"), ord("a")]


def test_documents_by_hand_each_from_an_eos_with_its_own_eos_scored() -> None:
    # stream: a 床 EOS | a a EOS | a (cut tail, left out); per document: [EOS] doc [EOS]
    rows = iter([np.array([[2, 0, 1, 3], [2, 2, 3, 2]], dtype=np.int64)])
    d = score_documents(
        rows, Uniform(4), hand_table(), eos_id=3, context=16, batch_rows=8, device=CPU
    )
    assert (d.docs, d.tokens, d.chars, d.bytes) == (2, 4 + 3, 3 + 3, 5 + 3)
    assert d.result()["bits_per_char"] == pytest.approx(7 * 2 / 6)  # 7 targets × 2 bits


def test_windows_score_every_target_once_with_half_a_context_before_it() -> None:
    assert windows(5, 8) == [(0, 5, 1)]
    spans = windows(11, 4)
    targets = [t for start, end, first in spans for t in range(first, end)]
    assert targets == list(range(1, 11))
    assert all(first - start >= 2 or start == 0 for start, _, first in spans)
    assert all(end - start <= 4 for start, end, _ in spans)


def test_documents_score_alone_whatever_the_batch_or_window(trained: dict[str, Path]) -> None:
    """Padding a batch changes nothing (causal, right-padded), a document's NLL is that of the
    document run alone, and windows shorter than a document change it only a little."""
    from transformers import AutoTokenizer

    from gpt2zh.eval.loss import document_ids, iter_rows
    from gpt2zh.mix.reader import shard_paths
    from gpt2zh.train.model import build_model, gpt2_config

    tok = AutoTokenizer.from_pretrained(trained["model"])
    tb, eos = TokenBytes.from_tokenizer(tok), tok.eos_token_id
    m = {**spec()["model"], "n_positions": 64}  # the tiny poems are 42-53 tokens
    torch.manual_seed(0)
    config = gpt2_config(m, vocab_size=len(tok), seq_len=32, eos_id=eos)
    model = build_model(config, "sdpa", CPU).eval()
    paths = shard_paths(trained["mix"], "val")

    def nll(batch_rows: int, context: int) -> float:
        return score_documents(iter_rows(paths, 4), model, tb, eos, context, batch_rows, CPU).nll

    by_hand = 0.0
    for doc in document_ids(iter_rows(paths, 4), tb.special):
        x = torch.tensor([[eos, *doc.tolist(), eos]])
        with torch.no_grad():
            logits = model(input_ids=x).logits[0, :-1]
        by_hand += float(torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum"))
    assert nll(1, 64) == pytest.approx(by_hand, rel=1e-5)
    assert nll(5, 64) == pytest.approx(by_hand, rel=1e-5)
    assert nll(3, 16) == pytest.approx(by_hand, rel=0.2) and nll(3, 16) != pytest.approx(by_hand)


def test_token_bytes_of_a_real_tokenizer_and_a_stream_fed_in_pieces(tmp_path: Path) -> None:
    tok = make_tokenizer(tmp_path)
    tb = TokenBytes.from_tokenizer(tok)
    text = POEMS[0] + "\n" + "龘𠀀 ok"  # unseen Han and an astral character: byte tokens
    ids = np.array([*tok(text).input_ids, tok.eos_token_id])
    assert tb.text(ids) == text.encode()
    assert tb.special[tok.eos_token_id] and tb.length[tok.eos_token_id] == 0
    flat, _ = tb.flat(ids)
    stream, cps = Utf8Stream(), []
    for piece in np.array_split(flat, 7):  # cuts fall inside multi-byte characters
        cps += stream.feed(piece, np.ones(len(piece), bool)).tolist()
    cps += stream.close().tolist()
    assert cps == [ord(c) for c in text]


def test_invalid_utf8_gives_one_replacement_per_lead_byte() -> None:
    data = np.frombuffer(CHUANG[:2] + b"a" + b"\x8a" + CHUANG, dtype=np.uint8)
    out = Utf8Stream().feed(data, np.ones(len(data), bool), final=True).tolist()
    assert out == [REPLACEMENT, ord("a"), ord("床")]  # the stray continuation byte is no char


def test_unigram_is_add_one_over_seen_chars_eos_and_an_unseen_bucket() -> None:
    counts = np.zeros(0x110000, dtype=np.int64)
    counts[ord("a")], counts[ord("b")] = 2, 1
    u = Unigram.fit(counts, eos=1)  # N = 4 events, 2 seen chars: denominator 4 + 2 + 2 = 8
    assert u.cost[ord("a")] == pytest.approx(-math.log2(3 / 8))
    assert u.cost[ord("b")] == pytest.approx(-math.log2(2 / 8))
    assert u.eos_cost == pytest.approx(-math.log2(2 / 8))
    assert u.cost[ord("c")] == pytest.approx(-math.log2(1 / 8 / (SCALARS - 2)))
    total = 3 / 8 + 2 / 8 + 2 / 8 + (SCALARS - 2) * 2 ** -u.cost[ord("c")]
    assert total == pytest.approx(1.0)
    assert u.bits(np.array([ord("a"), ord("b")]), 1) == pytest.approx(
        -math.log2(3 / 8) - 2 * math.log2(2 / 8)
    )


def test_unigram_counts_come_from_the_decoded_train_stream() -> None:
    counts, eos = count_chars(
        iter([np.array([[0, 1, 2], [3, 2, 0]]), np.array([[1, 3, 3]])]), hand_table()
    )
    assert eos == 3 and counts[ord("床")] == 2 and counts[ord("a")] == 2 and counts.sum() == 4


def test_degeneration_measures_by_hand() -> None:
    assert repeat_ratio("abababab") == pytest.approx(6 / 8)  # "ababab" at 0 and 2
    assert distinct_n("abababab", 1) == pytest.approx(2 / 8)
    assert distinct_n("abababab", 2) == pytest.approx(2 / 7)  # ab, ba
    assert measures("床前明月光") == {"distinct_1": 1.0, "distinct_2": 1.0, "repeat_ratio": 0.0}
    assert repeat_ratio("明月明月光") == pytest.approx(2 / 5)
    assert measures("") == {"distinct_1": 0.0, "distinct_2": 0.0, "repeat_ratio": 0.0}
    assert distinct_n("a", 2) == 0.0


def test_cloze_items_pick_same_length_distractors_from_other_documents() -> None:
    docs = [f"题{i}\n{p[:6]}\n{p[6:12]}" for i, p in enumerate(POEMS)] + ["短\n一二"]
    items = harness.cloze_items(docs, 100, seed=3)
    assert items == harness.cloze_items(docs, 100, seed=3)
    assert len(items) == len(POEMS)  # "一二" is too short to be a target
    cut = harness.cloze_items([*docs, "题\n\ufffd是地上霜。"], 100, seed=3)  # a broken line
    assert len(cut) == len(POEMS) and "\ufffd" not in json.dumps(cut, ensure_ascii=False)
    for doc, it in zip(docs, items, strict=False):
        lines = doc.split("\n")
        truth = it["choices"][it["label"]]
        j = lines.index(truth)
        assert j >= 1 and it["context"] == "\n".join(lines[:j]) + "\n"
        assert len(set(it["choices"])) == 4 and {len(c) for c in it["choices"]} == {len(truth)}
        assert not set(it["choices"]) - {truth} & set(lines)
    assert len(harness.cloze_items(docs, 2, seed=3)) == 2


# --- a tiny trained model ----------------------------------------------------------------------


def _add_val_by_dataset(mix: Path) -> Path:
    """The fixture mix has one dataset: its val split is the combined one."""
    m = json.loads((mix / "manifest.json").read_text("utf-8"))
    m["val_by_dataset"] = {"poems": m["val"]}
    (mix / "manifest.json").write_text(json.dumps(m), "utf-8")
    return mix


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    tok = make_tokenizer(root / "tokenizer")
    mix = _add_val_by_dataset(make_mix(root / "mix", tok))
    # 120 steps of 8 rows at lr 0.01 (6 s): enough to beat the character unigram clearly
    s = spec(max_steps=120, eval_every=120, lr=0.01, warmup_steps=5, batch_size=8)
    train(s, mix, root / "tokenizer", root / "run", threads=1)
    return {"mix": mix, "tokenizer": root / "tokenizer", "model": root / "run" / "model"}


def eval_spec(**e: Any) -> dict[str, Any]:
    cfg = load_config([TINY])
    cfg["eval"].update({"max_new_tokens": 16, "reference_samples": 4, "lm_eval": "never", **e})
    return {"run": "t", "eval": cfg["eval"], "seed": cfg["train"]["seed"], "attention": "sdpa"}


def test_sampling_is_deterministic(trained: dict[str, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gpt2zh.eval.generate import sample

    model = AutoModelForCausalLM.from_pretrained(trained["model"])
    tok = AutoTokenizer.from_pretrained(trained["model"])
    e = eval_spec()["eval"]
    cpu = torch.device("cpu")
    first = sample(model, tok, "床前", e, 5, cpu)
    assert first and first == sample(model, tok, "床前", e, 5, cpu)
    others = {sample(model, tok, "床前", e, s, cpu) for s in range(6, 12)}
    assert others - {first}  # the seed matters


def test_eval_end_to_end_beats_both_baselines_and_reruns_identically(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    from gpt2zh.eval.run import evaluate

    r = evaluate(eval_spec(), trained["model"], trained["mix"], tmp_path / "a", threads=1)
    check_contract(r)
    assert set(r["splits"]) == {"all", "poems"} and r["step"] == 120 and r["lm_eval"] is None
    s = r["splits"]["all"]
    # val is 8 rows of 32 tokens; all but each row's first are scored
    assert s["tokens"] == 8 * 31 and s["bytes"] > s["chars"] > s["tokens"] / 2
    assert s["gain_bits_per_char"]["vs_untrained"] > 1 and s["gain_bits_per_char"]["vs_unigram"] > 0
    assert s["untrained"]["loss"] == pytest.approx(math.log(320), rel=0.05)  # ~uniform at init
    # per document with full context: no unscored row starts, so it scores more characters
    assert s["documents"]["docs"] > 0 and s["documents"]["chars"] > 0
    assert 0 < s["documents"]["bits_per_char"] < s["untrained"]["bits_per_char"]
    assert len(r["samples"]) == len(load_config([TINY])["eval"]["prompts"])
    md = (tmp_path / "a" / "eval.md").read_text("utf-8")
    assert "| all |" in md and "床前明月光" in md and "## Degeneration" in md
    items = (tmp_path / "a" / "lm_eval" / f"{harness.TASK}.jsonl").read_text("utf-8")
    assert items.count("\n") > 0
    evaluate(eval_spec(), trained["model"], trained["mix"], tmp_path / "b", threads=1)
    for name in ("eval.json", "eval.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # two samples per prompt: the first round is the one-sample run's, the second another
    two = evaluate(
        eval_spec(samples_per_prompt=2), trained["model"], trained["mix"], tmp_path / "c"
    )
    n = len(r["samples"])
    assert len(two["samples"]) == 2 * n and two["samples"][:n] == r["samples"]
    assert [x["text"] for x in two["samples"][n:]] != [x["text"] for x in r["samples"]]


def test_lm_eval_runs_the_cloze_on_the_saved_model(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("lm_eval")
    from gpt2zh.eval.run import evaluate

    r = evaluate(
        eval_spec(lm_eval="always", prompts=["床前"]),
        trained["model"],
        trained["mix"],
        tmp_path,
        threads=1,
    )
    lm = r["lm_eval"]
    assert lm["task"] == harness.TASK and lm["chance"] == 0.25 and lm["n"] > 0
    assert 0.0 <= lm["acc"] <= 1.0


def gpt2zh(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", "eval", "--config", str(TINY), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_no_trained_model_is_a_clear_error(trained: dict[str, Path], tmp_path: Path) -> None:
    out = gpt2zh("--model", tmp_path / "none", "--mix", trained["mix"], "--out", tmp_path / "o")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "no trained model" in out.stderr and "snakemake --cores N train" in out.stderr


def test_missing_mix_is_a_clear_error(trained: dict[str, Path], tmp_path: Path) -> None:
    out = gpt2zh("--model", trained["model"], "--mix", tmp_path / "nomix", "--out", tmp_path / "o")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "build the mix first" in out.stderr


def test_bad_eval_config_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("eval: {top_p: 2}\n", "utf-8")
    with pytest.raises(ConfigError, match=r"eval\.top_p"):
        load_config([TINY, bad])
    bad.write_text("eval: {samples: 3}\n", "utf-8")
    with pytest.raises(ConfigError, match="samples"):
        load_config([TINY, bad])


def test_rows_are_read_in_stream_order_and_capped(trained: dict[str, Path]) -> None:
    from gpt2zh.eval.loss import iter_rows
    from gpt2zh.mix.reader import shard_paths

    paths = shard_paths(trained["mix"], "train")
    rows = np.concatenate(list(iter_rows(paths, 5)))
    assert rows.shape == (64, 32)  # 4 shards of 16 rows, batches of 5 across shard ends
    assert (np.concatenate(list(iter_rows(paths, 5, max_rows=7))) == rows[:7]).all()
    assert list(iter_rows([], 5)) == []


def test_verse_form_by_hand() -> None:
    poem = "静夜思\n床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n"
    assert clause_lengths(poem) == [3, 5, 5, 5, 5]
    # the prompt's clause counts whole; a last clause with no break is cut off, not counted
    assert clause_lengths("床前明月光，疑是地上霜。举头", start=6) == [5]
    assert clause_lengths("春风吹绿江南岸，明月", start=2) == [7]
    # a window cut from running text starts mid-clause; clauses without Han are not clauses
    assert clause_lengths("月光，疑是地上霜。\n\n。举头望明月，", skip_first=True) == [5, 5]
    assert form([5, 7, 3, 5]) == {"verse_clauses": 0.75, "clauses": 4, "clause_chars": 5.0}
    assert form([]) == {"verse_clauses": 0.0, "clauses": 0, "clause_chars": 0.0}


def test_a_sample_cut_inside_a_character_does_not_end_in_replacement_chars(
    trained: dict[str, Path],
) -> None:
    """Odd token budgets stop inside 3-byte characters; the cut bytes are not the model's."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gpt2zh.eval.generate import sample

    model = AutoModelForCausalLM.from_pretrained(trained["model"])
    tok = AutoTokenizer.from_pretrained(trained["model"])
    cpu = torch.device("cpu")
    texts = [
        sample(model, tok, "床前", eval_spec(max_new_tokens=n)["eval"], s, cpu)
        for n in (1, 2, 3, 4, 5)
        for s in range(4)
    ]
    assert all(t.rstrip() == t.rstrip().rstrip("\ufffd") for t in texts), texts
