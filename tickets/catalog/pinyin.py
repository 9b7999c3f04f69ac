"""Pinyin initials and TV-remote (T9) digits of item names, as stored in the catalog's search columns.

``initials("户口迁移") == "hkqy"`` and ``t9_digits("hkqy") == "4579"``. Letters and digits that are already ASCII
(after NFKC, so full-width ``ＩＤ`` counts) are kept one by one, lower-cased; punctuation and spaces are dropped.
Polyphonic characters take pypinyin's phrase-aware reading (银行 -> yh, 重庆 -> cq).
"""

from __future__ import annotations

import unicodedata

from pypinyin import Style, lazy_pinyin

__all__ = ["T9_KEYS", "fold", "initials", "t9_digits"]

# The letters printed on each key of a phone or TV remote keypad.
T9_KEYS = {
    "2": "abc", "3": "def", "4": "ghi", "5": "jkl", "6": "mno", "7": "pqrs", "8": "tuv", "9": "wxyz",
}
_LETTER_TO_DIGIT = {letter: digit for digit, letters in T9_KEYS.items() for letter in letters}


def fold(text: str) -> str:
    """The form names and queries are compared in: NFKC (full-width to half-width), lower case, no outer spaces."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def initials(text: str) -> str:
    """The pinyin initial of every Chinese character, plus ASCII letters and digits, lower case."""
    out: list[str] = []
    for chunk in lazy_pinyin(fold(text), style=Style.FIRST_LETTER, errors="default"):
        out.extend(ch for ch in chunk.lower() if ch.isascii() and ch.isalnum())
    return "".join(out)


def t9_digits(letters: str) -> str:
    """The keys a remote control types for ``letters`` (digits stay themselves, anything else is dropped)."""
    out: list[str] = []
    for ch in letters.lower():
        if ch.isascii() and ch.isdigit():
            out.append(ch)
        elif ch in _LETTER_TO_DIGIT:
            out.append(_LETTER_TO_DIGIT[ch])
    return "".join(out)
