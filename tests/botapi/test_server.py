"""The local Bot API server, driven by the real python-telegram-bot over loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import httpx
import pytest
from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from . import BotApiServer, parse_html
from .entities import EntityParseError

USER = 4242
OTHER_TOKEN = "987654321:AnotherTokenForTheLocalBotApiServer"


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(webhook_retry_delay=0.1) as server:
        yield server


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(item.title(), callback_data=item) for item in data]])


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text("<b>Ciao</b>, scegli:", parse_mode="HTML", reply_markup=keyboard("yes", "no"))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer(f"scelto {query.data}")
    await query.edit_message_text(f"Hai scelto: {query.data}")


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text)


def build_app(server: BotApiServer, *, rate_limiter: AIORateLimiter | None = None) -> Application:
    builder = ApplicationBuilder().token(server.token)
    builder = builder.base_url(f"{server.root}/bot").base_file_url(f"{server.root}/file/bot")
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    app = builder.build()
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    return app


@asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


def make_bot(server: BotApiServer, token: str | None = None) -> Bot:
    return Bot(token or server.token, base_url=f"{server.root}/bot", base_file_url=f"{server.root}/file/bot")


def png(width: int, height: int) -> bytes:
    """The head of a PNG image: enough for Telegram's (and this server's) size check."""
    header = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + header + struct.pack(">I", zlib.crc32(header))


async def rejection(call: Awaitable[object]) -> str:
    """The description of the BadRequest a call raises, as python-telegram-bot words it."""
    with pytest.raises(BadRequest) as caught:
        await call
    return caught.value.message


# -- the API -------------------------------------------------------------------------------------


async def test_get_me_and_tokens(server: BotApiServer) -> None:
    async with make_bot(server) as bot:
        me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (1234567890, True, "test_bot", "Test Bot")
    assert me.can_join_groups
    with pytest.raises(InvalidToken):
        async with make_bot(server, OTHER_TOKEN):  # well formed but unknown: 401
            pass
    async with httpx.AsyncClient(base_url=server.root) as client:
        unauthorized = await client.post(f"/bot{OTHER_TOKEN}/getMe")
        assert unauthorized.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        assert (await client.get("/bot123:short/getMe")).status_code == 404
        unknown = await client.post(f"/bot{server.token}/getNothing")
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    server.add_bot(OTHER_TOKEN, username="other_bot")
    async with make_bot(server, OTHER_TOKEN) as other:
        assert other.username == "other_bot"


async def test_message_round_trip(server: BotApiServer) -> None:
    async with polling(build_app(server)):
        sent = await server.send_text(USER, "/start", language_code="en", first_name="Anna")
        assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        assert sent["from"] == {"id": USER, "is_bot": False, "first_name": "Anna", "language_code": "en"}
        reply = await server.next_bot_message(USER)
        assert (reply.text, reply.source, reply.parse_mode) == ("Ciao, scegli:", "<b>Ciao</b>, scegli:", "HTML")
        assert reply.entities == [{"type": "bold", "offset": 0, "length": 4}]
        assert reply.buttons == [("Yes", "yes"), ("No", "no")]
        await server.send_text(USER, "come stai? 🙂")
        echo = await server.next_bot_message(USER)
        assert echo.text == "come stai? 🙂" and echo.message_id == 4  # user and bot share the ids
        assert server.chat(USER) == [reply, echo] and server.last_message(USER) is echo


async def test_long_polling_waits_and_returns_as_soon_as_an_update_arrives(server: BotApiServer) -> None:
    async with httpx.AsyncClient(base_url=f"{server.root}/bot{server.token}") as client:
        started = time.monotonic()
        assert (await client.post("/getUpdates", json={"timeout": 1})).json() == {"ok": True, "result": []}
        assert 0.9 < time.monotonic() - started < 1.5
        poll = asyncio.create_task(client.post("/getUpdates", data={"timeout": "10"}))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await server.send_text(USER, "ciao")
        [update] = (await poll).json()["result"]
        assert time.monotonic() - started < 0.5
        message = update["message"]
        assert (message["text"], message["chat"]["type"], message["from"]["language_code"]) == ("ciao", "private", "it")
        assert isinstance(message["date"], int)
        again = await client.post("/getUpdates", data={"offset": update["update_id"]})
        assert again.json()["result"] == [update]  # not confirmed yet
        confirmed = await client.post("/getUpdates", data={"offset": update["update_id"] + 1})
        assert confirmed.json()["result"] == []


async def test_a_second_poller_ends_the_first_with_409(server: BotApiServer) -> None:
    async with httpx.AsyncClient(base_url=f"{server.root}/bot{server.token}") as client:
        first = asyncio.create_task(client.post("/getUpdates", data={"timeout": "5"}))
        await asyncio.sleep(0.1)
        await client.post("/getUpdates")
        answer = await first
        assert answer.status_code == 409 and "terminated by other getUpdates request" in answer.json()["description"]


async def test_button_press_is_answered_and_the_message_edited(server: BotApiServer) -> None:
    async with polling(build_app(server)):
        await server.send_text(USER, "/start")
        question = await server.next_bot_message(USER)
        with pytest.raises(AssertionError, match="no button 'maybe'"):
            await server.press_button(USER, question.message_id, "maybe")
        await server.press_button(USER, question.message_id, "yes")
        edited = await server.next_bot_message(USER)
        assert (edited.text, edited.edits, edited.buttons) == ("Hai scelto: yes", 1, [])  # no reply_markup: gone
        assert edited.history[0].text == "Ciao, scegli:" and "edit_date" in edited.data
        [answer] = server.callback_answers(USER)
        assert (answer.data, answer.text, answer.show_alert) == ("yes", "scelto yes", False)
        await server.press_button(USER, question.message_id, "forged", forge=True)
        await server.wait_for(lambda: len(server.callback_answers(USER)) == 2)
        assert [query.answered for query in server.callback_queries(USER)] == [True, True]


async def test_telegram_refusals(server: BotApiServer) -> None:
    await server.send_text(USER, "/start")
    async with make_bot(server) as bot:
        assert await rejection(bot.send_message(999, "x")) == "Chat not found"
        assert await rejection(bot.send_message(USER, "")) == "Message text is empty"
        assert await rejection(bot.send_message(USER, " <b>\n</b> ", parse_mode="HTML")) == "Message text is empty"
        trimmed = await bot.send_message(USER, "\n <b> Ciao</b> \n", parse_mode="HTML")  # Telegram trims
        assert (trimmed.text, trimmed.entities[0].offset, trimmed.entities[0].length) == ("Ciao", 0, 4)
        assert await rejection(bot.send_message(USER, "a" * 4097)) == "Message is too long"
        assert await rejection(bot.send_message(USER, "🙂" * 2049)) == "Message is too long"  # 2 UTF-16 units each
        await bot.send_message(USER, "🙂" * 2048)
        await bot.send_message(USER, f"<b>{'a' * 4000}</b>{'&amp;' * 96}", parse_mode="HTML")  # 4096 once parsed
        assert await rejection(bot.send_message(USER, "<b>x", parse_mode="HTML")) == (
            "Can't parse entities: can't find end tag corresponding to start tag \"b\""
        )
        assert "unsupported start tag" in await rejection(bot.send_message(USER, "<div>x</div>", parse_mode="HTML"))
        assert await rejection(bot.send_message(USER, "x", reply_markup=keyboard("è" * 33))) == "Button_data_invalid"
        await bot.send_message(USER, "x", reply_markup=keyboard("è" * 32))  # 64 bytes
        assert await rejection(bot.send_document(USER, b"x", filename="a.txt", caption="c" * 1025)) == (
            "Message caption is too long"
        )
        assert await rejection(bot.edit_message_text("x", USER, 999)) == "Message to edit not found"
        sent = await bot.send_message(USER, "same", reply_markup=keyboard("a"))
        assert (
            await rejection(bot.edit_message_text("same", USER, sent.message_id, reply_markup=keyboard("a")))
        ).startswith("Message is not modified: specified new message content and reply markup are exactly")
        await bot.edit_message_text("same", USER, sent.message_id, reply_markup=keyboard("b"))
        assert await rejection(bot.answer_callback_query("123")) == (
            "Query is too old and response timeout expired or query id is invalid"
        )
        assert await bot.delete_message(USER, sent.message_id)
        assert await rejection(bot.delete_message(USER, sent.message_id)) == "Message to delete not found"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # AIORateLimiter reads retry_after
async def test_429_is_retried_by_the_rate_limiter(server: BotApiServer) -> None:
    await server.send_text(USER, "/start")
    server.fail_next("sendMessage", times=1, retry_after=1)
    async with build_app(server, rate_limiter=AIORateLimiter(max_retries=2)) as app:
        message = await app.bot.send_message(USER, "dopo l'attesa")
    failed, succeeded = server.calls("sendMessage")
    assert (failed.status, failed.error, succeeded.status) == (429, "Too Many Requests: retry after 1", 200)
    assert succeeded.at - failed.at >= 1 and server.last_message(USER).message_id == message.message_id
    server.fail_next("sendMessage", retry_after=7)
    server.fail_next("sendMessage", error_code=403, description="Forbidden: bot was blocked by the user")
    async with make_bot(server) as bot:
        with pytest.raises(RetryAfter):
            await bot.send_message(USER, "x")
        with pytest.raises(Forbidden):
            await bot.send_message(USER, "x")


async def test_webhook_mode(server: BotApiServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    async with build_app(server) as app:
        await app.start()
        await app.updater.start_webhook(
            listen="127.0.0.1", port=port, url_path="hook", webhook_url=url, secret_token="s3cret"
        )
        try:
            await server.send_text(USER, "via webhook")
            assert (await server.next_bot_message(USER)).text == "via webhook"
            with pytest.raises(Conflict):
                await app.bot.get_updates()
            await app.bot.set_webhook(url, secret_token="wrong")  # PTB's webhook answers 403 to a wrong secret
            await server.send_text(USER, "retried")
            await server.wait_for(lambda: server.webhook().last_error_message)
            info = await app.bot.get_webhook_info()
            assert (info.url, info.pending_update_count) == (url, 1)
            assert info.last_error_message.startswith("Wrong response from the webhook: 403")
            await app.bot.set_webhook(url, secret_token="s3cret")
            assert (await server.next_bot_message(USER)).text == "retried"
        finally:
            await app.updater.stop()
            await app.stop()


async def test_documents_photos_and_downloads(server: BotApiServer) -> None:
    await server.send_text(USER, "/start")
    async with make_bot(server) as bot:
        sent = await bot.send_document(
            USER, b"%PDF-1.4 fake", filename="report.pdf", caption="<b>Report</b>", parse_mode="HTML"
        )
        document = sent.document
        assert (document.file_name, document.mime_type, document.file_size, sent.caption) == (
            "report.pdf",
            "application/pdf",
            13,
            "Report",
        )
        stored = server.file(document.file_id)
        assert (stored.content, stored.filename) == (b"%PDF-1.4 fake", "report.pdf")
        assert server.calls("sendDocument")[0].params["document"] == {"filename": "report.pdf", "size": 13}
        file = await bot.get_file(document.file_id)
        assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 fake"
        again = await bot.send_document(USER, document.file_id)  # by file_id, no upload
        assert again.document.file_id == document.file_id
        photo = await bot.send_photo(USER, png(640, 480), caption="grafico")
        assert (photo.photo[-1].width, photo.photo[-1].height, photo.caption) == (640, 480, "grafico")
        assert server.last_message(USER).photo == [photo.photo[-1].to_dict()]
        assert await rejection(bot.send_photo(USER, b"not an image")) == "Image_process_failed"


async def test_commands_are_stored_per_language_and_scope(server: BotApiServer) -> None:
    async with make_bot(server) as bot:
        await bot.set_my_commands([BotCommand("nuovo", "Nuovo questionario")], language_code="it")
        await bot.set_my_commands(
            [BotCommand("new", "New questionnaire")], scope=BotCommandScopeAllPrivateChats(), language_code="en"
        )
        assert [c.command for c in await bot.get_my_commands(language_code="it")] == ["nuovo"]
        assert await bot.get_my_commands() == ()
        assert await rejection(bot.set_my_commands([BotCommand("Bad Name", "x")])) == "Bot_command_invalid"
        await bot.set_my_description("Un bot", language_code="it")
        await bot.delete_my_commands(language_code="it")
    assert server.commands("it") == []
    in_private = server.commands("en", {"type": "all_private_chats"})
    assert in_private == [{"command": "new", "description": "New questionnaire"}]


async def test_redelivered_update_reaches_the_bot_twice(server: BotApiServer) -> None:
    app = build_app(server)
    seen: list[int] = []

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)

    app.add_handler(TypeHandler(Update, remember), group=-1)
    async with polling(app):
        await server.send_text(USER, "una volta")
        await server.next_bot_message(USER)
        server.redeliver(seen[0])
        await server.next_bot_message(USER)
        assert seen == [seen[0], seen[0]]
        await server.send_text(USER, "dopo")
        assert (await server.next_bot_message(USER)).text == "dopo"


async def test_last_update_of_one_user_among_others(server: BotApiServer) -> None:
    await server.send_text(USER, "mio")
    await server.send_text(USER + 1, "suo")
    mine = server.last_update(USER)
    assert mine["message"]["text"] == "mio" and mine["update_id"] < server.last_update()["update_id"]
    assert server.last_update(USER + 1) == server.last_update()


async def test_before_call_can_queue_a_fault_the_same_call_meets() -> None:
    class RefuseFirstSend(BotApiServer):
        def before_call(self, call) -> None:
            if call.method == "sendMessage" and not self.calls("sendMessage")[:-1]:
                self.fail_next("sendMessage", error_code=403, description="Forbidden: bot was blocked by the user")

    async with RefuseFirstSend() as server:
        await server.send_text(USER, "/start")
        async with Bot(server.token, base_url=f"{server.root}/bot") as bot:
            with pytest.raises(Forbidden):
                await bot.send_message(USER, "uno")
            await bot.send_message(USER, "due")
    assert [(c.params["text"], c.status) for c in server.calls("sendMessage")] == [("uno", 403), ("due", 200)]


async def test_json_bodies_and_a_second_bot(server: BotApiServer) -> None:
    server.add_bot(OTHER_TOKEN)
    await server.send_text(USER, "/start", token=OTHER_TOKEN)
    async with httpx.AsyncClient(base_url=server.root) as client:
        answer = await client.post(f"/bot{server.token}/sendMessage", json={"chat_id": USER, "text": "x"})
        assert answer.json()["description"] == "Bad Request: chat not found"  # USER only started the other bot
        answer = await client.post(
            f"/bot{OTHER_TOKEN}/sendMessage",
            json={
                "chat_id": USER,
                "text": "<i>json</i>",
                "parse_mode": "HTML",
                "reply_markup": {"inline_keyboard": [[{"text": "Sito", "url": "https://example.com"}]]},
                "reply_parameters": {"message_id": 1},
            },
        )
        result = answer.json()["result"]
    assert (result["text"], result["reply_to_message"]["text"]) == ("json", "/start")
    assert server.last_message(USER, token=OTHER_TOKEN).buttons == [("Sito", None)]
    assert server.chat(USER) == []


def test_in_thread_for_synchronous_tests() -> None:
    threads = threading.active_count()
    with BotApiServer.in_thread() as server:
        sent = server.send_text(USER, "/start")
        with httpx.Client(base_url=f"{server.root}/bot{server.token}") as client:
            [update] = client.post("/getUpdates", data={"timeout": 1}).json()["result"]
            client.post("/sendMessage", data={"chat_id": USER, "text": "pronto"})
        assert update["message"] == sent
        assert server.next_bot_message(USER).text == "pronto"
        assert server.wait_for(lambda: server.calls("sendMessage"))[0].params["text"] == "pronto"  # no deadlock
    assert threading.active_count() == threads


# -- HTML entities -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("<b>a</b> <i>b<u>c</u></i>", "a bc", [("bold", 0, 1), ("italic", 2, 2), ("underline", 3, 1)]),
        ("🙂<strong>x</strong> &lt;&amp;&gt; &#39;", "🙂x <&> '", [("bold", 2, 1)]),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", [("pre", 0, 5)]),
        ('<a href="https://e.it/?a=1&amp;b=2">link</a>', "link", [("text_link", 0, 4)]),
        (
            '<blockquote expandable>q</blockquote><span class="tg-spoiler">s</span>',
            "qs",
            [("expandable_blockquote", 0, 1), ("spoiler", 1, 1)],
        ),
    ],
)
def test_html_is_parsed_as_telegram_does(html: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    parsed_text, parsed = parse_html(html)
    assert parsed_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("è <br>", 'Unsupported start tag "br" at byte offset 3'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a =x>y</a>", 'Empty attribute name in the tag "a" at byte offset 0'),
    ],
)
def test_malformed_html_is_refused(html: str, error: str) -> None:
    with pytest.raises(EntityParseError) as caught:
        parse_html(html)
    assert str(caught.value) == error
