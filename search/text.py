"""Text normalisation applied to every query and passage before encoding.

Users paste text from chat apps: full-width letters and punctuation, zero-width
characters, ideographic spaces, sometimes Traditional characters. The same rules run
on both sides, and :data:`NORMALIZATION_VERSION` is recorded in every index build so
that a change of rules forces a rebuild instead of silently skewing scores.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

NORMALIZATION_VERSION = "nfkc-zw-ws-1"

# Zero-width and formatting characters that carry no meaning for search.
_INVISIBLE = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x180E}
_KEEP_CONTROLS = {"\n", "\t"}
_HORIZONTAL_WS = re.compile(r"[^\S\n]+")  # any whitespace except newline
_MANY_NEWLINES = re.compile(r"\n{2,}")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")


def _is_dropped(ch: str) -> bool:
    if ch in _KEEP_CONTROLS:
        return False
    cp = ord(ch)
    if cp in _INVISIBLE:
        return True
    category = unicodedata.category(ch)
    # Cc: C0/C1 controls; Cs: lone surrogates (not encodable as UTF-8).
    return category in ("Cc", "Cs")


def _strip_invisible(text: str) -> str:
    return "".join(ch for ch in text if not _is_dropped(ch))


def _fold_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HORIZONTAL_WS.sub(" ", text)  # tabs, U+3000 (after NFKC) and runs of spaces
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n", text)
    return text.strip()


# OpenCC's phrase-level Taiwan configuration: 軟體 -> 软件, 網路 -> 网络 as well as the
# characters. Measured against t2s, tw2s, hk2s and hk2sp by `bench/quality.py --steps
# opencc` (COVID and the sample FAQ in Traditional): best mean recall@1, by a little.
OPENCC_CONFIG = "tw2sp"
# Every OpenCC configuration turns 帳 into 帐, but in the account sense mainland text
# writes 账 (退款多久會到帳 -> 到帐, the FAQ says 到账). These words are folded to 账 after
# the conversion, on both sides; 帐 keeps its own sense elsewhere (蚊帐, 帐篷).
_ACCOUNT_WORDS = re.compile("(?<=[到转记对查入出结算欠赊挂销冲坏呆报收付认赖])帐|"
                            "帐(?=[号户单目本期务款面簿])")


@lru_cache(maxsize=1)
def _t2s_converter() -> Any:  # an opencc.OpenCC (opencc ships no types)
    import opencc  # imported lazily: only needed when conversion is on

    return opencc.OpenCC(OPENCC_CONFIG)


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese (OpenCC ``tw2sp``), 帐 of accounts as 账."""
    return _ACCOUNT_WORDS.sub("账", _t2s_converter().convert(text))


def normalize(text: str, *, traditional_to_simplified: bool = False) -> str:
    """Normalise one text. Idempotent; never returns zero-width characters.

    NFKC maps full-width ASCII, digits and punctuation to their half-width forms and
    U+3000 to a space; CJK ideographs are unchanged by it.
    """
    # Strip first so invisible characters cannot hide inside NFKC compositions,
    # then again because NFKC can expose new ones (it never does for our set today,
    # but the second pass keeps idempotence a property rather than a coincidence).
    text = _strip_invisible(text)
    text = unicodedata.normalize("NFKC", text)
    text = _strip_invisible(text)
    if traditional_to_simplified:
        text = to_simplified(text)
    text = _fold_whitespace(text)
    # Folding can join characters that NFKC would now compose; re-run until stable.
    again = unicodedata.normalize("NFKC", text)
    return text if again == text else normalize(again, traditional_to_simplified=False)


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(value: object, where: str = "") -> str | None:
    """The path ("question", "tags[2]", "metadata.k") of the first text in ``value`` that
    holds a lone UTF-16 surrogate (a JSON escape like "\\ud800" that is not half of a
    pair), or None. Such text cannot be stored, encoded to UTF-8 or echoed back."""
    if isinstance(value, str):
        return (where or "text") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            found = (lone_surrogate_at(key, f"a key of {where or 'the body'}")
                     or lone_surrogate_at(item, inner))
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = lone_surrogate_at(item, f"{where}[{i}]")
            if found:
                return found
    return None


def normalization_version(traditional_to_simplified: bool) -> str:
    return NORMALIZATION_VERSION + (f"+{OPENCC_CONFIG}-acct" if traditional_to_simplified else "")
