"""The bot on Telegram, end to end: the real Application over loopback HTTP against the local Bot API server."""

from __future__ import annotations

import re

import pytest
import sqlite_utils

from botapi import BotApiServer
from helpers import FLOW
from tg import (
    GRATIS_RUN,
    TgUser,
    answer_current,
    bot_api_server as server,
    bot_db as db,
    run_questionnaire,
    running_bot,
)

ALICE, BOB = 1001, 1002


async def test_start_explains_and_the_commands_are_registered_in_both_languages(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/start")
        assert "clientcoach" in alice.last().text and "Privacy" in alice.last().text
    italian = [c["command"] for c in server.commands("it")]
    english = {c["command"]: c["description"] for c in server.commands("en")}
    assert {"nuovo", "annulla", "indietro", "rivedi", "aiuto", "lingua", "privacy", "storico"} <= set(italian)
    assert english["nuovo"].startswith("New") and server.commands("")


async def test_a_full_questionnaire_by_buttons_in_italian(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await run_questionnaire(alice)
        texts = alice.texts()
    card_at = next(i for i, t in enumerate(texts) if "Caso n. 1 salvato" in t)
    result = server.chat(ALICE)[card_at:]
    assert "profilo Gratis" in result[0].text
    assert len(result) <= 3, "the result is at most three messages: card, advice, first script"
    scripts = [m for m in result if any(d.startswith("s:1:") for _, d in m.buttons)]
    assert len(scripts) == 1 and any("più fermo" in label for label, _ in scripts[0].buttons)
    extras = [(m, d) for m in result for _, d in m.buttons if d.startswith("x:1:")]
    assert extras, "the rest of the result is on demand"
    message, data = extras[0]
    before = len(server.chat(ALICE))
    async with running_bot(server, db):
        assert await alice.press(message, data) is None  # routed to the Coach's extras, not the case book
    assert len(server.chat(ALICE)) > before and len(list(sqlite_utils.Database(db)["cases"].rows)) == 1
    rows = list(sqlite_utils.Database(db)["cases"].rows)
    assert [(r["user_id"], r["case_no"], r["main"]) for r in rows] == [(ALICE, 1, "gratis")]
    assert not list(sqlite_utils.Database(db)["conversations"].rows), "the finished conversation is closed"


async def test_a_full_questionnaire_in_english_follows_the_users_language(server, db):
    async with running_bot(server, db):
        bob = TgUser(server, BOB, language_code="en")
        await run_questionnaire(bob)
    joined = "\n".join(bob.texts())
    assert "Case no. 1 saved" in joined and "profile Free-rider" in joined and "€1,200.00" in joined


async def test_the_question_is_edited_in_place_with_progress(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        await alice.say("Rossi")
        first = alice.dialog()
        assert "Domanda 2 di" in first.text
        await alice.choose("ongoing")
        assert alice.dialog().message_id == first.message_id, "a tapped answer edits the same message"
        assert "Domanda 3 di" in alice.dialog().text
        await alice.choose("full")
        assert alice.dialog().message_id == first.message_id
        assert "Domanda 4 di" in alice.dialog().text
        calls = [c.method for c in server.calls() if c.method != "getUpdates"]
        assert "answerCallbackQuery" in calls


async def test_back_skip_cancel_and_review_change(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        await alice.tap("Salta")  # the alias is optional
        await alice.choose("ongoing")
        await alice.choose("full")
        assert "Come ti paga" not in alice.dialog().text and "Domanda 4 di" in alice.dialog().text
        await alice.tap("Indietro")
        assert "Come ti paga" in alice.dialog().text
        await alice.tap("Indietro")
        assert "Che tipo di rapporto" in alice.dialog().text
        await alice.tap("Indietro")
        assert "Come vuoi chiamare" in alice.dialog().text
        assert not any("Indietro" in label for label, _ in alice.buttons()), "no back button on the first question"
        await alice.say("/indietro")
        assert "prima domanda" in alice.dialog().text and "Come vuoi chiamare" in alice.dialog().text
        while await answer_current(alice):
            pass
        assert "Riepilogo" in alice.dialog().text
        await alice.tap("Come paga")
        assert "Risposta attuale" in alice.dialog().text
        await alice.choose("full")  # the free-work questions drop out and the balance joins the branch
        assert "Rispetto a quello che ti porta" in alice.dialog().text
        await alice.choose("even")  # then straight back to the review
        review = alice.dialog().text
        assert "Riepilogo" in review and "Il prezzo pieno" in review
        assert FLOW.questions["free_attitude"].short["it"] not in review, "the free-work questions dropped out"
        assert FLOW.questions["price"].short["it"] not in review
        await alice.say("/annulla")
        assert "annullato" in alice.last().text
    assert not list(sqlite_utils.Database(db)["cases"].rows)


async def test_a_wrong_typed_answer_gets_one_clear_reprompt(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        while alice.state().at != "price":  # a question that wants an amount
            await answer_current(alice)
        question = alice.dialog().text
        await alice.say("tre")
        assert alice.dialog().text.startswith(question) and "⚠️" in alice.dialog().text
        await alice.say("x" * 5000)
        assert alice.dialog().text.startswith(question) and "⚠️" in alice.dialog().text
        await alice.say("1.200")
        assert alice.state().answers["price"] and not alice.dialog().text.startswith(question)
        # One call per step: the old questions keep their buttons; a tap on one changes nothing,
        # says so and takes that message's buttons off: the live question stays the newest message.
        old = [m for m in server.chat(ALICE)[:-1] if any((d or "").startswith("q:") for _, d in m.buttons)]
        assert old and all(c.method != "editMessageReplyMarkup" for c in server.calls())
        state, live = alice.state(), alice.dialog()
        assert await alice.press(old[-1], old[-1].buttons[0][1]) == "Questo pulsante non è più attivo."
        assert not next(m for m in server.chat(ALICE) if m.message_id == old[-1].message_id).buttons
        assert alice.dialog().message_id == live.message_id and alice.dialog().text == live.text
        assert alice.state() == state


async def test_stale_double_and_forged_taps_change_nothing(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        await alice.say("Rossi")
        await alice.choose("ongoing")
        message = alice.dialog()
        stale = [d for _, d in message.buttons if d.endswith("opt:free")][0]
        await alice.press(message, [d for _, d in message.buttons if d.endswith("opt:full")][0])
        before = sqlite_utils.Database(db)["conversations"].get(ALICE)["state"]
        toast = await alice.press(message, stale, forge=True)  # an older question's button (double tap)
        assert toast == "Questo pulsante non è più attivo."
        for forged in ("q:abcdef:1:opt:free", "q:zz:x:back", "s:99:1:firmer:tu", "garbage", "x:all:yes"):
            toast = await alice.press(message, forged, forge=True)
            assert toast, f"{forged!r} must get a toast"
        await alice.press(message, "c:1", forge=True)  # a case that is not hers: a clear answer
        assert "non c'è il n. 1" in alice.last().text
        assert sqlite_utils.Database(db)["conversations"].get(ALICE)["state"] == before
        assert all(q.answered for q in server.callback_queries(ALICE)), "every callback query is answered"


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_ten_users_at_once_do_not_cross_talk(server, db):
    import asyncio

    async with running_bot(server, db):
        users = [TgUser(server, 2000 + i) for i in range(10)]

        async def one(user: TgUser) -> None:
            run = [("alias", f"=Cliente {user.id}")] + GRATIS_RUN[1:]
            await run_questionnaire(user, run)

        await asyncio.gather(*(one(u) for u in users))
    rows = list(sqlite_utils.Database(db)["cases"].rows)
    assert sorted((r["user_id"], r["case_no"]) for r in rows) == [(2000 + i, 1) for i in range(10)]
    for user in users:
        joined = "\n".join(user.texts())
        assert f"Cliente {user.id}" in joined
        others = [f"Cliente {u.id}" for u in users if u.id != user.id]
        assert not any(o in joined for o in others), "nobody sees another user's client"


async def test_users_outside_the_allowlist_are_refused_politely(server, db):
    async with running_bot(server, db, allowed=frozenset({ALICE})):
        bob = TgUser(server, BOB)
        await bob.say("/nuovo")
        assert "riservato" in bob.last().text
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        assert "Domanda 1 di" in alice.dialog().text
    assert [r["user_id"] for r in sqlite_utils.Database(db)["conversations"].rows] == [ALICE]


async def test_script_variants_switch_by_editing_the_message(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await run_questionnaire(alice)
        script = next(m for m in server.chat(ALICE) if any(d.startswith("s:1:1:") for _, d in m.buttons))
        softer = script.text
        await alice.tap("più fermo", script)
        edited = next(m for m in server.chat(ALICE) if m.message_id == script.message_id)
        assert edited.text != softer and "più fermo" in edited.text
        await alice.tap("tu", edited)
        informal = next(m for m in server.chat(ALICE) if m.message_id == script.message_id)
        assert "· tu" in informal.text and informal.text != edited.text
        toast = await alice.tap("tu", informal)  # the same variant again: nothing to change, no error
        assert toast is None
        bob = TgUser(server, BOB)
        await bob.say("/start")
        toast = await bob.press(bob.last(), "s:1:1:firmer:lei", forge=True)
        assert toast, "another user's case can't be rendered"


async def test_a_redelivered_update_is_applied_once(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")  # the chat's first update: update_id 1
        await alice.say("Rossi")
        await alice.choose("ongoing")
        await alice.choose("full")
        state = sqlite_utils.Database(db)["conversations"].get(ALICE)["state"]
        server.redeliver(1)  # applied again, /nuovo would throw the answers away
        await alice.settle(lambda: len(server.calls("getUpdates")) > 0)
        await alice.say("/rivedi")
        assert "Rossi" in alice.dialog().text and "Il prezzo pieno" in alice.dialog().text
    assert '"alias":"Rossi"' in state


async def test_a_429_is_retried_after_retry_after(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        server.fail_next("sendMessage", retry_after=1)
        await alice.say("Rossi")
        await alice.server.wait_for(lambda: "Domanda 2 di" in (alice.last().text or ""), timeout=10)
    assert len([c for c in server.calls("sendMessage")]) >= 3


async def test_unknown_commands_and_stray_messages_get_a_hint(server, db):
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/boh")
        assert "/aiuto" in alice.last().text
        await alice.say("ciao")
        assert "/nuovo" in alice.last().text
        await alice.server.send_message(
            ALICE,
            sticker={
                "file_id": "x",
                "file_unique_id": "y",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            },
        )
        await alice.settle(lambda: "/nuovo" in (alice.last().text or "") and len(alice.messages()) >= 3)
        await alice.say("/lingua de")
        assert "/lingua en" in alice.last().text
        await alice.say("/lingua en")
        assert "English" in alice.last().text
        await alice.say("/aiuto")
        assert "What I can do" in alice.last().text


async def test_a_flow_changed_incompatibly_offers_a_restart(server, db, tmp_path):
    from bot.paths import default_flow

    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        await alice.say("Rossi")
        await alice.choose("ongoing")
        await alice.choose("free")
    changed = tmp_path / "flow.yaml"
    text = default_flow().read_text(encoding="utf-8").replace("id: free\n", "id: gratuito\n")
    # The questions asked only for some payments name the option by its new id too.
    text, renamed = re.subn(r"(ask_if: \{payment: \[[^\]]*)\bfree\b", r"\1gratuito", text)
    assert renamed
    changed.write_text(text, encoding="utf-8")
    async with running_bot(server, db, flow=changed):
        await alice.say("/rivedi")
        assert "aggiornato" in alice.last().text
        await alice.tap("Ricomincia", alice.last())
        assert "Domanda 1 di" in alice.dialog().text


async def test_a_questionnaire_begun_under_an_earlier_release_goes_on_on_telegram(server, tmp_path):
    """Issue 19: a questionnaire begun under the first release (flow 1) was met with "devi
    ricominciare" although its answers fit today's flow; it goes on at the right question."""
    import shutil
    import sqlite3
    from pathlib import Path

    db = tmp_path / "old.db"
    shutil.copy(Path(__file__).parent / "fixtures" / "v1_schema2_f001671.db", db)
    conn = sqlite3.connect(db)
    with conn:  # the first release's part-way questionnaire (user 3) becomes Alice's
        conn.execute("UPDATE conversations SET user_id = ? WHERE user_id = 3", (ALICE,))
        conn.execute("INSERT INTO users (id, lang, created) VALUES (?, 'it', '2026-11-23T10:00:00+00:00')", (ALICE,))
    conn.close()
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/rivedi")
        assert "aggiornato" not in alice.last().text, alice.last().text
        review = alice.dialog().text
        assert "Rossi Srl" in review, review
        state = alice.state()
        assert state is not None and state.flow_version == FLOW.version and state.answers["alias"] == "Rossi Srl"
        assert state.answers["free_attitude"] == "demands", "kept, for when the walk gets there"
        assert state.at not in ("alias", "payment", "free_attitude"), "not asked again"


async def test_webhook_mode_receives_updates_with_the_secret(server, db):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with running_bot(server, db, webhook_port=port):
        assert server.webhook() is not None
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        await alice.say("Rossi")
        assert "Domanda 2 di" in alice.dialog().text


async def test_a_failure_is_logged_without_secrets_and_the_user_is_told_what_to_do(server, db, caplog):
    import logging

    caplog.set_level(logging.INFO)
    async with running_bot(server, db):
        alice = TgUser(server, ALICE)
        await alice.say("/nuovo")
        server.fail_next("sendMessage", error_code=400, description="Bad Request: something unexpected")
        await alice.say("Studio Riservato")
        assert "Qualcosa è andato storto" in alice.last().text
        await alice.say("/rivedi")
        assert "Studio Riservato" in alice.dialog().text, "the answer given before the failure is kept"
    failures = [r for r in caplog.records if r.name == "clientcoach.telegram" and r.levelno >= logging.ERROR]
    assert len(failures) == 1 and not failures[0].exc_info, "a failed reply is one line, no traceback"
    assert re.fullmatch(r"update \d+: the reply failed: BadRequest: .*", failures[0].getMessage())
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert "Studio Riservato" not in logged


def test_every_button_of_every_screen_fits_telegrams_64_bytes(flow):
    from bot.actions import Answer, Back, Cancel, Change, Done, Finish, Resume, Review, Skip, Step, Toggle
    from bot.coach import Coach
    from bot.store import Store

    coach = Coach(Store.open(":memory:"), flow)
    nonce = ("ffffff", 10**6)
    moves = [Back(), Skip(), Cancel(), Review(), Done(), Finish(), Resume()]
    for q in flow.questions.values():
        moves += [Change(q.id)] + [Answer(o.id) for o in q.options] + [Toggle(o.id) for o in q.options]
    assert max(len(Step(*nonce, move).encode().encode()) for move in moves) <= 64
    assert coach and len(b"s:999999999:99:shorter:lei") <= 64 and len(b"x:999999999:figures") <= 64
