"""Turn cost over real HTTP: clientcoach vs a bare python-telegram-bot bot making the same calls.

Both run against the same local Bot API test server (tests/botapi) on loopback, in one process
and event loop with the fake users, each driven by N sequential taps and by 50 concurrent users.
A tap on clientcoach goes callback -> transition -> render -> store -> answerCallbackQuery +
editMessageText; the bare bot answers the same tap with the same two calls and a fixed text.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.actions import Skip, Step, decode
from bot.coach import Coach
from bot.config import Settings
from bot.store import Store
from bot.telegram.app import build_application
from bot.telegram.messages import NO_PREVIEW, button_label
from tests.botapi import DEFAULT_TOKEN, BotApiServer

from .common import Row

GOAL = 1.25
# Per size: taps of the one sequential user, users at once, taps of each of them.
SIZES = {"full": (2000, 50, 60), "quick": (200, 50, 10), "tiny": (10, 5, 1)}


def _fixed_screen() -> tuple[str, InlineKeyboardMarkup]:
    """A real question screen, rendered once: the bare bot sends this text and keyboard every time."""
    coach = Coach(Store.open(":memory:"))
    reply = coach.start(1, "it")
    reply = coach.act(1, Skip())
    rows = [
        [InlineKeyboardButton(button_label(b), callback_data=Step("abcdef", i, b.action).encode()) for b in row]
        for i, row in enumerate(reply.dialog.buttons)
    ]
    rows[0][0] = InlineKeyboardButton(rows[0][0].text, callback_data="a")
    return reply.dialog.text, InlineKeyboardMarkup(rows)


BARE_TEXT, BARE_KEYBOARD = _fixed_screen()


# -- the bare bot: the same Bot API calls, no work of its own -------------------------------------


async def bare_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """answerCallbackQuery + editMessageText with a fixed text and keyboard."""
    query = update.callback_query
    await query.answer()
    # The counter only keeps each edit different, or Telegram would answer "message is not modified".
    context.bot_data["n"] = context.bot_data.get("n", 0) + 1
    await query.edit_message_text(
        f"{BARE_TEXT} {context.bot_data['n']}",
        parse_mode="HTML",
        reply_markup=BARE_KEYBOARD,
        link_preview_options=NO_PREVIEW,
    )


async def bare_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(BARE_TEXT, parse_mode="HTML", reply_markup=BARE_KEYBOARD)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(update.effective_message.text)


def _plain_app(server: BotApiServer) -> Application:
    return (
        ApplicationBuilder()
        .token(DEFAULT_TOKEN)
        .base_url(f"{server.root}/bot")
        .base_file_url(f"{server.root}/file/bot")
        .build()
    )


def bare_app(server: BotApiServer) -> Application:
    app = _plain_app(server)
    app.add_handler(CallbackQueryHandler(bare_tap))
    app.add_handler(MessageHandler(filters.TEXT, bare_start))
    return app


def echo_app(server: BotApiServer) -> Application:
    app = _plain_app(server)
    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


# -- drivers ----------------------------------------------------------------------------------


async def _opened(server: BotApiServer, user: int, first: str) -> int:
    """Open the chat with `first` and return the message id of the bot's answer."""
    await server.send_text(user, first)
    message = await server.next_bot_message(user, timeout=10)
    return message.message_id


async def bare_user(server: BotApiServer, user: int, taps: int) -> None:
    message_id = await _opened(server, user, "/nuovo")
    for _ in range(taps):
        await server.press_button(user, message_id, "a")
        await server.next_bot_message(user, timeout=10)


async def echo_user(server: BotApiServer, user: int, taps: int) -> None:
    for i in range(taps):
        await server.send_text(user, f"ciao {i}")
        await server.next_bot_message(user, timeout=10)


def _next_tap(buttons: list[tuple[str, str | None]], forward: bool) -> tuple[str | None, bool]:
    """Walk the questionnaire by buttons: forward through choice questions, then back, and again.
    None: no button leads anywhere (a question that wants a typed answer)."""
    steps = {d: decode(d) for _, d in buttons}
    actions = {tapped.move.encode(): d for d, tapped in steps.items() if isinstance(tapped, Step)}
    if forward:
        options = [a for a in actions if a.startswith(("opt:", "tog:"))]
        if (
            "done" in actions
            and any(a.startswith("tog:") for a in actions)
            and any(label.startswith("✅") for label, _ in buttons)
        ):
            return actions["done"], True
        if options:
            return actions[options[0]], True
        if "skip" in actions:
            return actions["skip"], True
    if "back" in actions:
        return actions["back"], False
    return _next_tap(buttons, True) if not forward else (None, True)


async def coach_user(server: BotApiServer, user: int, taps: int) -> None:
    """Walk the questionnaire as a person does: on the question at the bottom of the chat (the
    newest message with buttons: edited in place, or sent anew after a typed answer)."""
    await server.send_text(user, "/nuovo")
    message = await server.next_bot_message(user, timeout=10)
    forward = True
    for _ in range(taps):
        data, forward = _next_tap(message.buttons, forward)
        if data is None:
            await server.send_text(user, "3")  # a typed answer; a refused one is re-asked: a turn all the same
        else:
            await server.press_button(user, message.message_id, data)
        reply = await server.next_bot_message(user, timeout=10)
        message = reply if reply.buttons else message


# -- measuring --------------------------------------------------------------------------------


async def _measure(make_app, drive, users: int, taps: int) -> float:
    """µs per update: `users` users each making `taps` updates at once (after a warm-up)."""
    async with BotApiServer() as server:
        app = make_app(server)
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=10)
            await drive(server, 10**6, 20)  # warm-up: connections, caches
            start = time.perf_counter()
            await asyncio.gather(*(drive(server, 1 + u, taps) for u in range(users)))
            elapsed = time.perf_counter() - start
            await app.updater.stop()
            await app.stop()
    return elapsed / (users * taps) * 1e6


def _clientcoach(db: Path):
    def make(server: BotApiServer) -> Application:
        # AIORateLimiter deliberately caps output at 30 messages per second; the bench measures work.
        return build_application(
            Settings(DEFAULT_TOKEN, str(db), frozenset(), server.root), Coach(Store.open(db)), rate_limit=False
        )

    return make


def run(size: str) -> list[Row]:
    sequential, concurrent_users, per_user = SIZES[size]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = (
            ("sequential, 1 user", 1, sequential),
            (f"{concurrent_users} users at once", concurrent_users, per_user),
        )
        for label, users, taps in runs:
            echo_us = asyncio.run(_measure(echo_app, echo_user, users, taps))
            bare_us = asyncio.run(_measure(bare_app, bare_user, users, taps))
            ours_us = asyncio.run(_measure(_clientcoach(Path(tmp) / f"turns-{users}.db"), coach_user, users, taps))
            ratio = ours_us / bare_us
            rows += [
                Row("turn over HTTP", f"{label}: echo bot (reference)", echo_us, "µs/update"),
                Row("turn over HTTP", f"{label}: bare bot, same calls (a)", bare_us, "µs/update"),
                Row("turn over HTTP", f"{label}: clientcoach (b)", ours_us, "µs/update"),
                Row(
                    "turn over HTTP",
                    f"{label}: ratio b/a",
                    ratio,
                    "×",
                    f"≤ {GOAL}×",
                    ratio <= GOAL,
                    {"updates": users * taps},
                ),
            ]
    return rows
