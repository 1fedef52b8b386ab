"""Once on screen (issue 20): an update handled before is recognised before it is read, a result
reaches the chat once, the live question stays the newest message, late taps are quiet, reminders
come at most once more after a kill, and one user's slow reply never holds back the others.

Real SQLite files and the real python-telegram-bot HTTP stack against the local Bot API server,
polling and webhook alike; "after a restart" is a second bot on the same database (and, for the
reminders, the real `clientcoach run` killed with SIGKILL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest

from botapi import DEFAULT_TOKEN, BotApiServer
from helpers import clean_environment
from tg import TgUser, answer_current, bot_api_server as server, bot_db as db, run_questionnaire, running_bot

ALICE, BOB, ROBOT = 2101, 2102, 2199
MODES = pytest.mark.parametrize("mode", ["polling", "webhook"])
STALE = "Questo pulsante non è più attivo."
FIRED = "SELECT fired FROM reminders WHERE fired IS NOT NULL"


def port(mode: str) -> int | None:
    """A free port for the bot's webhook, or None to poll."""
    if mode == "polling":
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def errors_shown(alice: TgUser) -> int:
    """How many versions of the bot's messages carried an error ("⚠️ Non ho capito...")."""
    return sum("⚠️" in (v.text or "") for m in alice.messages() for v in [*m.history, m])


def stored_state(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        return json.loads(conn.execute("SELECT state FROM conversations WHERE user_id = ?", (ALICE,)).fetchone()[0])


async def until(condition, timeout: float = 20.0) -> None:
    """Wait for `condition()` by looking every 10 ms (for a call in flight: the server's `wait_for`
    looks again only when a call ends)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def after_redelivery(server: BotApiServer, alice: TgUser, update_id: int) -> list[str]:
    """Telegram sends `update_id` again; then /privacy, so that both have been handled on return
    (one user's updates are handled in order). The methods the bot called meanwhile, /privacy's
    own sendMessage included."""
    before = len(server.calls())
    server.redeliver(update_id)
    await alice.say("/privacy")
    return [c.method for c in server.calls()[before:] if c.method not in ("getUpdates", "setWebhook")]


# -- 1. recognised before anything is read from it ---------------------------------------------


@MODES
async def test_a_typed_answer_sent_again_after_a_restart_is_not_parsed_against_the_next_question(server, db, mode):
    alice = TgUser(server, ALICE)
    async with running_bot(server, db, webhook_port=port(mode)):
        await alice.say("/nuovo")
        await alice.say("Studio Rossi")
        typed = server.last_update(ALICE)["update_id"]
        assert "Domanda 2 di" in alice.dialog().text  # a choice question: the name is no answer to it
    state = stored_state(db)
    async with running_bot(server, db, webhook_port=port(mode)):  # as after a kill -9 before the confirmation
        methods = await after_redelivery(server, alice, typed)
    assert errors_shown(alice) == 0, "no false «Non ho capito»"
    assert methods == ["sendMessage"], "only /privacy's answer: the question is on screen already"
    assert stored_state(db) == state


@MODES
async def test_the_same_update_posted_twice_is_handled_once(server, db, mode):
    alice = TgUser(server, ALICE)
    async with running_bot(server, db, webhook_port=port(mode)):
        await alice.say("/aiuto")
        help_text = alice.last().text
        methods = await after_redelivery(server, alice, server.last_update(ALICE)["update_id"])
    assert methods == ["sendMessage"], "only /privacy's answer"
    assert [m.text for m in alice.messages()].count(help_text) == 1


# -- 2. a result reaches the chat once -----------------------------------------------------------


@MODES
async def test_a_finish_sent_again_sends_only_the_result_messages_that_never_arrived(server, db, mode):
    alice = TgUser(server, ALICE)
    cards = lambda: sum("Caso n. 1 salvato" in t for t in alice.texts())  # noqa: E731
    async with running_bot(server, db, webhook_port=port(mode)):
        await run_questionnaire(alice, finish=False)
        review = alice.dialog()
        finish = next(d for label, d in review.buttons if "risultato" in label)
        seen = {"card": False}

        def fail_after_the_card(call) -> None:  # the send after the card fails (a kill would do the same)
            if call.method == "sendMessage" and seen["card"] is True:
                seen["card"] = None
                server.fail_next("sendMessage", error_code=502, description="Bad Gateway")
            if call.method == "sendMessage" and "salvato" in str(call.params.get("text", "")):
                seen["card"] = True

        server.before_call = fail_after_the_card
        await alice.press(review, finish)
        finish_update = server.last_update(ALICE)["update_id"]
        server.before_call = lambda call: None
        first = len(alice.messages())
        assert cards() == 1
    async with running_bot(server, db, webhook_port=port(mode)):
        await after_redelivery(server, alice, finish_update)
    missing = alice.messages()[first:-1]  # up to /privacy's answer
    assert cards() == 1, "the card reached the chat: not sent again"
    assert len(missing) == 2 and missing[0].buttons and "Caso n." not in missing[0].text, "the advice, the script"
    async with running_bot(server, db, webhook_port=port(mode)):  # everything sent: nothing again
        methods = await after_redelivery(server, alice, finish_update)
    assert methods == ["answerCallbackQuery", "sendMessage"] and cards() == 1, "the late answer, then /privacy's"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 1
        sent = conn.execute("SELECT part, message_id FROM result_sends ORDER BY part").fetchall()
    assert [part for part, _ in sent] == [0, 1, 2] and sent[1][1] == missing[0].message_id


async def test_a_double_tap_on_see_the_result_sends_nothing_more(server, db):
    alice = TgUser(server, ALICE)
    async with running_bot(server, db):
        await run_questionnaire(alice, finish=False)
        review = alice.dialog()
        finish = next(d for label, d in review.buttons if "risultato" in label)
        await alice.press(review, finish)
        before = len(alice.messages())
        assert await alice.press(review, finish, forge=True) == STALE
        assert len(alice.messages()) == before


# -- 3. the live question is the newest message --------------------------------------------------


@MODES
async def test_a_tap_on_an_older_copy_of_the_live_question_moves_the_newest_copy(server, db, mode):
    alice = TgUser(server, ALICE)
    async with running_bot(server, db, webhook_port=port(mode)):
        await alice.say("/nuovo")
        await alice.say("Studio Rossi")
        older = alice.dialog()
        await alice.say("/start")  # the live question once more, below (as a restart used to leave it)
        newest = alice.dialog()
        assert newest.message_id > older.message_id and newest.text == older.text
        await alice.press(older, older.buttons[0][1])
        assert alice.dialog().message_id == newest.message_id and "Domanda 3 di" in alice.dialog().text
        assert not next(m for m in alice.messages() if m.message_id == older.message_id).buttons
        await answer_current(alice)  # the next tap works, on the last message
        assert alice.dialog().message_id == newest.message_id and "Domanda 4 di" in alice.dialog().text


# -- 6. quiet logs, no edit that cannot change anything, no bots ----------------------------------


@MODES
async def test_a_tap_sent_again_after_a_restart_is_quiet_and_spends_no_edit(server, db, mode, caplog):
    caplog.set_level(logging.INFO)
    alice = TgUser(server, ALICE)
    async with running_bot(server, db, webhook_port=port(mode)):
        await alice.say("/nuovo")
        await alice.say("Studio Rossi")
        await alice.choose("ongoing")
        tap = server.last_update(ALICE)["update_id"]
    state = stored_state(db)
    async with running_bot(server, db, webhook_port=port(mode)):
        methods = await after_redelivery(server, alice, tap)
    assert methods == ["answerCallbackQuery", "sendMessage"], "the late answer, then /privacy's: no edit"
    assert not [r for r in caplog.records if "too old" in r.getMessage()], "a late answer is a DEBUG line"
    assert stored_state(db) == state


async def test_messages_from_bots_are_ignored(server, db):
    robot = {"id": ROBOT, "is_bot": True, "first_name": "Robot", "username": "robot_bot"}
    async with running_bot(server, db):
        for text in ("/nuovo", "ciao"):
            server.inject_update(
                "message",
                {"message_id": 9, "date": 0, "text": text, "from": robot, "chat": {"id": ROBOT, "type": "private"}},
            )
        await TgUser(server, ALICE).say("/aiuto")  # after the robot's: those have been seen
    assert not [c for c in server.calls("sendMessage") if str(c.params.get("chat_id")) == str(ROBOT)]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 0


# -- 4. one user's slow reply never holds back the offset -----------------------------------------


async def test_a_slow_reply_does_not_hold_back_the_confirmation_of_other_updates(server, db):
    async with running_bot(server, db):
        alice, bob = TgUser(server, ALICE), TgUser(server, BOB)
        await alice.say("/aiuto")
        await bob.say("/aiuto")
        server.slow_next("sendMessage", 3.0)  # Alice's next reply takes 3 s to leave
        await server.send_text(ALICE, "/privacy")
        await until(lambda: server.calls("sendMessage")[-1].status is None)  # Alice's, in flight
        await server.send_text(BOB, "/privacy")
        await server.wait_for(lambda: len(bob.messages()) == 2, 2)
        await server.wait_for(lambda: server.pending_updates() == 0, 2)  # confirmed while Alice's is in hand
        assert len(alice.messages()) == 1, "Alice's reply is still on its way"
        await server.wait_for(lambda: len(alice.messages()) == 2, 5)


# -- 5. reminders: at most one extra copy after kills ----------------------------------------------


async def test_a_reminder_records_the_message_it_sent(server, db):
    from contextlib import closing

    from test_telegram_cases import FLOW, GRATIS, RENDERER, make_case

    from bot.casebook import CaseBook
    from bot.store import Store, utcnow

    case_no = make_case(db, ALICE, GRATIS)
    with closing(Store.open(db)) as store:
        CaseBook(store, FLOW, RENDERER).remind(ALICE, case_no, "3g", "it")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE reminders SET due = ?", (utcnow(),))
    alice = TgUser(server, ALICE)
    async with running_bot(server, db):
        await alice.say("/aiuto")
        await server.wait_for(lambda: any("Promemoria" in (m.text or "") for m in alice.messages()), 10)
        message = next(m for m in alice.messages() if "Promemoria" in (m.text or ""))
        read = "SELECT fired, message_id, attempts FROM reminders"
        await server.wait_for(lambda: sqlite3.connect(db).execute(read).fetchone()[0], 5)
    with sqlite3.connect(db) as conn:
        fired, message_id, attempts = conn.execute(read).fetchone()
    assert fired and message_id == message.message_id and attempts == 1


@pytest.mark.slow
async def test_a_reminder_killed_in_its_send_again_and_again_comes_at_most_twice(tmp_path):
    from contextlib import closing

    from test_telegram_cases import FLOW, GRATIS, RENDERER, make_case

    from bot.casebook import CaseBook
    from bot.store import Store, utcnow

    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    case_no = make_case(db, ALICE, GRATIS)
    with closing(Store.open(db)) as store:
        CaseBook(store, FLOW, RENDERER).remind(ALICE, case_no, "3g", "it")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE reminders SET due = ?", (utcnow(),))
    async with BotApiServer() as server:
        env = clean_environment(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, CLIENTCOACH_DB=str(db), TELEGRAM_API_URL=server.root)
        await server.send_text(ALICE, "/aiuto")  # the chat is open; the update is confirmed, as long ago
        async with httpx.AsyncClient(trust_env=False) as client:
            await client.get(f"{server.root}/bot{DEFAULT_TOKEN}/getUpdates", params={"offset": -1})
            await client.get(f"{server.root}/bot{DEFAULT_TOKEN}/getUpdates", params={"offset": 10**6})
        reminders = lambda: [m for m in server.chat(ALICE) if "Promemoria" in (m.text or "")]  # noqa: E731
        for kill in range(3):
            with log.open("ab") as out:
                bot = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "--create", "run", env=env, cwd=tmp_path, stdout=out, stderr=out
                )
            if kill < 2:  # frozen as the reminder reaches Telegram, then killed: its record never comes

                def freeze(call, pid=bot.pid) -> None:
                    if call.method == "sendMessage" and "Promemoria" in str(call.params.get("text", "")):
                        os.kill(pid, signal.SIGSTOP)

                server.before_call = freeze
                await server.wait_for(lambda kill=kill: len(reminders()) == kill + 1, 20)
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
                server.before_call = lambda call: None
            else:
                await until(lambda: sqlite3.connect(db).execute(FIRED).fetchone())  # its job has run
                await asyncio.sleep(0.5)  # a send, if any, would have reached the server by now
                bot.send_signal(signal.SIGTERM)
                await bot.wait()
        delivered = len(reminders())
    assert delivered == 2, f"the reminder arrived {delivered} times: not a third time, and no longer pending"


@pytest.mark.slow
async def test_a_step_confirmed_while_its_edit_waits_for_the_pace_is_shown_after_a_kill(tmp_path):
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    async with BotApiServer() as server:
        env = clean_environment(TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN, CLIENTCOACH_DB=str(db), TELEGRAM_API_URL=server.root)

        async def start() -> asyncio.subprocess.Process:
            with log.open("ab") as out:
                return await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "--create", "run", env=env, cwd=tmp_path, stdout=out, stderr=out
                )

        def dialog():
            return next(m for m in reversed(server.chat(ALICE)) if (m.buttons[0][1] or "").startswith("q:"))

        def moved(question) -> bool:
            return dialog().edits > question.edits or dialog().message_id != question.message_id

        bot = await start()
        await server.send_text(ALICE, "/nuovo")
        await server.wait_for(lambda: server.chat(ALICE), 20)
        await server.send_text(ALICE, "Studio Rossi")
        await server.wait_for(lambda: "Domanda 2 di" in dialog().text, 10)
        # Telegram's pace (1 message a second in a chat, after a burst of 3): taps in a row soon wait for it.
        for _ in range(3):
            question = dialog()
            await server.press_button(ALICE, question.message_id, question.buttons[0][1])
            await server.wait_for(lambda q=question: moved(q), 10)
        question, edits = dialog(), dialog().edits
        await server.press_button(ALICE, question.message_id, question.buttons[0][1])
        await until(lambda: server.pending_updates() == 0 or dialog().edits > edits)
        assert dialog().edits == edits, "confirmed to Telegram while its edit waits for the chat's pace"
        bot.send_signal(signal.SIGKILL)
        await bot.wait()
        with sqlite3.connect(db) as conn:
            step = json.loads(conn.execute("SELECT state FROM conversations").fetchone()[0])["step"]
        bot = await start()
        await server.wait_for(lambda: dialog().edits > edits, 20)  # shown after the restart, the user doing nothing
        bot.send_signal(signal.SIGTERM)
        await bot.wait()
    assert f":{step}:" in dialog().buttons[0][1], "the step saved is the step shown"
