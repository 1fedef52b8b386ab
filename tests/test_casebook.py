"""The case book: history, search, reminders, export, deletion and statistics, scoped by user."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from bot.actions import Extra, Finish, OpenCase, Skip, decode
from bot.casebook import CaseBook, CaseBookError, book as book_module, parse_case_no, parse_status, parse_when
from bot.classifier import Assessment
from bot.coach import Coach
from bot.render import Renderer, html_problems
from bot.result import advice_screens
from bot.store import STATUSES, Store, index_terms, match_query, open_db, schema_migrations, search_words
from bot.store.index import legacy_search_words

from answer_lines import typed_lines
from helpers import FLOW, ROOT

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
ALICE, BOB = 777001, 888002
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RENDERER = Renderer()
# How today's flow names the questions and the answer the test cases give (a free client).
SERVICE_IT, SERVICE_EN = FLOW.questions["service"].short["it"], FLOW.questions["service"].short["en"]
PAYMENT_IT = FLOW.questions["payment"].short["it"]
FREE_IT = FLOW.questions["payment"].options[2].label["it"]
# A case saved with no evidence: what a row inserted by hand (a case from before a migration) holds.
THIN = Assessment({}, "gratis", None, "low", (), False, False, False, True, False)


def answer_lines(alias: str | None, service: str | None = None, sender: str | None = None) -> list[str | None]:
    """One path through today's questionnaire (a free client); None skips an optional question."""
    lines = typed_lines(
        {"alias": alias, "payment": "3", "vip_signals": "2", "service": service, "sender": sender}, review=False
    )
    return [line or None for line in lines]


def make_case(
    coach: Coach,
    user_id: int,
    alias: str | None,
    service: str | None = None,
    sender: str | None = None,
    lang: str = "it",
) -> int:
    """Run the real questionnaire through the Coach and save the case."""
    coach.start(user_id, lang)
    for line in answer_lines(alias, service, sender):
        reply = coach.act(user_id, Skip()) if line is None else coach.text(user_id, line)
        assert reply.dialog is not None
    reply = coach.act(user_id, Finish())
    assert reply.case_no is not None
    return reply.case_no


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "cases.db")
    yield store
    store.close()


@pytest.fixture
def coach(store: Store) -> Coach:
    return Coach(store, FLOW, RENDERER)


@pytest.fixture
def book(store: Store) -> CaseBook:
    return CaseBook(store, FLOW, RENDERER, clock=lambda: NOW, zone=ROME)


@pytest.fixture
def alice_cases(coach: Coach) -> list[int]:
    """Alice has three cases (Rossi twice, Verdi), Bob one (Bianchi): numbers overlap on purpose."""
    numbers = [
        make_case(coach, ALICE, "Rossi Srl", "sito web", "Studio Gialli"),
        make_case(coach, ALICE, "Caffè Verdi", "consulenza fiscale", None),
        make_case(coach, ALICE, "rossi srl", "logo", None),
    ]
    make_case(coach, BOB, "Bianchi", "grafica", "Bob")
    return numbers


def texts(screens) -> str:
    return "\n".join(s.plain for s in screens)


def actions(screen) -> list[str]:
    """The callback data of a screen's buttons."""
    return [b.action.encode() for row in screen.buttons for b in row]


def error_key(call) -> str:
    with pytest.raises(CaseBookError) as caught:
        call()
    return caught.value.key


# -- the search index -----------------------------------------------------------------------------


def test_searchable_answers_are_the_flow_text_questions():
    searchable = {q.id for q in FLOW.questions.values() if q.searchable}
    assert searchable == {q.id for q in FLOW.questions.values() if q.kind == "text"}
    # The ones the m002 migration indexed for the cases saved before the index existed, and the
    # mistake and the remedy, asked since flow version 4 (after the index: no older case has them).
    assert searchable == {"alias", "concession_offer", "attention", "service", "address", "mistake", "remedy"}
    answers = {"service": "sito web", "payment": "free", "alias": "Rossi", "occurrences": 3, "attention": None}
    assert FLOW.search_texts(answers) == ["Rossi", "sito web"], "text answers only, in the flow's order"


def test_words_are_normalised_the_same_way_for_index_and_query():
    assert search_words("Caffè «Rossi» S.r.l. — NAÏVE") == ["caffe", "rossi", "s", "r", "l", "naive"]
    assert index_terms(42, ["Rossi Rossi", "Bianchi"]) == "u42xrossi u42xbianchi"
    assert match_query(42, "Ross  caffè") == '"u42xross"* AND "u42xcaffe"*'
    assert match_query(42, " — ") is None


def test_search_finds_alias_text_answers_and_notes_by_prefix_and_accents(book, alice_cases):
    def found(text: str) -> list[int]:
        return book.search(ALICE, text).meta["case_nos"]

    assert found("ROSS") == [3, 1]
    assert found("caffe") == [2] and found("CAFFÈ") == [2]
    assert found("fiscal") == [2]  # service
    if "sender" in FLOW.questions:
        assert found("gialli") == [1]  # sender
    assert found("rossi logo") == [3]  # every word must match
    assert found("free") == [] and found("demands") == []  # option ids are not text
    book.add_note(ALICE, 2, "Ha pagato con un bonifico parziale")
    assert found("bonif") == [2]


def test_search_is_scoped_by_user(book, alice_cases):
    assert book.search(BOB, "rossi").meta["case_nos"] == []
    assert book.search(ALICE, "bianchi").meta["case_nos"] == []
    assert book.search(BOB, "bianchi").meta["case_nos"] == [1]


def test_search_refuses_empty_and_huge_queries(book, alice_cases):
    assert error_key(lambda: book.search(ALICE, "  ")) == "search_empty"
    assert error_key(lambda: book.search(ALICE, "«»—!")) == "search_empty"
    assert error_key(lambda: book.search(ALICE, "rossi " * 100)) == "search_too_long"


def test_search_shows_the_newest_matches_and_the_total(book, coach, alice_cases, monkeypatch):
    for _ in range(3):
        make_case(coach, ALICE, "Rossi Srl")
    screen = book.search(ALICE, "rossi", limit=2)
    assert screen.meta["total"] == 5 and screen.meta["case_nos"] == [6, 5]
    assert "5 casi trovati" in screen.plain


def test_migration_indexes_cases_saved_before_it(tmp_path: Path, coach: Coach):
    from sqlite_utils import Database

    path = tmp_path / "old.db"
    db = Database(path)
    schema_migrations().apply(db, stop_before="m002_case_history")
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO users (id, lang, created) VALUES (5, 'it', '2025-01-01T00:00:00+00:00')")
    db.execute(
        "INSERT INTO clients (id, user_id, alias, alias_key, created) VALUES (1, 5, 'Zeta', 'zeta', '2025-01-01')"
    )
    answers = json.dumps({"alias": "Zeta", "service": "traduzioni"})
    db.execute(
        "INSERT INTO cases (user_id, case_no, client_id, flow, flow_version, lang, answers, assessment, main, status, "
        "created, updated) VALUES (5, 1, 1, 'cliente_difficile', 1, 'it', ?, ?, 'gratis', 'aperto', "
        "'2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00')",
        [answers, json.dumps(THIN.to_dict())],
    )
    db.execute("INSERT INTO notes (user_id, case_id, text, created) VALUES (5, 1, 'telefonata lunga', '2025-01-02')")
    db.conn.commit()
    db.close()
    store = Store(open_db(path))
    assert store.search_cases(5, "tradu")[0] == 1 and store.search_cases(5, "telefonata")[0] == 1
    assert store.search_cases(6, "zeta")[0] == 0
    store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=st.text(min_size=1, max_size=80))
@example(note="𝝖")  # a letter that gains a case only once decomposed: the words of its words are its words
def test_every_word_of_a_note_is_found_by_its_owner_only(note):
    store = Store.open(":memory:")
    store.conn.execute("INSERT INTO clients (id, user_id, alias, alias_key, created) VALUES (1, 1, NULL, '', 'x')")
    for user_id in (1, 12):
        store.conn.execute(
            "INSERT INTO cases (user_id, case_no, client_id, flow, flow_version, lang, answers, assessment, main, "
            "status, created, updated) VALUES (?, 1, 1, 'f', 1, 'it', '{}', ?, 'gratis', 'aperto', 'x', 'x')",
            (user_id, json.dumps(THIN.to_dict())),
        )
    store.add_note(1, 1, note)
    for word in search_words(note):
        assert store.search_cases(1, word)[0] == 1
        assert store.search_cases(1, word[:2])[0] == 1
        assert store.search_cases(12, word)[0] == 0
    store.close()


def test_a_note_indexed_the_way_earlier_releases_folded_it_is_still_found(tmp_path):
    """Releases up to 0.2 folded case before decomposing; their index terms for a word like «𝝖𝐑𝐈𝐀» stay
    in the database, and the same search still finds them (as well as what is indexed today)."""
    store = Store.open(tmp_path / "cases.db")
    store.conn.execute("INSERT INTO clients (id, user_id, alias, alias_key, created) VALUES (1, 1, NULL, '', 'x')")
    store.conn.execute(
        "INSERT INTO cases (user_id, case_no, client_id, flow, flow_version, lang, answers, assessment, main, "
        "status, created, updated) VALUES (1, 1, 1, 'f', 1, 'it', '{}', ?, 'gratis', 'aperto', 'x', 'x')",
        (json.dumps(THIN.to_dict()),),
    )
    typed = "𝝖𝐑𝐈𝐀 srl"
    legacy = " ".join(f"u1x{word}" for word in legacy_search_words(typed))
    assert legacy_search_words(typed) != search_words(typed), "the case this test is about"
    store.conn.execute("INSERT INTO case_search (rowid, terms) VALUES (1, ?)", (legacy,))
    store.conn.commit()
    assert store.search_cases(1, typed)[0] == 1
    assert store.search_cases(1, "𝝖𝐑")[0] == 1
    assert store.search_cases(2, typed)[0] == 0
    store.add_note(1, 1, "ΑRIA")
    assert store.search_cases(1, "αria")[0] == 1
    store.close()


# -- list and show --------------------------------------------------------------------------------


def test_list_is_newest_first_in_pages_of_five_with_buttons(book, coach, alice_cases):
    for i in range(4):
        make_case(coach, ALICE, f"Cliente {i}")
    first = book.list_cases(ALICE)
    assert first.meta["case_nos"] == [7, 6, 5, 4, 3] and first.meta["pages"] == 2
    assert actions(first) == ["c:7", "c:6", "c:5", "c:4", "c:3", "h:2"]
    second = book.list_cases(ALICE, 2)
    assert actions(second) == ["c:2", "c:1", "h:1"]
    assert book.list_cases(ALICE, 99).meta["page"] == 2  # a stale page button lands on the last page
    assert "Pagina 2 di 2" in second.plain


def test_list_of_a_user_without_cases(book):
    screen = book.list_cases(BOB)
    assert screen.buttons == () and "Non hai ancora casi" in screen.plain
    assert "no saved cases" in book.list_cases(BOB, lang="en").plain


def test_show_case_reads_back_answers_profile_status_and_history(book, alice_cases):
    book.add_note(ALICE, 1, "Ha chiesto l'ennesimo sconto")
    book.set_outcome(ALICE, 1, "risolto")
    book.remind(ALICE, 1, "3g")
    card, result, history = book.show_case(ALICE, 1)
    assert "Caso n. 1 · Rossi Srl" in card.plain
    assert f"• {SERVICE_IT}: sito web" in card.plain and f"• {PAYMENT_IT}: {FREE_IT}" in card.plain
    assert "Esito: ✅ risolto" in card.plain
    assert (
        result.kind == "result"
        and f"profilo {RENDERER.ui('it', 'profile_short', book.case(ALICE, 1).main)}" in result.plain
    )
    assert "Perché lo penso" in result.plain
    lines = history.plain.splitlines()
    order = [
        i
        for i, line in enumerate(lines)
        for mark in ("caso salvato", "nota: Ha chiesto", "esito: aperto → risolto", "promemoria fissato")
        if mark in line
    ]
    assert len(order) == 4 and order == sorted(order)
    assert "⏰ 13/03/2026 10:00" in history.plain  # three days after NOW, in Rome time
    assert actions(history) == [*(f"o:1:{s}" for s in STATUSES), "x:1", "h:1"]


def test_the_case_view_is_the_record_then_the_advice_and_first_script_as_the_result_shows_them(
    book, coach, alice_cases
):
    coach.set_profile_field(ALICE, "name", "Giulia Neri", "it")
    view = book.case_view(ALICE, 1)
    assert view[:3] == book.show_case(ALICE, 1)
    case = book.case(ALICE, 1)
    shown = advice_screens(book.renderer, case.lang, 1, case.answers, case.assessment, coach.sender_profile(ALICE))
    assert view[3:] == shown, "what /caso joined on Telegram: the result's advice and first script"
    advice, script = view[3:]
    assert advice.kind == "advice" and script.kind == "script" and "Giulia Neri" in script.plain
    assert [s.kind for s in book.case_view(ALICE, 2, "en")] == ["case", "result", "history", "advice", "script"]
    assert error_key(lambda: book.case_view(BOB, 2)) == "unknown_case"


def test_cases_show_prints_the_same_case_view_as_telegram_gets_without_button_hints(
    book, store, coach, alice_cases, tmp_path, monkeypatch, capsys
):
    from bot import cli

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CLIENTCOACH_TZ", "Europe/Rome")
    assert cli.main(["cases", "--db", store.path, "show", "1", "--user", str(ALICE)]) == 0
    printed = capsys.readouterr().out
    console = CaseBook(store, FLOW, Renderer(surface="console"), zone=ROME).case_view(ALICE, 1)
    hint = "Ogni messaggio e le sue versioni: clientcoach cases show 1 --message K"
    shown, _, after = printed.rpartition("\n\n")
    assert shown + "\n" == "\n\n".join(screen.plain for screen in console) + "\n" and after.startswith(hint)
    telegram = book.case_view(ALICE, 1)  # the bot's case book renders for Telegram
    kinds = ["case", "result", "history", "advice", "script"]
    assert store.case(ALICE, 1).assessment.secondary, "the case has a second profile"
    # Printed once: the second profile's advice follows, where Telegram has a button for it.
    assert [s.kind for s in console] == kinds[:4] + ["advice"] + kinds[4:]
    assert "seguono qui sotto" in console[3].plain and "«secondo»" not in printed
    console = console[:4] + console[5:]
    assert [s.kind for s in console] == [s.kind for s in telegram] == kinds
    advice, script = console[3:]
    assert "Cosa fare" in advice.plain and script.plain.startswith("✉️ 1/") and script.plain in printed
    assert "pulsanti" not in printed and "clientcoach cases outcome 1" in printed


def test_show_case_in_english(book, alice_cases):
    card, result, history = book.show_case(ALICE, 2, "en")
    assert "Case no. 2 · Caffè Verdi" in card.plain and f"• {SERVICE_EN}: consulenza fiscale" in card.plain
    assert "Why I think so" in result.plain and "History of case no. 2" in history.plain


def test_every_screen_is_telegram_safe_html_and_fits_one_message(book, alice_cases):
    for i in range(8):
        book.add_note(ALICE, 1, f"nota {i} <b>non è un tag</b> & " + "parola " * 280)
    book.remind(ALICE, 1, "1s")
    for lang in ("it", "en"):
        screens = [
            book.list_cases(ALICE, 1, lang),
            book.search(ALICE, "rossi", lang),
            *book.show_case(ALICE, 1, lang),
            book.outcome_choices(ALICE, 1, lang),
            book.set_outcome(ALICE, 1, "kept", lang),
            book.add_note(ALICE, 2, "ok", lang),
            book.remind(ALICE, 2, "2h", lang),
            book.reminder_message(ALICE, 1, lang),
            book.confirm_delete(ALICE, 3, lang),
            book.confirm_delete_all(ALICE, lang),
            book.stats(ALICE, lang),
            book.delete_cancelled(ALICE, lang),
        ]
        for screen in screens:
            assert html_problems(screen.text) == [], (screen.kind, screen.text)
            assert len(screen.text) <= 4096
            assert all(b.label and len(b.action.encode().encode()) <= 40 for row in screen.buttons for b in row)
    history = book.show_case(ALICE, 1)[2]
    assert "eventi più vecchi" in history.plain and "&lt;b&gt;non è un tag" in history.text


# -- notes, outcomes, reminders -------------------------------------------------------------------


def test_add_note_cleans_and_refuses_bad_text(book, store, alice_cases):
    book.add_note(ALICE, "#2", "  prima riga \x07\n\n  seconda   riga  ")
    assert [n["text"] for n in store.notes(ALICE, 2)] == ["prima riga\nseconda riga"]
    assert error_key(lambda: book.add_note(ALICE, 2, " \n\t ")) == "note_empty"
    assert error_key(lambda: book.add_note(ALICE, 2, "x" * 2001)) == "note_too_long"
    assert error_key(lambda: book.add_note(ALICE, 2, "x" * 100_000)) == "note_too_long"
    assert error_key(lambda: book.add_note(ALICE, "due", "ciao")) == "bad_case_no"
    assert error_key(lambda: book.add_note(ALICE, 99, "ciao")) == "unknown_case"
    assert len(store.notes(ALICE, 2)) == 1
    book.add_note(ALICE, 2, "y" * 2000)


def test_notes_per_case_are_capped(book, store, alice_cases, monkeypatch):
    monkeypatch.setattr(book_module, "MAX_NOTES_PER_CASE", 2)
    book.add_note(ALICE, 1, "uno")
    book.add_note(ALICE, 1, "due")
    assert error_key(lambda: book.add_note(ALICE, 1, "tre")) == "too_many_notes"
    assert len(store.notes(ALICE, 1)) == 2


@pytest.mark.parametrize(
    "raw, status",
    [
        ("risolto", "risolto"),
        ("Cliente tenuto", "cliente_tenuto"),
        ("cliente-lasciato", "cliente_lasciato"),
        ("kept", "cliente_tenuto"),
        ("let go", "cliente_lasciato"),
        ("OPEN", "aperto"),
    ],
)
def test_outcome_words(raw, status):
    assert parse_status(raw) == status


def test_set_outcome_records_a_status_change_once(book, store, alice_cases):
    screen = book.set_outcome(ALICE, 1, "cliente_lasciato")
    assert "cliente lasciato andare" in screen.plain and actions(screen) == ["c:1"]
    again = book.set_outcome(ALICE, 1, "cliente_lasciato")
    assert "già" in again.plain
    assert [e["after"] for e in store.timeline(ALICE, 1) if e["kind"] == "status"] == ["cliente_lasciato"]
    assert error_key(lambda: book.set_outcome(ALICE, 1, "boh")) == "bad_status"
    assert store.case(ALICE, 1).status == "cliente_lasciato"


def test_outcome_choices_offer_the_four_statuses(book, alice_cases):
    assert actions(book.outcome_choices(ALICE, 2)) == [f"o:2:{s}" for s in STATUSES]


@pytest.mark.parametrize(
    "raw, due",
    [
        ("3g", NOW + timedelta(days=3)),
        ("3 giorni", NOW + timedelta(days=3)),
        ("3d", NOW + timedelta(days=3)),
        ("1s", NOW + timedelta(weeks=1)),
        ("1w", NOW + timedelta(weeks=1)),
        ("2 settimane", NOW + timedelta(weeks=2)),
        ("2h", NOW + timedelta(hours=2)),
        ("1 mese", NOW + timedelta(days=30)),
        ("25/12/2026", datetime(2026, 12, 25, 9, 0, tzinfo=ROME)),
        ("2026-12-25", datetime(2026, 12, 25, 9, 0, tzinfo=ROME)),
        ("25/12/2026 15:30", datetime(2026, 12, 25, 15, 30, tzinfo=ROME)),
        ("10.3.2026 18:00", datetime(2026, 3, 10, 18, 0, tzinfo=ROME)),
    ],
)
def test_when_a_reminder_is_due(raw, due):
    parsed = parse_when(raw, NOW, ROME)
    assert parsed == due and parsed.tzinfo == timezone.utc


@pytest.mark.parametrize(
    "raw, key",
    [
        ("", "bad_when"),
        ("domani forse", "bad_when"),
        ("3x", "bad_when"),
        ("g3", "bad_when"),
        ("0g", "when_past"),
        ("09/03/2026", "when_past"),
        ("10/03/2026", "when_past"),
        ("31/02/2027", "bad_date"),
        ("2026-13-01", "bad_date"),
        ("3000g", "when_too_far"),
        ("01/01/2099", "when_too_far"),
        ("99999g", "bad_when"),
    ],
)
def test_when_refuses_garbage_past_and_far_dates(raw, key):
    assert error_key(lambda: parse_when(raw, NOW, ROME)) == key


def test_remind_stores_a_reminder_the_scheduler_can_arm_and_fire_once(book, store, alice_cases):
    screen = book.remind(ALICE, 2, "2026-04-01")
    reminder = screen.meta["reminder"]
    assert (
        reminder.user_id == ALICE
        and reminder.case_no == 2
        and reminder.due == datetime(2026, 4, 1, 7, 0, tzinfo=timezone.utc)
    )
    assert "01/04/2026 09:00" in screen.plain
    book.remind(BOB, 1, "1s")
    pending = book.pending_reminders()
    assert [(r.user_id, r.case_no) for r in pending] == [(BOB, 1), (ALICE, 2)]  # soonest first
    message = book.reminder_message(ALICE, reminder.id)
    assert "Promemoria: caso n. 2 · Caffè Verdi" in message.plain
    assert actions(message) == [*(f"o:2:{s}" for s in STATUSES), "c:2"]
    assert book.mark_fired(reminder.id) is True and book.mark_fired(reminder.id) is False
    assert [r.id for r in book.pending_reminders()] == [pending[0].id]
    assert "promemoria arrivato" in book.show_case(ALICE, 2)[2].plain
    assert error_key(lambda: book.remind(ALICE, 2, "ieri")) == "bad_when"


def test_pending_reminders_per_case_are_capped(book, store, alice_cases, monkeypatch):
    monkeypatch.setattr(book_module, "MAX_PENDING_REMINDERS", 1)
    book.remind(ALICE, 1, "1g")
    assert error_key(lambda: book.remind(ALICE, 1, "2g")) == "too_many_reminders"
    assert len(store.reminders(ALICE, 1)) == 1


# -- export ---------------------------------------------------------------------------------------


def test_export_csv_has_a_row_per_case_with_readable_answers_and_notes(book, alice_cases):
    book.add_note(ALICE, 1, '=HYPERLINK("http://evil")')
    book.add_note(ALICE, 1, "seconda nota")
    export = book.export(ALICE, "csv")
    assert export.filename == "clientcoach-20260310.csv" and export.media_type == "text/csv" and export.count == 3
    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert [r["caso"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["cliente"] == "Rossi Srl" and rows[0][PAYMENT_IT] == FREE_IT
    assert rows[0]["esito"] == "aperto" and rows[0]["profilo"] == RENDERER.ui(
        "it", "profile_short", book.case(ALICE, 1).main
    )
    notes = rows[0]["note"].splitlines()
    assert notes[0].startswith("[2") and notes[0].endswith('=HYPERLINK("http://evil")')  # a date first: no formula
    assert notes[1].endswith("seconda nota")
    english = list(csv.DictReader(io.StringIO(book.export(ALICE, "csv", "en").data.decode("utf-8-sig"))))
    assert english[1]["client"] == "Caffè Verdi" and english[1]["How they pay"] == "Nothing: free or almost free work"


def test_export_csv_defuses_formulas(book, coach):
    make_case(coach, ALICE, "=cmd|' /C calc'!A0")
    row = list(csv.reader(io.StringIO(book.export(ALICE, "csv").data.decode("utf-8-sig"))))[1]
    assert "'=cmd|' /C calc'!A0" in row and "=cmd|' /C calc'!A0" not in row


def test_export_json_keeps_stored_values_and_their_readings(book, alice_cases):
    book.add_note(ALICE, 2, "nota per il json")
    book.set_outcome(ALICE, 2, "risolto")
    book.remind(ALICE, 2, "1s")
    document = json.loads(book.export(ALICE, "JSON").data)
    assert document["format"] == "clientcoach-cases" and len(document["cases"]) == 3
    case = document["cases"][1]
    assert case["case_no"] == 2 and case["client"] == "Caffè Verdi" and case["answers"]["payment"] == "free"
    assert {"id": "payment", "question": PAYMENT_IT, "answer": FREE_IT} in case["readings"]
    assert [n["text"] for n in case["notes"]] == ["nota per il json"]
    assert case["events"][0]["after"] == "risolto" and len(case["reminders"]) == 1
    assert error_key(lambda: book.export(ALICE, "xml")) == "bad_format"


# -- deletion -------------------------------------------------------------------------------------


def test_confirmations_carry_the_delete_actions(book, alice_cases):
    assert actions(book.confirm_delete(ALICE, 2)) == ["x:2:yes", "x:no"]
    assert actions(book.confirm_delete_all(ALICE)) == ["x:all:yes", "x:no"]
    assert "3 casi" in book.confirm_delete_all(ALICE).plain


def test_delete_case_removes_it_and_what_hangs_off_it(book, store, coach, alice_cases):
    book.add_note(ALICE, 2, "nota del caso due")
    book.set_outcome(ALICE, 2, "risolto")
    book.remind(ALICE, 2, "1s")
    case_id = store._case_id(ALICE, 2)
    coach.reassess(ALICE, 2)  # a re-assessment of case 2 in progress holds its answers
    book.delete_case(ALICE, 2)
    assert store.case(ALICE, 2) is None and store.load_conversation(ALICE) is None
    for table in ("notes", "reminders", "case_events"):
        assert store.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE case_id = ?", (case_id,)).fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM case_search WHERE rowid = ?", (case_id,)).fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM clients WHERE alias = 'Caffè Verdi'").fetchone()[0] == 0
    assert book.search(ALICE, "verdi").meta["total"] == 0
    assert store.pending_reminders() == []
    book.delete_case(ALICE, 1)  # Rossi still has case 3: the client stays
    assert store.conn.execute("SELECT COUNT(*) FROM clients WHERE user_id = ?", (ALICE,)).fetchone()[0] == 1
    assert [c.case_no for c in store.cases(ALICE)] == [3]
    assert error_key(lambda: book.delete_case(ALICE, 2)) == "unknown_case"
    assert make_case(coach, ALICE, "Nuovo") == 4  # numbers are never reused while a higher one exists


def test_delete_case_keeps_an_unrelated_questionnaire_in_progress(book, store, coach, alice_cases):
    coach.start(ALICE)
    coach.text(ALICE, "Cliente nuovo")
    book.delete_case(ALICE, 1)
    assert store.load_conversation(ALICE) is not None


def _traces(store: Store, needles: list[str], user_id: int) -> dict[str, int]:
    """Where in the database (every table, the FTS shadow tables included) any needle still shows."""
    found: dict[str, int] = {}
    tables = [name for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert {"case_search_data", "case_search_idx", "case_search_content"} <= set(tables)
    for table in tables:
        for row in store.conn.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                if value == user_id:
                    found[table] = found.get(table, 0) + 1
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                if any(needle in text.casefold() for needle in needles):
                    found[table] = found.get(table, 0) + 1
    return found


def test_delete_all_leaves_nothing_of_the_user_in_any_table_or_index(book, store, coach):
    make_case(coach, ALICE, "Zanzibar Viaggi", "Quokka tours", "Wombat")
    make_case(coach, ALICE, "Yeti Impianti")
    book.add_note(ALICE, 1, "Kiwifruit discussion")
    book.set_outcome(ALICE, 2, "risolto")
    book.remind(ALICE, 1, "1s")
    book.set_outcome(ALICE, 1, "cliente_tenuto")
    make_case(coach, BOB, "Bianchi Bob")
    book.add_note(BOB, 1, "nota di Bob")
    coach.start(ALICE)
    coach.text(ALICE, "Xilofono Open")  # a questionnaire in progress
    needles = ["zanzibar", "quokka", "wombat", "yeti", "kiwifruit", "xilofono", str(ALICE), "u777001x"]
    before = _traces(store, needles, ALICE)
    assert {"case_search_data", "case_search_content", "cases", "notes", "clients", "conversations", "users"} <= set(
        before
    )

    screen = book.delete_all(ALICE)

    assert "tutti i tuoi dati" in screen.plain
    assert _traces(store, needles, ALICE) == {}
    assert book.list_cases(BOB).meta["case_nos"] == [1] and book.search(BOB, "bianchi bob").meta["total"] == 1
    assert store.notes(BOB, 1)[0]["text"] == "nota di Bob"


# -- statistics and chart -------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_stats_count_by_profile_and_outcome(book, alice_cases):
    book.set_outcome(ALICE, 1, "risolto")
    screen = book.stats(ALICE)
    assert screen.meta["total"] == 3 and screen.meta["by_status"] == {"aperto": 2, "risolto": 1}
    assert sum(screen.meta["by_profile"].values()) == 3
    assert "✅ risolto: 1" in screen.plain and "🟡 aperto: 2" in screen.plain
    assert "Non hai ancora casi" in book.stats(BOB + 1).plain


def test_stats_chart_is_a_real_png_over_the_months(book, store, alice_cases, tmp_path):
    import matplotlib.image

    store.conn.execute(
        "UPDATE cases SET created = '2025-11-20T10:00:00+00:00' WHERE user_id = ? AND case_no = 1", (ALICE,)
    )
    store.conn.commit()
    data = book.stats_chart(ALICE, "en")
    assert _png_size(data) == (800, 600)
    (tmp_path / "chart.png").write_bytes(data)
    pixels = matplotlib.image.imread(tmp_path / "chart.png")
    assert pixels.std() > 0.05
    assert error_key(lambda: book.stats_chart(BOB + 1)) == "no_cases"


def test_the_console_does_not_import_matplotlib_or_the_case_book():
    code = (
        "import sys, bot.cli, bot.console; "
        "print(sorted(m for m in ('matplotlib', 'bot.casebook', 'bot.charts') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- buttons --------------------------------------------------------------------------------------


def test_act_dispatches_every_button_action(book, store, alice_cases):
    def act(data: str):
        return book.act(ALICE, decode(data))

    assert act("h:1")[0].kind == "cases"
    assert [s.kind for s in act("c:2")] == ["case", "result", "history", "advice", "script"]  # as /caso
    assert act("o:2")[0].kind == "outcome"
    assert "risolto" in act("o:2:risolto")[0].plain and store.case(ALICE, 2).status == "risolto"
    assert act("x:2")[0].kind == "confirm"
    assert act("x:no")[0].plain == "Va bene, non ho eliminato niente."
    assert act("x:2:yes")[0].kind == "notice" and store.case(ALICE, 2) is None
    assert act("x:all")[0].kind == "confirm"
    for bad in ("h:x", "zz", "x:2:maybe", "c:"):
        assert decode(bad) is None, f"{bad!r} is no button: refused before it reaches the case book"
    for screen in (*act("o:2:boh"), *act("c:999"), *book.act(ALICE, Extra(1, "guide"))):  # not a case-book action
        assert screen.kind == "error" and screen.plain.startswith("⚠️")
    act("x:all:yes")
    assert store.count_cases(ALICE) == 0


# -- errors ---------------------------------------------------------------------------------------


ERROR_PARAMS = {
    "bad_case_no": {"raw": "abc"},
    "unknown_case": {"no": 9},
    "note_empty": {},
    "note_too_long": {"max": 2000, "length": 2500},
    "too_many_notes": {"max": 200},
    "bad_status": {"raw": "boh"},
    "bad_when": {},
    "bad_date": {"raw": "31/02/2027"},
    "when_past": {},
    "when_too_far": {"days": 730},
    "too_many_reminders": {"max": 10},
    "unknown_reminder": {},
    "search_empty": {},
    "search_too_long": {"max": 200},
    "bad_format": {},
    "no_cases": {},
    "unknown_action": {},
}


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("key", sorted(ERROR_PARAMS))
def test_every_error_has_its_own_message_in_both_languages(book, key, lang):
    fallback = book.error_text(lang, CaseBookError("no_such_key"))
    text = book.error_text(lang, CaseBookError(key, **ERROR_PARAMS[key]))
    assert text and text != fallback and html_problems(text) == []
    for value in ERROR_PARAMS[key].values():
        assert str(value) in text


@pytest.mark.parametrize("raw", ["", "abc", "0", "-1", "1.5", "99999999999999999999", "²", "3 4"])
def test_case_numbers_must_be_positive_integers(raw):
    assert error_key(lambda: parse_case_no(raw)) == "bad_case_no"


# -- scoping: user B can never reach user A's cases -----------------------------------------------


@pytest.fixture
def snapshot(store: Store):
    """Everything stored about Alice, to prove that Bob's attempts change nothing."""

    def take() -> str:
        return json.dumps(
            [store.case_history(ALICE), store.timeline(ALICE, 1), store.search_cases(ALICE, "rossi")],
            sort_keys=True,
            default=str,
        )

    return take


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(lambda b: b.show_case(BOB, 2), id="show"),
        pytest.param(lambda b: b.case_view(BOB, 2), id="case_view"),
        pytest.param(lambda b: b.case(BOB, 3), id="case"),
        pytest.param(lambda b: b.add_note(BOB, 2, "intrusione"), id="note"),
        pytest.param(lambda b: b.outcome_choices(BOB, 2), id="outcome_choices"),
        pytest.param(lambda b: b.set_outcome(BOB, 2, "risolto"), id="outcome"),
        pytest.param(lambda b: b.remind(BOB, 2, "1s"), id="remind"),
        pytest.param(lambda b: b.confirm_delete(BOB, 2), id="confirm_delete"),
        pytest.param(lambda b: b.delete_case(BOB, 2), id="delete"),
        pytest.param(lambda b: b.reminder_message(BOB, 1), id="reminder_message"),
    ],
)
def test_another_user_cannot_reach_a_case_by_guessing_its_number(book, alice_cases, snapshot, attempt):
    book.remind(ALICE, 1, "1g")
    before = snapshot()
    with pytest.raises(CaseBookError) as caught:
        attempt(book)
    assert caught.value.key in ("unknown_case", "unknown_reminder")
    assert snapshot() == before


def test_another_user_sees_only_their_own_case_with_the_same_number(book, alice_cases):
    card = book.show_case(BOB, 1)[0]
    assert "Bianchi" in card.plain and "Rossi" not in card.plain
    book.add_note(BOB, 1, "nota di Bob")
    book.set_outcome(BOB, 1, "risolto")
    assert book.store.notes(ALICE, 1) == [] and book.store.case(ALICE, 1).status == "aperto"


def test_another_user_lists_searches_exports_and_counts_only_their_own(book, alice_cases):
    assert book.list_cases(BOB).meta["case_nos"] == [1]
    assert "Rossi" not in book.list_cases(BOB).plain
    assert book.search(BOB, "rossi").meta["total"] == 0
    for fmt in ("csv", "json"):
        data = book.export(BOB, fmt).data.decode("utf-8-sig")
        assert "Bianchi" in data and "Rossi" not in data and "Verdi" not in data
    assert book.stats(BOB).meta["total"] == 1
    assert book.act(BOB, OpenCase(3))[0].kind == "error"


def test_another_user_deleting_everything_leaves_the_first_untouched(book, alice_cases, snapshot):
    before = snapshot()
    book.delete_all(BOB)
    assert snapshot() == before and book.store.count_cases(BOB) == 0


def test_the_scheduler_fires_only_the_given_reminder(book, alice_cases):
    mine = book.remind(ALICE, 1, "1g").meta["reminder"]
    theirs = book.remind(BOB, 1, "2g").meta["reminder"]
    assert book.mark_fired(theirs.id)
    assert [r.id for r in book.pending_reminders()] == [mine.id]
    assert "Bianchi" in book.reminder_message(BOB, theirs.id).plain


def test_a_note_sent_again_after_a_crash_is_added_once(book, store, alice_cases):
    """A /nota that Telegram delivers again (the bot died after the note, before recording the update)
    adds nothing the second time and says nothing again: the update is claimed with the note."""
    first = book.add_note(ALICE, 1, "ha chiamato di nuovo", "it", update_id=9001)
    again = book.add_note(ALICE, 1, "ha chiamato di nuovo", "it", update_id=9001)
    assert first is not None and again is None
    assert [n["text"] for n in store.notes(ALICE, 1)] == ["ha chiamato di nuovo"]
    assert book.add_note(ALICE, 1, "un'altra", "it", update_id=9002) is not None
    assert book.add_note(ALICE, 1, "dal terminale") is not None, "without an update id every note is new"
    assert len(store.notes(ALICE, 1)) == 3
