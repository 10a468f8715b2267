"""Clean stage units: normalizers, PII redaction, filters and their thresholds, config keys."""

from __future__ import annotations

import dataclasses
import datetime
import time

import pytest
import yaml

from gpt2zh.clean import (
    PROFILES,
    NormalizeOptions,
    PiiOptions,
    Redactor,
    ThresholdError,
    filter_batch,
    id_card_valid,
    resolve,
)
from gpt2zh.clean.normalize import (
    collapse_whitespace,
    fold_fullwidth_all,
    fold_fullwidth_alnum,
    normalizers,
    strip_html,
    strip_invisible,
    unicode_normalizer,
)
from gpt2zh.clean.profiles import OFF
from gpt2zh.config import ConfigError, validate_config
from helpers import REPO
from helpers.clean_samples import JUNK, MODERN, POEM_JUNK, POEMS

#: Thresholds recommended for the default config's poem datasets (the lead copies them into
#: config.yaml); the tests below hold them to "keep real poems, still drop junk".
POEM_FILTERS = yaml.safe_load(
    """
tang: &tang
  min_chars: 8
  min_stopwords: 0
  max_newline_ratio: 0.34
  dup_line_char_frac: 0.2
  top_2gram_frac: 0.4
  top_3gram_frac: 0.4
  top_4gram_frac: 0.4
  dup_5gram_frac: 0.3
  dup_6gram_frac: 0.3
  dup_7gram_frac: 0.3
  dup_8gram_frac: 0.3
  dup_9gram_frac: 0.3
  dup_10gram_frac: 0.3
tang_yuding: *tang
songci:
  min_chars: 8
  min_stopwords: 0
  max_newline_ratio: 0.4
  dup_line_frac: 0.5
  dup_line_char_frac: 0.35
  top_2gram_frac: 0.5
  top_3gram_frac: 0.5
  top_4gram_frac: 0.5
  dup_5gram_frac: 0.45
  dup_6gram_frac: 0.45
  dup_7gram_frac: 0.45
  dup_8gram_frac: 0.45
  dup_9gram_frac: 0.45
  dup_10gram_frac: 0.45
classics:
  min_chars: 20
  min_stopwords: 0
  max_newline_ratio: 0.34
  min_line_punct_ratio: null
  dup_line_frac: 0.5
  dup_line_char_frac: 0.35
  top_2gram_frac: 0.45
  top_3gram_frac: 0.45
  top_4gram_frac: 0.45
  dup_5gram_frac: 0.7
  dup_6gram_frac: 0.7
  dup_7gram_frac: 0.7
  dup_8gram_frac: 0.7
  dup_9gram_frac: 0.7
  dup_10gram_frac: 0.7
"""
)


def clean_text(text: str, opts: NormalizeOptions | None = None) -> str:
    for _, fn in normalizers(opts or NormalizeOptions()):
        text = fn(text)
    return text


# -- normalizers ---------------------------------------------------------------------------------


def test_nfc_composes_and_keeps_emoji_and_extension_b() -> None:
    nfc = unicode_normalizer("NFC")
    assert nfc("e\u0301") == "é"
    rare = "𠮷野家 𪚥 𠀀 𫝀 👨‍👩‍👧 😀 👍🏽 ❤️ 葛󠄀"  # Ext B/C/D, ZWJ family, skin tone, VS16, IVS
    assert nfc(rare) == rare
    assert clean_text(rare) == rare  # every default normalizer leaves them intact


def test_fullwidth_keeps_chinese_punctuation_by_default() -> None:
    text = "ＡＢＣ１２３，。！？：；（ｘ）　完"
    assert fold_fullwidth_alnum(text) == "ABC123，。！？：；（x）　完"
    # `all` folds the full-width forms block (U+FF01–FF5E); 。、 are CJK punctuation proper
    assert fold_fullwidth_all(text) == "ABC123,。!?:;(x) 完"
    assert clean_text(text, NormalizeOptions(fullwidth="none")) == text.replace("　", " ")
    assert "，。！" in clean_text(text)  # the default (alnum) keeps them


def test_nfkc_is_available_and_folds_punctuation() -> None:
    assert unicode_normalizer("NFKC")("ＡＢ，①") == "AB,1"
    assert [n for n, _ in normalizers(NormalizeOptions(unicode="NFKC"))][1] == "nfkc_normalized"


def test_html_tags_entities_and_blocks() -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body><p>你好&amp;世界</p>"
        "<!-- 注释 --><script type='text/javascript'>var a = 1 < 2;</script>"
        '<div class="x">第二段<br/>换行</div>&#20013;&#x6587;&nbsp;&copy=1</body></html>'
    )
    out = strip_html(html)
    assert "<" not in out and "注释" not in out and "var a" not in out and "color" not in out
    assert "你好&世界" in out and "中文\xa0&copy=1" in out and "第二段\n换行" in out
    # things that only look like markup survive: placeholders, comparisons, unknown tags
    for text in ("<EMAIL> 和 <PHONE>", "x < y 且 y > z", "a<b", "<自定义>", "AT&T 公司"):
        assert strip_html(text) == text
    # an unclosed script block is left (its tag removed), not searched for again and again
    assert strip_html("前<script>后" * 3) == "前后" * 3


def test_invisible_and_whitespace() -> None:
    assert strip_invisible("a\u200bb\ufeffc\x07d\u00ade\u202ef") == "abcdef"
    assert strip_invisible("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"  # ZWJ stays
    assert strip_invisible("\t\n") == "\t\n"
    text = "  第一段  \t 内容 \r\n\n\n\n　　第二段\u3000内容\u2028末行  "
    assert collapse_whitespace(text) == "第一段 内容\n\n第二段 内容\n末行"


@pytest.mark.parametrize("text", ["", " ", "\n\n\t ", "\u3000\u3000", "\u200b\ufeff"])
def test_empty_and_blank_texts_normalize_to_empty(text: str) -> None:
    assert clean_text(text) == ""


def test_mixed_traditional_and_simplified_pass_unchanged() -> None:
    text = "這是繁體字，这是简体字。臺灣與台湾、後來与后来。"
    assert clean_text(text) == text
    assert filter_batch([MODERN["essay"] + text], resolve("zh")) == [None]


def test_normalizers_are_linear_on_pathological_input() -> None:
    nasty = [
        "<a " * 200_000,  # tags that never close
        "<!--" * 200_000,  # comments that never close
        "<script>" * 100_000,  # raw blocks that never close
        "&#" * 300_000,
        " " * 1_000_000 + "x",
        "\n" * 500_000 + "x" + " \n" * 300_000,
    ]
    for text in nasty:
        t0 = time.perf_counter()
        clean_text(text)
        assert time.perf_counter() - t0 < 5, text[:10]


# -- PII -----------------------------------------------------------------------------------------


def redact(text: str, **kinds: bool) -> tuple[str, dict[str, int]]:
    counts: dict[str, int] = {}
    return Redactor(PiiOptions(**kinds))(text, counts), counts


def test_email() -> None:
    text = "联系zhang.san+news@mail.example.com.cn，或 li_si@163.com。不是：a@b 和 @home"
    out, n = redact(text)
    assert out == "联系<EMAIL>，或 <EMAIL>。不是：a@b 和 @home"
    assert n == {"pii_email": 2}


def test_mobile_numbers_with_boundaries() -> None:
    out, n = redact("电话13812345678，+86 139-1234-5678，0086 15012345678，8618612345678。")
    assert out == "电话<PHONE>，<PHONE>，<PHONE>，<PHONE>。"
    assert n == {"pii_phone": 4}
    kept = "订单号2213812345678，流水12345678901，编号138123456789，区号12812345678。"
    assert redact(kept) == (kept, {})


def test_id_card_check_digit_and_birth_date() -> None:
    valid = "11010519491231002X"
    assert id_card_valid(valid) and id_card_valid(valid.lower())
    wrong_check = "110105194912310021"  # right shape and date, wrong check digit
    assert not id_card_valid(wrong_check)
    assert not id_card_valid("110105194902300025")  # February 30th
    assert not id_card_valid("990105194912310028")  # no such province
    future = datetime.date.today().year + 1
    assert not id_card_valid(f"110105{future}0101002X")
    out, n = redact(f"身份证号{valid}，另一个{wrong_check}。")
    assert out == f"身份证号<ID_CARD>，另一个{wrong_check}。"
    assert n == {"pii_id_card": 1}
    # a valid ID inside a longer digit run is not an ID; its digits are not a phone number either
    assert redact(f"9{valid[:-1]}0")[1] == {}


def test_public_ipv4_only() -> None:
    text = "服务器 8.8.8.8 和 114.114.114.114:53，内网 192.168.1.1、127.0.0.1，版本 1.2.3.4.5"
    out, n = redact(text)
    assert out == "服务器 <IPV4> 和 <IPV4>:53，内网 192.168.1.1、127.0.0.1，版本 1.2.3.4.5"

    assert n == {"pii_ipv4": 2}


def test_pii_kinds_can_be_switched_off() -> None:
    text = "a@example.com 13812345678 8.8.8.8 11010519491231002X"
    out, n = redact(text, email=False, phone=False, ipv4=False, id_card=False)
    assert (out, n) == (text, {})
    assert redact(text, phone=False)[0] == "<EMAIL> 13812345678 <IPV4> <ID_CARD>"


def test_pii_is_linear_on_long_runs() -> None:
    for text in ("1" * 2_000_000, "a" * 2_000_000 + "@", "1." * 1_000_000, "a.b" * 500_000):
        t0 = time.perf_counter()
        redact(text)
        assert time.perf_counter() - t0 < 5, text[:10]


# -- filters -------------------------------------------------------------------------------------


def test_modern_prose_is_kept_by_the_zh_profile() -> None:
    texts = [clean_text(t) for t in MODERN.values()]
    assert dict(zip(MODERN, filter_batch(texts, resolve("zh")), strict=True)) == dict.fromkeys(
        MODERN
    )


@pytest.mark.parametrize("name", list(JUNK))
def test_junk_is_dropped_by_the_zh_profile(name: str) -> None:
    text, reasons = JUNK[name]
    [reason] = filter_batch([clean_text(text)], resolve("zh"))
    assert reason in reasons


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("，。！？、；：“”……" * 10, "low_cjk_ratio"),
        ("短文。", "too_short"),
    ],
)
def test_bad_input_reasons(text: str, reason: str) -> None:
    assert filter_batch([text], resolve("zh")) == [reason]


def test_profile_none_drops_only_empty_documents() -> None:
    texts = ["", " ", *(t for t, _ in JUNK.values())]
    assert filter_batch(texts, resolve("none")) == ["empty", "empty"] + [None] * len(JUNK)


@pytest.mark.parametrize("dataset", list(POEM_FILTERS))
def test_poem_thresholds_keep_poems_and_drop_junk(dataset: str) -> None:
    params = resolve("zh", POEM_FILTERS[dataset])
    poems = POEMS if dataset in ("songci", "classics") else POEMS[:5]
    if dataset == "classics":  # only long pieces there; "句" fragments are not classics
        poems = [p for p in poems if len(p) >= 20]
    assert filter_batch([clean_text(p) for p in poems], params) == [None] * len(poems)
    verdicts = filter_batch([clean_text(j) for j in POEM_JUNK], params)
    assert all(verdicts), list(zip(POEM_JUNK, verdicts, strict=True))


def test_english_profile() -> None:
    prose = (
        "The committee met on Tuesday to discuss the budget for the coming year. After a long "
        "debate, the members agreed that the library should receive additional funding, and "
        "that the money would be used to extend opening hours and to buy new books for the "
        "children's section. The chair thanked everyone for their patience and closed the "
        "meeting with a short summary of the decisions that had been made."
    )
    p = resolve("en")
    assert filter_batch([prose], p) == [None]
    assert filter_batch([prose + " Lorem ipsum dolor sit amet."], p) == ["lorem_ipsum"]
    assert filter_batch([prose + " function f() { return 1; }"], p) == ["curly_bracket"]
    assert filter_batch(["buy cheap " * 60], p) == ["few_stopwords"]
    assert filter_batch([(prose + "\n") * 3], p) == ["dup_lines"]
    assert filter_batch(["word " * 20], p) == ["too_few_words"]
    assert filter_batch(["# tag #tag " * 40 + prose], p) == ["too_many_hashes"]


def test_repetition_statistics() -> None:
    p = resolve("none", {"top_2gram_frac": 0.5})
    # "甲乙" occurs 4 times in 8 characters: 4 × 2 / 8 = 1.0; a 2-gram seen once never counts;
    # a run of letters is one token, so "abababab" is a single word
    texts = ["甲乙甲乙甲乙甲乙", "春眠不觉晓处处", "abababab", "ab ab ab ab"]
    assert filter_batch(texts, p) == ["top_2gram", None, None, "top_2gram"]
    q = resolve("none", {"dup_5gram_frac": 0.3})
    # the second copy of a 10-character sentence covers 10 of 21 characters
    assert filter_batch(["一二三四五六七八九十，一二三四五六七八九十"], q) == ["dup_5gram"]
    assert filter_batch(["一二三四五六七八九十，甲乙丙丁戊己庚辛壬癸"], q) == [None]
    # English words are one token each: no repeated word 5-gram in distinct prose
    r = resolve("none", {"dup_5gram_frac": 0.1})
    assert filter_batch(["the cat sat on the mat while the dog slept by the door"], r) == [None]


def test_twenty_megabyte_document_does_not_hang() -> None:
    unit = MODERN["essay"] + "\n" + MODERN["tech"] + "\n" + "x" * 50 + " 13812345678\n"
    text = unit * (20_000_000 // len(unit.encode()) + 1)
    assert len(text.encode()) >= 20_000_000
    t0 = time.perf_counter()
    cleaned = clean_text(text)
    redacted, counts = redact(cleaned)
    assert counts["pii_phone"] > 10_000
    assert filter_batch([redacted], resolve("zh")) == ["too_long"]  # default max_chars
    everything = resolve("zh", {"max_chars": None})
    assert filter_batch([redacted], everything) == ["dup_lines"]  # every filter ran
    elapsed = time.perf_counter() - t0
    assert elapsed < 20, elapsed


# -- thresholds and config -----------------------------------------------------------------------


def _schema_clean() -> dict:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return schema["$defs"]["clean"]["properties"]


def test_schema_names_every_filter_and_matches_code_defaults() -> None:
    props = _schema_clean()
    assert set(props["filters"]["properties"]) == set(OFF)
    for profile in PROFILES.values():
        assert set(profile) == set(OFF)
    normalize = {k: v["default"] for k, v in props["normalize"]["properties"].items()}
    assert normalize == dataclasses.asdict(NormalizeOptions())
    pii = {k: v["default"] for k, v in props["pii"]["properties"].items()}
    assert pii == dataclasses.asdict(PiiOptions())


def _config_with(clean: dict) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    cfg["datasets"]["tang"]["clean"] = clean
    return cfg


def test_recommended_poem_thresholds_validate() -> None:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    for name, filters in POEM_FILTERS.items():
        cfg["datasets"][name]["clean"] = {"filters": filters}
    out = validate_config(cfg)
    assert out["datasets"]["songci"]["clean"]["normalize"]["unicode"] == "NFC"


@pytest.mark.parametrize(
    ("clean", "message"),
    [
        ({"filters": {"dup_5gram_frac": 1.5}}, "clean.filters.dup_5gram_frac: 1.5 is greater"),
        ({"filters": {"min_cjk_ratio": -0.1}}, "clean.filters.min_cjk_ratio: -0.1 is less"),
        ({"filters": {"min_chars": "ten"}}, "clean.filters.min_chars: 'ten' is not of type"),
        ({"filters": {"min_chars": 1.5}}, "clean.filters.min_chars: 1.5 is not of type"),
        ({"filters": {"max_newline_ratio": True}}, "clean.filters.max_newline_ratio: True"),
        ({"filters": {"top_5gram_frac": 0.2}}, "'top_5gram_frac' was unexpected"),
        ({"filters": {"stopwords": "的"}}, "clean.filters.stopwords: '的' is not of type"),
        ({"filters": {"stopwords": [""]}}, "clean.filters.stopwords.0"),
        ({"normalize": {"unicode": "NFD"}}, "clean.normalize.unicode: 'NFD' is not one of"),
        ({"normalize": {"fullwidth": "yes"}}, "clean.normalize.fullwidth"),
        ({"pii": {"passport": True}}, "'passport' was unexpected"),
        ({"profile": "fr"}, "clean.profile: 'fr' is not one of"),
    ],
)
def test_invalid_thresholds_name_the_key(clean: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(_config_with(clean))
    assert f"datasets.tang.{message}" in str(err.value) or message in str(err.value)
    assert "datasets.tang.clean" in str(err.value)


def test_contradicting_thresholds_name_both_keys() -> None:
    with pytest.raises(ThresholdError, match=r"clean\.filters\.min_chars: 100 is above "):
        resolve("zh", {"min_chars": 100, "max_chars": 50})
    with pytest.raises(ThresholdError, match=r"clean\.filters\.bogus"):
        resolve("zh", {"bogus": 1})


def test_line_punctuation_allows_attributions_and_closing_quotes() -> None:
    p = resolve("none", {"min_line_punct_ratio": 0.3})
    linked = "絕域降附天下平，——李世民\n八表無事悅聖情。——淮安王\n雲披霧斂天地明，——長孫無忌"
    quoted = "他说：“明天见。”\n她回答：「好！」\n（完）"
    truncated = "曲巷斜臨一水間，小門終日不開關。紅珠鬥帳櫻桃熟，\n與君便是鴛鴦侶，休向人間覓往還，"
    assert filter_batch([linked, quoted, truncated], p) == [None, None, "low_line_punct"]
