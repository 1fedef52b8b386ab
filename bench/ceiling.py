"""The local Bot API test server with Telegram's flood ceiling: about 30 messages a second per bot,
about 1 a second per private chat (short bursts allowed), answered with an honest 429 retry_after.

Telegram does not publish exact figures; this emulation allows a little more than the bot's own
limiter aims for (a burst of 8 overall, 4 per chat) so that loopback jitter alone does not turn into
429s, and counts what it refused. Only message calls count (the same rule as the bot's limiter);
callback answers and everything else are never refused. The refusal goes through the server's public
hook (`before_call`) and its own fault injection (`fail_next`), so the answer is the one Telegram gives.

The server is imported as `tests.botapi`: `python -m bench` runs from the checkout's root, which is
then on sys.path, and `tests/` is a namespace package (no `__init__.py`), so no path edit is needed.
"""

from __future__ import annotations

import math
import time
from typing import Any

from bot.telegram.throughput import NOT_THROTTLED, THROTTLED_PREFIXES
from tests.botapi import ApiCall, BotApiServer


class Bucket:
    """GCRA: `rate` a second with bursts of `burst`; wait() says how long a call must still wait."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tat = rate, burst, 0.0

    def wait(self, now: float) -> float:
        return max(0.0, self.tat - (self.burst - 1) / self.rate - now)

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + 1 / self.rate


def is_message_call(method: str) -> bool:
    name = method.lower()
    return name not in NOT_THROTTLED and name.startswith(THROTTLED_PREFIXES)


class CeilingServer(BotApiServer):
    """BotApiServer that refuses message calls over Telegram's ceiling with 429 retry_after."""

    def __init__(
        self,
        *args: Any,
        per_second: float = 30.0,
        burst: int = 8,
        chat_per_second: float = 1.0,
        chat_burst: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.overall = Bucket(per_second, burst)
        self._chat_pace = (chat_per_second, chat_burst)
        self._chats: dict[str, Bucket] = {}
        self.refused = 0

    def before_call(self, call: ApiCall) -> None:
        """The server's public hook on every call: over the ceiling, queue the 429 this call meets."""
        chat = call.params.get("chat_id") if is_message_call(call.method) else None
        if chat is None:
            return
        now = time.monotonic()
        bucket = self._chats.get(str(chat))
        if bucket is None:
            bucket = self._chats[str(chat)] = Bucket(*self._chat_pace)
        wait = max(self.overall.wait(now), bucket.wait(now))
        if wait > 0:
            self.refused += 1
            self.fail_next(call.method, retry_after=max(1, math.ceil(wait)))  # whole seconds, as Telegram says
        else:
            self.overall.take(now)
            bucket.take(now)
