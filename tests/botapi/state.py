"""What the fake Telegram remembers for one bot: chats, messages, files, callback queries, updates.

A FakeBot also hands its updates out, by long polling or by pushing them to a webhook.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx


class ApiError(Exception):
    """An error answer of the Bot API: the HTTP status is the error_code."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            answer["parameters"] = {"retry_after": self.retry_after}
        return answer


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class Signal:
    """Wakes everyone waiting at the moment notify() is called."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None) -> bool:
        """True when notified, False when the timeout passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


def keyboard_buttons(reply_markup: dict[str, Any] | None) -> list[tuple[str, str | None]]:
    """An inline keyboard's buttons, row after row, as (text, callback_data); url buttons have None."""
    rows = (reply_markup or {}).get("inline_keyboard", [])
    return [(button["text"], button.get("callback_data")) for row in rows for button in row]


@dataclass(frozen=True, eq=False)
class ChatMessage:
    """One version of a message: the Message object Telegram shows, plus how the bot wrote it."""

    data: dict[str, Any]
    source: str | None = None  # the text or caption exactly as the bot sent it, before entity parsing
    parse_mode: str | None = None
    previous: ChatMessage | None = None  # the version an edit replaced

    @property
    def message_id(self) -> int:
        return self.data["message_id"]

    @property
    def chat_id(self) -> int:
        return self.data["chat"]["id"]

    @property
    def from_bot(self) -> bool:
        return self.data["from"]["is_bot"]

    @property
    def text(self) -> str | None:
        return self.data.get("text")

    @property
    def caption(self) -> str | None:
        return self.data.get("caption")

    @property
    def entities(self) -> list[dict[str, Any]]:
        return self.data.get("entities") or self.data.get("caption_entities") or []

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        return self.data.get("reply_markup")

    @property
    def document(self) -> dict[str, Any] | None:
        return self.data.get("document")

    @property
    def photo(self) -> list[dict[str, Any]] | None:
        return self.data.get("photo")

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        return keyboard_buttons(self.reply_markup)

    @property
    def history(self) -> list[ChatMessage]:
        """The earlier versions, oldest first."""
        versions, version = [], self.previous
        while version is not None:
            versions.append(version)
            version = version.previous
        return versions[::-1]

    @property
    def edits(self) -> int:
        return len(self.history)


@dataclass
class Chat:
    """A private chat between the bot and one fake user."""

    id: int
    data: dict[str, Any]  # the Chat object
    instance: str  # chat_instance of the callback queries from this chat
    messages: dict[int, ChatMessage] = field(default_factory=dict)  # current versions, deleted ones gone
    bot_activity: list[ChatMessage] = field(default_factory=list)  # every version the bot sent or made
    activity_read: int = 0  # how much of bot_activity next_bot_message has handed out
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class CallbackQuery:
    """A button press and, once the bot answered it, the answer."""

    id: str
    user_id: int
    message_id: int
    data: str
    created_at: float  # time.monotonic()
    answered: bool = False
    text: str | None = None
    show_alert: bool = False
    url: str | None = None


@dataclass
class StoredFile:
    """A file the bot uploaded."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    filename: str | None
    mime_type: str | None

    def to_json(self) -> dict[str, Any]:
        """The File object getFile returns."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class Webhook:
    """Where setWebhook asked for the updates, and how the last push went."""

    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class FakeBot:
    """One bot's side of Telegram: its user object, its chats, and its queue of updates."""

    def __init__(
        self,
        token: str,
        *,
        username: str,
        first_name: str,
        activity: Signal,
        webhook_retry_delay: float,
        callback_query_timeout: float,
    ) -> None:
        self.user: dict[str, Any] = {
            "id": int(token.split(":", maxsplit=1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.queries: dict[str, CallbackQuery] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}  # (scope as JSON, language) -> commands
        self.descriptions: dict[tuple[str, str], str] = {}  # (field, language) -> text
        self.allowed_updates: list[str] = []
        self.webhook: Webhook | None = None
        self.activity = activity  # notified after each webhook delivery attempt
        self.webhook_retry_delay = webhook_retry_delay
        self.callback_query_timeout = callback_query_timeout
        self._pending: deque[dict[str, Any]] = deque()  # created, not yet confirmed by the bot
        self._redeliveries: deque[dict[str, Any]] = deque()  # handed out once more, then forgotten
        self._updates: dict[int, dict[str, Any]] = {}  # every update ever created, by id
        self._update_ids = itertools.count(1)
        self._new_updates = Signal()
        self._poll_generation = 0
        self._webhook_task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    def unique_id(self) -> int:
        """A fresh number for file and callback query ids."""
        return next(self._ids)

    # -- users and chats --------------------------------------------------------------------

    def meet(self, user_id: int, first_name: str | None, language_code: str | None) -> tuple[dict[str, Any], Chat]:
        """The fake user (created or updated) and their private chat with the bot."""
        known = self.users.get(user_id, {})
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or known.get("first_name") or f"User{user_id}",
            "language_code": language_code or known.get("language_code") or "it",
        }
        self.users[user_id] = user
        chat = self.chats.get(user_id)
        if chat is None:
            chat = Chat(
                user_id,
                {"id": user_id, "first_name": user["first_name"], "type": "private"},
                instance=str(self.user["id"] * 1_000_003 + user_id),
            )
            self.chats[user_id] = chat
        return user, chat

    def chat(self, chat_id: Any) -> Chat:
        """The chat a method names, or Telegram's "chat not found"."""
        if chat_id is None:
            raise bad_request("chat_id is empty")
        try:
            chat = self.chats.get(int(chat_id))
        except (TypeError, ValueError):
            chat = None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def record(self, chat: Chat, message: ChatMessage) -> None:
        """Store a message version; the bot's own sends and edits also go to the chat's activity."""
        chat.messages[message.message_id] = message
        if message.from_bot:
            chat.bot_activity.append(message)

    # -- updates ----------------------------------------------------------------------------

    def enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Create an update and queue it, unless the bot's allowed_updates leave it out."""
        update = {"update_id": next(self._update_ids), kind: payload}
        self._updates[update["update_id"]] = update
        if not self.allowed_updates or kind in self.allowed_updates:
            self._pending.append(update)
            self._new_updates.notify()
        return update

    def redeliver(self, update_id: int) -> None:
        """Hand an update out once more, whatever the bot confirmed (a duplicate, as after a crash)."""
        self._redeliveries.append(self._updates[update_id])
        self._new_updates.notify()

    @property
    def pending_update_count(self) -> int:
        return len(self._pending) + len(self._redeliveries)

    def drop_pending_updates(self) -> None:
        self._pending.clear()
        self._redeliveries.clear()

    def _take(self, offset: int | None, limit: int) -> list[dict[str, Any]]:
        """getUpdates without the wait: confirm what offset says, return what is left."""
        if offset is not None and offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
        elif offset is not None:
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
        updates = []
        while self._redeliveries and len(updates) < limit:  # first, so the bot's next offset stays right
            updates.append(self._redeliveries.popleft())
        return updates + list(itertools.islice(self._pending, limit - len(updates)))

    async def poll(self, offset: int | None, limit: int, timeout: float) -> list[dict[str, Any]]:
        """getUpdates with long polling; a newer poll ends this one with 409, as on Telegram."""
        self._poll_generation += 1
        generation = self._poll_generation
        self._new_updates.notify()  # the poll this one replaces sees the new generation
        deadline = time.monotonic() + timeout
        while True:
            if self.webhook is not None:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            updates = self._take(offset, limit)
            remaining = deadline - time.monotonic()
            if updates or remaining <= 0:
                return updates
            await self._new_updates.wait(remaining)

    # -- webhook ----------------------------------------------------------------------------

    def set_webhook(self, webhook: Webhook | None) -> None:
        """Start pushing updates to a webhook, or stop (None)."""
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        self.webhook = webhook
        self._new_updates.notify()  # a waiting poll now answers 409
        if webhook is not None:
            self._webhook_task = asyncio.get_running_loop().create_task(self._push_updates(webhook))

    async def close(self) -> None:
        """Stop the webhook pushes; the state stays readable."""
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _push_updates(self, webhook: Webhook) -> None:
        """POST each update in order, each until the webhook takes it, as Telegram does."""
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            while True:
                update = self._redeliveries[0] if self._redeliveries else self._pending[0] if self._pending else None
                if update is None:
                    await self._new_updates.wait(None)
                    continue
                if await self._post(client, webhook, update):
                    for queue in (self._redeliveries, self._pending):
                        if queue and queue[0] is update:
                            queue.popleft()
                            break
                    self.activity.notify()
                else:
                    self.activity.notify()
                    await asyncio.sleep(self.webhook_retry_delay)

    async def _post(self, client: httpx.AsyncClient, webhook: Webhook, update: dict[str, Any]) -> bool:
        headers = {"Content-Type": "application/json"}
        if webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
        try:
            response = await client.post(webhook.url, content=json.dumps(update), headers=headers)
        except httpx.ConnectError:
            error = "Connection refused"
        except httpx.HTTPError as exc:
            error = f"Connection error: {type(exc).__name__}"
        else:
            if response.is_success:
                return True
            error = f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
        webhook.last_error_date, webhook.last_error_message = int(time.time()), error
        return False
