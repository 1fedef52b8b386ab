"""In-process turn cost: Application.process_update with a request object that answers at once.

No network: what is left is clientcoach's own work plus python-telegram-bot's. A profile of the
same run, grouped by where each function lives, shows where the time goes.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.coach import Coach
from bot.config import Settings
from bot.store import Store
from bot.telegram.app import build_application

from .common import FAKE_TOKEN, Row

UPDATES = {"full": 5000, "quick": 600, "tiny": 50}  # updates measured per size
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "clientcoach",
    "username": "clientcoach_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
GROUPS = (
    ("engine (transitions)", ("bot/engine.py", "transitions/")),
    ("classifier", ("bot/classifier.py",)),
    ("render (jinja2)", ("bot/render.py", "jinja2/", "markupsafe/", "<template>", "templates/")),
    ("store (sqlite)", ("bot/store/", "sqlite_utils/", "sqlite3", "json/")),
    ("handlers + coach", ("bot/telegram/", "bot/coach.py")),
    ("python-telegram-bot", ("telegram/",)),
)


class InstantBotApi(BaseRequest):
    """Answers every Bot API call at once, remembering each chat's last keyboard."""

    def __init__(self) -> None:
        self.message_id = 0
        self.newest: dict[int, int] = {}  # each chat's newest message
        self.keyboards: dict[int, list[list[dict[str, Any]]]] = {}
        self.calls = 0

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_: Any
    ) -> tuple[int, bytes]:
        self.calls += 1
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        if name == "getMe":
            result: Any = BOT_USER
        elif name in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            chat_id = int(params.get("chat_id", 0))
            if name == "sendMessage":
                self.message_id += 1
                self.newest[chat_id] = self.message_id
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            if name != "sendMessage" or markup:
                self.keyboards[chat_id] = (markup or {}).get("inline_keyboard", [])
            result = {
                "message_id": int(params.get("message_id", self.message_id)),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "U"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
            if markup:
                result["reply_markup"] = markup
        else:
            result = True
        return 200, json.dumps({"ok": True, "result": result}).encode()


class Drive:
    """Fake users answering the questionnaire: the first option of each question, typed text when asked."""

    def __init__(self, api: InstantBotApi, coach: Coach):
        self.api, self.coach = api, coach
        self.update_id = 0

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"U{user_id}", "language_code": "it"}

    def _next_id(self) -> int:
        self.update_id += 1
        return self.update_id

    def text(self, user_id: int, text: str) -> dict[str, Any]:
        entities = (
            [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
        )
        return {
            "update_id": self._next_id(),
            "message": {
                "message_id": self._next_id(),
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private"},
                "from": self._user(user_id),
                "text": text,
                "entities": entities,
            },
        }

    def press(self, user_id: int, data: str) -> dict[str, Any]:
        return {
            "update_id": self._next_id(),
            "callback_query": {
                "id": str(self._next_id()),
                "from": self._user(user_id),
                "chat_instance": str(user_id),
                "data": data,
                "message": {  # the newest message the bot sent, as a person taps the question at the bottom
                    "message_id": self.api.newest.get(user_id, 1),
                    "date": int(time.time()),
                    "chat": {"id": user_id, "type": "private"},
                    "from": BOT_USER,
                    "text": "q",
                },
            },
        }

    def next_update(self, user_id: int) -> tuple[str, dict[str, Any]]:
        """What this user does next: ('button'|'text'|'new', update)."""
        state, _ = self.coach.load(user_id)
        if state is None:
            return "new", self.text(user_id, "/nuovo")
        q = self.coach.engine.question(state)
        buttons = [b for row in self.api.keyboards.get(user_id, []) for b in row]
        datas = [b["callback_data"] for b in buttons if "callback_data" in b]
        if q is not None and q.kind in ("text", "number", "money"):
            return "text", self.text(user_id, "3" if q.kind != "text" else "Rossi")
        wanted = [d for d in datas if ":opt:" in d or ":tog:" in d]
        if q is not None and q.kind == "multi" and state.picked:
            wanted = [d for d in datas if d.endswith(":done")]
        if q is None:
            wanted = [d for d in datas if d.endswith(":finish")]
        return "button", self.press(user_id, wanted[0])


async def _measure(n_updates: int, users: int, profile: bool) -> tuple[float, dict[str, int], Any]:
    with tempfile.TemporaryDirectory() as tmp:
        coach = Coach(Store.open(Path(tmp) / "bench.db"))
        api = InstantBotApi()
        settings = Settings(FAKE_TOKEN)
        # AIORateLimiter deliberately caps output at 30 messages per second; the bench measures work, not the cap.
        app = build_application(settings, coach, request=api, rate_limit=False)
        await app.initialize()
        drive = Drive(api, coach)
        kinds: dict[str, int] = {}
        profiler = cProfile.Profile() if profile else None
        elapsed = 0.0
        for i in range(n_updates):
            kind, raw = drive.next_update(1 + i % users)
            update = Update.de_json(raw, app.bot)
            kinds[kind] = kinds.get(kind, 0) + 1
            start = time.perf_counter()
            if profiler:
                profiler.enable()
            await app.process_update(update)
            if profiler:
                profiler.disable()
            elapsed += time.perf_counter() - start
        await app.shutdown()
        coach.store.close()
    return elapsed / n_updates, kinds, profiler


def _group(profiler: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(profiler)
    totals = {name: 0.0 for name, _ in GROUPS}
    totals["other (asyncio, stdlib)"] = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        for name, markers in GROUPS:
            if any(m in filename for m in markers):
                totals[name] += tottime
                break
        else:
            totals["other (asyncio, stdlib)"] += tottime
    return totals


def run(size: str) -> list[Row]:
    n = UPDATES[size]
    per_update, kinds, _ = asyncio.run(_measure(n, 10, profile=False))
    _, _, profiler = asyncio.run(_measure(min(n, 2000), 10, profile=True))
    totals = _group(profiler)
    whole = sum(totals.values()) or 1.0
    rows = [
        Row(
            "in-process",
            "process_update, instant Bot API (mean per update)",
            per_update * 1e6,
            "µs",
            "",
            None,
            {"updates": n, "kinds": kinds},
        )
    ]
    rows += [Row("in-process", f"share: {name}", 100 * t / whole, "%") for name, t in totals.items()]
    return rows
