"""Fetching updates under faults: every update is recorded before it is handled, and recognised.

With the store as its inbox, `UpdateLedger` writes each update Telegram hands out to the inbox in
the same transaction that looks its id up among the updates handled before, then confirms it to
Telegram at once (the next getUpdates offset, or the webhook's 200): a slow, paced reply of one
user never holds back another's, and a kill -9 loses nothing: what the inbox holds is handled first
at the next start. An update handled before (Telegram or the inbox sends it again after a crash) is
marked `redelivered`: the handlers then apply nothing again, they only show what is missing. A
handled update is recorded as such, and released from the inbox, with the next write (or within
FLUSH_DELAY), so the turn itself pays no transaction for it. An update the library cannot parse (a
poison update) is logged without its content and skipped past. Without an inbox (unit tests) an
update is confirmed only once handled. `PollingBot` is the bot as the Updater sees it, fetching
through the ledger; `CoachApplication` tells the ledger when an update is done.
"""

from __future__ import annotations

import asyncio
import contextvars
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
# Handled updates are recorded (and released from the inbox) with the next write, or after this long.
FLUSH_DELAY = 1.0
# Ids of updates handled in this process and not yet recorded in the store, kept to recognise them.
RECENT_LIMIT = 10_000
EXIT_UNAUTHORIZED = 3


def stop_unauthorized(application: Application) -> None:
    """The token was refused while running: stop, and exit non-zero so a supervisor restarts."""
    application.bot_data["exit_code"] = EXIT_UNAUTHORIZED
    stop = application.bot_data.get("stop")
    if stop is not None:
        stop.set()


class Inbox(Protocol):
    """Where updates wait until handled, and where handled ones are recognised (the Store)."""

    def take_updates(self, updates: list[tuple[int, str]], finished: Sequence[int] = ()) -> set[int]: ...
    def finish_updates(self, update_ids: Sequence[int]) -> None: ...
    def handled_updates(self, update_ids: Sequence[int]) -> set[int]: ...
    def held_updates(self) -> list[tuple[int, str]]: ...


# Whether the update being handled is a late one (sent again, or held across a restart): its
# callback answer is then expected to fail ("query is too old"), which is logged at DEBUG only.
LATE_UPDATE: contextvars.ContextVar[bool] = contextvars.ContextVar("late_update", default=False)


class UpdateLedger:
    """Which updates are being handled, which of them were handled before, and so the getUpdates
    offset to confirm up to."""

    def __init__(self, inbox: Inbox | None = None) -> None:
        self.in_hand: set[int] = set()
        self.seen = 0  # the newest update id handed out or skipped
        self.changed = asyncio.Event()
        self.inbox = inbox
        self.redelivered: set[int] = set()  # in hand, and handled before: nothing is applied again
        self.late: set[int] = set()  # in hand, and sent again or held across a restart
        self.finished: list[int] = []  # handled, not yet recorded in the store
        self.recent: dict[int, None] = {}  # handled here, in order (recognised without a read)
        self._flush: asyncio.TimerHandle | None = None

    def offset(self) -> int | None:
        """The getUpdates offset. With an inbox, everything handed out is recorded: the one after the
        newest seen. Without, the oldest update in hand, unless HOLD_LIMIT are (a crowd: Telegram
        returns at most 100 from the offset, and new taps can't wait behind them)."""
        if self.inbox is None and self.in_hand and len(self.in_hand) < HOLD_LIMIT:
            return min(self.in_hand)
        return self.seen + 1 if self.seen else None

    def parse(self, raw: Sequence[Any], bot: Any) -> tuple[list[Update], bool]:
        """The new updates of a getUpdates answer (recorded, and recognised), and whether some were
        still in hand."""
        updates, bodies, waiting = [], [], False
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
            updates.append(update)
            bodies.append((update_id, item))
        self._record(bodies)
        return updates, waiting

    def take(self, update: Update, body: dict[str, Any]) -> bool:
        """An update the webhook confirms at once (its 200): recorded, in hand until done. False for
        one already in hand or just handled (the same update posted again): not to be handled."""
        update_id = update.update_id
        if update_id in self.in_hand or update_id in self.recent:
            return False
        self.in_hand.add(update_id)
        self.seen = max(self.seen, update_id)
        self._record([(update_id, body)])
        return True

    def _record(self, bodies: list[tuple[int, dict[str, Any]]]) -> None:
        """Into the inbox before they are confirmed, in one transaction with the handled ones' record;
        those handled before (here, or as the store says) are marked redelivered."""
        again = {update_id for update_id, _ in bodies if update_id in self.recent}
        if self.inbox is not None and (bodies or self.finished):
            rows = [(i, json.dumps(body, separators=(",", ":"))) for i, body in bodies if i not in again]
            again |= self.inbox.take_updates(rows, self.finished)
            self.finished = []
        self.redelivered |= again
        self.late |= again

    def held_at_start(self, bot: Any) -> list[Update]:
        """What the inbox held when the bot stopped, in hand again (oldest first)."""
        if self.inbox is None:
            return []
        held = self.inbox.held_updates()
        handled = self.inbox.handled_updates([update_id for update_id, _ in held])
        updates = []
        for update_id, body in held:
            try:
                update = Update.de_json(json.loads(body), bot)
            except Exception as exc:  # a library that changed since: as a poison update
                log.warning("held update %s skipped: it could not be read (%s)", update_id, type(exc).__name__)
                self.finished.append(update_id)
                continue
            self.in_hand.add(update_id)
            self.late.add(update_id)
            if update_id in handled:
                self.redelivered.add(update_id)
            self.seen = max(self.seen, update_id)  # Telegram has them confirmed: none comes again
            updates.append(update)
        self.flush()
        return updates

    def done(self, update_id: int) -> None:
        """An update has been handled: recorded as such with the next write (or within FLUSH_DELAY)."""
        self.in_hand.discard(update_id)
        self.redelivered.discard(update_id)
        self.late.discard(update_id)
        self.recent[update_id] = None
        if len(self.recent) > RECENT_LIMIT:
            del self.recent[next(iter(self.recent))]
        if self.inbox is not None:
            self.finished.append(update_id)
            self._flush_soon()
        self.changed.set()

    def _flush_soon(self) -> None:
        if self._flush is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a unit test): at once
            self.flush()
            return
        self._flush = loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Record the handled updates in the store now (and release them from the inbox)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self.inbox is not None and self.finished:
            finished, self.finished = self.finished, []
            self.inbox.finish_updates(finished)


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
        late = LATE_UPDATE.set(isinstance(update, Update) and update.update_id in self.ledger.late)
        try:
            await super().process_update(update)
        finally:
            LATE_UPDATE.reset(late)
            self.handling -= 1
            if isinstance(update, Update):
                self.ledger.done(update.update_id)
