"""Fetching updates under faults: an update is confirmed to Telegram only once handled or recorded.

getUpdates confirms every update below the offset it is asked with. `UpdateLedger` recognises each
update Telegram hands out among those handled before (one read of the store, no transaction):
one handled before (Telegram, or the inbox, sends it again after a crash) is marked `redelivered`,
and the handlers then apply nothing again, they only show what is missing. Before the next
getUpdates, the updates in hand get HOLD_WAIT to finish (most take a few ms); those still in hand
(a slow, paced reply) are recorded in the store's inbox and confirmed all the same, so one user's
slow reply never holds back another's updates, and a kill -9 loses nothing: what the inbox holds is
handled first at the next start. The webhook records each update before its 200. A handled update
is recorded as such (unless its own turn did) with the next write, or within FLUSH_DELAY: a turn
pays no transaction for it; one that was held leaves the inbox at once. An update the library
cannot parse (a poison update) is logged without its content and skipped past. `PollingBot` is the
bot as the Updater sees it, fetching through the ledger; `CoachApplication` tells the ledger when
an update is done.
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
from telegram.error import Conflict, InvalidToken
from telegram.ext import Application

log = logging.getLogger("clientcoach.telegram")

# Only what the handlers use: edits, channel posts, polls... are never fetched (a poison update of a
# type nobody handles cannot stop the bot, and an edited message can't be taken as an answer).
ALLOWED_UPDATES = ["message", "callback_query"]
# While only updates still being handled are pending, look for new ones this often.
HOLD_POLL = 0.2
# At most this many updates in hand are held back from confirmation (see UpdateLedger.offset).
HOLD_LIMIT = 50
# With an inbox, updates still in hand after this long are recorded there and confirmed.
HOLD_WAIT = 0.05
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

    def hold_updates(self, updates: list[tuple[int, str]], finished: Sequence[int] = ()) -> None: ...
    def take_updates(self, updates: list[tuple[int, str]], finished: Sequence[int] = ()) -> set[int]: ...
    def finish_updates(self, update_ids: Sequence[int]) -> None: ...
    def handled_updates(self, update_ids: Sequence[int]) -> set[int]: ...
    def held_updates(self) -> list[tuple[int, str]]: ...
    def claimed_here(self, update_id: int) -> bool: ...


# Whether the update being handled is a late one (sent again, or held across a restart): its
# callback answer is then expected to fail ("query is too old"), which is logged at DEBUG only.
LATE_UPDATE: contextvars.ContextVar[bool] = contextvars.ContextVar("late_update", default=False)


class UpdateLedger:
    """Which updates are being handled, which of them were handled before, and so the getUpdates
    offset to confirm up to; those confirmed before they are handled wait in the inbox until done."""

    def __init__(self, inbox: Inbox | None = None) -> None:
        self.in_hand: set[int] = set()
        self.seen = 0  # the newest update id handed out or skipped
        self.changed = asyncio.Event()
        self.inbox = inbox
        # Each update in hand as Telegram sent it, written out only if it has to be held.
        self.raw: dict[int, dict[str, Any]] = {}
        self.held: set[int] = set()  # in hand and recorded (in the inbox, or handled before)
        self.redelivered: set[int] = set()  # in hand, and handled before: nothing is applied again
        self.late: set[int] = set()  # in hand, and sent again or held across a restart
        self.finished: list[int] = []  # handled, their record (or release from the inbox) still to write
        self.recent: dict[int, None] = {}  # handled here, in order (recognised without a read)
        self._flush: asyncio.TimerHandle | None = None

    @property
    def unrecorded(self) -> set[int]:
        """The updates in hand that a confirmation would lose (neither in the inbox nor handled before)."""
        return self.in_hand - self.held

    def hold(self, below: int | None = None) -> None:
        """Record in the inbox every update in hand (below `below`) not recorded yet: it is about to
        be confirmed before it is handled (with it, the handled ones' record: one transaction)."""
        ids = sorted(i for i in self.unrecorded if below is None or i < below)
        if self.inbox is not None and ids:
            rows = [(i, json.dumps(self.raw[i], separators=(",", ":"))) for i in ids]
            self.inbox.hold_updates(rows, self.finished)  # its turn may have applied it: held all the same
            self.finished = []
        self.held.update(ids)

    def offset(self) -> int | None:
        """The getUpdates offset: the oldest update in hand and not recorded, else the one after the
        newest seen. Past HOLD_LIMIT in hand (a crowd), the ones in hand are recorded and confirmed:
        Telegram returns at most 100 from the offset, and new taps can't wait behind them."""
        waiting = self.unrecorded
        if waiting and len(waiting) < HOLD_LIMIT:
            return min(waiting)
        self.hold()
        return self.seen + 1 if self.seen else None

    def parse(self, raw: Sequence[Any], bot: Any) -> tuple[list[Update], bool]:
        """The new updates of a getUpdates answer (each recognised if handled before), and whether
        some were still in hand."""
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
        self._recognise([u.update_id for u in updates])
        return updates, waiting

    def take(self, update: Update, body: dict[str, Any]) -> bool:
        """An update the webhook confirms at once (its 200): recorded and recognised (one transaction),
        in hand until done. False for one in hand or just handled (posted again): not to handle."""
        update_id = update.update_id
        if update_id in self.in_hand or update_id in self.recent:
            return False
        self.in_hand.add(update_id)
        self.raw[update_id] = body
        self.seen = max(self.seen, update_id)
        if self.inbox is not None:
            again = self.inbox.take_updates([(update_id, json.dumps(body, separators=(",", ":")))], self.finished)
            self.finished = []
            self.redelivered |= again
            self.late |= again
        self.held.add(update_id)
        return True

    def _recognise(self, ids: list[int]) -> None:
        """Mark the updates handled before (as the store says: one read, no transaction)."""
        if self.inbox is not None and ids:
            again = self.inbox.handled_updates(ids)
            self.redelivered |= again
            self.late |= again
            self.held |= again  # recorded as handled: a confirmation loses nothing

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
            self.held.add(update_id)
            self.late.add(update_id)
            if update_id in handled:
                self.redelivered.add(update_id)
            self.seen = max(self.seen, update_id)  # Telegram has them confirmed: none comes again
            updates.append(update)
        self.flush()
        return updates

    def done(self, update_id: int) -> None:
        """An update has been handled: it may be confirmed. Unless its own turn recorded it, it is
        recorded as handled (and released from the inbox) with the next write, or within FLUSH_DELAY."""
        self.in_hand.discard(update_id)
        self.raw.pop(update_id, None)
        self.redelivered.discard(update_id)
        self.late.discard(update_id)
        self.recent[update_id] = None
        if len(self.recent) > RECENT_LIMIT:
            del self.recent[next(iter(self.recent))]
        if self.inbox is not None:
            held, claimed = update_id in self.held, self.inbox.claimed_here(update_id)
            self.held.discard(update_id)
            if held or not claimed:
                self.finished.append(update_id)
            if held:  # its JSON (what the user typed) leaves the inbox at once
                self.flush()
            else:
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
        """Write now what waits for the next write: the handled updates' record, their release."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self.inbox is not None:
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
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: int | None = None,
        allowed_updates: Sequence[str] | None = None,
        **_: Any,
    ) -> tuple[Update, ...]:
        """The Updater's long poll, asking from the ledger's offset whatever offset it passes."""
        wait = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else float(timeout or 0)
        deadline = time.monotonic() + wait
        while not self.closed:
            await self._record_in_hand()
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

    async def _record_in_hand(self) -> None:
        """Before the next getUpdates confirms them: let the updates in hand finish (most take a few
        ms), up to HOLD_WAIT; the ones still in hand then (a slow, paced reply) go to the inbox."""
        if self.ledger.inbox is None:
            return
        deadline = time.monotonic() + HOLD_WAIT
        while True:
            self.ledger.changed.clear()
            left = deadline - time.monotonic()
            if not self.ledger.unrecorded or left <= 0:
                break
            try:
                await asyncio.wait_for(self.ledger.changed.wait(), left)
            except TimeoutError:
                break
        self.ledger.hold()

    async def fetch(
        self, offset: int | None, limit: int | None, timeout: int | None, allowed_updates: Sequence[str] | None
    ) -> list[Any]:
        """One getUpdates call, its JSON as is; a 401 stops the bot instead of retrying forever."""
        data = {"timeout": timeout, "offset": offset, "limit": limit, "allowed_updates": allowed_updates}
        try:
            read_timeout = (self._bot._request[0].read_timeout or 0) + (timeout or 0)
            return list(await self._bot._post("getUpdates", data, read_timeout=read_timeout) or [])
        except InvalidToken:
            self.closed = True
            log.error("the Bot API no longer accepts the token (401): stopping")
            self._on_unauthorized()
            return []
        except Conflict:
            if not self.closed:
                raise
            # Stopping: the last getUpdates, the one that confirms what was handled, ends the long
            # poll still open on the server. That is the stop itself, not a second bot.
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
