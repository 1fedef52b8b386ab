"""Fetching updates under faults: an update is confirmed to Telegram only once handled, or held.

getUpdates confirms every update below the offset it is asked with, so `UpdateLedger` asks with the
oldest update still in hand: after a kill -9 Telegram delivers again what was fetched but not yet
handled (the store recognises what had been applied). When a crowd fills the window Telegram
returns, or the webhook answers 200, updates are confirmed before they are handled: they are first
held in the store's inbox, and handled from there after a restart. An update the library cannot
parse (a poison update) is logged without its content and skipped past. `PollingBot` is the bot as
the Updater sees it, fetching through the ledger; `CoachApplication` tells the ledger when an
update is done and hands it what the inbox held at start.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from telegram import Update
from telegram.error import InvalidToken
from telegram.ext import Application

log = logging.getLogger("clientcoach.telegram")

# Only what the handlers use: edits, channel posts, polls... are never fetched (a poison update of a
# type nobody handles cannot stop the bot, and an edited message can't be taken as an answer).
ALLOWED_UPDATES = ["message", "callback_query"]
# While only updates still being handled are pending, look for new ones this often.
HOLD_POLL = 0.2
# At most this many updates in hand are held back from confirmation (see UpdateLedger.offset).
HOLD_LIMIT = 50
EXIT_UNAUTHORIZED = 3


def stop_unauthorized(application: Application) -> None:
    """The token was refused while running: stop, and exit non-zero so a supervisor restarts."""
    application.bot_data["exit_code"] = EXIT_UNAUTHORIZED
    stop = application.bot_data.get("stop")
    if stop is not None:
        stop.set()


class Inbox(Protocol):
    """Where updates confirmed before they are handled wait (the Store)."""

    def hold_updates(self, updates: list[tuple[int, str]]) -> None: ...
    def held_updates(self) -> list[tuple[int, str]]: ...
    def release_update(self, update_id: int) -> None: ...


class UpdateLedger:
    """Which updates are still being handled (polled, or taken by the webhook), and so the
    getUpdates offset to confirm up to; those confirmed early are held in the inbox until done."""

    def __init__(self, inbox: Inbox | None = None) -> None:
        self.in_hand: set[int] = set()
        self.seen = 0  # the newest update id handed out or skipped
        self.changed = asyncio.Event()
        self.inbox = inbox
        # Each update in hand as Telegram sent it, written out only if it has to be held (rarely).
        self.raw: dict[int, dict[str, Any]] = {}
        self.held: set[int] = set()  # in hand and in the inbox

    def hold(self, below: int | None = None) -> None:
        """Put in the inbox every update in hand (below `below`) not there yet: it is about to be
        confirmed before it is handled."""
        ids = sorted(i for i in self.in_hand - self.held if below is None or i < below)
        if self.inbox is not None and ids:
            self.inbox.hold_updates([(i, json.dumps(self.raw[i], separators=(",", ":"))) for i in ids])
        self.held.update(ids)

    def offset(self) -> int | None:
        """The getUpdates offset: the oldest update in hand and not held, else the one after the
        newest seen. Past HOLD_LIMIT in hand (a crowd), the ones in hand are held and confirmed:
        Telegram returns at most 100 from the offset, and new taps can't wait behind them."""
        waiting = self.in_hand - self.held
        if waiting and len(waiting) < HOLD_LIMIT:
            return min(waiting)
        self.hold()
        return self.seen + 1 if self.seen else None

    def parse(self, raw: Sequence[Any], bot: Any) -> tuple[list[Update], bool]:
        """The new updates of a getUpdates answer, and whether some were still in hand."""
        updates, waiting = [], False
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                continue  # Telegram never sends one; nothing to confirm it with
            if update_id in self.in_hand:
                waiting = True
                continue
            if update_id <= self.seen:
                continue  # handled already, below the offset asked for
            self.seen = update_id
            try:
                update = Update.de_json(item, bot)
            except Exception as exc:  # the library can't read it: say so once, without its content
                log.warning("update %s skipped: it could not be read (%s)", update_id, type(exc).__name__)
                continue
            self.in_hand.add(update_id)
            self.raw[update_id] = item
            updates.append(update)
        return updates, waiting

    def take(self, update: Update, body: dict[str, Any]) -> None:
        """An update confirmed at once (the webhook answers 200): hold it, in hand, until done."""
        self.in_hand.add(update.update_id)
        self.raw[update.update_id] = body
        self.hold()

    def held_at_start(self, bot: Any) -> list[Update]:
        """What the inbox held when the bot stopped, in hand again (oldest first)."""
        if self.inbox is None:
            return []
        updates = []
        for update_id, body in self.inbox.held_updates():
            try:
                update = Update.de_json(json.loads(body), bot)
            except Exception as exc:  # a library that changed since: as a poison update
                log.warning("held update %s skipped: it could not be read (%s)", update_id, type(exc).__name__)
                self.inbox.release_update(update_id)
                continue
            self.in_hand.add(update_id)
            self.held.add(update_id)
            self.seen = max(self.seen, update_id)  # Telegram has them confirmed: none comes again
            updates.append(update)
        return updates

    def done(self, update_id: int) -> None:
        """An update has been handled: it may be confirmed (and leaves the inbox if it was held)."""
        self.in_hand.discard(update_id)
        self.raw.pop(update_id, None)
        if update_id in self.held:
            self.held.discard(update_id)
            if self.inbox is not None:
                self.inbox.release_update(update_id)
        self.changed.set()


class PollingBot:
    """The bot as the Updater sees it: getUpdates through the ledger; everything else as is."""

    def __init__(self, bot: Any, ledger: UpdateLedger, on_unauthorized: Callable[[], None]) -> None:
        self._bot, self.ledger, self._on_unauthorized = bot, ledger, on_unauthorized
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bot, name)

    async def get_updates(
        self, offset=None, limit=None, timeout=None, allowed_updates=None, **_: Any
    ) -> tuple[Update, ...]:
        """The Updater's long poll, asking from the ledger's offset whatever offset it passes."""
        wait = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else float(timeout or 0)
        deadline = time.monotonic() + wait
        while not self.closed:
            self.ledger.changed.clear()
            remaining = max(0, int(deadline - time.monotonic()))
            raw = await self.fetch(self.ledger.offset(), limit, remaining, allowed_updates)
            updates, waiting = self.ledger.parse(raw, self._bot)
            if updates or time.monotonic() >= deadline or (not raw and not self.closed):
                return tuple(updates)
            if waiting:  # only updates still in hand are pending: look again when one is done
                try:
                    await asyncio.wait_for(self.ledger.changed.wait(), HOLD_POLL)
                except TimeoutError:
                    pass
        return ()

    async def fetch(self, offset: int | None, limit: int | None, timeout: int, allowed_updates) -> list[Any]:
        """One getUpdates call, its JSON as is; a 401 stops the bot instead of retrying forever."""
        data = {"timeout": timeout, "offset": offset, "limit": limit, "allowed_updates": allowed_updates}
        try:
            read_timeout = (self._bot._request[0].read_timeout or 0) + timeout
            return list(await self._bot._post("getUpdates", data, read_timeout=read_timeout) or [])
        except InvalidToken:
            self.closed = True
            log.error("the Bot API no longer accepts the token (401): stopping")
            self._on_unauthorized()
            return []


class CoachApplication(Application):
    """The Application, telling the ledger when each update has been handled."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger = UpdateLedger()
        self.handling = 0  # updates being handled right now

    @property
    def busy(self) -> bool:
        """Updates queued or being handled (tests and a graceful stop wait for this to clear)."""
        return self.handling > 0 or self.update_queue.qsize() > 0

    async def process_update(self, update: object) -> None:
        self.handling += 1
        try:
            await super().process_update(update)
        finally:
            self.handling -= 1
            if isinstance(update, Update):
                self.ledger.done(update.update_id)
