"""Erasure that erases: after deleting a case, erasing a user or cancelling a questionnaire, no byte
of the database, its `-wal` or its `-shm` still holds the client's name, a note or an answer, even
while other connections (the bot, a reader) have the file open.

SQLite keeps deleted rows in free pages unless `secure_delete` is on, and keeps old versions of
pages in the WAL until a checkpoint truncates it; the store does both on every erasure.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.classifier import Assessment
from bot.state import Conversation
from bot.store import Store

USER, OTHER = 7, 8
# Lower-case ASCII words: the search index stores words casefolded, so one spelling finds every copy.
NAME, NOTE, ANSWER, CANCELLED = "zqxrossiname", "zqxnotetext", "zqxserviceanswer", "zqxcancelledanswer"
ASSESSMENT = Assessment({"vip": 10.0}, "vip", None, "high", (), False, False, False, False, False).to_dict()


def state(lang: str = "it", **answers: str) -> Conversation:
    """A finished conversation as the store keeps it (the store does not read the flow)."""
    return Conversation(
        flow="cliente_difficile",
        flow_version=1,
        lang=lang,
        at="end",
        answers=answers,
        history=list(answers),
        step=len(answers),
    )


def hits(path: Path, *markers: str) -> dict[str, int]:
    """How many times each marker appears in the database file and its companions."""
    found = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        file = Path(f"{path}{suffix}")
        data = file.read_bytes().lower() if file.exists() else b""
        found[suffix or "db"] = sum(data.count(m.encode()) for m in markers)
    return found


@pytest.fixture(autouse=True)
def sqlite_without_secure_delete(monkeypatch):
    """Connections start as on an SQLite built without SECURE_DELETE (SQLite's own default; Debian's
    build turns it on, which would hide a store that forgot to ask for it)."""
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)


@pytest.fixture
def opened(tmp_path):
    """The store, the bot's own connection and a plain reader, all open on one file."""
    path = tmp_path / "erase.db"
    store, bot = Store.open(path), Store.open(path)
    reader = sqlite3.connect(path)
    reader.execute("SELECT COUNT(*) FROM cases").fetchone()
    yield path, store, bot
    reader.close()
    bot.close()
    store.close()


def fill(store: Store, user: int) -> int:
    """A case with the markers in its alias, answers and notes, among the user's other cases."""
    for n in range(5):
        store.save_case(
            user, state(alias=f"client{n}", service="sito"), ASSESSMENT, f"client{n}", search_texts=["sito"]
        )
    case_no = store.save_case(
        user, state(alias=NAME, service=f"{ANSWER} web"), ASSESSMENT, NAME, search_texts=[f"{ANSWER} web"]
    )
    for n in range(20):  # several versions of the case's pages pass through the WAL
        store.add_note(user, case_no, f"{NOTE} {n}")
        store.set_status(user, case_no, ("risolto", "aperto")[n % 2])
    assert store.search_cases(user, NOTE)[0] == 1 and store.search_cases(user, ANSWER)[0] == 1
    assert store.search_cases(user, NAME)[0] == 1
    return case_no


def test_the_markers_are_there_before_anything_is_erased(opened):
    path, store, bot = opened
    fill(store, USER)
    assert sum(hits(path, NAME, NOTE, ANSWER).values()) > 0, "the scan finds what is there"


def test_a_deleted_case_leaves_no_copy(opened):
    path, store, bot = opened
    case_no = fill(store, USER)
    assert store.delete_case(USER, case_no)
    assert hits(path, NAME, NOTE, ANSWER) == {"db": 0, "-wal": 0, "-shm": 0, "-journal": 0}
    assert store.count_cases(USER) == 5 and bot.count_cases(USER) == 5, "the other cases stay"


def test_erasing_a_user_leaves_no_copy_and_spares_others(opened):
    path, store, bot = opened
    fill(store, USER)
    store.save_case(OTHER, state(alias="keepme"), ASSESSMENT, "keepme")
    store.set_sender_profile(USER, {"signature": f"{NAME} firma"})
    store.save_conversation(USER, state(alias=NAME).but(at="payment"))
    bot.delete_user(USER)  # erase-all from the running bot, with the CLI's connection open
    assert hits(path, NAME, NOTE, ANSWER) == {"db": 0, "-wal": 0, "-shm": 0, "-journal": 0}
    assert store.count_cases(USER) == 0 and store.sender_profile(USER) == {}
    assert store.case(OTHER, 1).alias == "keepme"


def test_a_cancelled_questionnaire_leaves_no_copy(opened):
    path, store, bot = opened
    for step in range(10):
        bot.save_conversation(USER, state(alias=CANCELLED, service=f"{CANCELLED} {step}").but(at="payment"))
    assert sum(hits(path, CANCELLED).values()) > 0
    bot.drop_conversation(USER)
    assert hits(path, CANCELLED) == {"db": 0, "-wal": 0, "-shm": 0, "-journal": 0}


def test_a_reader_in_the_middle_of_a_transaction_delays_but_does_not_break_erasure(opened):
    path, store, bot = opened
    case_no = fill(store, USER)
    busy = sqlite3.connect(path)
    busy.execute("BEGIN")
    busy.execute("SELECT COUNT(*) FROM notes").fetchone()  # holds a snapshot: the WAL cannot be truncated
    assert store.delete_case(USER, case_no), "the erasure itself succeeds"
    busy.rollback()
    busy.close()
    store.delete_case(USER, 1)  # the next erasure's checkpoint catches up
    assert hits(path, NAME, NOTE, ANSWER) == {"db": 0, "-wal": 0, "-shm": 0, "-journal": 0}


def test_secure_delete_is_on_for_every_connection(opened):
    path, store, bot = opened
    for s in (store, bot):
        assert s.conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
