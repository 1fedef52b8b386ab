"""The store on a real SQLite file: schema by migrations, WAL, round trips, per-user scoping, redelivery."""

from __future__ import annotations

import sqlite3

import pytest

from bot.classifier import classify
from bot.store import MIGRATION_NAMES, Store, alias_key, schema_migrations, schema_version

CORE_TABLES = {"users", "conversations", "clients", "cases", "notes", "reminders", "processed_updates"}


@pytest.fixture
def finished(flow, drive):
    """A finished conversation and its assessment, as the coach saves them."""

    def make(alias: str | None = "Rossi", lang: str = "it") -> tuple[dict, dict]:
        state = drive({"alias": alias, "payment": "free", "free_attitude": "demands"}, lang)
        return state, classify(flow, state.answers).to_dict()

    return make


# -- schema and settings -------------------------------------------------------------------------


def test_migrations_create_the_schema(tmp_path):
    store = Store.open(tmp_path / "cc.db")
    assert CORE_TABLES <= set(store.db.table_names())
    assert schema_migrations().pending(store.db) == []
    assert [m.name for m in schema_migrations().applied(store.db)] == MIGRATION_NAMES
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
    columns = set(store.db["cases"].columns_dict)
    assert {
        "user_id",
        "case_no",
        "client_id",
        "answers",
        "assessment",
        "main",
        "secondary",
        "confidence",
        "status",
    } <= columns
    unique = [i for i in store.db["cases"].indexes if i.unique and i.columns == ["user_id", "case_no"]]
    assert unique, "case numbers are unique per user"
    store.close()


def test_reopening_keeps_the_data_and_runs_no_migration_again(tmp_path, finished):
    path = tmp_path / "cc.db"
    store = Store.open(path)
    state, assessment = finished()
    store.save_case(7, state, assessment, "Rossi")
    applied = [(m.name, m.applied_at) for m in schema_migrations().applied(store.db)]
    store.close()
    again = Store.open(path)
    assert [(m.name, m.applied_at) for m in schema_migrations().applied(again.db)] == applied
    assert again.count_cases(7) == 1
    again.close()


def test_the_search_index_holds_the_texts_it_is_given_and_nothing_else(file_store, finished):
    state, assessment = finished("Rossi Srl")
    answers = {**state.answers, "service": "sito web", "attention": "telefonate notturne"}
    first = file_store.save_case(1, state.but(answers=answers), assessment, "Rossi Srl", search_texts=["sito web"])
    second = file_store.save_case(1, state.but(answers=answers), assessment, "Verdi")
    assert file_store.search_cases(1, "ross")[0] == 1 and file_store.search_cases(1, "verdi")[0] == 1, "the alias"
    assert [c.case_no for c in file_store.search_cases(1, "sito")[1]] == [first]
    assert file_store.search_cases(1, "telefonate")[0] == 0, "an answer not given is not indexed"
    assert file_store.search_cases(1, "free")[0] == 0
    file_store.add_note(1, first, "telefonate notturne")
    assert [c.case_no for c in file_store.search_cases(1, "telefon")[1]] == [first]
    assert [c.case_no for c in file_store.search_cases(1, "sito ross")[1]] == [first], "a note keeps what was there"
    assert file_store.search_cases(1, "verdi")[1][0].case_no == second


def test_the_file_is_in_wal_mode_with_synchronous_normal(file_store, tmp_path):
    conn = file_store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1, "NORMAL"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    other = sqlite3.connect(tmp_path / "clientcoach.db")
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL is a property of the file"
    finally:
        other.close()


def test_an_in_memory_store_has_the_same_schema(store):
    assert CORE_TABLES <= set(store.db.table_names())


# -- conversations ---------------------------------------------------------------------------------


def test_a_conversation_round_trips(file_store, state_at):
    state = state_at("behaviours", {"alias": "Caffè «Roma» ✓", "payment": "free", "free_attitude": "demands"}).but(
        cid="a1b2c3", picked=["rude"]
    )
    meta = {"message_id": 42, "chat": [1, 2]}
    assert file_store.save_conversation(5, state, meta) is True
    assert file_store.load_conversation(5) == (state, meta)
    assert file_store.load_conversation(6) is None, "another user has none"


def test_saving_again_replaces_the_conversation(file_store, engine, state_at):
    first = state_at("payment")
    file_store.save_conversation(5, first)
    second = engine.answer(first, "full")
    file_store.save_conversation(5, second)
    assert file_store.load_conversation(5) == (second, {})
    assert file_store.conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 1


def test_a_conversation_survives_reopening_the_file(tmp_path, state_at):
    path = tmp_path / "cc.db"
    state = state_at("balance")
    with_store = Store.open(path)
    with_store.save_conversation(3, state)
    with_store.close()
    reopened = Store.open(path)
    assert reopened.load_conversation(3) == (state, {})
    reopened.close()


def test_dropping_a_conversation(file_store, state_at):
    file_store.save_conversation(5, state_at("balance"))
    assert file_store.drop_conversation(5) is True
    assert file_store.load_conversation(5) is None


# -- cases -----------------------------------------------------------------------------------------


def test_case_numbers_count_per_user(file_store, finished):
    state, assessment = finished()
    numbers = []
    for user in (1, 2, 1, 1, 2, 3):
        numbers.append((user, file_store.save_case(user, state, assessment, "Rossi")))
    assert numbers == [(1, 1), (2, 1), (1, 2), (1, 3), (2, 2), (3, 1)]
    assert [file_store.count_cases(u) for u in (1, 2, 3, 4)] == [3, 2, 1, 0]
    assert [c.case_no for c in file_store.cases(1)] == [3, 2, 1], "newest first"


def test_a_saved_case_round_trips_and_closes_the_conversation(file_store, finished):
    state, assessment = finished(alias="Rossi", lang="en")
    file_store.save_conversation(1, state)
    case_no = file_store.save_case(1, state, assessment, "Rossi")
    case = file_store.case(1, case_no)
    assert case.stored_answers == state.answers
    assert case.stored_assessment == assessment
    assert (case.main, case.secondary, case.confidence) == (
        assessment["main"],
        assessment["secondary"],
        assessment["confidence"],
    )
    assert (case.alias, case.lang, case.status, case.flow) == ("Rossi", "en", "aperto", "cliente_difficile")
    assert file_store.load_conversation(1) is None, "the finished questionnaire is no longer open"


def test_a_user_cannot_read_another_users_case(file_store, finished):
    state_a, assessment_a = finished(alias="Rossi")
    state_b, assessment_b = finished(alias="Verdi")
    assert file_store.save_case(1, state_a, assessment_a, "Rossi") == 1
    assert file_store.case(2, 1) is None
    assert file_store.cases(2) == [] and file_store.count_cases(2) == 0
    assert file_store.save_case(2, state_b, assessment_b, "Verdi") == 1
    assert file_store.case(2, 1).alias == "Verdi", "user B's case 1 is B's own"
    assert file_store.case(1, 1).alias == "Rossi"
    assert [c.alias for c in file_store.cases(2)] == ["Verdi"]


def test_the_same_alias_is_one_client_per_user(file_store, finished):
    state, assessment = finished()
    file_store.save_case(1, state, assessment, "Mario  Rossi")
    file_store.save_case(1, state, assessment, "mario rossi")
    file_store.save_case(2, state, assessment, "Mario Rossi")
    a1, a2 = file_store.case(1, 1).client_id, file_store.case(1, 2).client_id
    b1 = file_store.case(2, 1).client_id
    assert a1 == a2, "two spellings of one alias"
    assert b1 != a1, "another user's client with the same alias is another client"
    assert alias_key("  Mario   ROSSI ") == "mario rossi"


# -- redelivered updates ---------------------------------------------------------------------------


def test_a_redelivered_update_is_refused(file_store):
    # Claimed by the write the update brings (here a cancel): a redelivery of it is refused.
    assert file_store.drop_conversation(1, update_id=1001) is True
    assert file_store.drop_conversation(1, update_id=1001) is False
    assert file_store.drop_conversation(1, update_id=1002) is True


def test_saving_a_conversation_twice_with_the_same_update_changes_nothing(file_store, engine, state_at):
    first = state_at("payment")
    second = engine.answer(first, "free")
    assert file_store.save_conversation(9, first, {"m": 1}, update_id=500) is True
    assert file_store.save_conversation(9, second, {"m": 2}, update_id=500) is False
    assert file_store.load_conversation(9) == (first, {"m": 1})


def test_saving_a_case_twice_with_the_same_update_saves_one_case(file_store, finished):
    state, assessment = finished()
    assert file_store.save_case(9, state, assessment, "Rossi", update_id=77) == 1
    assert file_store.save_case(9, state, assessment, "Rossi", update_id=77) is None
    assert file_store.count_cases(9) == 1


def test_dropping_twice_with_the_same_update_is_refused(file_store, state_at):
    file_store.save_conversation(9, state_at("balance"))
    assert file_store.drop_conversation(9, update_id=88) is True
    file_store.save_conversation(9, state_at("payment"))
    assert file_store.drop_conversation(9, update_id=88) is False
    assert file_store.load_conversation(9) is not None


def test_a_second_connection_sees_committed_turns(tmp_path, state_at):
    """Two processes on one file (a restart while another still runs) see each other's turns."""
    path = tmp_path / "cc.db"
    writer, reader = Store.open(path), Store.open(path)
    state = state_at("balance")
    writer.save_conversation(4, state)
    assert reader.load_conversation(4) == (state, {})
    writer.close()
    reader.close()
