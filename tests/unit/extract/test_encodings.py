"""Legacy encodings: every file is decoded right or quarantined, never read as mojibake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt2zh.extract.charsets import common_han
from gpt2zh.extract.streams import detect_encoding
from helpers.extract import TEXT, extract, jsonl

ENCODING_DROPS = {"unknown_encoding", "bad_utf8", "bad_encoding", "mixed_encoding"}
TXT = {"files": "**/*", "text": "{text}", "txt_unit": "file"}

TRAD = (
    "臺灣的傳統文化源遠流長，包括廟宇、節慶與飲食。許多人在過年時回家團聚，吃年夜飯，發紅包。"
    "這些習俗代代相傳，至今仍然非常重要。政府與民間團體也積極保存古蹟，推廣地方藝術。"
)
SIMP = (
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。我们的国家有着悠久的历史和灿烂的文化，"
    "人民勤劳勇敢。经济发展带来了新的机会，也提出了新的问题，需要社会各方面共同努力。"
)
KOREAN = "대한민국은 동아시아의 한반도 남부에 위치한 민주공화국이다. 수도는 서울이다. "
JAPANESE = "日本語の文章は、ひらがなとカタカナと漢字で書かれています。東京は日本の首都です。"
#: A Cantonese sentence with characters only Big5-HKSCS has (嘅, 咗, 啲).
HKSCS = "佢哋今日去咗香港嘅茶樓飲茶，食咗好多啲點心。" * 3


def _outcome(tmp_path: Path, text: str, codec: str, reader: dict = TXT) -> str:
    """'right' (the text came back exactly), 'quarantined' (an encoding drop), else 'mojibake'."""
    shutil.rmtree(tmp_path / "src", ignore_errors=True)
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    r = extract(tmp_path, {"a.txt": text.encode(codec)}, reader)
    if r.texts == [text] and not r.quarantine:
        return "right"
    if not r.texts and set(r.reasons()) <= ENCODING_DROPS:
        return "quarantined"
    return f"mojibake: {r.texts[:1]!r} {r.reasons()}"


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (TRAD, "big5"),
        (TRAD, "cp950"),
        (TRAD, "big5hkscs"),
        (HKSCS, "big5hkscs"),
        (TRAD, "gb18030"),
        (SIMP, "gb18030"),
        (SIMP, "gbk"),
        (SIMP, "gb2312"),
        (SIMP, "hz"),
        (JAPANESE, "iso2022_jp"),
        (KOREAN, "iso2022_kr"),
    ],
    ids=lambda v: v if len(v) < 20 else v[:2],
)
def test_chinese_legacy_encodings_are_decoded_right(tmp_path: Path, text: str, codec: str) -> None:
    assert _outcome(tmp_path, text * 5, codec) == "right"


@pytest.mark.parametrize(
    ("text", "codec"),
    [(KOREAN, "euc_kr"), (KOREAN, "cp949"), (JAPANESE, "shift_jis"), (JAPANESE, "euc_jp")],
    ids=lambda v: v if len(v) < 20 else v[:2],
)
def test_japanese_and_korean_code_pages_are_never_read_as_chinese(
    tmp_path: Path, text: str, codec: str
) -> None:
    assert _outcome(tmp_path, text * 5, codec) in ("right", "quarantined")


SINGLE_BYTE = {
    "ru": "Москва - столица России, город федерального значения. Население города составляет "
    "более двенадцати миллионов человек. ",
    "el": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μία από τις αρχαιότερες πόλεις του κόσμου. ",
    "fr": "Le château se trouve au bord de la rivière; les élèves déjà arrivés attendent près de "
    "l'église où l'on fête Noël. ",
}


@pytest.mark.parametrize(
    ("lang", "codec", "want"),
    [
        ("ru", "cp1251", "right"),
        ("ru", "koi8_r", "right"),
        ("el", "cp1253", "right"),
        ("fr", "cp1252", "quarantined"),  # read as Baltic cp1257 before: "chāteau"
        ("fr", "latin_1", "quarantined"),
    ],
)
def test_single_byte_code_pages_are_read_right_or_quarantined(
    tmp_path: Path, lang: str, codec: str, want: str
) -> None:
    assert _outcome(tmp_path, SINGLE_BYTE[lang] * 20, codec) == want


def test_iso2022_cn_which_python_cannot_read_is_quarantined(tmp_path: Path) -> None:
    seven_bit = bytes(b & 0x7F for b in "中文".encode("gb2312"))
    data = b"\x1b$)A\x0e" + seven_bit + b"\x0f\n"
    r = extract(tmp_path, {"a.txt": data}, TXT)
    assert r.texts == [] and r.reasons() == ["unknown_encoding"]


def test_ascii_with_a_stray_byte_is_not_read_as_a_code_page(tmp_path: Path) -> None:
    """One bad byte in an ASCII start must not make the whole file cp1250: the line with the
    bad byte fails alone, the UTF-8 Chinese lines after the sample are kept as they are."""
    lines = [b'{"text": "line %d"}\n' % i for i in range(4000)]  # > 64 KiB of ASCII
    bad = b'{"text": "caf\xe9"}\n'
    tail = jsonl({"text": "中文的句子。"}, {"text": "第二句。"})
    data = b"".join(lines[:1000]) + bad + b"".join(lines[1000:]) + tail
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert r.texts[-2:] == ["中文的句子。", "第二句。"]
    assert r.reasons() == ["bad_utf8"] and "˙" not in "".join(r.texts)


def test_utf8_records_in_a_code_page_file_are_mixed_encoding(tmp_path: Path) -> None:
    """A GB18030 file that switches to UTF-8: GB18030 decodes UTF-8 bytes into mojibake without
    an error, so those records are quarantined."""
    gb = "".join(f'{{"text": "{SIMP}{i}"}}\n' for i in range(600)).encode("gb18030")
    data = gb + jsonl({"text": "后来"}) + '{"text": "又回到GB。"}\n'.encode("gb18030")
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert len(r.texts) == 601 and r.texts[-1] == "又回到GB。"
    assert r.reasons() == ["mixed_encoding"] and r.quarantine[0]["line"] == 601


def _alphabet(codec: str) -> list[str]:
    chars = []
    for cp in range(0x4E00, 0x9FA6):
        try:
            ch = chr(cp)
            ch.encode(codec)
        except UnicodeEncodeError:
            continue
        chars.append(ch)
    return chars


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


CODECS = ["gb18030", "gbk", "big5", "big5hkscs", "cp950", "shift_jis", "euc_jp", "euc_kr", "hz"]
ALPHABETS = {codec: _alphabet(codec) for codec in CODECS}
PROSE = sorted(set(TRAD + SIMP + HKSCS))
COMMON = {codec: sorted(c for c in common_han() if _encodes(c, codec)) for codec in CODECS}
PUNCT = list("，。、；：？！「」“”（）《》 \n") + list("abc123")


@st.composite
def chinese_text(draw: st.DrawFn, codec: str) -> str:
    """Random Chinese text the codec can hold: runs of ideographs (words and phrases; drawn from
    real sentences, or nine in ten from the common characters and one in ten from every
    ideograph the codec has) between punctuation, spaces, digits or Latin letters. Text made
    mostly of rare characters is left out on purpose: a Big5 text of level-2 characters is, byte
    for byte, a plausible GB2312 text of common ones, so no detector can tell (a documented
    limit: set `encoding:` for such a source). A lone ideograph between Latin letters, repeated,
    can be valid UTF-8 that looks like accented European text: also a documented limit."""
    encodable = [c for c in PROSE if _encodes(c, codec)]
    common = COMMON[codec]
    mostly_common = st.integers(0, 9).flatmap(
        lambda i: st.sampled_from(ALPHABETS[codec] if i == 9 else common)
    )
    char = draw(st.sampled_from([st.sampled_from(encodable), mostly_common]))
    run = st.lists(char, min_size=2, max_size=30).map("".join)
    parts = draw(st.lists(st.tuples(run, st.sampled_from(PUNCT)), min_size=1, max_size=20))
    return "".join(a + b for a, b in parts).strip() or "中文"


@given(st.sampled_from(CODECS).flatmap(lambda c: st.tuples(st.just(c), chinese_text(c))))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_chinese_text_in_any_encoding_is_right_or_quarantined(
    tmp_path: Path, case: tuple[str, str]
) -> None:
    codec, text = case
    outcome = _outcome(tmp_path, text, codec)
    assert outcome in ("right", "quarantined"), (codec, text, outcome)


@given(st.sampled_from(CODECS).flatmap(lambda c: st.tuples(st.just(c), chinese_text(c))))
@settings(max_examples=500, deadline=None)
def test_detection_never_picks_a_codec_that_decodes_differently(case: tuple[str, str]) -> None:
    codec, text = case
    data = (text * (1 + 2000 // len(text))).encode(codec)
    found = detect_encoding(data)
    if found is None:
        return  # the file is quarantined
    try:
        decoded = data.decode(found.codec)
    except UnicodeDecodeError:
        return  # the records are quarantined (bad_utf8 / bad_encoding)
    assert decoded == data.decode(codec), (codec, found)
