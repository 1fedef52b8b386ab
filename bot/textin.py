"""Typed input, normalised once at the edge of the core, in linear time.

Every typed answer passes through `clean_text` before anything parses it: the length is capped
first, invisible characters that only hide or reorder text (a BOM, bidi overrides and isolates,
control characters) are dropped, while the zero-width joiner and non-joiner stay (emoji families,
Persian and Indic spelling need them); the text is NFC, and every kind of space is one plain space.
Parsers of numbers, choices and indexes then read `digits_form(text)`: NFKC, so a full-width "１"
or a superscript "²" reads as the ASCII digit it stands for. No regular expression here can
backtrack: each is a single character class or a fixed sequence.
"""

from __future__ import annotations

import re
import unicodedata

# Anything longer is cut before any other work; no answer of the flow is near this long.
MAX_RAW_INPUT = 4000
# Choice, number and money answers are short; beyond this they are simply not valid.
MAX_SHORT_INPUT = 100
# C0 and C1 controls (but tab and line breaks), zero-width space, LRM/RLM, bidi embeddings,
# overrides and isolates, word joiner and invisible operators, BOM. Not U+200C/U+200D (ZWNJ, ZWJ).
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_SPACE_RUN = re.compile(r"[^\S\n]+")  # any run of whitespace but line breaks (NBSP, thin space, tab...)
_SEPARATORS = frozenset(",;")


def clean_text(raw: str) -> str:
    """The typed text as stored: capped, visible characters only, NFC, single spaces, no blank lines."""
    text = _INVISIBLE.sub("", raw[:MAX_RAW_INPUT].replace("\r\n", "\n").replace("\r", "\n"))
    text = unicodedata.normalize("NFC", text)
    lines = (_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def digits_form(text: str) -> str:
    """The text as number and choice parsers read it: compatibility forms folded (NFKC), capped."""
    return unicodedata.normalize("NFKC", text[: MAX_SHORT_INPUT * 2])[: MAX_SHORT_INPUT * 2]


def as_index(token: str) -> int | None:
    """A token that is a plain number (ASCII digits after NFKC, at most 6 of them) as an int, else None."""
    token = digits_form(token).strip()
    if 0 < len(token) <= 6 and token.isascii() and token.isdigit():
        return int(token)
    return None


def split_list(text: str) -> list[str] | None:
    """Split "1 3, 4;5" into its items when every item is a number; None when it is not such a list.

    One pass over the characters, so any length and any mix of separators costs linear time.
    """
    if len(text) > MAX_SHORT_INPUT * 2:
        return None  # no list of option numbers is this long; never read a cut-off one
    items: list[str] = []
    current: list[str] = []
    for ch in digits_form(text):
        if ch.isspace() or ch in _SEPARATORS:
            if current:
                items.append("".join(current))
                current = []
        elif "0" <= ch <= "9":
            current.append(ch)
        else:
            return None
    if current:
        items.append("".join(current))
    return items or None
