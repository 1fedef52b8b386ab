"""Many users at once: updates in parallel but in order per user, and Telegram's limits kept fairly.

Real python-telegram-bot Applications and bots over loopback HTTP against the local Bot API server;
the handlers here are the smallest that show the behaviour (a gate to hold a step, a log of order).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.telegram.throughput import ChatOrderedProcessor, FairRateLimiter, expected_delay

from botapi import BotApiServer

SLOW, FAST, OTHER = 501, 502, 503


@pytest.fixture
async def server():
    async with BotApiServer() as server:
        yield server


def _builder(server: BotApiServer) -> ApplicationBuilder:
    return (
        ApplicationBuilder().token(server.token).base_url(f"{server.root}/bot").base_file_url(f"{server.root}/file/bot")
    )


@asynccontextmanager
async def polling(server: BotApiServer, processor: BaseUpdateProcessor | None, *handlers) -> AsyncIterator[Application]:
    builder = _builder(server)
    if processor is not None:
        builder = builder.concurrent_updates(processor)
    app = builder.build()
    for handler in handlers:
        app.add_handler(handler)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=2)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


@asynccontextmanager
async def limited_bot(server: BotApiServer, limiter: BaseRateLimiter, *chats: int) -> AsyncIterator[Application]:
    """An initialized Application (for its bot) with `limiter`, the given private chats opened."""
    for chat in chats:
        await server.send_text(chat, "hi")
    app = _builder(server).rate_limiter(limiter).build()
    async with app:
        yield app


def _sent_at(server: BotApiServer, chat: int) -> list[tuple[float, str]]:
    return [
        (c.at, c.params["text"])
        for c in server.calls("sendMessage")
        if c.status == 200 and int(c.params["chat_id"]) == chat
    ]


async def _eventually(condition, timeout: float = 2.0) -> None:
    """Wait for a condition on the bot's side (the server only wakes wait_for on API calls)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- updates in parallel, in order per user ---------------------------------------------------


async def test_one_users_slow_step_never_delays_another(server):
    gate = asyncio.Event()

    async def step(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_user.id == SLOW:
            await gate.wait()  # a step that takes as long as the test wants
        await update.effective_message.reply_text("done")

    async with polling(server, ChatOrderedProcessor(), MessageHandler(filters.TEXT, step)):
        try:
            await server.send_text(SLOW, "first")
            await server.send_text(FAST, "second")
            assert (await server.next_bot_message(FAST, timeout=3)).text == "done"
            assert server.chat(SLOW) == [], "the slow step is still running"
        finally:
            gate.set()  # or the application could not stop
        assert (await server.next_bot_message(SLOW)).text == "done"


async def test_a_users_own_taps_are_applied_in_order_while_others_run_alongside(server):
    applied: dict[int, list[str]] = {SLOW: [], FAST: []}
    rng = random.Random(7)

    async def tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer()
        await asyncio.sleep(rng.uniform(0, 0.03))  # uneven work: unordered processing would reorder
        applied[update.effective_user.id].append(query.data)

    processor = ChatOrderedProcessor()
    async with polling(server, processor, CallbackQueryHandler(tap)) as app:
        labels = [str(i) for i in range(12)]
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(x, callback_data=x) for x in labels]])
        messages = {}
        for user in applied:
            await server.send_text(user, "hi")
            messages[user] = (await app.bot.send_message(user, "tap", reply_markup=markup)).message_id
        for label in labels:  # both users tap fast, interleaved, without waiting for the bot
            for user in applied:
                await server.press_button(user, messages[user], label)
        await server.wait_for(lambda: all(len(v) == len(labels) for v in applied.values()), timeout=5)
        assert applied == {SLOW: labels, FAST: labels}
        await _eventually(lambda: processor.busy_users == 0)  # no per-user state is left once idle


async def test_a_busy_user_holds_one_slot_of_the_bound_not_one_per_update(server):
    gate = asyncio.Event()

    async def step(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_user.id == SLOW:
            await gate.wait()
        await update.effective_message.reply_text(update.effective_message.text)

    processor = ChatOrderedProcessor(max_concurrent_updates=2)
    async with polling(server, processor, MessageHandler(filters.TEXT, step)):
        try:
            for i in range(5):
                await server.send_text(SLOW, f"tap {i}")
            await server.send_text(FAST, "hello")
            assert (await server.next_bot_message(FAST, timeout=3)).text == "hello"
            await _eventually(lambda: processor.busy_users == 1)  # only the gated user is still busy
        finally:
            gate.set()  # or the application could not stop
        assert [(await server.next_bot_message(SLOW)).text for _ in range(5)] == [f"tap {i}" for i in range(5)]
        await _eventually(lambda: processor.busy_users == 0)


def _assert_paced(arrivals: list[float], rate: float, burst: int, slack: int = 2) -> None:
    """No stretch of arrivals is denser than the pace allows (`slack` calls more for loopback jitter
    on a busy machine; without the pace every call would arrive at once)."""
    for i, first in enumerate(arrivals):
        for j in range(i + burst + slack, len(arrivals)):
            assert arrivals[j] - first >= (j - i - burst - slack + 1) / rate, (
                f"calls {i}..{j} came faster than {rate}/s"
            )


# -- throttling where Telegram throttles -------------------------------------------------------


async def test_a_429_for_one_chat_holds_back_that_chat_only(server):
    server.fail_next("sendMessage", retry_after=1)  # the first message (to SLOW) is refused for 1 s
    async with limited_bot(server, FairRateLimiter(), SLOW, FAST) as app:
        first = asyncio.create_task(app.bot.send_message(SLOW, "to slow"))
        await server.wait_for(lambda: [c for c in server.calls("sendMessage") if c.status == 429])
        await asyncio.sleep(0.05)  # the 429 reached the limiter
        began = time.monotonic()
        await app.bot.send_message(FAST, "to fast")
        assert time.monotonic() - began < 0.8, "the other chat did not wait for the 429 (1 s)"
        await first
        (refused, *_), ((delivered, _),) = (
            [c.at for c in server.calls("sendMessage") if c.status == 429],
            _sent_at(server, SLOW),
        )
        assert delivered - refused >= 1.0, "retry_after is honoured for the chat that got it"


async def test_callback_answers_never_wait_behind_the_send_queue(server):
    server.fail_next("sendMessage", retry_after=1)
    async with limited_bot(server, FairRateLimiter(chat_per_second=2, chat_burst=1), SLOW) as app:
        message = await app.bot.send_message(
            SLOW, "buttons", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]])
        )
        queued = [asyncio.create_task(app.bot.send_message(SLOW, f"m{i}")) for i in range(4)]
        query = await server.press_button(SLOW, message.message_id, "a")
        await asyncio.sleep(0.05)
        assert app.bot.rate_limiter.expected_delay(SLOW) >= 1.5, "the chat's queue is long"
        began = time.monotonic()
        await app.bot.answer_callback_query(query["id"], "your reply is coming")
        assert time.monotonic() - began < 0.8, "not behind the queue (over 1.5 s long)"
        await asyncio.gather(*queued)
        assert [text for _, text in _sent_at(server, SLOW)][-4:] == ["m0", "m1", "m2", "m3"], "in order"


async def test_messages_keep_each_chats_order_and_pace(server):
    rate, burst = 20.0, 3
    async with limited_bot(server, FairRateLimiter(chat_per_second=rate, chat_burst=burst), SLOW) as app:
        await asyncio.gather(*(app.bot.send_message(SLOW, f"m{i}") for i in range(10)))
    sent = _sent_at(server, SLOW)
    assert [text for _, text in sent] == [f"m{i}" for i in range(10)]
    _assert_paced([at for at, _ in sent], rate, burst)


async def test_the_bots_overall_pace_holds_across_chats(server):
    rate, burst, chats = 40.0, 5, list(range(700, 730))
    async with limited_bot(server, FairRateLimiter(overall_per_second=rate, overall_burst=burst), *chats) as app:
        await asyncio.gather(*(app.bot.send_message(chat, "hello") for chat in chats))
    times = sorted(c.at for c in server.calls("sendMessage") if c.status == 200)
    assert len(times) == len(chats)
    _assert_paced(times, rate, burst)


async def test_expected_delay_says_when_a_reply_will_be_late(server):
    limiter = FairRateLimiter(chat_per_second=2, chat_burst=1)
    async with limited_bot(server, limiter, SLOW, FAST) as app:
        assert expected_delay(app.bot, SLOW) == 0.0
        queued = [asyncio.create_task(app.bot.send_message(SLOW, f"m{i}")) for i in range(4)]
        await asyncio.sleep(0.05)
        assert expected_delay(app.bot, SLOW) >= 1.0
        assert expected_delay(app.bot, FAST) < 0.1, "another chat is not late"
        await asyncio.gather(*queued)
    plain = _builder(server).build()
    assert expected_delay(plain.bot, SLOW) == 0.0, "no FairRateLimiter: nothing to say"


async def test_a_handled_429_is_one_log_line_and_too_many_give_up(server, caplog):
    caplog.set_level(logging.INFO, logger="clientcoach.throughput")
    server.fail_next("sendMessage", retry_after=1)
    async with limited_bot(server, FairRateLimiter(max_retries=1), SLOW) as app:
        await app.bot.send_message(SLOW, "late")
        records = [r for r in caplog.records if r.name == "clientcoach.throughput"]
        assert len(records) == 1 and "429" in records[0].getMessage() and records[0].exc_info is None
        server.fail_next("sendMessage", times=2, retry_after=1)
        with pytest.raises(RetryAfter):
            await app.bot.send_message(SLOW, "never")


async def test_idle_chats_are_forgotten():
    now = [1000.0]
    limiter = FairRateLimiter(overall_per_second=1e9, clock=lambda: now[0])

    async def send() -> bool:
        return True

    for chat in range(3000):
        await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": chat}, None)
        now[0] += 0.001
    assert limiter.chats_tracked < 2100, "swept when it doubled"
    now[0] += 100  # every chat is idle again, and a minute went by
    await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": -1}, None)
    assert limiter.chats_tracked <= 2


async def test_the_stock_limiter_would_stall_every_chat_on_a_429(server):
    """Why FairRateLimiter exists: PTB's AIORateLimiter holds back all chats for one chat's 429."""
    server.fail_next("sendMessage", retry_after=1)
    async with limited_bot(server, AIORateLimiter(max_retries=3), SLOW, FAST) as app:
        first = asyncio.create_task(app.bot.send_message(SLOW, "to slow"))
        await server.wait_for(lambda: [c for c in server.calls("sendMessage") if c.status == 429])
        await asyncio.sleep(0.05)  # the 429 reached the limiter
        began = time.monotonic()
        await app.bot.send_message(FAST, "to fast")
        assert time.monotonic() - began >= 0.9
        await first
