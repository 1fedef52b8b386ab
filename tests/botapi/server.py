"""A local Telegram Bot API server for end-to-end tests and benchmarks, with a fake user's hands.

python-telegram-bot talks to it over loopback HTTP, exactly as to api.telegram.org:

    ApplicationBuilder().token(server.token)
        .base_url(f"{server.root}/bot").base_file_url(f"{server.root}/file/bot")

The test plays the user (send_text, press_button), reads what the bot did (chat, next_bot_message,
callback_answers, calls) and injects faults (fail_next). See README.md in this folder.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from tornado.httputil import HTTPInputError, parse_body_arguments

from .httpd import HttpServer, Request, Response
from .methods import METHODS, Params, Upload, commands_key
from .state import ApiError, CallbackQuery, ChatMessage, FakeBot, Signal, StoredFile, Webhook, bad_request

T = TypeVar("T")

DEFAULT_TOKEN = "1234567890:TestTokenForTheLocalBotApiServer_00"
TOKEN_FORMAT = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{35}")
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


@dataclass
class ApiCall:
    """One request a bot made."""

    method: str  # as the bot spelled it
    params: dict[str, Any]  # uploads appear as {"filename": ..., "size": ...}
    at: float  # time.monotonic() when it arrived
    token: str
    status: int | None = None  # HTTP status of the answer; None while running, or if the client left
    error: str | None = None  # the description of an error answer


class BotApiServer:
    """The fake Telegram: a Bot API over HTTP plus the test's side (fake users, readers, faults).

    One bot (`token`) is known from the start; add_bot() adds more. A well-formed token the server
    does not know gets 401 Unauthorized, a malformed one 404 Not Found, as on Telegram.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "test_bot",
        first_name: str = "Test Bot",
        webhook_retry_delay: float = 0.5,
        callback_query_timeout: float = 15.0,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port  # the real one once started, when 0 asked for a free port
        self.webhook_retry_delay = webhook_retry_delay
        self.callback_query_timeout = callback_query_timeout
        self._bots: dict[str, FakeBot] = {}
        self._calls: list[ApiCall] = []
        self._failures: dict[str, deque[tuple[int, str, int | None]]] = {}  # method -> errors to answer
        self._delays: dict[str, deque[float]] = {}  # method -> seconds to wait before answering
        self._revoked: set[str] = set()  # tokens that now get 401 (their chats stay readable)
        self._activity = Signal()
        self._http = HttpServer(self._handle)
        self.add_bot(token, username=username, first_name=first_name)

    def add_bot(self, token: str, *, username: str | None = None, first_name: str | None = None) -> None:
        """Accept one more bot token (each bot has its own chats, updates and files)."""
        if not TOKEN_FORMAT.fullmatch(token):
            raise ValueError(f"not a bot token (digits:35 characters): {token!r}")
        number = token.split(":", maxsplit=1)[0]
        self._bots[token] = FakeBot(
            token,
            username=username or f"test_{number}_bot",
            first_name=first_name or f"Test Bot {number}",
            activity=self._activity,
            webhook_retry_delay=self.webhook_retry_delay,
            callback_query_timeout=self.callback_query_timeout,
        )

    @property
    def root(self) -> str:
        """http://host:port, the root of the Bot API URLs."""
        return f"http://{self.host}:{self.port}"

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> BotApiServer:
        """Listen on host:port (port 0: a free one, then in self.port)."""
        self.port = await self._http.start(self.host, self.port)
        return self

    async def stop(self) -> None:
        """Close every connection (ending long polls) and stop the webhook pushes."""
        await self._http.stop()
        for bot in self._bots.values():
            await bot.close()

    async def __aenter__(self) -> BotApiServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextmanager
    def in_thread(cls, *args: Any, **kwargs: Any) -> Iterator[ServerThread]:
        """Run a server on its own event loop in a background thread; yields blocking access to it."""
        server = cls(*args, **kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="botapi-server", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(server.start(), loop).result()
            yield ServerThread(server, loop)
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    # -- fault injection ----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        times: int = 1,
        retry_after: int = 1,
        *,
        error_code: int = 429,
        description: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail: 429 "retry after" by default, or any error.

        e.g. fail_next("sendMessage", error_code=403, description="Forbidden: bot was blocked by the user")
        """
        if error_code == 429:
            error = (429, description or f"Too Many Requests: retry after {retry_after}", retry_after)
        elif description is None:
            raise ValueError("give the description of a non-429 error")
        else:
            error = (error_code, description, None)
        self._failures.setdefault(method.lower(), deque()).extend([error] * times)

    def slow_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Make the next `times` calls of `method` take `seconds` longer (a slow Telegram, to catch
        a bot in the middle of a call)."""
        self._delays.setdefault(method.lower(), deque()).extend([seconds] * times)

    def revoke(self, token: str | None = None) -> None:
        """Forget a bot, as when its token is revoked in @BotFather: every call then gets 401."""
        self._revoked.add(token or self.token)

    def before_call(self, call: ApiCall) -> None:
        """Called for every call of a known bot, its parameters read, before it is answered.

        Does nothing here. A subclass may queue a fault (fail_next, slow_next) that this very call
        then meets, e.g. a flood ceiling that answers 429 (bench/ceiling.py).
        """

    # -- the fake user ------------------------------------------------------------------------

    async def send_text(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str | None = None,
        first_name: str | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """The user types `text`; a leading /command gets its bot_command entity, as Telegram adds it.

        Returns the Message object the bot receives.
        """
        content: dict[str, Any] = {"text": text}
        if command := _COMMAND.match(text):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        return await self.send_message(
            user_id, language_code=language_code, first_name=first_name, token=token, **content
        )

    async def send_message(
        self,
        user_id: int,
        *,
        language_code: str | None = None,
        first_name: str | None = None,
        token: str | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """The user sends any message; `content` holds its fields, e.g. sticker={...} or text="...".

        The first message opens the private chat (before it, the bot gets "chat not found").
        A new user's language_code is "it" unless given; first_name is "User<id>".
        """
        bot = self._bot(token)
        user, chat = bot.meet(user_id, first_name, language_code)
        message = {
            "message_id": chat.next_message_id(),
            "from": user,
            "chat": chat.data,
            "date": int(time.time()),
        } | content
        bot.record(chat, ChatMessage(message))
        bot.enqueue("message", message)
        self._activity.notify()
        return message

    async def press_button(
        self, user_id: int, message_id: int, callback_data: str, *, forge: bool = False, token: str | None = None
    ) -> dict[str, Any]:
        """The user taps the button carrying `callback_data` on a bot message; returns the CallbackQuery.

        Raises AssertionError when the message, as it is now, has no such button, unless forge=True
        (a forged or stale callback, as a modified client could send).
        """
        bot = self._bot(token)
        chat = bot.chats.get(user_id)
        message = chat.messages.get(message_id) if chat else None
        if message is None or not message.from_bot:
            raise AssertionError(f"user {user_id} sees no bot message {message_id} to press a button on")
        if not forge and callback_data not in [data for _, data in message.buttons]:
            raise AssertionError(
                f"message {message_id} has no button {callback_data!r}; its buttons: {message.buttons}"
            )
        query = CallbackQuery(
            f"{bot.user['id']}{bot.unique_id():08d}", user_id, message_id, callback_data, time.monotonic()
        )
        bot.queries[query.id] = query
        payload = {
            "id": query.id,
            "from": bot.users[user_id],
            "message": message.data,
            "chat_instance": chat.instance,
            "data": callback_data,
        }
        bot.enqueue("callback_query", payload)
        self._activity.notify()
        return payload

    def inject_update(self, kind: str, payload: Any, *, token: str | None = None) -> dict[str, Any]:
        """Queue a raw update of any type, exactly as given (for hostile or malformed updates, e.g. a
        poll_answer an older Bot API sends, or a message without `from`). Returns the update; its
        update_id is the next one. allowed_updates applies, as on Telegram."""
        update = self._bot(token).enqueue(kind, payload)
        self._activity.notify()
        return update

    def redeliver(self, update_id: int, *, token: str | None = None) -> None:
        """Deliver an update once more, with its update_id, as Telegram may after a bot crash."""
        self._bot(token).redeliver(update_id)
        self._activity.notify()

    # -- readers ------------------------------------------------------------------------------

    def chat(self, user_id: int, *, token: str | None = None) -> list[ChatMessage]:
        """The bot's messages in the user's chat as they are now (edited, deleted ones gone)."""
        chat = self._bot(token).chats.get(user_id)
        return [message for message in chat.messages.values() if message.from_bot] if chat else []

    def last_message(self, user_id: int, *, token: str | None = None) -> ChatMessage | None:
        """The bot's newest message in the chat, as it is now."""
        messages = self.chat(user_id, token=token)
        return messages[-1] if messages else None

    async def next_bot_message(
        self, user_id: int, timeout: float = 5.0, *, include_edits: bool = True, token: str | None = None
    ) -> ChatMessage:
        """The next message the bot sent (or version it made by an edit) in the chat, in order.

        Each one is handed out once, so nothing is missed between calls; waits up to `timeout`
        seconds, then raises TimeoutError saying what the bot last did.
        """
        bot = self._bot(token)

        def unread() -> ChatMessage | None:
            chat = bot.chats.get(user_id)
            while chat is not None and chat.activity_read < len(chat.bot_activity):
                version = chat.bot_activity[chat.activity_read]
                chat.activity_read += 1
                if include_edits or version.previous is None:
                    return version
            return None

        try:
            return await self.wait_for(unread, timeout)
        except TimeoutError:
            raise TimeoutError(self._describe_silence(user_id, timeout, token)) from None

    async def wait_for(self, condition: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until condition() is truthy, checking after each API call and fake-user action."""
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            await self._activity.wait(remaining)
        return result

    def callback_queries(self, user_id: int, *, token: str | None = None) -> list[CallbackQuery]:
        """Every button press of the user, answered or not."""
        return [query for query in self._bot(token).queries.values() if query.user_id == user_id]

    def callback_answers(self, user_id: int, *, token: str | None = None) -> list[CallbackQuery]:
        """The user's button presses the bot answered, with the answer's text and show_alert."""
        return [query for query in self.callback_queries(user_id, token=token) if query.answered]

    def activity(self, user_id: int, *, token: str | None = None) -> int:
        """How many messages and edits the bot has made in the user's chat so far (to see a reaction)."""
        chat = self._bot(token).chats.get(user_id)
        return len(chat.bot_activity) if chat else 0

    def pending_updates(self, *, token: str | None = None) -> int:
        """Updates not yet confirmed by the bot (getUpdates) or taken by its webhook."""
        return self._bot(token).pending_update_count

    def last_update(self, user_id: int | None = None, *, token: str | None = None) -> dict[str, Any]:
        """The newest update created, or the newest one from `user_id` (e.g. to redeliver the tap just
        made, or to wait until the bot has handled exactly that update)."""
        bot = self._bot(token)
        ids = [i for i, update in bot._updates.items() if user_id is None or _sender(update) == user_id]
        return bot._updates[max(ids)]

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """The requests bots made (all, or of one method), oldest first."""
        return [call for call in self._calls if method is None or call.method.lower() == method.lower()]

    def commands(
        self, language_code: str = "", scope: dict[str, Any] | None = None, *, token: str | None = None
    ) -> list[dict[str, str]]:
        """The command list setMyCommands stored for a language ("" = all) and scope (None = default)."""
        return list(self._bot(token).commands.get(commands_key(scope, language_code), []))

    def webhook(self, *, token: str | None = None) -> Webhook | None:
        """The webhook set by the bot, with the last delivery error; None in getUpdates mode."""
        return self._bot(token).webhook

    def file(self, file_id: str, *, token: str | None = None) -> StoredFile:
        """A file the bot uploaded: content, filename, mime_type, file_path."""
        return self._bot(token).files[file_id]

    # -- HTTP side ----------------------------------------------------------------------------

    def _bot(self, token: str | None) -> FakeBot:
        try:
            return self._bots[token or self.token]
        except KeyError:
            raise ValueError("unknown bot token: add it with add_bot()") from None

    async def _handle(self, request: Request) -> Response:
        path = unquote(request.path)
        if path.startswith("/file/bot"):
            return self._download(path.removeprefix("/file/bot"))
        token, _, method = path.removeprefix("/bot").partition("/") if path.startswith("/bot") else ("", "", "")
        if not TOKEN_FORMAT.fullmatch(token):
            return _answer(ApiError(404, "Not Found"))
        bot = self._bots.get(token)
        if bot is None or token in self._revoked:
            return _answer(ApiError(401, "Unauthorized"))
        implementation = METHODS.get(method.lower())
        if implementation is None:
            return _answer(ApiError(404, "Not Found"))
        call = ApiCall(method, {}, time.monotonic(), token)
        self._calls.append(call)
        try:
            params = _params(request)
            call.params = params.summary()
            self.before_call(call)
            if failures := self._failures.get(method.lower()):
                raise ApiError(*failures.popleft())
            if delays := self._delays.get(method.lower()):
                await asyncio.sleep(delays.popleft())
            result = implementation(bot, params)
            if inspect.isawaitable(result):
                result = await result
            call.status = 200
            return Response(200, _json_body({"ok": True, "result": result}))
        except ApiError as error:
            call.status, call.error = error.error_code, error.description
            return _answer(error)
        finally:
            self._activity.notify()

    def _download(self, token_and_path: str) -> Response:
        token, _, file_path = token_and_path.partition("/")
        bot = self._bots.get(token)
        stored = bot.files_by_path.get(file_path) if bot else None
        if stored is None:
            return _answer(ApiError(404, "Not Found"))
        return Response(200, stored.content, stored.mime_type or "application/octet-stream")

    def _describe_silence(self, user_id: int, timeout: float, token: str | None) -> str:
        last = self.last_message(user_id, token=token)
        failed = [f"{call.method}: {call.error}" for call in self._calls if call.error][-3:]
        return (
            f"the bot sent nothing new to user {user_id} within {timeout} s; "
            f"its last message there: {(last.text or last.caption) if last else None!r}; "
            f"last failed calls: {failed or 'none'}"
        )


class ServerThread:
    """A BotApiServer running in a background thread, with every method made blocking.

    Attributes read through; methods (async or not) run on the server's loop and are waited for,
    so e.g. `server.send_text(42, "/start")` and `server.next_bot_message(42)` work from sync code.
    A wait_for condition runs on that loop already, so the readers it calls run there directly.
    """

    def __init__(self, server: BotApiServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.server, name)
        if not callable(attribute):
            return attribute

        def blocking(*args: Any, **kwargs: Any) -> Any:
            if _running_loop() is self._loop:
                return attribute(*args, **kwargs)

            async def call() -> Any:
                result = attribute(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            return asyncio.run_coroutine_threadsafe(call(), self._loop).result()

        return blocking


def _sender(update: dict[str, Any]) -> int | None:
    """The user id in an update's `from` (messages, callback queries, ...), or None."""
    payload = next((value for key, value in update.items() if key != "update_id"), None)
    return payload.get("from", {}).get("id") if isinstance(payload, dict) else None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _json_body(value: Any) -> bytes:
    """JSON as Telegram sends it; a lone surrogate a client sent comes back escaped (\\ud800)."""
    try:
        return json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()


def _answer(error: ApiError) -> Response:
    return Response(error.error_code, json.dumps(error.to_json()).encode())


def _params(request: Request) -> Params:
    """The parameters of a call: query string plus a JSON, urlencoded or multipart body."""
    values: dict[str, Any] = dict(parse_qsl(request.query, keep_blank_values=True))
    uploads: dict[str, Upload] = {}
    content_type = request.headers.get("content-type", "")
    if not request.body:
        return Params(values)
    if content_type.startswith("application/json"):
        try:
            body = json.loads(request.body)
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("JSON object expected")
        values |= body
    elif content_type.startswith("application/x-www-form-urlencoded"):
        values |= dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    elif content_type.startswith("multipart/form-data"):
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[Any]] = {}
        try:
            parse_body_arguments(content_type, request.body, arguments, files)
        except HTTPInputError as exc:
            raise bad_request(f"can't parse multipart/form-data: {exc}") from None
        values |= {name: parts[-1].decode() for name, parts in arguments.items()}
        uploads = {
            name: Upload(parts[0].filename, parts[0].body, parts[0].content_type or None)
            for name, parts in files.items()
        }
    return Params(values, uploads)
