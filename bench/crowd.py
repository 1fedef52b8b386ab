"""What users get when many use the bot at once: human-paced users, production configuration.

clientcoach runs as users get it: `clientcoach run` in its own process (long polling, its update
processor and rate limiter on), against the local Bot API test server with Telegram's ceiling
emulated (bench/ceiling.py), which runs in the bench's process with the fake users; all on
loopback. Users arrive spread out (at most 25 a second). Each opens a questionnaire and answers it
the way a person does: reads the question, thinks 2-6 s (seeded), taps an option or types the
answer, waits to see the next question; at the end reads the result and starts again. Per size:

- step latency: from the tap (or typed answer) to the next question on screen (the edited message);
- callback-answer latency: from the tap to the bot's answerCallbackQuery;
- message calls (the ones Telegram throttles) per step and per finished questionnaire;
- steps served per second, as a share of the 30/s ceiling (at saturation: more demand than ceiling);
- every tap answered, every step applied in order (each screen is the step after the last one),
  "query is too old" answers, refusals (429), errors and tracebacks in the bot's log, its CPU and RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.actions import Step, decode
from bot.coach import Coach
from bot.store import Store

from .ceiling import CeilingServer, is_message_call
from .common import Row, percentile

SECTION = "users at once"
CEILING = 30.0
THINK = (2.0, 6.0)
ARRIVALS_PER_SECOND = 25  # users opening the bot, spread out as people do
REPLY_TIMEOUT = 120.0  # a user gives up on a screen after this long (counted as unanswered)
GOALS = {"calls_per_step": 1.05, "ceiling_share": 0.90, "p95_step_100": 1.5, "p95_answer_100": 0.5}
TEXT_ANSWERS = {"text": "Studio Rossi", "number": "3", "money": "1200"}


@dataclass
class Action:
    """One thing a user did and what came of it."""

    kind: str  # "new" (/nuovo), "step" (a question answered), "final" (the step that brought the result)
    at: float
    query_id: str | None = None
    latency: float | None = None  # until the next screen; None: never came
    done_at: float | None = None
    in_order: bool = True


@dataclass
class UserLog:
    user: int
    actions: list[Action] = field(default_factory=list)
    finished: int = 0
    failure: str | None = None


def _dialog(buttons: list[tuple[str, str | None]]) -> dict[str, str]:
    """action -> callback_data of a screen's questionnaire buttons."""
    found = {}
    for _, data in buttons:
        tapped = decode(data)
        if isinstance(tapped, Step):
            found[tapped.move.encode()] = data
    return found


def _nonce(buttons: list[tuple[str, str | None]]) -> tuple[str, int] | None:
    for _, data in buttons:
        tapped = decode(data)
        if isinstance(tapped, Step):
            return tapped.conversation, tapped.step
    return None


class Human:
    """A fake user answering questionnaires at a person's pace, through the server's fake-user API."""

    def __init__(self, server: CeilingServer, coach: Coach, user: int, rng: random.Random, think: tuple[float, float]):
        self.server, self.coach, self.user, self.rng, self.think = server, coach, user, rng, think
        self.log = UserLog(user)
        self.screen: Any = None  # the question message as last seen

    async def _next_screen(self, before: tuple[str, int] | None) -> tuple[Any, bool]:
        """Wait for the next question (a dialog with another nonce) or a result (a new message
        without questionnaire buttons); returns it and whether it was the result."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while True:
            version = await self.server.next_bot_message(self.user, timeout=max(0.1, deadline - time.monotonic()))
            nonce = _nonce(version.buttons)
            if nonce is not None and nonce != before:
                return version, False
            if nonce is None and version.previous is None and before is not None:
                return version, True

    def _choose(self) -> tuple[str, str | None]:
        """What to do on the current screen: ("tap", data) or ("text", answer)."""
        state, _ = self.coach.load(self.user)
        question = self.coach.engine.question(state) if state is not None else None
        actions = _dialog(self.screen.buttons)
        if question is not None and question.kind in TEXT_ANSWERS:
            return "text", TEXT_ANSWERS[question.kind]
        if question is not None and question.kind == "multi" and state.picked and "done" in actions:
            return "tap", actions["done"]
        options = sorted(a for a in actions if a.startswith(("opt:", "tog:")))
        if options:
            return "tap", actions[self.rng.choice(options)]
        for name in ("finish", "confirm", "done", "skip"):
            if name in actions:
                return "tap", actions[name]
        return "tap", next(iter(actions.values()))

    async def run(self, stop_at: float, arrive_within: float) -> UserLog:
        try:
            await asyncio.sleep(self.rng.uniform(0, arrive_within))  # users arrive spread out
            while time.monotonic() < stop_at:
                await self._questionnaire(stop_at)
        except (TimeoutError, AssertionError) as error:
            self.log.failure = str(error)[:300]
        return self.log

    async def _questionnaire(self, stop_at: float) -> None:
        action = Action("new", time.monotonic())
        self.log.actions.append(action)
        await self.server.send_text(self.user, "/nuovo")
        self.screen, _ = await self._next_screen(None)
        action.done_at = time.monotonic()
        action.latency = action.done_at - action.at
        while time.monotonic() < stop_at:
            await asyncio.sleep(self.rng.uniform(*self.think))
            before = _nonce(self.screen.buttons)
            how, what = self._choose()
            action = Action("step", time.monotonic())
            self.log.actions.append(action)
            if how == "tap":
                action.query_id = (await self.server.press_button(self.user, self.screen.message_id, what))["id"]
            else:
                await self.server.send_text(self.user, what)
            screen, result = await self._next_screen(before)
            action.done_at = time.monotonic()
            action.latency = action.done_at - action.at
            if result:
                action.kind = "final"
                self.log.finished += 1
                await asyncio.sleep(self.rng.uniform(*self.think))  # reads the result
                return
            after = _nonce(screen.buttons)
            action.in_order = before is not None and after == (before[0], before[1] + 1)
            self.screen = screen


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _bot_env(server: CeilingServer, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CLIENTCOACH_"))}
    env.update(TELEGRAM_BOT_TOKEN=server.token, TELEGRAM_API_URL=server.root, CLIENTCOACH_DB=str(db))
    return env


async def measure(users: int, seconds: float, think: tuple[float, float] = THINK, seed: int = 12) -> dict[str, Any]:
    """Run `users` human-paced users for `seconds` against `clientcoach run` in its own process
    (then let pending screens arrive); the figures."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        db, log = Path(tmp) / "crowd.db", Path(tmp) / "bot.log"
        async with CeilingServer(per_second=CEILING) as server:
            with log.open("wb") as out:
                bot = subprocess.Popen(
                    [sys.executable, "-m", "bot", "--create", "run"],
                    env=_bot_env(server, db),
                    cwd=tmp,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                await server.wait_for(lambda: server.calls("getUpdates"), timeout=60)
                coach = Coach(Store.open(db))  # reads what the bot saved: which question each user is at
                began, cpu_before, own_before = time.monotonic(), _cpu_seconds(bot.pid), _cpu_seconds(os.getpid())
                humans = [Human(server, coach, 10_000 + i, random.Random(rng.random()), think) for i in range(users)]
                logs = await asyncio.gather(*(h.run(began + seconds, _arrivals(users, think)) for h in humans))
                ended = time.monotonic()
                await asyncio.sleep(0.3)  # late answers and edits settle
                rss, cpu = _rss_mb(bot.pid), _cpu_seconds(bot.pid) - cpu_before
                own = _cpu_seconds(os.getpid()) - own_before
                coach.store.close()
            finally:
                bot.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(bot.wait, 30)
                except subprocess.TimeoutExpired:
                    bot.kill()
                    await asyncio.to_thread(bot.wait)
        figures = _figures(server, logs, began, began + seconds, ended, _arrivals(users, think))
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
    figures |= {
        "errors_logged": len(errors),
        "first_error": errors[0][:300] if errors else None,
        "tracebacks": sum(line.startswith("Traceback") for line in lines),
        "bot_429_retries": sum("429 for" in line for line in lines),
        "bot_rss_mb": rss,
        "bot_cpu_share": cpu / (ended - began),  # of one core, while the users were at it
        "bench_cpu_share": own / (ended - began),  # the server and the fake users
        "load_average": os.getloadavg()[0],  # the machine's: other work skews the figures
    }
    return figures


def _arrivals(users: int, think: tuple[float, float]) -> float:
    """Seconds over which the users open the bot: at most ARRIVALS_PER_SECOND new ones a second."""
    return max(think[1], users / ARRIVALS_PER_SECOND)


def _figures(
    server: CeilingServer, logs: list[UserLog], began: float, stop_at: float, ended: float, arrive_within: float
) -> dict[str, Any]:
    calls = server.calls()
    message_calls: dict[int, list[float]] = {}
    for call in calls:
        if call.status == 200 and is_message_call(call.method) and "chat_id" in call.params:
            message_calls.setdefault(int(call.params["chat_id"]), []).append(call.at)
    answers = {c.params.get("callback_query_id"): c for c in calls if c.method.lower() == "answercallbackquery"}
    too_old = sum(1 for c in answers.values() if c.error and "too old" in c.error)
    toasts = sum(1 for c in answers.values() if c.status == 200 and c.params.get("text"))
    step_calls, final_calls, questionnaire_calls = [], [], []
    latencies, answer_latencies, served = [], [], []
    unanswered = out_of_order = 0
    for log in logs:
        times = sorted(message_calls.get(log.user, []))
        running = 0
        for i, action in enumerate(log.actions):
            until = log.actions[i + 1].at if i + 1 < len(log.actions) else float("inf")
            n = sum(1 for t in times if action.at <= t < until)
            running = n if action.kind == "new" else running + n
            if action.kind == "step" and action.latency is not None:
                step_calls.append(n)
            if action.kind == "final":
                final_calls.append(n)
                questionnaire_calls.append(running)
            if action.latency is None:
                unanswered += 1
                continue
            if action.kind != "new":
                latencies.append(action.latency)
                served.append(action.done_at)
            out_of_order += not action.in_order
            if action.query_id is not None:
                answer = answers.get(action.query_id)
                if answer is None or answer.status != 200:
                    unanswered += 1
                else:
                    answer_latencies.append(answer.at - action.at)
    window = (began + min(arrive_within + 10.0, (stop_at - began) / 2), stop_at)  # once everyone is in
    in_window = sum(1 for t in served if window[0] <= t < window[1])
    steps_per_second = in_window / (window[1] - window[0])
    failures = [log.failure for log in logs if log.failure]
    return {
        "users": len(logs),
        "seconds": round(stop_at - began, 1),
        "drain_seconds": round(ended - stop_at, 1),
        "steps": len(latencies),
        "finished_questionnaires": sum(log.finished for log in logs),
        "calls_per_step": sum(step_calls) / len(step_calls) if step_calls else float("nan"),
        "calls_result_step": sum(final_calls) / len(final_calls) if final_calls else float("nan"),
        "calls_per_questionnaire": sum(questionnaire_calls) / len(questionnaire_calls)
        if questionnaire_calls
        else float("nan"),
        "steps_per_second": steps_per_second,
        "ceiling_share": steps_per_second / CEILING,
        "message_calls_per_second": sum(1 for ts in message_calls.values() for t in ts if window[0] <= t < window[1])
        / (window[1] - window[0]),
        "p50_step": percentile(latencies, 50),
        "p95_step": percentile(latencies, 95),
        "p50_answer": percentile(answer_latencies, 50),
        "p95_answer": percentile(answer_latencies, 95),
        "taps": len(answer_latencies)
        + sum(1 for log in logs for a in log.actions if a.query_id and a.query_id not in answers),
        "unanswered": unanswered,
        "out_of_order": out_of_order,
        "query_too_old": too_old,
        "answers_with_a_toast": toasts,  # e.g. "your reply is coming" when the bot is busy
        "refused_429": server.refused,
        "users_failed": len(failures),
        "first_failure": failures[0] if failures else None,
        "bench_rss_mb": _rss_mb(os.getpid()),
    }


# (users, seconds, think time); tiny is the CI smoke test's: a few fast users, a few seconds.
SIZES = {
    "full": ((50, 60, THINK), (100, 70, THINK), (500, 75, THINK)),
    "quick": ((20, 15, THINK), (50, 15, THINK), (150, 20, THINK)),
    "tiny": ((4, 4, (0.2, 0.6)),),
}


def rows_for(figures: dict[str, Any]) -> list[Row]:
    """The table rows of one crowd size, with the goals of issue 12 where they apply."""
    n = figures["users"]
    label = f"{n} users"
    detail = {k: v for k, v in figures.items() if not isinstance(v, float) or v == v}
    rows = [
        Row(
            SECTION,
            f"{label}: message calls per step",
            figures["calls_per_step"],
            "",
            f"≤ {GOALS['calls_per_step']}",
            figures["calls_per_step"] <= GOALS["calls_per_step"],
            detail,
        ),
        Row(
            SECTION,
            f"{label}: message calls per finished questionnaire",
            figures["calls_per_questionnaire"],
            "",
            detail={"finished": figures["finished_questionnaires"]},
        ),
        Row(
            SECTION,
            f"{label}: steps served per second",
            figures["steps_per_second"],
            "/s",
            detail={
                "share_of_ceiling": figures["ceiling_share"],
                "message_calls_per_second": figures["message_calls_per_second"],
            },
        ),
    ]
    p95_goal = n == 100
    rows += [
        Row(SECTION, f"{label}: step latency p50", figures["p50_step"], "s"),
        Row(
            SECTION,
            f"{label}: step latency p95",
            figures["p95_step"],
            "s",
            "≤ 1.5 s" if p95_goal else "",
            figures["p95_step"] <= GOALS["p95_step_100"] if p95_goal else None,
        ),
        Row(
            SECTION,
            f"{label}: callback answer p95",
            figures["p95_answer"],
            "s",
            "≤ 0.5 s" if p95_goal else "",
            figures["p95_answer"] <= GOALS["p95_answer_100"] if p95_goal else None,
        ),
    ]
    clean = (
        figures["unanswered"]
        + figures["out_of_order"]
        + figures["query_too_old"]
        + figures["errors_logged"]
        + figures["users_failed"]
    )
    rows.append(
        Row(
            SECTION,
            f'{label}: unanswered taps + steps out of order + "query too old" + errors',
            clean,
            "",
            "0",
            clean == 0,
            {
                k: figures[k]
                for k in (
                    "unanswered",
                    "out_of_order",
                    "query_too_old",
                    "errors_logged",
                    "users_failed",
                    "first_error",
                    "first_failure",
                )
            },
        )
    )
    rows.append(
        Row(SECTION, f"{label}: callback answers with a toast (reply late)", figures["answers_with_a_toast"], "")
    )
    rows.append(Row(SECTION, f"{label}: 429 refusals from the emulated ceiling", figures["refused_429"], ""))
    rows.append(
        Row(
            SECTION,
            f"{label}: bot process CPU (share of one core)",
            100 * figures["bot_cpu_share"],
            "%",
            detail={"rss_mb": figures["bot_rss_mb"], "load_average": figures["load_average"]},
        )
    )
    rows.append(Row(SECTION, f"{label}: RSS of the bot process", figures["bot_rss_mb"], "MB"))
    return rows


def run(size: str) -> list[Row]:
    rows: list[Row] = []
    results: list[dict[str, Any]] = []
    for users, seconds, think in SIZES[size]:
        print(f"  {users} users for {seconds} s...", file=sys.stderr, flush=True)
        figures = asyncio.run(measure(users, seconds, think))
        results.append(figures)
        rows += rows_for(figures)
    if size == "full":  # only the largest crowd asks for more than the ceiling
        saturated = results[-1]
        rows.append(
            Row(
                SECTION,
                f"at saturation ({saturated['users']} users): share of the 30/s ceiling used for steps",
                100 * saturated["ceiling_share"],
                "%",
                "≥ 90 %",
                saturated["ceiling_share"] >= GOALS["ceiling_share"],
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.crowd --users N --seconds S`: one crowd size, the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.crowd", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--think", type=float, nargs=2, default=THINK, metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.users, args.seconds, tuple(args.think), args.seed))
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
