"""The full-text index of cases: per-user search terms in one FTS5 table (`case_search`)."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from typing import Iterable

# Words longer than this are indexed (and searched) by their first letters only.
MAX_INDEXED_WORD = 40
MAX_QUERY_WORDS = 8
_WORD = re.compile(r"[^\W_]+")


# -- search terms ------------------------------------------------------------------------------
#
# One FTS5 table serves every user, yet a search must touch only the searching user's postings
# (a million cases, ten thousand users: a common word must not drag in everyone's matches). So
# each word is indexed as a per-user term, `u<user id>x<word>`: "Rossi" of user 42 becomes
# `u42xrossi`, and user 42's search for "ross" is the prefix query `"u42xross"*`, which walks only
# the terms starting with `u42x`. The user id is all digits and ends at the first "x", so no two
# users' terms can share that prefix. Words are normalised the same way on both sides: casefolded,
# accents removed, split on anything that is not a letter or digit. The table uses FTS5's `ascii`
# tokenizer, for which every non-ASCII character is part of a token: a term we write is therefore
# always exactly one token, whatever Unicode tables SQLite was built with, and can never be split
# into a piece without the user prefix. No positions are kept (`detail=none`): queries are single
# terms joined by AND. The FTS rowid is the case id.


def _words(decomposed: str) -> list[str]:
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return [word[:MAX_INDEXED_WORD] for word in _WORD.findall(bare)]


def search_words(text: str) -> list[str]:
    """The normalised words of a text: casefolded, without accents, letters and digits only.

    Unicode's compatibility caseless form (D146): folding before and after decomposing, so a
    letter that only gains a case once decomposed (𝝖 -> Α -> α) is folded too, and the words of
    the words are the words themselves (what is indexed is found by typing it back)."""
    normalize = unicodedata.normalize
    return _words(normalize("NFKD", normalize("NFKD", normalize("NFD", text).casefold()).casefold()))


def legacy_search_words(text: str) -> list[str]:
    """The words as releases up to 0.2 indexed them (folded once, before decomposing); they differ
    from `search_words` only for some 600 rare characters (mathematical letters and the like)."""
    return _words(unicodedata.normalize("NFKD", text.casefold()))


def user_term_prefix(user_id: int) -> str:
    return f"u{user_id}x".replace("-", "n")


def index_terms(user_id: int, texts: Iterable[str | None]) -> str:
    """The indexed text of one case: each distinct word once, as a term of this user."""
    prefix = user_term_prefix(user_id)
    words = dict.fromkeys(w for text in texts if text for w in search_words(text))
    return " ".join(prefix + word for word in words)


def match_query(user_id: int, text: str) -> str | None:
    """The FTS5 query for a user's search: every word as a prefix of one of their terms, ANDed;
    where an earlier release wrote the words differently, either spelling matches."""
    prefix = user_term_prefix(user_id)

    def every(words: list[str]) -> str:
        return " AND ".join(f'"{prefix}{word}"*' for word in list(dict.fromkeys(words))[:MAX_QUERY_WORDS])

    words, legacy = search_words(text), legacy_search_words(text)
    if not words:
        return None
    return every(words) if legacy == words or not legacy else f"({every(words)}) OR ({every(legacy)})"


def index_texts(conn: sqlite3.Connection, case_id: int, user_id: int, texts: Iterable[str | None]) -> None:
    """Add the words of `texts` to one case's row of the search index (made if the case has none)."""
    row = conn.execute("SELECT terms FROM case_search WHERE rowid = ?", (case_id,)).fetchone()
    terms = " ".join(dict.fromkeys([*(row[0].split() if row else ()), *index_terms(user_id, texts).split()]))
    if row:
        conn.execute("DELETE FROM case_search WHERE rowid = ?", (case_id,))
    if terms:
        conn.execute("INSERT INTO case_search (rowid, terms) VALUES (?, ?)", (case_id, terms))


def purge_search_index(conn: sqlite3.Connection) -> None:
    """Merge the index into one segment, so deleted terms are gone from its storage, not just hidden.

    FTS5 deletes by writing tombstones; the old postings stay in earlier segments until they are
    merged. `optimize` merges everything (about a second for a million cases); deletions are rare.
    """
    conn.execute("INSERT INTO case_search (case_search) VALUES ('optimize')")
