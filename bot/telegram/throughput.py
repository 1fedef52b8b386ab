"""Many users at once on Telegram: updates in parallel (in order per user) and a fair rate limiter.

`ChatOrderedProcessor` runs updates concurrently but one user's (chat's) updates one after another,
in the order they arrived. `FairRateLimiter` keeps Telegram's limits (about 30 messages a second per
bot, 1 a second per private chat in bursts, 20 a minute per group) and honours retry_after for the
chat that got it only; callback answers never wait. `expected_delay(bot, chat_id)` tells a handler
how late a reply to that chat will be, so it can say so in the callback toast.

Plugged in by `build_application`:
    ApplicationBuilder().concurrent_updates(ChatOrderedProcessor()).rate_limiter(FairRateLimiter())
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import Bot, Update
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor

log = logging.getLogger("clientcoach.throughput")

# Users whose update is in flight at once. A step waiting for Telegram's pace holds its slot, and at
# the ceiling hundreds wait (30 a second, seconds each): a tight bound would hold the next taps, and
# their callback answers, behind it. Each waiting step costs a coroutine, a few KB.
MAX_CONCURRENT_UPDATES = 1024
# Telegram's documented ceilings (core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
OVERALL_PER_SECOND = 29.0  # a little under Telegram's 30, so jitter on the way does not add up to 429s
CHAT_PER_SECOND = 1.0
GROUP_PER_SECOND = 20 / 60
SWEEP_EVERY = 60.0  # seconds
CHAT_BURST = 3  # a short burst (a result's few messages) is allowed, then 1 a second
OVERALL_BURST = 5
# Bot API methods that count as messages and are throttled; everything else goes straight out.
THROTTLED_PREFIXES = ("send", "edit", "copy", "forward", "stop")
NOT_THROTTLED = frozenset({"sendchataction", "answercallbackquery"})


# -- updates in parallel, in order per user ---------------------------------------------------


def ordering_key(update: object) -> int | None:
    """Whose updates must not overtake each other: the user's (state is per user), else the chat's."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Concurrent update processing (at most `max_concurrent_updates` users at a time) where each
    user's updates run one after another, in arrival order.

    The first update of an idle user runs in its own task; updates that arrive while it runs wait
    in that user's queue and the same task runs them next, so a busy user holds one slot of the
    bound, not one per tap. The queue is dropped as soon as it is empty: memory follows the number
    of busy users, not of users ever seen.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._queues: dict[int, deque[Awaitable[Any]]] = {}

    @property
    def busy_users(self) -> int:
        """How many users have an update running or waiting (the size of the per-user state)."""
        return len(self._queues)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = ordering_key(update)
        if key is None:
            await coroutine
            return
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(coroutine)  # the user's running task takes it next, in order
            return
        queue = self._queues[key] = deque([coroutine])
        try:
            while queue:
                try:
                    await queue[0]
                except Exception:  # noqa: BLE001 - the application's error handlers already ran; go on with the next
                    log.exception("update of user %s ended with an error", key)
                finally:
                    queue.popleft()
        finally:
            del self._queues[key]
            for left in queue:  # only when cancelled (shutdown): never leave a coroutine unawaited
                if isinstance(left, Coroutine):
                    left.close()

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free: the running tasks drain their queues before the application stops."""


# -- throttling where Telegram throttles -------------------------------------------------------


@dataclass
class _Pace:
    """A GCRA pace (a token bucket as one timestamp): `rate` calls a second, bursts of `burst`.

    The pace is taken at the moment of sending, not booked ahead: if the event loop falls behind,
    late calls do not then leave in a clump that Telegram would refuse.
    """

    rate: float
    burst: int
    tat: float = 0.0  # theoretical arrival time of the next call at the steady rate

    def wait(self, now: float) -> float:
        """Seconds before a call may leave."""
        return max(0.0, self.tat - (self.burst - 1) / self.rate - now)

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + 1 / self.rate


@dataclass
class _Chat:
    pace: _Pace
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    blocked_until: float = 0.0  # set by a 429 for this chat
    waiting: int = 0

    def idle(self, now: float) -> bool:
        return self.waiting == 0 and self.pace.tat <= now and self.blocked_until <= now


def retry_seconds(error: RetryAfter) -> float:
    """retry_after in seconds, whether PTB gives it as int or timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB warns that the type will change; both are handled
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class FairRateLimiter(BaseRateLimiter[int]):
    """Telegram's limits, fair to every chat.

    - Message calls (send*/edit*/copy*/forward*) wait for their chat's pace (1 a second with bursts
      of `chat_burst` in private chats, 20 a minute in groups), then for their turn in the bot's
      overall pace (30 a second); both queues are FIFO, so a chat's messages go out in the order
      they were made and no chat overtakes another for the overall pace.
    - A 429 holds back only the chat it came for, for exactly retry_after, and the call is retried
      (up to `max_retries` times, or the call's `rate_limit_args`); one log line, no traceback.
    - Everything else (answerCallbackQuery above all) goes out at once, never behind the queue.
    """

    def __init__(
        self,
        *,
        overall_per_second: float = OVERALL_PER_SECOND,
        overall_burst: int = OVERALL_BURST,
        chat_per_second: float = CHAT_PER_SECOND,
        group_per_second: float = GROUP_PER_SECOND,
        chat_burst: int = CHAT_BURST,
        max_retries: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._overall = _Pace(overall_per_second, overall_burst)
        self._overall_lock = asyncio.Lock()
        self._overall_waiting = 0
        self._chat_rate, self._group_rate, self._chat_burst = chat_per_second, group_per_second, chat_burst
        self._max_retries = max_retries
        self._clock = clock
        self._chats: dict[int | str, _Chat] = {}
        # Idle chats are forgotten when there are twice as many as last time, or a minute went by
        # (amortised over new chats, no timer task).
        self._sweep_at = 1024
        self._next_sweep = clock() + SWEEP_EVERY
        self.throttled_calls = 0
        self.retries = 0

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""

    @property
    def chats_tracked(self) -> int:
        """How many chats have pace state (bounded: idle ones are forgotten)."""
        return len(self._chats)

    def expected_delay(self, chat_id: int | str) -> float:
        """Seconds before a message made now for `chat_id` would go out (an estimate, O(1))."""
        now = self._clock()
        overall = self._overall.wait(now) + self._overall_waiting / self._overall.rate
        chat = self._chats.get(chat_id)
        if chat is None:
            return overall
        ready = max(chat.blocked_until, chat.pace.tat + (chat.waiting - chat.pace.burst + 1) / chat.pace.rate)
        # Each call already waiting for this chat also needs an overall slot.
        return max(0.0, ready - now) + overall + chat.waiting / self._overall.rate

    def _chat(self, chat_id: int | str) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            now = self._clock()
            if len(self._chats) >= self._sweep_at or now >= self._next_sweep:
                for key in [k for k, c in self._chats.items() if c.idle(now)]:
                    del self._chats[key]
                self._sweep_at = max(1024, 2 * len(self._chats))
                self._next_sweep = now + SWEEP_EVERY
            group = isinstance(chat_id, str) or chat_id < 0
            pace = _Pace(self._group_rate, self._chat_burst) if group else _Pace(self._chat_rate, self._chat_burst)
            chat = self._chats[chat_id] = _Chat(pace)
        return chat

    async def _paced(self, pace: _Pace, not_before: float = 0.0) -> None:
        """Wait until `pace` lets a call leave (and `not_before` has passed), then take it."""
        while (wait := max(pace.wait(self._clock()), not_before - self._clock())) > 0:
            await asyncio.sleep(wait)
        pace.take(self._clock())

    async def _overall_turn(self) -> None:
        """The bot's overall pace, first come first served across chats."""
        self._overall_waiting += 1
        try:
            async with self._overall_lock:
                await self._paced(self._overall)
        finally:
            self._overall_waiting -= 1

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        chat_id = data.get("chat_id")
        name = endpoint.lower()
        if chat_id is None or name in NOT_THROTTLED or not name.startswith(THROTTLED_PREFIXES):
            return await self._unthrottled(callback, args, kwargs, endpoint, retries)
        try:
            chat_id = int(chat_id)
        except (TypeError, ValueError):
            pass  # @channelusername: a group-paced key as it is
        self.throttled_calls += 1
        chat = self._chat(chat_id)
        chat.waiting += 1
        try:
            async with chat.lock:  # FIFO: this chat's messages go out in the order they were made
                for attempt in range(retries + 1):
                    await self._paced(chat.pace, chat.blocked_until)
                    await self._overall_turn()
                    try:
                        return await callback(*args, **kwargs)
                    except RetryAfter as error:
                        wait = retry_seconds(error)
                        if attempt == retries:
                            log.warning("429 for chat %s (%s): giving up after %d retries", chat_id, endpoint, retries)
                            raise
                        self.retries += 1
                        log.info("429 for chat %s (%s): retrying in %.1f s", chat_id, endpoint, wait)
                        chat.blocked_until = self._clock() + wait
                raise AssertionError("unreachable")  # the loop returns or raises
        finally:
            chat.waiting -= 1

    async def _unthrottled(
        self, callback: Callable[..., Any], args: Any, kwargs: dict[str, Any], endpoint: str, retries: int
    ) -> Any:
        """A call Telegram does not count as a message: at once; a 429 delays only this call."""
        for attempt in range(retries + 1):
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                wait = retry_seconds(error)
                if attempt == retries:
                    log.warning("429 for %s: giving up after %d retries", endpoint, retries)
                    raise
                self.retries += 1
                log.info("429 for %s: retrying in %.1f s", endpoint, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def expected_delay(bot: Bot, chat_id: int) -> float:
    """How many seconds a reply to `chat_id` will take to leave (0.0 when the bot has no FairRateLimiter)."""
    limiter = getattr(bot, "rate_limiter", None)
    return limiter.expected_delay(chat_id) if isinstance(limiter, FairRateLimiter) else 0.0


__all__ = ["ChatOrderedProcessor", "FairRateLimiter", "expected_delay", "ordering_key", "retry_seconds"]
