"""Text normalizers of the clean stage: text → text, each counted when it changes a document.

They run in this order (each can be switched off per dataset under `clean.normalize`):

`html_stripped`
    Removes HTML comments, `<script>`/`<style>` blocks and tags of known HTML elements (an
    allow-list, so `a<b>c` in a formula or a `<EMAIL>` placeholder survives), turning block tags
    (`<br>`, `</p>`, `</div>`, ...) into line breaks; then unescapes character references that
    end in `;` (`&amp;`, `&#20013;`, `&#x4E2D;`; `&copy=1` in a URL stays as it is).
`nfc_normalized` / `nfkc_normalized`
    Unicode NFC (default) or NFKC. NFC leaves Han ideographs (Extension B and beyond included) and
    emoji alone; NFKC also folds compatibility forms, full-width punctuation among them, so it is
    not recommended for Chinese.
`invisible_stripped`
    Removes C0/C1 control characters (not tab or line breaks), zero-width space, word joiner,
    BOM, soft hyphen, bidirectional marks and overrides. Zero-width joiner/non-joiner and
    variation selectors stay: emoji sequences and ideographic variants need them.
`fullwidth_folded`
    `alnum` (default): full-width Latin letters and digits (ＡＢＣ１２３) → ASCII. `all`: also
    full-width punctuation and the ideographic space. Chinese punctuation (，。！？：；) survives
    `alnum` and `none`.
`whitespace_collapsed`
    CRLF/CR and other line separators → LF, other spaces (NBSP, ideographic space, ...) → " ",
    runs of spaces → one, no spaces at line ends or starts, at most one blank line in a row, no
    leading or trailing whitespace.

Every regex here is linear-time in the text (no nested unbounded quantifiers; bounded tag
length), so a 20 MB document cannot hang the stage.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Element names whose tags are removed (tags of other names are left as text).
_TAG_NAMES = """
    a abbr address article aside audio b base bdi bdo big blockquote body br button canvas
    caption center cite code col colgroup data dd del details dfn dialog div dl dt em embed
    fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head header hr
    html i iframe img input ins kbd label legend li link main map mark meta nav noscript object
    ol optgroup option output p param picture pre q rp rt ruby s samp script section select small
    source span strike strong style sub summary sup svg table tbody td template textarea tfoot th
    thead time title tr track tt u ul var video wbr"""
HTML_TAGS = frozenset(_TAG_NAMES.split())
_BLOCK_TAG_NAMES = """
    address article aside blockquote br dd div dl dt fieldset figcaption figure footer form
    h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr
    ul"""
_BLOCK_TAGS = frozenset(_BLOCK_TAG_NAMES.split())
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]{0,15})(?:\s[^<>]{0,2000})?/?>")
_BLOCK_OPEN = re.compile(r"<!--|<(script|style)\b[^<>]{0,2000}>", re.IGNORECASE)
_BLOCK_CLOSE = {
    "--": re.compile("-->"),
    "script": re.compile(r"</script[^<>]{0,100}>", re.IGNORECASE),
    "style": re.compile(r"</style[^<>]{0,100}>", re.IGNORECASE),
}
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u180e\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]+"
)

_FW_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_FW_ALL = re.compile("[\uff01-\uff5e\u3000]")
_FW_ALNUM_TABLE = {
    cp: cp - 0xFEE0
    for lo, hi in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
    for cp in range(lo, hi + 1)
}
_FW_ALL_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_ODD_SPACES = re.compile("[\t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SPACE_RUN = re.compile(" {2,}")
_SPACE_AROUND_NL = re.compile(" ?\n ?")
_BLANK_RUN = re.compile("\n{3,}")


@dataclass(frozen=True)
class NormalizeOptions:
    unicode: str = "NFC"  # NFC | NFKC | none
    fullwidth: str = "alnum"  # none | alnum | all
    html: bool = True
    invisible: bool = True
    whitespace: bool = True

    @staticmethod
    def from_config(cfg: Mapping[str, Any] | None) -> NormalizeOptions:
        cfg = dict(cfg or {})
        opts = NormalizeOptions(**cfg)
        if opts.unicode not in ("NFC", "NFKC", "none"):
            raise ValueError(f"clean.normalize.unicode: {opts.unicode!r} (expected NFC|NFKC|none)")
        if opts.fullwidth not in ("none", "alnum", "all"):
            raise ValueError(
                f"clean.normalize.fullwidth: {opts.fullwidth!r} (expected none|alnum|all)"
            )
        return opts


def strip_html(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    if "<" in text:
        text = _strip_raw_blocks(text)
        text = _TAG.sub(_tag_replacement, text)
    if "&" in text:
        text = _ENTITY.sub(_entity_replacement, text)
    return text


def _strip_raw_blocks(text: str) -> str:
    """Removes comments and <script>/<style> blocks with their content. A scan with one search
    per block, so unclosed blocks cost one pass over the text, not one pass each."""
    m = _BLOCK_OPEN.search(text)
    if m is None:
        return text
    out: list[str] = []
    pos = 0
    while m is not None:
        close = _BLOCK_CLOSE[(m.group(1) or "--").lower()].search(text, m.end())
        if close is None:
            break
        out.append(text[pos : m.start()])
        out.append("\n")
        pos = close.end()
        m = _BLOCK_OPEN.search(text, pos)
    out.append(text[pos:])
    return "".join(out)


def _tag_replacement(m: re.Match[str]) -> str:
    name = m.group(2).lower()
    if name not in HTML_TAGS:
        return m.group(0)
    return "\n" if name in _BLOCK_TAGS else ""


def _entity_replacement(m: re.Match[str]) -> str:
    ref = m.group(0)
    out = html.unescape(ref)
    return ref if out == ref else out


def unicode_normalizer(form: str) -> Callable[[str], str]:
    def normalize(text: str) -> str:
        if text.isascii() or unicodedata.is_normalized(form, text):
            return text
        return unicodedata.normalize(form, text)

    return normalize


def strip_invisible(text: str) -> str:
    if _INVISIBLE.search(text) is None:
        return text
    return _INVISIBLE.sub("", text)


def fold_fullwidth_alnum(text: str) -> str:
    if _FW_ALNUM.search(text) is None:
        return text
    return text.translate(_FW_ALNUM_TABLE)


def fold_fullwidth_all(text: str) -> str:
    if _FW_ALL.search(text) is None:
        return text
    return text.translate(_FW_ALL_TABLE)


def collapse_whitespace(text: str) -> str:
    if _LINE_BREAKS.search(text) is not None:
        text = _LINE_BREAKS.sub("\n", text)
    if _ODD_SPACES.search(text) is not None:
        text = _ODD_SPACES.sub(" ", text)
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _SPACE_AROUND_NL.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_RUN.sub("\n\n", text)
    if text[:1] in (" ", "\n") or text[-1:] in (" ", "\n"):
        text = text.strip(" \n")
    return text


def normalizers(opts: NormalizeOptions) -> list[tuple[str, Callable[[str], str]]]:
    """(change name, function) in the order they run."""
    steps: list[tuple[str, Callable[[str], str]]] = []
    if opts.html:
        steps.append(("html_stripped", strip_html))
    if opts.unicode != "none":
        steps.append((f"{opts.unicode.lower()}_normalized", unicode_normalizer(opts.unicode)))
    if opts.invisible:
        steps.append(("invisible_stripped", strip_invisible))
    if opts.fullwidth == "alnum":
        steps.append(("fullwidth_folded", fold_fullwidth_alnum))
    elif opts.fullwidth == "all":
        steps.append(("fullwidth_folded", fold_fullwidth_all))
    if opts.whitespace:
        steps.append(("whitespace_collapsed", collapse_whitespace))
    return steps
