"""Guards that no other test would miss if they were removed: each test here fails without its guard.

- the exclusive option toggle in `Coach._apply` ("none of these" clears the others and vice versa);
- the `RedactTokens` filter that `configure_logging` installs (no bot token in any log line).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.actions import Done, Toggle
from bot.coach import Coach
from bot.engine import Engine, Invalid
from bot.store import Store

from helpers import ROOT

USER = 11


@pytest.fixture
def at_multi(flow):
    """A coach on a real in-memory store, and user USER waiting at a multiple-choice question with an
    exclusive option (found by following the flow's first answers)."""
    engine = Engine(flow)
    state = engine.new()
    while not (engine.question(state).kind == "multi" and any(o.exclusive for o in engine.question(state).options)):
        q = engine.question(state)
        try:
            state = engine.answer(
                state, q.options[0].id if q.kind == "single" else [q.options[0].id] if q.is_choice else "100"
            )
        except Invalid:
            state = engine.skip(state)
    coach = Coach(Store.open(":memory:"), flow)
    coach.store.save_conversation(USER, state.but(cid="abc123", picked=[]))
    yield coach, engine.question(state)
    coach.store.close()


def picked(coach: Coach) -> list[str]:
    return coach.store.load_conversation(USER)[0].picked


def test_picking_the_exclusive_option_clears_the_others_and_the_others_clear_it(at_multi):
    coach, q = at_multi
    exclusive = next(o.id for o in q.options if o.exclusive)
    first, second = [o.id for o in q.options if not o.exclusive][:2]
    coach.act(USER, Toggle(first))
    coach.act(USER, Toggle(second))
    assert picked(coach) == [first, second]
    coach.act(USER, Toggle(exclusive))
    assert picked(coach) == [exclusive], "the exclusive option clears the others"
    coach.act(USER, Toggle(first))
    assert picked(coach) == [first], "another option clears the exclusive one"
    coach.act(USER, Toggle(first))
    assert picked(coach) == [], "a second tap takes an option back"
    coach.act(USER, Toggle(exclusive))
    coach.act(USER, Done())
    assert coach.store.load_conversation(USER)[0].answers[q.id] == [exclusive]


_LOGGING_CHILD = """
import logging, sys
from bot.config import configure_logging
token = sys.argv[1]
configure_logging(token, logging.DEBUG)
logging.getLogger("httpx").warning("HTTP Request: POST https://api.telegram.org/bot%s/getMe", token)
logging.getLogger("telegram.ext").error("token %s rejected", token)
logging.getLogger("bot").info("a bare token in the text: " + token)
logging.getLogger("bot").info("another bot's token: bot987654321:" + "Z" * 40 + "/sendMessage")
"""


def test_configure_logging_redacts_every_token(tmp_path):
    token = "123456789:" + "A1b2C3d4E5" * 4
    done = subprocess.run(
        [sys.executable, "-c", _LOGGING_CHILD, token], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 4, done.stderr
    assert "A1b2C3d4E5" not in done.stderr and "123456789:" not in done.stderr
    assert "Z" * 40 not in done.stderr, "a token in a URL is redacted even when it is not ours"
    assert all("redacted" in line for line in lines)
