"""Driving the real bot over real HTTP: the bot's Application against the local Bot API server.

`running_bot` starts clientcoach's Application (its own HTTP client, long polling over loopback);
`TgUser` is a fake user who types, taps buttons by label and reads what the bot sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.actions import Answer, Step, Toggle, decode
from bot.coach import Coach
from bot.config import Settings
from bot.flow import load_flow
from bot.store import Store
from bot.telegram.app import build_application
from bot.telegram.throughput import FairRateLimiter
from bot.telegram.updates import ALLOWED_UPDATES
from bot.telegram.webhook import start_webhook_server

from botapi import DEFAULT_TOKEN, BotApiServer, ChatMessage

WEBHOOK_SECRET = "s3cret-token"
LIVE: list[Application] = []  # the running bots, newest last: scripted users read their state there
TEST_CHAT_PACE = 200.0  # messages a second per chat in the end-to-end tests


@asynccontextmanager
async def running_bot(
    server: BotApiServer,
    db: Path,
    *,
    allowed: frozenset[int] = frozenset(),
    flow: Path | None = None,
    webhook_port: int | None = None,
    allowed_updates: list[str] | None = ALLOWED_UPDATES,
) -> AsyncIterator[Application]:
    """The clientcoach Application, polling (or on its own webhook server) against the local server.

    `allowed_updates=None` subscribes to every update type (to show what the handlers do with
    updates the bot never asks for)."""
    coach = Coach(Store.open(db), load_flow(flow) if flow else None)
    settings = Settings(DEFAULT_TOKEN, str(db), allowed, server.root)
    # The production limiter, at a pace per chat no test has to wait for (Telegram's own pace is
    # measured by the bench and tests/test_throughput.py).
    app = build_application(settings, coach, limiter=FairRateLimiter(chat_per_second=TEST_CHAT_PACE, chat_burst=20))
    async with app:
        await app.post_init(app)  # what run_polling/run_webhook would call
        await app.start()
        hook = None
        if webhook_port is None:
            await app.updater.start_polling(poll_interval=0, timeout=2, allowed_updates=allowed_updates)
        else:
            hook = start_webhook_server(
                app, listen="127.0.0.1", port=webhook_port, url_path="hook", secret=WEBHOOK_SECRET
            )
            await app.bot.set_webhook(
                f"http://127.0.0.1:{webhook_port}/hook", secret_token=WEBHOOK_SECRET, allowed_updates=allowed_updates
            )
        LIVE.append(app)
        try:
            yield app
        finally:
            LIVE.remove(app)
            if hook is not None:
                hook.stop()
            if app.updater.running:
                await app.updater.stop()
            await app.stop()
            app.ledger.flush()  # as `serve` does at a stop: the handled updates recorded, the inbox emptied
    coach.store.close()


@pytest.fixture
async def bot_api_server() -> AsyncIterator[BotApiServer]:
    """The local Bot API server (imported by the Telegram test files as `server`)."""
    async with BotApiServer(webhook_retry_delay=0.05) as server:
        yield server


@pytest.fixture
def bot_db(tmp_path: Path) -> Path:
    """A fresh database file for the bot (imported as `db`)."""
    return tmp_path / "bot.db"


class TgUser:
    """One fake Telegram user talking to the bot."""

    def __init__(self, server: BotApiServer, user_id: int, language_code: str = "it", *, state=None):
        self.server, self.id, self.language_code = server, user_id, language_code
        self._state = state  # () -> the open conversation's state (default: the running bot's)

    def state(self) -> dict | None:
        """Where the user's questionnaire is, as stored (to answer whatever the flow asks next)."""
        if self._state is not None:
            return self._state()
        return LIVE[-1].bot_data["coach"].load(self.id)[0]

    # -- reading -------------------------------------------------------------------------------

    def messages(self) -> list[ChatMessage]:
        return self.server.chat(self.id)

    def texts(self) -> list[str]:
        return [m.text or m.caption or "" for m in self.messages()]

    def last(self) -> ChatMessage:
        message = self.server.last_message(self.id)
        assert message is not None, "the bot sent nothing"
        return message

    def dialog(self) -> ChatMessage:
        """The newest bot message with questionnaire buttons."""
        for message in reversed(self.messages()):
            if any(data and data.startswith("q:") for _, data in message.buttons):
                return message
        raise AssertionError(f"no questionnaire message; the bot's messages: {self.texts()}")

    def buttons(self, message: ChatMessage | None = None) -> list[tuple[str, str]]:
        return [(label, data or "") for label, data in (message or self.dialog()).buttons]

    # -- acting --------------------------------------------------------------------------------

    async def settle(self, reacted) -> None:
        """Wait for the bot's first reaction, then until it has handled every update it was sent.

        Exact, polling or on a webhook: the bot's ledger knows the newest update it fetched and
        the ones still in hand (taken, and not yet handled = its handler returned, every call it
        made answered); the webhook puts an update in hand before it answers the POST."""
        await self.server.wait_for(reacted, timeout=10)
        app = LIVE[-1]
        deadline = asyncio.get_running_loop().time() + 10
        while not self._all_handled(app):  # a handler's end is no API call: look, briefly
            assert asyncio.get_running_loop().time() < deadline, "the bot did not finish within 10 s"
            await asyncio.sleep(0.003)

    def _all_handled(self, app) -> bool:
        newest = self.server.last_update().get("update_id", 0) if self.server.pending_updates() else 0
        return not app.ledger.in_hand and app.ledger.seen >= newest and not app.busy

    def bot_busy(self) -> bool:
        app = LIVE[-1] if LIVE else None
        return self.server.pending_updates() > 0 or bool(app is not None and getattr(app, "busy", False))

    async def say(self, text: str) -> None:
        """Type a message (or a /command) and wait for the bot to finish answering."""
        before = len(self.server.calls())
        await self.server.send_text(self.id, text, language_code=self.language_code)
        await self.settle(lambda: any(c.method not in ("getUpdates",) for c in self.server.calls()[before:]))

    async def press(self, message: ChatMessage, data: str, *, forge: bool = False) -> str | None:
        """Tap a button by its callback data; returns the toast the bot answered with (or None)."""
        query = await self.server.press_button(self.id, message.message_id, data, forge=forge)
        answered = lambda: next((q for q in self.server.callback_answers(self.id) if q.id == query["id"]), None)  # noqa: E731
        await self.settle(answered)
        return answered().text

    async def tap(self, label: str, message: ChatMessage | None = None) -> str | None:
        """Tap the button whose label contains `label` (on the questionnaire message by default)."""
        message = message or self.dialog()
        matches = [data for text, data in message.buttons if label.casefold() in text.casefold()]
        assert matches, f"no button {label!r} on {message.buttons}"
        return await self.press(message, matches[0])

    async def choose(self, option_id: str) -> str | None:
        """Tap the questionnaire button for an option id (single choice) or toggle (multiple)."""
        message = self.dialog()
        for _, data in message.buttons:
            tapped = decode(data)
            if isinstance(tapped, Step) and tapped.move in (Answer(option_id), Toggle(option_id)):
                return await self.press(message, data)
        raise AssertionError(f"no option {option_id!r} on {message.buttons}")

    async def answer(self, qid_value: tuple[str, object]) -> None:
        """Answer the current question: a list toggles then taps Fatto, a str taps an option or types."""
        _, value = qid_value
        if isinstance(value, list):
            for option in value:
                await self.choose(option)
            await self.tap("✔")
        elif isinstance(value, str) and value.startswith("="):
            await self.say(value[1:])  # typed answer
        elif value is None:
            await self.tap("Salta" if self.language_code == "it" else "Skip")
        else:
            await self.choose(str(value))


# A full questionnaire by buttons (typed where the question wants text), as (question, answer):
# "=..." is typed, None skips, a list toggles. Questions the flow asks that are not listed get a
# default (see default_answer), so the run follows the flow as it evolves.
GRATIS_RUN = [
    ("alias", "=Studio Rossi"),
    ("relationship", "ongoing"),
    ("payment", "free"),
    ("free_attitude", "demands"),
    ("price", "=1.200"),
    ("behaviours", ["calls_back"]),
    ("origin", "their_error"),
    ("pattern", "often"),
    ("prestige", "not_influential"),
    ("feelings", ["nights"]),
    ("notice", "no_notice"),
    ("service", "=la consulenza fiscale"),
    ("address", "=Studio Rossi"),
    ("who", "company_lei"),
]


def default_answer(flow, qid: str):
    """An answer for a question a run does not list: skip it if allowed, else the first option
    (or a plausible typed value)."""
    question = flow.questions[qid]
    if question.optional:
        return None
    if question.kind == "single":
        return question.options[0].id
    if question.kind == "multi":
        return [question.options[0].id]
    return "=1.200" if question.kind == "money" else "=Studio Rossi"


async def answer_current(user: TgUser, answers=GRATIS_RUN) -> bool:
    """Answer the question the user is at; False when there is none (the review is shown)."""
    state = user.state()
    flow = LIVE[-1].bot_data["coach"].flow
    if state is None or state.reviewing or state.at not in flow.questions:
        return False
    qid = state.at
    given = dict(answers)
    await user.answer((qid, given[qid] if qid in given else default_answer(flow, qid)))
    return True


async def run_questionnaire(user: TgUser, answers=GRATIS_RUN, *, finish: bool = True) -> None:
    await user.say("/nuovo")
    for _ in range(100):
        if not await answer_current(user, answers):
            break
    if finish:
        await user.tap("risultato" if user.language_code == "it" else "result")


async def gather(*coroutines) -> list:
    return await asyncio.gather(*coroutines)
