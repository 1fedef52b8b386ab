"""The bot under faults (issue 10), in process: poison updates, late callback answers, restarts,
edited and hostile input, groups, strangers, the webhook's guards, UTF-16 lengths.

Everything goes through the real python-telegram-bot HTTP stack against the local Bot API server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import httpx
import pytest
import sqlite_utils

from bot.actions import ConfirmDeleteAll, decode
from bot.render import Screen
from bot.store import Store
from bot.telegram.cases import schedule, stamp_destructive
from bot.telegram.messages import send, telegram_parts, utf16_len
from bot.telegram.updates import ALLOWED_UPDATES, HOLD_LIMIT, UpdateLedger

from botapi import DEFAULT_TOKEN, BotApiServer
from tg import (
    WEBHOOK_SECRET,
    TgUser,
    answer_current,
    bot_api_server as server,
    bot_db as db,
    run_questionnaire,
    running_bot,
)

ALICE, BOB, GROUP = 2001, 2002, -100777
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tracebacks(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def user(uid: int, **extra) -> dict:
    return {"id": uid, "is_bot": False, "first_name": f"User{uid}", "language_code": "it", **extra}


def group_message(server: BotApiServer, uid: int, text: str) -> dict:
    """A message in a group the bot is in (the test server has no groups: injected as Telegram sends it)."""
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
    return server.inject_update(
        "message",
        {
            "message_id": 5,
            "date": 0,
            "from": user(uid),
            "text": text,
            "entities": entities,
            "chat": {"id": GROUP, "type": "supergroup", "title": "Soci"},
        },
    )


# -- 1. a poison update never stops the bot ----------------------------------------------------

POISON = {
    # PTB 22.8 requires option_persistent_ids (Bot API 9.6): an older server's poll_answer can't be read.
    "poll_answer": {"poll_id": "1", "user": user(ALICE, first_name="Segreto"), "option_ids": [0]},
    # A message whose chat has no type: the library can't build it either.
    "message": {"message_id": 77, "date": 0, "chat": {"id": ALICE}, "from": user(ALICE), "text": "Segreto"},
}


@pytest.mark.parametrize("kind", sorted(POISON))
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_update_the_library_cannot_read_is_skipped_and_the_next_is_served(server, db, caplog, kind, mode):
    caplog.set_level(logging.INFO)
    port = free_port() if mode == "webhook" else None
    # Every type subscribed, to show the skip itself (by default the bot never even asks for poll_answer).
    async with running_bot(server, db, webhook_port=port, allowed_updates=None):
        alice = TgUser(server, ALICE)
        await alice.say("/start")
        poison = server.inject_update(kind, POISON[kind])
        await alice.say("/nuovo")
        assert "Domanda 1 di" in alice.dialog().text, "the update after the poison one is served"
        await alice.say("Studio Rossi")
        assert "Domanda 2 di" in alice.dialog().text
    skipped = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert skipped == [f"update {poison['update_id']} skipped: it could not be read (TypeError)"], skipped
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]
    assert "Segreto" not in caplog.text, "an update's content never reaches the logs"


async def test_the_bot_asks_only_for_the_update_types_it_handles(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/start")
        server.inject_update("poll_answer", POISON["poll_answer"])
        server.inject_update("edited_message", {**POISON["message"], "chat": {"id": ALICE, "type": "private"}})
        await alice.say("/nuovo")
        assert "Domanda 1 di" in alice.dialog().text
    asked = {tuple(json.loads(c.params["allowed_updates"])) for c in server.calls("getUpdates")}
    assert asked == {tuple(ALLOWED_UPDATES)}, asked
    assert set(ALLOWED_UPDATES) == {"message", "callback_query"}


# -- 2. what the user sees is what was saved ---------------------------------------------------


async def test_a_late_callback_answer_never_skips_the_edit_or_the_result(server, db, caplog):
    caplog.set_level(logging.INFO)
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        await alice.say("Studio Rossi")
        server.fail_next("answerCallbackQuery", error_code=400, description=TOO_OLD)
        query = await server.press_button(ALICE, alice.dialog().message_id, alice.buttons()[0][1])
        await server.wait_for(lambda: "Domanda 3 di" in alice.dialog().text, 5)
        while await answer_current(alice):
            pass
        server.fail_next("answerCallbackQuery", error_code=400, description=TOO_OLD)
        review = alice.dialog()
        finish = next(d for label, d in review.buttons if "risultato" in label)
        await server.press_button(ALICE, review.message_id, finish)
        await server.wait_for(lambda: any("Caso n. 1 salvato" in t for t in alice.texts()), 5)
        assert query
    too_old = [r for r in caplog.records if "query is too old" in r.getMessage().lower()]
    assert len(too_old) == 2 and not any(r.exc_info for r in too_old), "one line each, no traceback"
    assert not tracebacks(caplog)


async def test_a_question_left_behind_what_was_saved_is_brought_up_to_date_on_the_next_tap(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        await alice.say("Studio Rossi")
        await alice.choose("ongoing")
        question = alice.dialog()
        assert "Domanda 3 di" in question.text
        # The step is saved, then the edit is lost (as when the bot is killed between the two).
        server.fail_next("editMessageText", error_code=502, description="Bad Gateway")
        await alice.choose("free")
        state = sqlite_utils.Database(db)["conversations"].get(ALICE)["state"]
        assert json.loads(state)["answers"]["payment"] == "free"
        assert "Domanda 3 di" in alice.dialog().text, "the screen is behind what was saved"
        toast = await alice.press(alice.dialog(), question.buttons[1][1])  # the user taps again
        assert toast is None
        assert "Domanda 4 di" in alice.dialog().text and alice.dialog().message_id == question.message_id
        assert sqlite_utils.Database(db)["conversations"].get(ALICE)["state"] == state, "the old tap changed nothing"


# A finish Telegram sends again after a restart: tests/test_telegram_once.py (only what is missing).


async def test_a_finish_tapped_again_after_a_restart_shows_the_result_it_saved(server, db):
    # The kill -9 campaign's one dead button: the case saved, the bot killed before the result was
    # sent and the update confirmed lost; the user taps "see the result" again on the review.
    alice = TgUser(server, ALICE)
    results = lambda: sum("salvato" in t for t in alice.texts())  # noqa: E731
    async with running_bot(server, db) as app:
        await run_questionnaire(alice, finish=False)
        review = alice.dialog()
        finish = next(d for label, d in review.buttons if "risultato" in label)
        tapped = decode(finish)
        saved = app.bot_data["coach"].act(
            ALICE, tapped.move, conversation=tapped.conversation, step=tapped.step, update_id=10**9
        )
        assert saved.case_no == 1 and results() == 0
    async with running_bot(server, db):
        toast = await alice.press(review, finish)
        assert toast is None and results() == 1, "the result of the saved case, not a dead button"
        assert alice.texts()[-3:] and "Caso n. 1 salvato" in " ".join(alice.texts())
        toast = await alice.press(review, finish, forge=True)  # a double tap on what is now the result
        assert toast == "Questo pulsante non è più attivo." and results() == 1
    assert len(list(sqlite_utils.Database(db)["cases"].rows)) == 1, "the case is saved once"


async def test_edited_messages_are_never_taken_as_answers(server, db, caplog):
    async with running_bot(server, db, allowed_updates=None):  # even when Telegram sends them
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        typed = await server.send_text(ALICE, "Studio Rossi")
        await server.wait_for(lambda: "Domanda 2 di" in alice.dialog().text, 5)
        before = (sqlite_utils.Database(db)["conversations"].get(ALICE)["state"], len(server.calls()))
        for text in ("Altro nome", "/nuovo", "/cancellatutto"):
            server.inject_update("edited_message", {**typed, "text": text, "edit_date": 1})
        await alice.say("/aiuto")  # handled after the edits: they have been seen and ignored
        assert sqlite_utils.Database(db)["conversations"].get(ALICE)["state"] == before[0]
        methods = [c.method for c in server.calls()[before[1] :] if c.method != "getUpdates"]
        assert methods == ["sendMessage"], methods  # only the answer to /aiuto
    assert not tracebacks(caplog)


async def test_in_groups_and_channels_commands_and_buttons_do_nothing(server, db, caplog):
    async with running_bot(server, db, allowed_updates=None):
        alice = TgUser(server, ALICE)
        await run_questionnaire(alice)
        before = len(server.calls())
        for text in ("/storico", "/caso 1", "/cancellatutto", "/nuovo", "Studio Rossi"):
            group_message(server, ALICE, text)
        server.inject_update(
            "callback_query",
            {
                "id": "g1",
                "from": user(ALICE),
                "chat_instance": "9",
                "data": stamp_destructive(ConfirmDeleteAll()).encode(),
                "message": {"message_id": 5, "date": 1, "chat": {"id": GROUP, "type": "supergroup", "title": "Soci"}},
            },
        )
        server.inject_update(
            "channel_post",
            {
                "message_id": 6,
                "date": 0,
                "text": "/storico",
                "chat": {"id": -100888, "type": "channel", "title": "News"},
            },
        )
        await alice.say("/aiuto")
        sent = [c for c in server.calls()[before:] if c.method not in ("getUpdates", "answerCallbackQuery")]
        assert [c.params.get("chat_id") for c in sent] == [str(ALICE)] or [c.params.get("chat_id") for c in sent] == [
            ALICE
        ]
        assert len(list(sqlite_utils.Database(db)["cases"].rows)) == 1, "nothing erased from a group"
    assert not tracebacks(caplog)


async def test_a_stranger_gets_one_refusal_per_period_and_none_in_groups(server, db):
    async with running_bot(server, db, allowed=frozenset({ALICE}), allowed_updates=None):
        for text in ("/start", "/nuovo", "ciao", "/storico", "ancora"):
            await server.send_text(BOB, text)
        group_message(server, BOB, "/nuovo")
        alice = TgUser(server, ALICE)
        await alice.say("/aiuto")  # after BOB's flood: everything of his has been handled
        refusals = [m for m in server.chat(BOB) if "riservato" in (m.text or "")]
        assert len(refusals) == 1
        assert not [c for c in server.calls("sendMessage") if str(c.params.get("chat_id")) == str(GROUP)]


# -- edges: no tracebacks ------------------------------------------------------------------------


async def test_hostile_edges_give_no_tracebacks(server, db, caplog):
    caplog.set_level(logging.INFO)
    async with running_bot(server, db, allowed_updates=None):
        alice = TgUser(server, ALICE)
        await run_questionnaire(alice)
        card = alice.messages()[-1]
        for data in (
            "c:#1",
            "c:-1",
            "s:" + "9" * 40 + ":1:firmer:tu",
            "s:1:" + "9" * 30 + ":softer:lei",
            "q:zz:" + "9" * 50 + ":back",
            "h:99999999999999999999",
            "o:1:\ud800",
            "\udfff",
        ):
            await alice.press(card, data, forge=True)
        await alice.say("/nota 1 appunto \ud83d con una surrogata sola")
        await alice.say("/nuovo")
        await alice.say("Studio \udc00 Rossi")
        assert "Domanda 2 di" in alice.dialog().text
        server.inject_update(
            "message",
            {
                "message_id": 90,
                "date": 0,
                "text": "/storico",
                "chat": {"id": ALICE, "type": "private", "first_name": "A"},
            },
        )  # no from
        server.inject_update(
            "callback_query",
            {
                "id": "inl1",
                "from": user(ALICE),
                "chat_instance": "1",
                "inline_message_id": "AAAA",
                "data": "s:1:1:firmer:tu",
            },
        )
        server.inject_update(
            "callback_query",
            {
                "id": "old1",
                "from": user(ALICE),
                "chat_instance": "1",
                "data": alice.buttons()[0][1],
                "message": {
                    "message_id": alice.dialog().message_id,
                    "date": 0,
                    "chat": {"id": ALICE, "type": "private"},
                },
            },
        )
        await alice.say("/storico")
        assert "Studio Rossi" in alice.last().text
    assert not tracebacks(caplog), tracebacks(caplog)


# -- the webhook's guards ----------------------------------------------------------------------------


async def announce_big_body(port: int, headers: dict[str, str]) -> int:
    """POST with Content-Length 90 MB but only 64 KB of it; the status the server answers with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head}"
        f"Content-Length: {90 * 2**20}\r\n\r\n".encode()
        + b" " * 65536
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return int(status.split()[1])


async def test_the_webhook_checks_the_secret_and_caps_the_body_before_reading_it(server, db, caplog):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    async with running_bot(server, db, webhook_port=port):
        # 90 MB announced, 64 KB sent: the answer comes without the server waiting for the rest.
        no_secret = await announce_big_body(port, {})
        too_big = await announce_big_body(port, {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            json_type = {"Content-Type": "application/json"}
            wrong = await client.post(
                url, content=b"{}", headers=json_type | {"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            secret = json_type | {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
            bad_json = await client.post(url, content=b"{not json", headers=secret)
            not_update = await client.post(url, content=b"[1, 2]", headers=secret)
            health = await client.get(f"http://127.0.0.1:{port}/healthz")
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")  # still serving
        assert "Domanda 1 di" in alice.dialog().text
    assert (no_secret, wrong.status_code) == (403, 403), "the secret is checked before the body is read"
    assert too_big == 413
    assert (bad_json.status_code, not_update.status_code) == (400, 400)
    assert (health.status_code, health.text) == (200, "ok")
    assert not tracebacks(caplog)


async def test_a_webhook_flood_with_and_without_the_secret(server, db, caplog):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    async with running_bot(server, db, webhook_port=port):
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:

            def update(i: int, secret: str):
                return client.post(url, json=message(i), headers={"X-Telegram-Bot-Api-Secret-Token": secret})

            def message(i: int) -> dict:
                return {
                    "update_id": 10_000 + i,
                    "message": {
                        "message_id": i,
                        "date": 0,
                        "text": "ciao",
                        "from": user(BOB),
                        "chat": {"id": BOB, "type": "private", "first_name": "B"},
                    },
                }

            forged = await asyncio.gather(*(update(i, "wrong") for i in range(200)))
            assert {r.status_code for r in forged} == {403}
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        assert "Domanda 1 di" in alice.dialog().text
        assert not server.chat(BOB), "no forged update was handled"
    assert not tracebacks(caplog)


# -- UTF-16 lengths and the split in the send path ---------------------------------------------------


def test_parts_fit_telegrams_utf16_limit_even_when_emoji_heavy():
    text = "\n\n".join("💬" * 900 for _ in range(6))  # 5,400 code points, 10,800 UTF-16 units
    parts = telegram_parts(text)
    assert len(parts) > 1 and max(utf16_len(p) for p in parts) <= 4096
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert utf16_len("a💬") == 3


async def test_a_long_screen_is_sent_in_parts_that_telegram_accepts(server, db):
    paragraphs = [f"<b>Punto {i}</b> " + "parola 😀 " * 60 for i in range(30)]
    screen = Screen("notice", "\n\n".join(paragraphs))
    async with running_bot(server, db) as app:
        await server.send_text(ALICE, "/start")
        await TgUser(server, ALICE).settle(lambda: server.chat(ALICE))
        before = len(server.chat(ALICE))
        await send(app.bot, ALICE, screen)
    sent = server.chat(ALICE)[before:]
    assert len(sent) >= 3, "split at paragraphs, under 4096 UTF-16 units each"
    assert all(m.text for m in sent) and not [c for c in server.calls("sendMessage") if c.error]
    assert "Punto 0" in sent[0].text and "Punto 29" in sent[-1].text


async def test_a_case_with_an_emoji_heavy_note_is_shown_whole_with_its_advice_and_scripts(server, db):
    from contextlib import closing

    from test_telegram_cases import FLOW, GRATIS, RENDERER, make_case

    from bot.casebook import CaseBook
    from bot.store import Store

    case_no = make_case(db, ALICE, GRATIS)
    with closing(Store.open(db)) as store:  # under 4096 characters, well over 4096 UTF-16 units
        CaseBook(store, FLOW, RENDERER).add_note(ALICE, case_no, "🔥" * 1990, "it")
    async with running_bot(server, db) as app:
        alice = TgUser(server, ALICE)
        await alice.say("/start")
        before = len(server.calls("sendMessage"))
        await alice.say(f"/caso {case_no}")
        advice = app.bot_data["casebook"].case_view(ALICE, case_no)[3:]
    sent = server.calls("sendMessage")[before:]
    assert not [c.error for c in sent if c.error], "every part fits Telegram's limit"
    assert len(sent) >= len(advice) + 2, "the case (in parts), then its advice and scripts"
    assert "🔥" in "".join(c.params.get("text", "") for c in sent)


async def test_a_reminder_is_marked_sent_only_once_telegram_accepted_it(server, db):
    from contextlib import closing

    from test_telegram_cases import FLOW, GRATIS, RENDERER, make_case

    from bot.casebook import CaseBook
    from bot.store import Store, utcnow

    case_no = make_case(db, ALICE, GRATIS)
    with closing(Store.open(db)) as store:
        CaseBook(store, FLOW, RENDERER).remind(ALICE, case_no, "3g", "it")
    with sqlite_utils.Database(db).conn as conn:
        conn.execute("UPDATE reminders SET due = ?", (utcnow(),))  # due now
    fired = lambda: sqlite_utils.Database(db).execute("SELECT fired FROM reminders").fetchone()[0]  # noqa: E731
    async with running_bot(server, db) as app:
        alice = TgUser(server, ALICE)
        await alice.say("/start")  # the reminder armed at start fires about now
        book = app.bot_data["casebook"]
        await server.wait_for(fired, 10)  # sent, then marked
        with sqlite_utils.Database(db).conn as conn:
            conn.execute("UPDATE reminders SET fired = NULL, due = ?", (utcnow(),))
        server.fail_next("sendMessage", error_code=502, description="Bad Gateway")
        schedule(app, book.pending_reminders()[0])  # as at the next start
        await server.wait_for(lambda: [c for c in server.calls("sendMessage") if c.status == 502], 10)
        await asyncio.sleep(0.3)
        assert fired() is None, "a reminder Telegram did not take stays pending"
        schedule(app, book.pending_reminders()[0])
        await server.wait_for(fired, 10)


def test_the_ledger_confirms_only_handled_updates_and_skips_poison():
    ledger = UpdateLedger()
    message = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
    raw = [
        {"update_id": 5, "message": message},
        {"update_id": 6, "poll_answer": {"poll_id": "1", "option_ids": [0]}},
        {"update_id": 7, "message": message},
    ]
    updates, waiting = ledger.parse(raw, None)
    assert [u.update_id for u in updates] == [5, 7] and not waiting
    assert ledger.offset() == 5, "nothing handled yet: Telegram keeps all three"
    ledger.done(7)
    assert ledger.offset() == 5
    assert ledger.parse(raw, None) == ([], True), "a second answer with the same updates hands out nothing"
    ledger.done(5)
    assert ledger.offset() == 8, "all handled (or skipped): confirmed"
    crowd = [{"update_id": 100 + i, "message": message} for i in range(HOLD_LIMIT)]
    ledger.parse(crowd, None)
    assert ledger.offset() == 100 + HOLD_LIMIT, "a crowd in hand is confirmed so new taps are seen"


def test_an_update_in_hand_is_recorded_before_it_is_confirmed_and_released_once_handled(tmp_path):
    store = Store.open(tmp_path / "bot.db")
    ledger = UpdateLedger(store)
    message = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
    batch = [{"update_id": 100 + i, "message": message} for i in range(3)]
    ledger.parse(batch, None)
    assert ledger.offset() == 100 and store.held_updates() == [], "in hand: not confirmed, nothing written"
    ledger.done(101)
    assert store.handled_updates([100, 101, 102]) == {101}, "handled: recorded as such"
    ledger.hold()  # still in hand when the next getUpdates is due (a slow reply): recorded, then confirmed
    held = store.held_updates()
    assert [i for i, _ in held] == [100, 102] and json.loads(held[1][1]) == batch[2], "as Telegram sent it"
    assert ledger.offset() == 103
    ledger.done(100)
    ledger.done(102)
    assert store.held_updates() == [], "handled: what the user typed is not kept"
    fresh = UpdateLedger(store)  # after a restart, Telegram sends 101 again: recognised, not handled as new
    updates, _ = fresh.parse([{"update_id": 101, "message": message}, {"update_id": 103, "message": message}], None)
    assert [u.update_id for u in updates] == [101, 103] and fresh.redelivered == {101}
    assert fresh.offset() == 103, "101 is recorded (handled before): only 103 is held back"
    store.close()


async def test_updates_held_when_the_bot_stopped_are_handled_first_at_the_next_start(server, db):
    """A kill -9 after a crowd was confirmed early: Telegram will not send those updates again."""
    alice = TgUser(server, ALICE)
    async with running_bot(server, db):
        await alice.say("/aiuto")
    await server.send_text(ALICE, "/nuovo")  # fetched, confirmed early and held by a bot then killed:
    held = server.last_update()
    async with httpx.AsyncClient(trust_env=False) as client:
        await client.get(f"{server.root}/bot{DEFAULT_TOKEN}/getUpdates", params={"offset": held["update_id"] + 1})
    assert server.pending_updates() == 0, "Telegram has it confirmed: it will not come again"
    store = Store.open(db)
    store.hold_updates([(held["update_id"], json.dumps(held))])
    store.close()
    async with running_bot(server, db):
        await server.wait_for(lambda: any("Domanda 1 di" in (m.text or "") for m in alice.messages()), 10)
        await alice.say("/aiuto")  # and the bot goes on with new updates
    assert Store.open(db).held_updates() == [], "handled, then released"


def hostile_corpus() -> list[tuple[str, dict]]:
    """Every update type Telegram has, each plausible (private, group, channel, no sender, a
    forged button, an edit) and malformed ({}), as (type, payload)."""
    from telegram import Update

    alice, private = user(ALICE), {"id": ALICE, "type": "private", "first_name": "A"}
    group, channel = (
        {"id": GROUP, "type": "supergroup", "title": "Soci"},
        {"id": -100888, "type": "channel", "title": "N"},
    )
    message = {
        "message_id": 3,
        "date": 0,
        "text": "/cancellatutto",
        "entities": [{"type": "bot_command", "offset": 0, "length": 14}],
    }
    plausible = {
        "message": [
            {**message, "from": alice, "chat": group},
            {**message, "chat": private},  # a group; no from
            {**message, "from": alice, "chat": private, "text": "\ud800", "entities": []},
        ],
        "edited_message": [{**message, "from": alice, "chat": private, "edit_date": 1}],
        "channel_post": [{**message, "chat": channel}],
        "edited_channel_post": [{**message, "chat": channel, "edit_date": 1}],
        "business_message": [{**message, "from": alice, "chat": private, "business_connection_id": "b"}],
        "callback_query": [
            {"id": "f1", "from": alice, "chat_instance": "1", "data": "x:all:yes@0"},
            {"id": "f2", "from": alice, "chat_instance": "1", "game_short_name": "g"},
            {
                "id": "f3",
                "from": alice,
                "chat_instance": "1",
                "data": "c:" + "9" * 80,
                "message": {"message_id": 1, "date": 0, "chat": private},
            },
        ],
        "inline_query": [{"id": "i", "from": alice, "query": "Rossi", "offset": ""}],
        "poll_answer": [{"poll_id": "1", "user": alice, "option_ids": [0]}],
        "my_chat_member": [
            {
                "chat": group,
                "from": alice,
                "date": 0,
                "old_chat_member": {"status": "left", "user": alice},
                "new_chat_member": {"status": "member", "user": alice},
            }
        ],
        "message_reaction": [
            {
                "chat": private,
                "message_id": 1,
                "date": 0,
                "user": alice,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            }
        ],
    }
    corpus = [(kind, {}) for kind in Update.ALL_TYPES]
    for kind, payloads in plausible.items():
        corpus += [(kind, payload) for payload in payloads]
    return corpus


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_the_hostile_update_corpus_gives_no_tracebacks_and_changes_nothing(server, db, caplog, mode):
    from test_telegram_cases import GRATIS, make_case

    make_case(db, ALICE, GRATIS)
    corpus = hostile_corpus()
    port = free_port() if mode == "webhook" else None
    async with running_bot(server, db, webhook_port=port, allowed_updates=None):
        alice = TgUser(server, ALICE)
        await alice.say("/start")
        before = len(server.calls())
        for kind, payload in corpus:
            server.inject_update(kind, payload)
        await alice.say("/storico")
        assert "Studio Rossi" in alice.last().text, "the case is still there and the bot still serves"
        sent = [c for c in server.calls()[before:] if c.method not in ("getUpdates", "answerCallbackQuery")]
        assert {str(c.params.get("chat_id")) for c in sent} <= {str(ALICE)}
    assert len(corpus) >= 35 and not tracebacks(caplog), tracebacks(caplog)


async def test_profile_command_shows_and_sets_the_senders_profile_in_private_chats_only(server, db, caplog):
    async with running_bot(server, db, allowed_updates=None):
        alice = TgUser(server, ALICE)
        await alice.say("/profilo")
        shown = alice.last().text
        assert shown and "non conosco" not in shown.lower()
        await alice.say("/profilo nome Giulia Bianchi")
        assert "Giulia Bianchi" in alice.last().text
        await alice.say("/profilo colore blu")
        assert "Non conosco questo campo" in alice.last().text
        group_message(server, ALICE, "/profilo nome Intruso")
        await alice.say("/profile")
        assert "Giulia Bianchi" in alice.last().text and "Intruso" not in alice.last().text
    menu = [c["command"] for c in server.commands("it")]
    assert "profilo" in menu and not tracebacks(caplog)


async def test_the_stops_own_last_getupdates_ending_the_long_poll_is_no_error():
    """Stopping, the bot's last getUpdates (the one that confirms what was handled) makes the server
    end the long poll still open with «terminated by other getUpdates request»: that is the stop
    itself, so the poll ends empty instead of leaving an unretrieved error in the log. Without the
    stop under way, the same answer means a second bot, and is still raised."""
    from telegram import Bot
    from telegram.error import Conflict
    from telegram.request import HTTPXRequest

    from bot.telegram.updates import PollingBot

    async def polling(server: BotApiServer) -> None:
        """Until a long poll is open (the server records the call, then the poll begins: let it)."""
        for _ in range(500):  # wait_for looks after each call ends: this one has to be seen in flight
            if any(c.status is None for c in server.calls("getUpdates")):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)

    async with BotApiServer() as server:
        # Two connections for getUpdates, as the bot has (the stop's call must not wait for the long poll).
        polls = HTTPXRequest(connection_pool_size=2, read_timeout=10)
        async with Bot(server.token, base_url=f"{server.root}/bot", get_updates_request=polls) as bot:
            poller = PollingBot(bot, UpdateLedger(), on_unauthorized=lambda: None)
            long_poll = asyncio.create_task(poller.fetch(None, 100, 5, ALLOWED_UPDATES))
            await polling(server)
            await poller.fetch(None, 1, 0, ALLOWED_UPDATES)
            with pytest.raises(Conflict):  # not stopping: a second poller is another bot
                await long_poll
            long_poll = asyncio.create_task(poller.fetch(None, 100, 5, ALLOWED_UPDATES))
            await polling(server)
            poller.closed = True  # what the stop does first
            await poller.fetch(None, 1, 0, ALLOWED_UPDATES)
            assert await long_poll == []
