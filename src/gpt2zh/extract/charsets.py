"""Telling legacy CJK encodings apart, or refusing to guess.

Almost any byte string in Big5, Shift-JIS or EUC-KR is also valid GB18030, and the result is
mostly CJK: a test of "decodes and looks Chinese" reads Big5 as GB18030 mojibake. So every
candidate codec decodes the sample strictly and the decodings are scored as Chinese text: the
share of letters (non-ASCII, not punctuation) that are *common* Chinese characters (GB2312 level
1 or Big5 level 1, the two standards' frequency-chosen sets). A wrong decoding lands on rare
characters, kana, Greek and box drawing (Big5 → GB18030), on private-use code points
(user-defined rows of GB18030, which disqualify), or on hangul. Japanese and Korean text, which
this corpus does not want anyway, are recognised by their own scripts (kana, hangul) and refused
rather than read as Chinese. A decoding is chosen only when it scores high and clearly above
every other decoding that differs from it, with enough distinct letters to tell; anything
closer is `None` (the caller quarantines the file): a file is decoded right or not at all.

7-bit encodings (ISO-2022 with escape sequences, HZ) look like ASCII, which is valid UTF-8; they
are checked separately when an ASCII sample shows their markers.
"""

from __future__ import annotations

import codecs
import re
from functools import cache

#: Codecs that can carry Chinese text, in order of preference when decodings are identical.
CHINESE_CODECS = ("gb18030", "big5", "big5hkscs")
#: Codecs of Japanese and Korean text, tried only to recognise (and refuse) them.
OTHER_CJK_CODECS = ("shift_jis", "euc_jp", "euc_kr")
#: Multi-byte CJK codecs (Python's names): a guess of one of these by a generic detector is not
#: trusted once `detect_cjk` has found no clear answer.
MULTIBYTE_CJK = frozenset(
    codecs.lookup(name).name
    for name in (
        *CHINESE_CODECS,
        *OTHER_CJK_CODECS,
        "gbk",
        "gb2312",
        "hz",
        "cp950",
        "cp932",
        "cp949",
        "johab",
        "euc_jis_2004",
        "euc_jisx0213",
        "shift_jis_2004",
        "shift_jisx0213",
        "iso2022_jp",
        "iso2022_jp_1",
        "iso2022_jp_2",
        "iso2022_jp_2004",
        "iso2022_jp_3",
        "iso2022_jp_ext",
        "iso2022_kr",
    )
)
#: A Chinese decoding must have at least this share of plausible characters...
MIN_SCORE = 0.75
#: ...and beat every other (different) decoding by this much...
MIN_MARGIN = 0.15
#: ...and a Japanese or Korean one by this much: EUC-JP and GB2312 share their byte layout, so
#: Chinese in EUC-JP read as GB scores as high (or higher, with rare characters) as GB read
#: as EUC-JP; only a wide gap tells them apart (short texts valid in both are refused).
MIN_MARGIN_OTHER = 0.3
#: Fewer distinct non-ASCII letters (not punctuation) than this is too little to tell codecs
#: apart (a 2-byte sequence is a character in each of them).
MIN_CHARS = 8
#: The whole sample must decode; its first this many characters are scored (the score of a
#: few thousand characters is as telling, and scoring runs in Python).
SCORED_CHARS = 4096
#: More private-use characters than this share disqualifies a decoding.
MAX_PRIVATE_USE = 0.002
#: Japanese: kana make up at least this share of the letters.
MIN_KANA = 0.1
#: Korean: hangul make up at least this share of the letters.
MIN_HANGUL = 0.8

_PUNCT = re.compile(
    "[\u00b7\u2010-\u206f\u3000-\u303f\uff01-\uff60\ufe30-\ufe4f\u2460-\u24ff\u25a0-\u25ff]"
)
_NON_ASCII = re.compile("[^\x00-\x7f]")
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
#: UTF-8 lead bytes: one per non-ASCII character
_UTF8_LEADS = bytes(range(0xC0, 0x100))
_THREE_BYTE_LEAD = re.compile(b"[\xe0-\xff]")
#: Lead bytes of U+40000-U+BFFFF, planes no character is assigned to
_UNASSIGNED_PLANES = re.compile(b"[\xf1\xf2]")
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_KANA = re.compile("[\u3041-\u3096\u30a1-\u30fa]")
_HANGUL = re.compile("[\uac00-\ud7a3]")


#: Frequent Cantonese characters (written Hong Kong Chinese) beyond the two level-1 sets; most
#: are in Big5 only through HKSCS. A short list: HKSCS as a whole is mostly rare characters,
#: and Shift-JIS kanji bytes decode as HKSCS characters.
CANTONESE = "佢哋嘅咗啲冇喺嘢啱嚟咁噉囉喎嗰乜嘥揾睇諗瞓攞俾畀嚿"


@cache
def common_han() -> frozenset[str]:
    """GB2312 level 1 (3,755 simplified characters chosen by frequency), Big5 level 1 (5,401
    常用字) and `CANTONESE`, built from the codecs themselves: no data file to ship."""
    chars: set[str] = set(CANTONESE)
    for lo, hi, codec in ((0xB0A1, 0xD7FE, "gb2312"), (0xA440, 0xC67E, "big5")):
        for code in range(lo, hi + 1):
            try:
                ch = code.to_bytes(2, "big").decode(codec)
            except UnicodeDecodeError:
                continue
            if "\u3400" <= ch <= "\u9fff":
                chars.add(ch)
    return frozenset(chars)


def _letters(text: str) -> list[str]:
    """The non-ASCII characters that are not punctuation: punctuation reads the same in most
    CJK codecs, so it tells them apart no better than ASCII does."""
    return _NON_ASCII.findall(_PUNCT.sub("", text))


def chinese_score(text: str) -> float:
    """Share of the non-ASCII, non-punctuation characters that are common Chinese characters
    (0 with too many private-use characters; 1 when there is no such character)."""
    if len(_PRIVATE.findall(text)) > MAX_PRIVATE_USE * max(1, len(_NON_ASCII.findall(text))):
        return 0.0
    letters = _letters(text)
    if not letters:
        return 1.0
    common = common_han()
    return sum(1 for ch in letters if ch in common) / len(letters)


def decode_strict(sample: bytes, codec: str) -> str | None:
    """The sample decoded strictly (an incomplete character at its end is ignored), or None."""
    try:
        return codecs.getincrementaldecoder(codec)("strict").decode(sample, final=False)
    except UnicodeDecodeError:
        return None


def _japanese(text: str) -> bool:
    letters = _letters(text)
    return bool(letters) and len(_KANA.findall(text)) >= MIN_KANA * len(letters)


def _korean(text: str) -> bool:
    """Hangul is nearly all the letters: EUC-KR hangul bytes are GB2312 level-1 hanzi, so Korean
    read as GB18030 would look like common Chinese. (GB text that happens to be valid EUC-KR
    reads as hangul and hanja mixed, as does Korean written with many hanja.)"""
    letters = _letters(text)
    return bool(letters) and len(_HANGUL.findall(text)) >= MIN_HANGUL * len(letters)


def chinese_scores(
    sample: bytes, codecs: tuple[str, ...] = CHINESE_CODECS
) -> dict[str, float] | None:
    """`chinese_score` of each codec's strict decoding (one codec per distinct text), or None
    when a decoding has fewer than `MIN_CHARS` distinct letters (too little to tell: codecs
    segment bytes differently, so the least is what counts)."""
    full: dict[str, str] = {}
    decodings: dict[str, str] = {}
    for codec in codecs:
        text = decode_strict(sample, codec)
        if text is not None and text not in full.values():
            full[codec] = text
            decodings[codec] = text[:SCORED_CHARS]
    if any(len(set(_letters(text))) < MIN_CHARS for text in decodings.values()):
        return None
    return {codec: chinese_score(text) for codec, text in decodings.items()}


def reads_as_chinese(sample: bytes) -> bool:
    """Whether some Chinese codec decodes the sample into plausible Chinese text (or too little
    of it to tell)."""
    scores = chinese_scores(sample)
    if scores is None:
        return decodes_as_cjk(sample)
    return any(score >= MIN_SCORE for score in scores.values())


def utf8_or_chinese(sample: bytes) -> bool:
    """For a valid, non-ASCII UTF-8 sample: whether it may as well be CJK text in a code page,
    when a CJK codec decodes it. Yes for one holding characters of unassigned planes; for a tiny
    one (under `MIN_CHARS` non-ASCII characters) unless its UTF-8 reading is common Chinese (a
    few legacy byte pairs are easily valid UTF-8); for a longer one only when it holds no 3-byte
    character (no CJK in UTF-8) and its non-ASCII characters come in runs (accented letters of
    European UTF-8 stand alone) that read as plausible Chinese in a code page (or too few
    distinct letters to tell)."""
    if sample.isascii():
        return False
    if _UNASSIGNED_PLANES.search(sample):
        return decodes_as_cjk(sample)  # planes 4-11 hold no characters: not UTF-8 text
    characters = len(sample) - len(sample.translate(None, _UTF8_LEADS))
    if characters >= MIN_CHARS and _THREE_BYTE_LEAD.search(sample):
        return False  # the common case, in C: UTF-8 with 3-byte characters (CJK)
    text = sample.decode("utf-8", "ignore")
    non_ascii = _NON_ASCII.findall(text)
    if len(non_ascii) < MIN_CHARS:
        if _letters(text) and chinese_score(text) >= MIN_SCORE:
            return False
        return decodes_as_cjk(sample)
    in_runs = sum(len(run) for run in _NON_ASCII_RUN.findall(text) if len(run) > 1)
    if in_runs < 0.5 * len(non_ascii):
        return False
    return reads_as_chinese(sample)


def decodes_as_cjk(sample: bytes) -> bool:
    """Whether any CJK codec decodes the sample strictly: then a single-byte code page guessed
    for it is likely mojibake."""
    return any(decode_strict(sample, c) is not None for c in (*CHINESE_CODECS, *OTHER_CJK_CODECS))


def detect_cjk(sample: bytes) -> str | None:
    """The codec of a non-UTF-8 sample of Chinese text, or None (not Chinese in a legacy CJK
    encoding, or not clearly one codec)."""
    for codec in OTHER_CJK_CODECS:
        text = decode_strict(sample, codec)
        if text is None:
            continue
        text = text[:SCORED_CHARS]
        if _korean(text) if codec == "euc_kr" else _japanese(text):
            return None  # Japanese or Korean text: never read as Chinese
    # Japanese and Korean codecs compete too (Chinese text in EUC-KR is hanja), but never win
    scores = chinese_scores(sample, (*CHINESE_CODECS, *OTHER_CJK_CODECS))
    if not scores:  # too little to tell, or no codec decodes it
        return None
    best = max(scores, key=lambda c: scores[c])
    if best not in CHINESE_CODECS:
        return None
    if scores[best] < MIN_SCORE:
        return None
    for codec, score in scores.items():
        margin = MIN_MARGIN if codec in CHINESE_CODECS else MIN_MARGIN_OTHER
        if codec != best and scores[best] - score < margin:
            return None
    return best


def detect_seven_bit(sample: bytes) -> str | None:
    """For an all-ASCII sample: 'iso2022_jp_2' / 'iso2022_kr' / 'hz' when its escape sequences
    say so and it decodes strictly to non-ASCII text, else None (plain ASCII). A sample with
    ISO-2022 escapes that no codec here reads (ISO-2022-CN), or HZ that does not read as common
    Chinese, is 'unknown'."""
    if b"\x1b$" in sample or b"\x1b(" in sample:
        for codec in ("iso2022_jp_2", "iso2022_kr"):
            text = decode_strict(sample, codec)
            if text is not None and _NON_ASCII.search(text):
                return codec
        return "unknown"
    if b"~{" in sample:
        text = decode_strict(sample, "hz")
        if text is not None and _NON_ASCII.search(text):
            # HZ's escapes in plain ASCII are rare; unlikely Chinese behind them: cannot tell
            return "hz" if chinese_score(text) >= MIN_SCORE else "unknown"
    return None
