"""Token ids back to UTF-8 bytes and characters, exactly and in bounded memory.

Bits per character need the characters a scored token stands for. A byte-level BPE token is a
run of bytes that can end inside a character (rare Han characters are split into byte tokens),
so characters are counted by their *lead byte*: a character belongs to the token holding its
first byte. Summed over a stream this is exactly `len(stream_bytes.decode("utf-8"))`, and it
splits the stream into per-token parts without double counting. Special tokens (EOS) have no
text bytes; they count as one byte and one character, the separator a plain text file would
hold between documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpt2zh.errors import UserError
from gpt2zh.tokenize.fast import byte_decoder

REPLACEMENT = 0xFFFD


class TokenizerNotByteLevel(UserError):
    """Bytes per token are only defined for byte-level BPE tokenizers."""


@dataclass(frozen=True)
class TokenBytes:
    """The bytes of every token id: a padded `(vocab, longest)` table and the lengths."""

    table: np.ndarray
    length: np.ndarray
    special: np.ndarray

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> TokenBytes:
        decoder = type(tokenizer.backend_tokenizer.decoder).__name__
        if decoder != "ByteLevel":
            raise TokenizerNotByteLevel(
                f"eval: the tokenizer's decoder is {decoder}, not ByteLevel: bits per byte need "
                "byte-level BPE tokens (every tokenizer gpt2zh trains is one)"
            )
        symbols = byte_decoder()
        special_ids = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
        pieces: list[bytes] = []
        for i, tok in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
            pieces.append(b"" if i in special_ids else bytes(symbols[ch] for ch in tok))
        width = max(1, *(len(p) for p in pieces))
        table = np.zeros((len(pieces), width), dtype=np.uint8)
        for i, p in enumerate(pieces):
            table[i, : len(p)] = np.frombuffer(p, dtype=np.uint8)
        special = np.zeros(len(pieces), dtype=bool)
        special[sorted(special_ids)] = True
        return cls(table, np.array([len(p) for p in pieces], dtype=np.int64), special)

    def flat(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The bytes of `ids` end to end, and for each byte the index of its token in `ids`."""
        ids = np.asarray(ids).reshape(-1)
        lengths = self.length[ids]
        mask = np.arange(self.table.shape[1]) < lengths[:, None]
        return self.table[ids][mask], np.repeat(np.arange(len(ids)), lengths)

    def text(self, ids: np.ndarray) -> bytes:
        """The UTF-8 text of `ids` (special tokens dropped)."""
        return self.flat(ids)[0].tobytes()


def _code_points(buf: np.ndarray, leads: np.ndarray) -> np.ndarray:
    """Code point of the character at each lead byte; invalid sequences give U+FFFD."""
    b0 = buf[leads].astype(np.uint32)
    need = np.select([b0 < 0x80, b0 >= 0xF8, b0 >= 0xF0, b0 >= 0xE0, b0 >= 0xC0], [1, 0, 4, 3, 2])
    padded = np.concatenate([buf, np.zeros(3, dtype=np.uint8)]).astype(np.uint32)
    c1, c2, c3 = (padded[leads + k] for k in (1, 2, 3))
    ok1, ok2, ok3 = ((c & 0xC0) == 0x80 for c in (c1, c2, c3))
    cp = np.select(
        [need == 1, need == 2, need == 3, need == 4],
        [
            b0,
            ((b0 & 0x1F) << 6) | (c1 & 0x3F),
            ((b0 & 0x0F) << 12) | ((c1 & 0x3F) << 6) | (c2 & 0x3F),
            ((b0 & 0x07) << 18) | ((c1 & 0x3F) << 12) | ((c2 & 0x3F) << 6) | (c3 & 0x3F),
        ],
        REPLACEMENT,
    )
    valid = (need == 1) | ((need >= 2) & ok1)
    valid &= (need < 3) | ok2
    valid &= (need < 4) | ok3
    cp[~valid | (cp > 0x10FFFF)] = REPLACEMENT
    return cp


def _need(lead: int) -> int:
    return 1 if lead < 0x80 else 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2


@dataclass
class Utf8Stream:
    """Decodes a byte stream fed in pieces (a character may straddle two pieces) into the code
    points of the characters whose lead byte is marked `keep`."""

    _buf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    _keep: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def feed(self, data: np.ndarray, keep: np.ndarray, *, final: bool = False) -> np.ndarray:
        buf = np.concatenate([self._buf, data])
        kept = np.concatenate([self._keep, keep])
        leads = np.flatnonzero((buf & 0xC0) != 0x80)
        cut = len(buf)
        if not final and len(leads) and leads[-1] + _need(int(buf[leads[-1]])) > len(buf):
            cut = int(leads[-1])  # the last character may go on in the next piece
            leads = leads[:-1]
        self._buf, self._keep = buf[cut:], kept[cut:]
        leads = leads[kept[leads]]
        return _code_points(buf[:cut], leads)

    def close(self) -> np.ndarray:
        return self.feed(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=bool), final=True)
