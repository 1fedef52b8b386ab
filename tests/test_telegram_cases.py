"""The case book on Telegram, end to end: /storico, /caso, /cerca, /nota, /esito, /promemoria,
/rivaluta, /esporta, /cancella, /cancellatutto, /statistiche and their buttons.

The real Application polls the local Bot API server over loopback HTTP (tests/tg.py,
tests/botapi). The first case of every test is made by answering the questionnaire through the
bot; further cases are made in-process with the Coach on the same database, to keep the file fast.

Waiting: `User` (a tg.TgUser) returns from each message or tap as soon as the bot has finished
handling that update (see `Watch`), instead of waiting for the bot to stay quiet for a while, so
nothing here sleeps. Reminders are not updates: their tests wait for the message itself.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import struct
import time
from contextlib import asynccontextmanager, closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.actions import Answer, ConfirmDelete, Done, Finish, Skip, Toggle, decode
from bot.coach import Coach
from bot.render import Renderer
from bot.store import Store
from bot.telegram.cases import CONFIRM_TTL, stamp_destructive

from botapi import BotApiServer
from helpers import FLOW
from tg import GRATIS_RUN, TgUser, default_answer, run_questionnaire, running_bot

# Ids long enough that the database scan after /cancellatutto can look for them in every column
# without meeting a small counter (update ids, message ids, case numbers) by chance.
ALICE, BOB = 777001, 888002
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WAIT = 15.0
INTERNAL_ERROR = "Qualcosa è andato storto"
RENDERER = Renderer()
DROP = object()  # in variant(): this question is not on the branch the variant takes


def variant(alias: str, **changes: Any) -> list[tuple[str, Any]]:
    """tg.GRATIS_RUN with another client and other answers, in the flow's order (DROP removes one)."""
    answers = {**dict(GRATIS_RUN), "alias": f"={alias}", "address": f"={alias}", **changes}
    return [(qid, answers[qid]) for qid in FLOW.questions if qid in answers and answers[qid] is not DROP]


# One run per profile (checked in test_the_answer_runs_give_the_profiles_they_are_named_after).
GRATIS = variant("Studio Rossi")
MVC = variant(
    "Verdi Arredi",
    payment="full",
    free_attitude=DROP,
    balance="worth_it",
    behaviours=["values_work"],
    origin="no_error",
    feelings=["glad"],
    occurrences="=0",
    who="company_tu",
)
DISTRUTTIVO = variant(
    "Neri Costruzioni",
    payment="late",
    free_attitude="takes_for_granted",
    balance="drains",
    behaviours=["threats", "rude"],
    conflict="public_attacks",
    settle="no_will",
    origin="no_error",
    feelings=["afraid", "nights"],
    occurrences="=8",
    service="=ristrutturazione",
)
VIP = variant(
    "Dottor Blu",
    payment="full",
    free_attitude=DROP,
    balance="even",
    behaviours=["exceptions"],
    origin="no_error",
    prestige="very",
    vip_signals=["special_attentions", "jumps_queue"],
    feelings=["none"],
    occurrences="=3",
)
LVC = variant(
    "Grigi Forniture",
    payment="below_price",
    free_attitude="grateful",
    balance="drains",
    behaviours=["none"],
    origin="no_error",
    feelings=["better_elsewhere"],
    occurrences="=2",
)
# Bob's client shares no word with Alice's: nothing of Alice's may ever show in Bob's chat.
BOB_RUN = variant("Bob Bianco", service="=grafica", sender="=Bob", price=None)
ALICE_WORDS = ("Rossi", "Verdi", "fiscale", "Giulia", "segreto", "1.200")


# -- driving the bot ----------------------------------------------------------------------------


class Watch:
    """Knows when the bot has finished handling an update.

    A handler in the first group notes each update as its handling starts; the Application's
    update queue, joined after that, is empty once the handling (and any update behind it) ended.
    """

    def __init__(self, app: Application):
        self.app = app
        self.started: set[tuple] = set()
        self._changed = asyncio.Event()
        app.add_handler(TypeHandler(Update, self._note), group=-100)

    async def _note(self, update: Update, context: Any) -> None:
        if update.callback_query is not None:
            self.started.add(("query", update.callback_query.id))
        elif update.effective_message is not None:
            self.started.add(("message", update.effective_message.chat_id, update.effective_message.message_id))
        self._changed.set()

    async def done(self, key: tuple) -> None:
        async def handled() -> None:
            while key not in self.started:
                self._changed.clear()
                await self._changed.wait()
            await self.app.update_queue.join()

        try:
            await asyncio.wait_for(handled(), WAIT)
        except TimeoutError:
            raise AssertionError(f"the bot did not handle {key} within {WAIT} s") from None


class User(TgUser):
    """A fake user whose every message and tap returns once the bot has handled it."""

    def __init__(self, server: BotApiServer, user_id: int, watch: Watch, language_code: str = "it"):
        super().__init__(server, user_id, language_code)
        self.watch = watch

    async def say(self, text: str) -> None:
        message = await self.server.send_text(self.id, text, language_code=self.language_code)
        await self.watch.done(("message", self.id, message["message_id"]))

    async def press(self, message, data: str, *, forge: bool = False) -> str | None:
        query = await self.server.press_button(self.id, message.message_id, data, forge=forge)
        await self.watch.done(("query", query["id"]))
        answered = [q for q in self.server.callback_answers(self.id) if q.id == query["id"]]
        assert answered, f"the bot left the tap on {data!r} unanswered"
        return answered[0].text

    async def ask(self, text: str) -> list[str]:
        """Say something and return the texts of the messages the bot sent back."""
        before = len(self.messages())
        await self.say(text)
        return [m.text or m.caption or "" for m in self.messages()[before:]]

    def find(self, needle: str):
        """The newest bot message containing `needle`."""
        for message in reversed(self.messages()):
            if needle in (message.text or message.caption or ""):
                return message
        raise AssertionError(f"no message with {needle!r}; the bot's messages: {self.texts()[-5:]}")


@asynccontextmanager
async def case_bot(server: BotApiServer, db: Path):
    """The bot running on `db`, with the Watch its users need."""
    async with running_bot(server, db) as app:
        yield Watch(app)


@pytest.fixture
async def server():
    async with BotApiServer(webhook_retry_delay=0.05) as server:
        yield server
        sent = [c.params.get("text", "") for c in server.calls("sendMessage")]
        assert not [t for t in sent if INTERNAL_ERROR in str(t)], "a handler failed (see the log)"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"


# -- the database, read directly ----------------------------------------------------------------


def make_case(db: Path, user_id: int, answers: list[tuple[str, Any]]) -> int:
    """A case made in-process with the Coach, answering as tg.TgUser.answer does; its number."""
    with closing(Store.open(db)) as store:
        coach = Coach(store, FLOW, RENDERER)
        coach.start(user_id, "it")
        given = dict(answers)
        for _ in range(200):  # the flow's own order: questions the run does not list get a default
            state, _ = coach.load(user_id)
            if state is None or state.reviewing or state.at not in FLOW.questions:
                break
            question = FLOW.questions[state.at]
            value = given.get(question.id, default_answer(FLOW, question.id))
            known = [v for v in (value if isinstance(value, list) else [value]) if v in question.option_index]
            if question.is_choice and value is not None and not known:
                value = default_answer(FLOW, question.id)  # an option the flow no longer has
            if isinstance(value, list):
                for option in value:
                    coach.act(user_id, Toggle(option))
                coach.act(user_id, Done())
            elif isinstance(value, str) and value.startswith("="):
                coach.text(user_id, value[1:])
            elif value is None:
                coach.act(user_id, Skip())
            else:
                coach.act(user_id, Answer(value))
        reply = coach.act(user_id, Finish())
        assert reply.case_no is not None, "the run did not reach the end of the questionnaire"
        return reply.case_no


def query(db: Path, sql: str, *params: Any) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def execute(db: Path, sql: str, *params: Any) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(sql, params)


def case_row(db: Path, user_id: int, case_no: int) -> dict[str, Any] | None:
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM cases WHERE user_id = ? AND case_no = ?", (user_id, case_no)).fetchone()
        return dict(row) if row else None


def user_rows(db: Path, user_id: int) -> dict[str, list[tuple]]:
    """Every row of the user in every table (the search index's entries too), to compare before/after."""
    rows: dict[str, list[tuple]] = {}
    with closing(sqlite3.connect(db)) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            if table.startswith("case_search"):
                continue  # the index is compared below, by the entries of the user's cases
            columns = [c[1] for c in conn.execute(f'PRAGMA table_info("{table}")')]
            if "user_id" in columns:
                rows[table] = conn.execute(
                    f'SELECT * FROM "{table}" WHERE user_id = ? ORDER BY 1', (user_id,)
                ).fetchall()
            elif table == "users":
                rows[table] = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchall()
        rows["case_search"] = conn.execute(
            "SELECT s.rowid, s.terms FROM case_search s JOIN cases c ON c.id = s.rowid WHERE c.user_id = ? ORDER BY 1",
            (user_id,),
        ).fetchall()
    return rows


def traces(db: Path, user_id: int, needles: list[str]) -> dict[str, int]:
    """Where in the database (every table, the full-text index's own tables included) the user's
    id or any of the needles still shows."""
    found: dict[str, int] = {}
    with closing(sqlite3.connect(db)) as conn:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"case_search_data", "case_search_idx", "case_search_content"} <= set(tables)
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if value == user_id or any(needle in text.casefold() for needle in needles):
                        found[table] = found.get(table, 0) + 1
    return found


def reminder_jobs(app: Application) -> list:
    return [job for job in app.job_queue.jobs() if job.name.startswith("reminder-")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR", "a PNG starts with its IHDR chunk"
    return struct.unpack(">II", data[16:24])


# -- the runs -----------------------------------------------------------------------------------


def test_the_answer_runs_give_the_profiles_they_are_named_after(db):
    runs = {"gratis": GRATIS, "mvc": MVC, "distruttivo": DISTRUTTIVO, "vip": VIP, "lvc": LVC}
    for user, (profile, run) in enumerate(runs.items(), start=1):
        assert case_row(db, user, make_case(db, user, run))["main"] == profile


# -- /storico -----------------------------------------------------------------------------------


async def test_history_lists_newest_first_in_pages_with_a_button_per_case(server, db):
    async with case_bot(server, db) as watch:
        alice, bob = User(server, ALICE, watch), User(server, BOB, watch)
        await run_questionnaire(alice, GRATIS)
        for alias in ("Uno", "Due", "Tre", "Quattro", "Cinque", "Sei"):
            make_case(db, ALICE, variant(f"Cliente {alias}"))

        await alice.say("/storico")
        listing = alice.last()
        assert "I tuoi casi (7)" in listing.text and "Pagina 1 di 2" in listing.text
        assert [d for _, d in listing.buttons] == ["c:7", "c:6", "c:5", "c:4", "c:3", "h:2"]
        assert listing.text.index("7. Cliente Sei") < listing.text.index("3. Cliente Due")
        assert "Studio Rossi" not in listing.text

        await alice.tap("Meno recenti", listing)
        page2 = alice.last()
        assert page2.message_id == listing.message_id and page2.edits == 1, "paging edits the list in place"
        assert "Pagina 2 di 2" in page2.text and "1. Studio Rossi" in page2.text and "Gratis · 🟡 aperto" in page2.text
        assert [d for _, d in page2.buttons] == ["c:2", "c:1", "h:1"]
        assert page2.buttons[-1][0].startswith("‹")

        await alice.tap("Più recenti", page2)
        assert "Pagina 1 di 2" in alice.last().text and alice.last().message_id == listing.message_id

        await alice.say("/storico")
        await alice.tap("Meno recenti", alice.last())
        await alice.tap("1. Studio Rossi", alice.last())
        assert "📁 Caso n. 1 · Studio Rossi" in alice.find("Le tue risposte").text

        await bob.say("/storico")
        assert "Non hai ancora casi salvati" in bob.last().text and not bob.last().buttons


# -- /caso --------------------------------------------------------------------------------------


async def test_case_shows_answers_profile_reasons_advice_scripts_notes_and_timeline(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/nota 1 Ha pagato metà\nil resto a fine mese")
        await alice.say("/esito 1 risolto")
        await alice.say("/promemoria 1 3g")
        shown = await alice.ask("/caso 1")

    card, result, history, *advice = shown
    assert card.startswith("📁 Caso n. 1 · Studio Rossi") and "Esito: ✅ risolto" in card
    assert "Profilo: Gratis, con segnali forti di Incontentabile" in card
    for line in (
        "• Etichetta privata: Studio Rossi",
        "• Come paga: Niente: lavoro gratis o quasi",
        f"• {FLOW.questions['pattern'].short['it']}: {FLOW.questions['pattern'].option_index['often'].label['it']}",
        "• Il tuo lavoro per questo cliente: la consulenza fiscale",
        "• Chi è e come vi parlate: ",
    ):
        assert line in card, line
    assert "profilo Gratis" in result and "Affidabilità della valutazione" in result
    assert "Perché lo penso" in result and "• Come paga → Niente: lavoro gratis o quasi" in result
    assert history.startswith("🗂 Storia del caso n. 1") and "Promemoria in attesa" in history
    for entry in (
        "📁 caso salvato",
        "📝 nota: Ha pagato metà\nil resto a fine mese",
        "🔄 esito: aperto → risolto",
        "⏰ promemoria fissato per il",
    ):
        assert entry in history, entry
    assert history.index("caso salvato") < history.index("nota:")
    assert "Cosa fare" in advice[0]
    scripts = [text for text in advice if text.startswith("✉️")]
    # The compact shape: the advice, then the first message with ‹ › to the others (on demand).
    assert len(scripts) == 1 and "Spett.le Studio Rossi," in scripts[0] and "1.200,00 €" in scripts[0]

    buttons = [d for _, d in alice.find("Storia del caso n. 1").buttons]
    assert buttons == ["o:1:aperto", "o:1:risolto", "o:1:cliente_tenuto", "o:1:cliente_lasciato", "x:1", "h:1"]
    script = alice.find("✉️ 1/")
    assert ("più fermo", "s:1:1:firmer:lei") in script.buttons


async def test_case_buttons_open_outcomes_and_the_list(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/caso #1")
        history = alice.find("Storia del caso n. 1")
        await alice.tap("Tenuto", history)
        assert "ora risulta cliente tenuto" in alice.last().text
        assert case_row(db, ALICE, 1)["status"] == "cliente_tenuto"
        await alice.tap("Apri il caso n. 1", alice.last())
        assert "Esito: 🤝 cliente tenuto" in alice.find("Le tue risposte").text
        assert alice.last().text.startswith("✉️"), "a case opened by button shows its scripts too, as /caso does"
        history = alice.find("Storia del caso n. 1")
        await alice.tap("Tutti i casi", history)
        assert "I tuoi casi (1)" in alice.last().text
        assert alice.last().message_id != history.message_id, "the case's history stays; the list comes anew"
        assert "Storia del caso n. 1" in alice.find("Storia del caso n. 1").text


# -- /cerca -------------------------------------------------------------------------------------


async def test_search_finds_clients_typed_answers_and_notes(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        # The client's name carries HTML's special characters: every screen must escape them.
        await run_questionnaire(alice, variant("Rossi & <Figli>"))
        make_case(db, ALICE, variant("Caffè Verdi", service="=grafica"))
        await alice.say("/nota 2 bonifico parziale ricevuto")

        await alice.say("/cerca rossi")
        found = alice.last()
        assert "🔎 Ricerca: rossi" in found.text and "1 caso trovato" in found.text
        assert "1. Rossi & <Figli>" in found.text and [d for _, d in found.buttons] == ["c:1"]
        for words, numbers in (
            ("CAFFE", ["c:2"]),
            ("caffè", ["c:2"]),
            ("fiscal", ["c:1"]),
            ("bonif", ["c:2"]),
            ("studio", []),
            ("rossi grafica", []),
        ):
            await alice.say(f"/cerca {words}")
            assert [d for _, d in alice.last().buttons] == numbers, words
        assert "Nessun caso contiene queste parole" in alice.last().text

        await alice.say("/cerca bonifico")
        await alice.tap("2. Caffè Verdi", alice.last())
        assert "📁 Caso n. 2 · Caffè Verdi" in alice.find("Le tue risposte").text


# -- /nota --------------------------------------------------------------------------------------


async def test_note_is_added_with_its_line_breaks(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/nota 1 Telefonata del 3:\n- chiede lo sconto\n- <b>non</b> paga & sparisce")
        assert alice.last().text == "📝 Nota aggiunta al caso n. 1."
        assert alice.last().buttons == [("📁 Apri il caso n. 1", "c:1")]
        await alice.say("/nota 1 " + "x" * 2000)  # the longest note accepted
        notes = query(db, "SELECT text FROM notes WHERE user_id = ? ORDER BY id", ALICE)
        assert notes == [("Telefonata del 3:\n- chiede lo sconto\n- <b>non</b> paga & sparisce",), ("x" * 2000,)]
        await alice.tap("Apri il caso n. 1", alice.last())
        assert (
            "📝 nota: Telefonata del 3:\n- chiede lo sconto\n- <b>non</b> paga & sparisce" in alice.find("Storia").text
        )


# -- /esito -------------------------------------------------------------------------------------


async def test_outcome_by_buttons_and_by_word(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/esito 1")
        question = alice.last()
        assert "Com'è andata con il caso n. 1 (Studio Rossi)? Adesso risulta aperto" in question.text
        assert [d for _, d in question.buttons] == [
            "o:1:aperto",
            "o:1:risolto",
            "o:1:cliente_tenuto",
            "o:1:cliente_lasciato",
        ]
        await alice.tap("Risolto", question)
        assert alice.last().text == "Fatto: il caso n. 1 ora risulta risolto."
        await alice.say("/esito 1 cliente tenuto")
        assert "ora risulta cliente tenuto" in alice.last().text
        await alice.say("/esito 1 tenuto")
        assert "risultava già cliente tenuto: non ho cambiato niente" in alice.last().text
        await alice.say("/esito 1 lasciato")
        assert case_row(db, ALICE, 1)["status"] == "cliente_lasciato"
    events = query(db, "SELECT before, after FROM case_events WHERE user_id = ? ORDER BY id", ALICE)
    assert events == [("aperto", "risolto"), ("risolto", "cliente_tenuto"), ("cliente_tenuto", "cliente_lasciato")]


# -- /promemoria --------------------------------------------------------------------------------


async def test_reminder_is_stored_and_armed_for_a_duration_or_a_date(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        start = datetime.now(timezone.utc)
        await alice.say("/promemoria 1 3g")
        assert alice.last().text.startswith("⏰ D'accordo: ti ricorderò il caso n. 1 il ")
        await alice.say("/promemoria 1 1s")
        next_year = start.year + 1
        await alice.say(f"/promemoria 1 25/12/{next_year} 15:30")
        assert f"25/12/{next_year} 15:30" in alice.last().text
        jobs = reminder_jobs(watch.app)
    dues = [
        datetime.fromisoformat(due)
        for (due,) in query(db, "SELECT due FROM reminders WHERE user_id = ? ORDER BY id", ALICE)
    ]
    assert abs(dues[0] - (start + timedelta(days=3))) < timedelta(minutes=1)
    assert abs(dues[1] - (start + timedelta(weeks=1))) < timedelta(minutes=1)
    assert dues[2] == datetime(next_year, 12, 25, 14, 30, tzinfo=timezone.utc)  # 15:30 in Rome, winter time
    assert sorted(job.data.due.replace(microsecond=0) for job in jobs) == dues


async def test_a_reminder_fires_after_a_restart_and_only_once(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/promemoria 1 1g")
        assert len(reminder_jobs(watch.app)) == 1
    ((reminder_id, fired),) = query(db, "SELECT id, fired FROM reminders WHERE user_id = ?", ALICE)
    assert fired is None

    # The shortest reminder /promemoria accepts is an hour away and a past time is refused, so the
    # test moves the stored due time into the past, as if the bot had been down when it came due.
    # Only the row in the SQLite file changes: the next process must find the reminder there and
    # arm it on its JobQueue, which is what surviving a restart means.
    due = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(timespec="seconds")
    execute(db, "UPDATE reminders SET due = ? WHERE id = ?", due, reminder_id)

    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        assert [job.data.id for job in reminder_jobs(watch.app)] == [reminder_id], "re-armed at start"
        reminder = await server.wait_for(
            lambda: next((m for m in alice.messages() if (m.text or "").startswith("⏰ Promemoria: caso n. 1")), None),
            timeout=WAIT,
        )
        assert "Studio Rossi" in reminder.text and "Esito attuale: aperto" in reminder.text
        assert [d for _, d in reminder.buttons] == [
            "o:1:aperto",
            "o:1:risolto",
            "o:1:cliente_tenuto",
            "o:1:cliente_lasciato",
            "c:1",
        ]
        # Marked sent once Telegram has accepted it (just after the message is there).
        await server.wait_for(
            lambda: query(db, "SELECT fired IS NOT NULL FROM reminders WHERE id = ?", reminder_id) == [(1,)], WAIT
        )
        await alice.tap("Risolto", reminder)
        assert case_row(db, ALICE, 1)["status"] == "risolto"
        await alice.say("/promemoria 1 2g")  # another one, still waiting at the next restart
        ((waiting_id,),) = query(db, "SELECT id FROM reminders WHERE user_id = ? AND fired IS NULL", ALICE)

    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        assert [job.data.id for job in reminder_jobs(watch.app)] == [waiting_id], "a sent reminder is not armed again"
        await alice.say("/caso 1")
        assert "🔔 promemoria arrivato" in alice.find("Storia del caso n. 1").text
    sent = [m for m in alice.messages() if (m.text or "").startswith("⏰ Promemoria")]
    assert len(sent) == 1


async def test_the_console_and_the_bot_never_share_reminders(server, db):
    """Issue 19: the bot sent the console user's reminders (user 0) to Telegram chat 0 at every start
    when both shared a database; and the console's `cases due` must not take the bot's."""
    from answer_lines import typed_lines
    from helpers import clean_environment, run_cli

    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/promemoria 1 1g")
    console_env = clean_environment(CLIENTCOACH_TZ="Europe/Rome")
    chat = run_cli("--db", str(db), "chat", "--new", stdin=typed_lines({"alias": "Console Srl"}), env=console_env)
    assert chat.returncode == 0, chat.stderr
    assert run_cli("--db", str(db), "cases", "remind", "1", "1g", env=console_env).returncode == 0
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(timespec="seconds")
    execute(db, "UPDATE reminders SET due = ?", past)  # both have fallen due while nothing ran

    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        armed = [(job.data.user_id, job.data.case_no) for job in reminder_jobs(watch.app)]
        assert armed == [(ALICE, 1)], "only the Telegram user's reminder is the bot's"
        await server.wait_for(
            lambda: next((m for m in alice.messages() if (m.text or "").startswith("⏰ Promemoria")), None),
            timeout=WAIT,
        )
    sent_to = {str(call.params.get("chat_id")) for call in server.calls("sendMessage")}
    assert "0" not in sent_to, "nothing is sent to chat 0"
    due = run_cli("--db", str(db), "cases", "due", env=console_env)
    assert "Console Srl" in due.stdout, due.stdout + due.stderr
    theirs = run_cli("--db", str(db), "cases", "due", "--user", str(ALICE), env=console_env)
    assert "Nessun promemoria" in theirs.stdout, "the console does not take the bot's reminders"


async def test_the_job_of_a_deleted_reminder_leaves_the_reminder_that_reuses_its_id_alone(server, db):
    # A deleted case's reminders stay armed on the JobQueue until they come due; the job must then
    # do nothing, even when SQLite has meanwhile given the deleted reminder's id to a new one.
    async with case_bot(server, db) as watch:
        alice, bob = User(server, ALICE, watch), User(server, BOB, watch)
        await run_questionnaire(alice, GRATIS)
        make_case(db, BOB, BOB_RUN)
        await alice.say("/promemoria 1 1g")
        await alice.say("/cancella 1")
        await alice.tap("Sì, elimina", alice.last())
        await bob.say("/promemoria 1 2g")
        stale = [job for job in reminder_jobs(watch.app) if job.data.user_id == ALICE]
        bobs = [job for job in reminder_jobs(watch.app) if job.data.user_id == BOB]
        # SQLite gives the highest id back once its row is deleted: Bob's reminder has Alice's old id.
        assert stale[0].data.id == bobs[0].data.id
        before = len(server.calls("sendMessage"))
        await stale[0].run(watch.app)  # Alice's deleted reminder comes due
        assert len(server.calls("sendMessage")) == before
        assert query(db, "SELECT fired FROM reminders WHERE user_id = ?", BOB) == [(None,)]
        await bobs[0].run(watch.app)  # Bob's comes due: it reaches Bob, with his own case
        assert "Bob Bianco" in bob.last().text and bob.last().text.startswith("⏰ Promemoria: caso n. 1")


# -- a plan followed: sent, checks across restarts, the next step, the outcome (issue 22) -----------

# A company that owes an invoice already overdue, not yet reminded: the plan starts with the reminder.
OVERDUE = variant(
    "Bianchi Srl",
    payment="late",
    owed="=640",
    owed_since="overdue",
    free_attitude="neutral",
    price=DROP,
    balance="even",
    origin="no_error",
    feelings=["none"],
    service="=la consulenza",
    who="company_tu",
)


def clock_forward(db: Path, days: int) -> None:
    """As if `days` had gone by while the bot was down: the check waiting has fallen due, and what
    the case recorded happened that much earlier (the way the reminder tests move time)."""
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(timespec="seconds")
    execute(db, "UPDATE reminders SET due = ? WHERE step IS NOT NULL AND fired IS NULL", past)
    for table, column in (("case_events", "at"), ("cases", "created")):
        for rowid, stamp in query(db, f"SELECT rowid, {column} FROM {table}"):
            earlier = (datetime.fromisoformat(stamp) - timedelta(days=days)).isoformat(timespec="seconds")
            execute(db, f"UPDATE {table} SET {column} = ? WHERE rowid = ?", earlier, rowid)


def checks_received(user: User) -> list:
    return [m for m in user.messages() if (m.text or "").startswith("🔔 Com'è andata? Caso n. 1")]


async def test_a_payment_case_walks_from_the_reminder_through_the_firmer_one_to_paid(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, OVERDUE)
        advice = alice.find("🗺 Il piano")
        assert (
            "1. Manda «Sollecito di pagamento»" in advice.text
            and "2. Manda «Secondo sollecito, più fermo»" in advice.text
        )
        script = next(m for m in alice.messages() if ("✅ Inviato", "p:1:sollecito:softer:tu") in m.buttons)
        await alice.tap("Inviato", script)
        assert alice.last().text.startswith("✅ Segnato nel caso n. 1: inviato «Sollecito di pagamento»")
        assert [job.data.case_no for job in reminder_jobs(watch.app)] == [1], "the check is armed"
    assert query(db, "SELECT step, fired FROM reminders WHERE user_id = ?", ALICE) == [("remind", None)]

    clock_forward(db, 8)
    async with case_bot(server, db) as watch:  # a restart: the check is found in the file, armed, delivered
        alice = User(server, ALICE, watch)
        check = await server.wait_for(lambda: next(iter(checks_received(alice)), None), timeout=WAIT)
        assert "hai mandato «Sollecito di pagamento»" in check.text
        assert [label for label, _ in check.buttons][:4] == [
            "💶 Ha pagato",
            "💬 Ha risposto, ma non ha pagato",
            "🔇 Nessuna risposta",
            "⚠️ È peggiorata",
        ]
        await server.wait_for(
            lambda: query(db, "SELECT fired IS NOT NULL FROM reminders WHERE step = 'remind'") == [(1,)], WAIT
        )
        await alice.tap("Nessuna risposta", check)
        assert "nessuna risposta. Ecco il passo successivo, già pronto." in alice.find("Fatto, caso n. 1").text
        firmer = alice.last()
        assert "Secondo sollecito, più fermo" in firmer.text and "640,00 €" in firmer.text
        await alice.tap("Inviato", firmer)
        assert "inviato «Secondo sollecito, più fermo»" in alice.last().text
        second_check = query(db, "SELECT id FROM reminders WHERE step = 'remind_firmly' AND fired IS NULL")
        assert len(second_check) == 1

    clock_forward(db, 11)
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await server.wait_for(lambda: len(checks_received(alice)) == 2 or None, timeout=WAIT)
        await server.wait_for(
            lambda: query(db, "SELECT fired IS NOT NULL FROM reminders WHERE step = 'remind_firmly'") == [(1,)], WAIT
        )

    async with case_bot(server, db) as watch:  # another restart: the check delivered is not delivered again
        alice = User(server, ALICE, watch)
        assert reminder_jobs(watch.app) == [], "nothing left to deliver"
        await alice.say("/piano 1")
        assert "inviato «Secondo sollecito, più fermo»" in alice.last().text
        second = checks_received(alice)[-1]
        assert "hai mandato «Secondo sollecito, più fermo»" in second.text
        await alice.tap("Ha pagato", second)
        assert "Ho segnato l'esito: risolto. Il piano è concluso." in alice.last().text
        await alice.tap("Ha pagato", second)  # a second tap on the same check changes nothing
        assert "Questo controllo del caso n. 1 ha già una risposta" in alice.last().text
        await alice.say("/caso 1")
        history = alice.find("Storia del caso n. 1").text
        texts = await alice.ask("/statistiche")
        photos = [m for m in alice.messages() if m.photo]
    assert len(checks_received(alice)) == 2, "each check delivered exactly once"
    for entry in (
        "✉️ inviato: «Sollecito di pagamento» (più morbido, tu)",
        "🔔 arrivato il controllo su «Sollecito di pagamento»",
        "💬 com'è andata dopo «Sollecito di pagamento»: Nessuna risposta",
        "✉️ inviato: «Secondo sollecito, più fermo»",
        "💬 com'è andata dopo «Secondo sollecito, più fermo»: Ha pagato",
        "🔄 esito: aperto → risolto",
    ):
        assert entry in history, entry
    assert case_row(db, ALICE, 1)["status"] == "risolto"
    stats = texts[0]
    assert "✉️ «Sollecito di pagamento»: 1 volta; poi nessuna risposta 1. Casi chiusi: risolto 1" in stats
    assert "✉️ «Secondo sollecito, più fermo»: 1 volta; poi ha pagato 1. Casi chiusi: risolto 1" in stats
    assert len(photos) == 2, "the chart by month and the chart of what followed each message"
    assert png_size(server.file(photos[-1].photo[-1]["file_id"]).content)[0] == 800


async def test_a_check_is_never_delivered_for_a_deleted_case(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, OVERDUE)
        await alice.say("/inviato 1 1")
        assert alice.last().text.startswith("✅ Segnato nel caso n. 1")
        (job,) = reminder_jobs(watch.app)
        await alice.say("/cancella 1")
        await alice.tap("Sì, elimina", alice.last())
        assert query(db, "SELECT COUNT(*) FROM reminders") == [(0,)] and query(
            db, "SELECT COUNT(*) FROM case_plans"
        ) == [(0,)]
        before = len(server.calls("sendMessage"))
        await job.run(watch.app)  # its time comes: nothing is sent
        assert len(server.calls("sendMessage")) == before
    clock_forward(db, 8)
    async with case_bot(server, db) as watch:
        assert reminder_jobs(watch.app) == []


# -- /rivaluta ----------------------------------------------------------------------------------


async def test_reassess_prefills_the_same_client_and_shows_how_the_profile_moved(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/rivaluta 1")
        review = alice.dialog().text
        assert "Riepilogo" in review and "Studio Rossi" in review and "Niente: lavoro gratis o quasi" in review
        await alice.tap("Come paga")
        await alice.choose("full")  # free work had no balance: it joins the branch and is asked now
        assert "Rispetto a quello che ti porta" in alice.dialog().text
        await alice.choose("worth_it")
        review = alice.dialog().text
        assert "Il prezzo pieno" in review and "Come tratta il lavoro gratuito" not in review
        assert "consulenza fiscale" in review, "the answers not changed stay as they were"
        before = len(alice.messages())
        await alice.tap("risultato")
        texts = [m.text or "" for m in alice.messages()[before:]]

    first, second = case_row(db, ALICE, 1), case_row(db, ALICE, 2)
    assert first["main"] == "gratis" and second["main"] != "gratis"
    assert second["client_id"] == first["client_id"] and json.loads(second["answers"])["alias"] == "Studio Rossi"
    assert texts[0].startswith("Caso n. 2 salvato.")  # the notice opens the card
    movement = next(t for t in texts if "Com'è cambiato rispetto al caso n. 1" in t)  # folded into the card
    assert "Il profilo principale è passato da Gratis a" in movement
    assert not query(db, "SELECT * FROM conversations WHERE user_id = ?", ALICE)


# -- /esporta -----------------------------------------------------------------------------------


async def test_export_sends_csv_and_json_documents_with_the_users_cases(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        make_case(db, ALICE, variant("=SOMMA(A1)", service="=grafica"))  # a formula must not run in a spreadsheet
        make_case(db, BOB, BOB_RUN)
        await alice.say("/nota 1 prima riga\nseconda riga")
        await alice.say("/esito 2 risolto")
        await alice.say("/esporta")
    documents = [m for m in alice.messages() if m.document]
    assert [m.document["file_name"].rsplit(".", 1)[1] for m in documents] == ["csv", "json"]
    assert all(m.caption == m.document["file_name"] and m.caption.startswith("clientcoach-") for m in documents)
    csv_file, json_file = (server.file(m.document["file_id"]) for m in documents)

    assert csv_file.content.startswith(b"\xef\xbb\xbf"), "a BOM, so spreadsheets read UTF-8"
    header, *rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert header[:8] == [
        "caso",
        "creato",
        "aggiornato",
        "esito",
        "cliente",
        "profilo",
        "profilo secondario",
        "affidabilità",
    ]
    assert header[-2:] == ["note", "promemoria"] and "Come paga" in header
    assert [(r[0], r[3], r[4], r[5]) for r in rows] == [
        ("1", "aperto", "Studio Rossi", "Gratis"),
        ("2", "risolto", "'=SOMMA(A1)", "Gratis"),
    ]
    assert rows[0][header.index("Come paga")] == "Niente: lavoro gratis o quasi"
    assert "prima riga\nseconda riga" in rows[0][header.index("note")]

    document = json.loads(json_file.content)
    assert document["format"] == "clientcoach-cases" and document["version"] == 1
    cases = document["cases"]
    assert [(c["case_no"], c["client"], c["profile"], c["status"]) for c in cases] == [
        (1, "Studio Rossi", "gratis", "aperto"),
        (2, "=SOMMA(A1)", "gratis", "risolto"),
    ]
    assert cases[0]["answers"]["payment"] == "free" and cases[0]["notes"][0]["text"] == "prima riga\nseconda riga"
    assert cases[1]["events"][0]["after"] == "risolto"
    both = csv_file.content.decode("utf-8-sig") + json_file.content.decode()
    assert "Bob Bianco" not in both and "grafica" in both


# -- /cancella ----------------------------------------------------------------------------------


async def test_delete_one_case_after_confirmation(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        make_case(db, ALICE, MVC)
        await alice.say("/nota 1 da eliminare")
        await alice.say("/esito 1 risolto")
        await alice.say("/promemoria 1 1g")
        case_id = case_row(db, ALICE, 1)["id"]

        await alice.say("/cancella 1")
        confirm = alice.last()
        assert "Vuoi davvero eliminare il caso n. 1 (Studio Rossi)?" in confirm.text
        assert [label for label, _ in confirm.buttons] == ["Sì, elimina", "No, lascia stare"]
        assert confirm.buttons[0][1].startswith("x:1:yes@")
        await alice.tap("No, lascia stare", confirm)
        assert alice.last().text == "Va bene, non ho eliminato niente." and case_row(db, ALICE, 1) is not None

        await alice.say("/cancella 1")
        confirm = alice.last()
        yes = confirm.buttons[0][1]
        await alice.tap("Sì, elimina", confirm)
        assert alice.last().text == "🗑 Il caso n. 1 è stato eliminato, con tutto quello che conteneva."
        assert not alice.find("Vuoi davvero eliminare").buttons, "a confirmation is used once"
        toast = await alice.press(alice.find("Vuoi davvero eliminare"), yes, forge=True)  # tapped again
        assert toast is None and "non c'è il n. 1" in alice.last().text

        await alice.say("/caso 1")
        assert "Tra i tuoi casi non c'è il n. 1" in alice.last().text
        await alice.say("/storico")
        assert [d for _, d in alice.last().buttons] == ["c:2"]
    assert case_row(db, ALICE, 1) is None and case_row(db, ALICE, 2)["main"] == "mvc"
    for table in ("notes", "reminders", "case_events"):
        assert query(db, f"SELECT COUNT(*) FROM {table} WHERE case_id = ?", case_id) == [(0,)], table
    assert query(db, "SELECT COUNT(*) FROM case_search WHERE rowid = ?", case_id) == [(0,)]
    assert query(db, "SELECT alias FROM clients WHERE user_id = ?", ALICE) == [("Verdi Arredi",)]


async def test_an_expired_or_forged_confirmation_deletes_nothing(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/cancella 1")
        confirm = alice.last()
        before = user_rows(db, ALICE)
        expired = stamp_destructive(ConfirmDelete(1), now=time.time() - CONFIRM_TTL - 60).encode()
        future = stamp_destructive(ConfirmDelete(1), now=time.time() + 3600).encode()
        for data in (
            expired,
            future,
            "x:1:yes",
            "x:1:yes@zz",
            "x:all:yes",
            "x:all:yes@",
            expired.replace("x:1", "x:all"),
        ):
            toast = await alice.press(confirm, data, forge=True)
            assert toast == "Questo pulsante non è più attivo.", data
        assert user_rows(db, ALICE) == before


# -- /cancellatutto -----------------------------------------------------------------------------


async def test_delete_all_leaves_nothing_of_the_user_in_any_table_or_index(server, db):
    async with case_bot(server, db) as watch:
        alice, bob = User(server, ALICE, watch), User(server, BOB, watch)
        await run_questionnaire(alice, variant("Zanzibar Viaggi", service="=Quokka tours", sender="=Wombat"))
        make_case(db, ALICE, variant("Yeti Impianti", service="=Ornitorinco"))
        await alice.say("/nota 1 Kiwifruit discussion")
        await alice.say("/esito 2 risolto")
        await alice.say("/promemoria 1 1s")
        await alice.say("/lingua it")
        await alice.say("/nuovo")
        await alice.say("Xilofono Open")  # a questionnaire in progress
        await run_questionnaire(bob, BOB_RUN)
        await bob.say("/nota 1 nota di Bob")
        needles = [
            "zanzibar",
            "quokka",
            "wombat",
            "yeti",
            "ornitorinco",
            "kiwifruit",
            "xilofono",
            str(ALICE),
            f"u{ALICE}x",
        ]
        found = traces(db, ALICE, needles)
        assert {
            "cases",
            "notes",
            "reminders",
            "case_events",
            "clients",
            "conversations",
            "users",
            "case_search_content",
            "case_search_data",
        } <= set(found), found

        await alice.say("/cancellatutto")
        confirm = alice.last()
        assert "Vuoi cancellare tutti i tuoi dati?" in confirm.text and "i tuoi 2 casi" in confirm.text
        await alice.tap("No, lascia stare", confirm)
        # The inbox holds the update being handled for a moment (released with the next write).
        kept = lambda found: {table: n for table, n in found.items() if table != "update_inbox"}  # noqa: E731
        assert kept(traces(db, ALICE, needles)) == kept(found)

        await alice.say("/cancellatutto")
        await alice.tap("Sì, cancella tutto", alice.last())
        assert alice.last().text.startswith("🗑 Ho cancellato tutti i tuoi dati")

        assert traces(db, ALICE, needles) == {}
        await bob.say("/cerca bianco")
        assert [d for _, d in bob.last().buttons] == ["c:1"]
    assert query(db, "SELECT text FROM notes WHERE user_id = ?", BOB) == [("nota di Bob",)]


# -- /statistiche -------------------------------------------------------------------------------


async def test_stats_sends_the_counts_and_a_png_chart_over_time(server, db):
    import matplotlib.image
    import numpy

    async with case_bot(server, db) as watch:
        alice, bob = User(server, ALICE, watch), User(server, BOB, watch)
        await run_questionnaire(alice, GRATIS)
        for run in (MVC, DISTRUTTIVO, VIP, LVC, LVC):
            make_case(db, ALICE, run)
        # Cases are saved "now"; the chart is over the months, so some are dated back in the file.
        now = datetime.now(timezone.utc)
        for case_no, days in ((2, 40), (3, 70), (4, 70), (5, 130)):
            execute(
                db,
                "UPDATE cases SET created = ? WHERE user_id = ? AND case_no = ?",
                (now - timedelta(days=days)).isoformat(timespec="seconds"),
                ALICE,
                case_no,
            )
        await alice.say("/esito 1 risolto")
        await alice.say("/esito 3 lasciato")
        await alice.say("/esito 4 tenuto")
        texts = await alice.ask("/statistiche")
        photo = alice.last()
        await bob.say("/statistiche")

    assert texts[0].startswith("📊 I tuoi casi in numeri") and "Casi salvati: 6" in texts[0]
    for line in (
        "• Gratis: 1",
        "• Distruttivo: 1",
        "• VIP: 1",
        "• LVC (cliente di minor valore): 2",
        "• MVC (cliente di maggior valore): 1",
        "🟡 aperto: 3",
        "✅ risolto: 1",
        "🤝 cliente tenuto: 1",
        "👋 cliente lasciato andare: 1",
    ):
        assert line in texts[0], line
    assert photo.photo and texts[1] == ""
    data = server.file(photo.photo[-1]["file_id"]).content
    assert png_size(data) == (800, 600)
    pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (600, 800) and pixels.std() > 0.05, "the chart is not blank"
    colours = {
        tuple(int(round(v * 255)) for v in px[:3]) for px in numpy.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)
    }
    bars = {(0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73), (0x00, 0x72, 0xB2), (0x99, 0x99, 0x99), (0x56, 0xB4, 0xE9)}
    assert len(bars & colours) >= 4, "bars of several profiles and outcomes"

    assert "Non hai ancora casi salvati" in bob.last().text
    assert not any(m.photo for m in bob.messages()), "no chart without cases"


# -- bad input: a clear answer, nothing changed -------------------------------------------------


BAD_INPUT = [
    ("/caso abc", "«abc» non è un numero di caso"),
    ("/caso 999", "Tra i tuoi casi non c'è il n. 999"),
    ("/caso 0", "«0» non è un numero di caso"),
    ("/caso", "Scrivi il numero del caso, per esempio /caso 3"),
    ("/nota 1", "Scrivi il numero del caso e la nota"),
    ("/nota", "Scrivi il numero del caso e la nota"),
    ("/nota 1 " + "x" * 5000, "La nota è troppo lunga: al massimo 2000 caratteri, questa ne ha 5000"),
    ("/nota 1 " + "x" * 2001, "questa ne ha 2001"),
    ("/nota abc testo", "«abc» non è un numero di caso"),
    ("/nota 999 testo", "non c'è il n. 999"),
    ("/esito 1 boh", "Non conosco l'esito «boh»"),
    ("/esito", "Scrivi il numero del caso, per esempio /esito 3"),
    ("/esito 999", "non c'è il n. 999"),
    ("/esito 999 risolto", "non c'è il n. 999"),
    ("/promemoria 1 ieri", "Non capisco quando"),
    ("/promemoria 1 domani", "Non capisco quando"),
    ("/promemoria 1 01/01/2020", "Quel momento è già passato"),
    ("/promemoria 1 31/02/2030", "La data «31/02/2030» non esiste nel calendario"),
    ("/promemoria 1 1000g", "È troppo lontano"),
    ("/promemoria 1", "Scrivi il numero del caso e quando"),
    ("/promemoria 999 3g", "non c'è il n. 999"),
    ("/rivaluta", "Scrivi il numero del caso da rivalutare"),
    ("/rivaluta abc", "«abc» non è un numero di caso"),
    ("/rivaluta 999", "non c'è il n. 999"),
    ("/cancella", "Scrivi il numero del caso da eliminare"),
    ("/cancella abc", "«abc» non è un numero di caso"),
    ("/cancella 999", "non c'è il n. 999"),
    ("/cancella -1", "«-1» non è un numero di caso"),
    ("/cerca", "Cosa devo cercare?"),
    ("/cerca «» —", "Cosa devo cercare?"),
    ("/cerca " + "rossi " * 50, "La ricerca è troppo lunga: al massimo 200 caratteri"),
]
BAD_BUTTONS = [
    ("c:999", "non c'è il n. 999"),
    ("o:1:boh", "Non conosco l'esito «boh»"),
    ("o:999:risolto", "non c'è il n. 999"),
    ("x:999", "non c'è il n. 999"),
]
# Data no button of the bot carries (see bot.actions): refused with a toast, before the case book.
NOT_BUTTONS = ["h:x", "c:abc", "c:", "o:x", "x:abc"]


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(server, db):
    async with case_bot(server, db) as watch:
        alice = User(server, ALICE, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/nota 1 la nota che c'era")
        await alice.say("/promemoria 1 1g")
        before, jobs = user_rows(db, ALICE), len(reminder_jobs(watch.app))
        for text, expected in BAD_INPUT:
            answer = await alice.ask(text)
            assert len(answer) == 1 and answer[0].startswith("⚠️ ") and expected in answer[0], (text[:40], answer)
            assert user_rows(db, ALICE) == before, text[:40]
        for data, expected in BAD_BUTTONS:
            toast = await alice.press(alice.last(), data, forge=True)
            assert toast is None and alice.last().text.startswith("⚠️ ") and expected in alice.last().text, data
            assert user_rows(db, ALICE) == before, data
        for data in NOT_BUTTONS:
            shown = alice.texts()
            assert await alice.press(alice.last(), data, forge=True) == "Questo pulsante non è più attivo.", data
            assert alice.texts() == shown and user_rows(db, ALICE) == before, data
        assert len(reminder_jobs(watch.app)) == jobs, "no reminder armed by a refused /promemoria"


# -- privacy: user B never reaches user A's cases -----------------------------------------------


def fresh(action: str) -> str:
    """A confirmation stamped as the bot stamps it, at the moment of the tap (resolved by `forge`)."""
    return "fresh:" + action


def forge(data: str) -> str:
    return stamp_destructive(decode(data.removeprefix("fresh:"))).encode() if data.startswith("fresh:") else data


# Bob has one case (n. 1, his own); Alice has cases 1 and 2. Each entry: what Bob types ("/...")
# or the callback data he forges, and a text his chat must then show. Number 2 exists only for
# Alice; number 1 is Bob's own, so whatever it does must touch his case only.
PRIVACY = {
    "storico": [("/storico", "1. Bob Bianco"), ("h:1", "1. Bob Bianco"), ("h:999", "1. Bob Bianco")],
    "caso": [
        ("/caso 2", "non c'è il n. 2"),
        ("c:2", "non c'è il n. 2"),
        ("/caso 1", "Caso n. 1 · Bob Bianco"),
        ("c:1", "Caso n. 1 · Bob Bianco"),
    ],
    "cerca": [
        ("/cerca rossi", "Nessun caso"),
        ("/cerca verdi", "Nessun caso"),
        ("/cerca segreto", "Nessun caso"),
        ("/cerca bianco", "1. Bob Bianco"),
    ],
    "nota": [("/nota 2 intrusione", "non c'è il n. 2"), ("/nota 1 nota di Bob", "Nota aggiunta al caso n. 1")],
    "esito": [
        ("/esito 2", "non c'è il n. 2"),
        ("/esito 2 risolto", "non c'è il n. 2"),
        ("o:2", "non c'è il n. 2"),
        ("o:2:risolto", "non c'è il n. 2"),
        ("o:1:risolto", "il caso n. 1 ora risulta risolto"),
        ("/esito 1 lasciato", "ora risulta cliente lasciato andare"),
    ],
    "promemoria": [("/promemoria 2 1g", "non c'è il n. 2"), ("/promemoria 1 1g", "ti ricorderò il caso n. 1")],
    "rivaluta": [("/rivaluta 2", "non c'è il n. 2"), ("/rivaluta 1", "Bob Bianco")],
    "esporta": [("/esporta", "clientcoach-")],
    "statistiche": [("/statistiche", "Casi salvati: 1")],
    "cancella": [
        ("/cancella 2", "non c'è il n. 2"),
        ("x:2", "non c'è il n. 2"),
        ("x:2:yes", None),
        (fresh("x:2:yes"), "non c'è il n. 2"),
        ("x:1:yes", None),
        ("/cancella 1", "(Bob Bianco)"),
        (fresh("x:1:yes"), "Il caso n. 1 è stato eliminato"),
    ],
    "cancellatutto": [
        ("x:all:yes", None),
        ("/cancellatutto", "il tuo unico caso"),
        (fresh("x:all:yes"), "Ho cancellato tutti i tuoi dati"),
    ],
}


@pytest.mark.parametrize("command", sorted(PRIVACY))
async def test_another_user_never_reaches_the_first_users_cases(server, db, command):
    async with case_bot(server, db) as watch:
        alice, bob = User(server, ALICE, watch), User(server, BOB, watch)
        await run_questionnaire(alice, GRATIS)
        make_case(db, ALICE, variant("Caffè Verdi"))
        await alice.say("/nota 1 il segreto di Alice")
        await alice.say("/esito 2 tenuto")
        await alice.say("/promemoria 2 1g")
        make_case(db, BOB, BOB_RUN)
        await bob.say("/start")
        alice_before, alice_seen, bob_from = user_rows(db, ALICE), alice.texts(), len(bob.messages())

        for attempt, expected in PRIVACY[command]:
            if attempt.startswith("/"):
                await bob.say(attempt)
            else:
                toast = await bob.press(bob.last(), forge(attempt), forge=True)
                if expected is None:  # an unstamped confirmation: refused before anything happens
                    assert toast == "Questo pulsante non è più attivo.", attempt
            if expected is not None:
                assert any(expected in t for t in bob.texts()[bob_from:]), (attempt, bob.texts()[bob_from:])
            assert user_rows(db, ALICE) == alice_before, attempt
        assert alice.texts() == alice_seen, "nothing reached Alice's chat"
        await alice.say("/caso 1")  # Alice's own case still opens, whole
        assert "il segreto di Alice" in alice.find("Storia del caso n. 1").text

    # Bob's searches are echoed back to him ("🔎 Ricerca: segreto"): that line is his own words.
    shown = "\n".join(line for t in bob.texts()[bob_from:] for line in t.splitlines() if not line.startswith("🔎"))
    documents = [server.file(m.document["file_id"]).content.decode("utf-8-sig") for m in bob.messages() if m.document]
    for word in ALICE_WORDS:
        assert word not in shown, f"Bob saw {word!r}"
        assert not any(word in d for d in documents), f"Bob's export holds {word!r}"
    if command == "esporta":
        assert len(documents) == 2 and all("Bob Bianco" in d for d in documents)
    if command == "statistiche":
        assert any(m.photo for m in bob.messages())


async def test_forged_callbacks_of_a_user_without_cases_change_nothing(server, db):
    async with case_bot(server, db) as watch:
        alice, bob = User(server, ALICE, watch), User(server, BOB, watch)
        await run_questionnaire(alice, GRATIS)
        await alice.say("/nota 1 il segreto di Alice")
        await alice.say("/promemoria 1 1g")
        await bob.say("/start")
        before = user_rows(db, ALICE)
        for data, toast, answer in (
            ("c:1", None, "Tra i tuoi casi non c'è il n. 1"),
            ("o:1", None, "non c'è il n. 1"),
            ("o:1:risolto", None, "non c'è il n. 1"),
            ("x:1", None, "non c'è il n. 1"),
            ("x:1:yes", "Questo pulsante non è più attivo.", None),
            (fresh("x:1:yes"), None, "non c'è il n. 1"),
            ("x:all:yes", "Questo pulsante non è più attivo.", None),
            (fresh("x:all:yes"), None, "Ho cancellato tutti i tuoi dati"),
            ("h:999", None, "Non hai ancora casi salvati"),
        ):
            shown = bob.texts()
            assert await bob.press(bob.last(), forge(data), forge=True) == toast, data
            if answer is None:
                assert bob.texts() == shown, data
            else:
                assert answer in bob.last().text, (data, bob.last().text)
            assert user_rows(db, ALICE) == before, data
    assert not any(word in "\n".join(bob.texts()) for word in ALICE_WORDS)
