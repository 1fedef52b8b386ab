"""Shared fixtures for the core tests (flow, engine, classifier, renderer, store, CLI).

Everything here drives the real code: the real flow file, the real engine and renderer, SQLite on
`:memory:` or a temporary file. Plain helpers (paths, the flow, running `clientcoach`) are in
helpers.py, which test modules import; no test module imports conftest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bot.classifier import Assessment, classify
from bot.engine import END, Engine
from bot.flow import Flow
from bot.render import Renderer
from bot.store import Store

from answer_lines import neutral_answers
from helpers import FLOW

# Answers a scenario need not spell out, derived from the flow (see answer_lines.neutral_answers).
NEUTRAL: dict[str, Any] = neutral_answers(FLOW)

_CACHE_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    # The flow-parse and template-bytecode caches go to a private folder, not the user's ~/.cache.
    # Subprocesses inherit it, so they share (and warm) one cache for the whole run.
    global _CACHE_DIR
    _CACHE_DIR = tempfile.mkdtemp(prefix="clientcoach-tests-cache-")
    os.environ["XDG_CACHE_HOME"] = _CACHE_DIR
    # The default database lives in the user's data folder: during tests, in a private one too.
    os.environ["XDG_DATA_HOME"] = os.path.join(_CACHE_DIR, "data-home")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _CACHE_DIR:
        shutil.rmtree(_CACHE_DIR, ignore_errors=True)


# -- core objects ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def flow() -> Flow:
    return FLOW


@pytest.fixture(scope="session")
def engine(flow: Flow) -> Engine:
    return Engine(flow)


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture
def store() -> Store:
    s = Store.open(":memory:")
    yield s
    s.close()


@pytest.fixture
def file_store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "clientcoach.db")
    yield s
    s.close()


# -- driving the engine ------------------------------------------------------------------------


def _typed(value: Any) -> Any:
    """What a user would give the engine: numbers as typed text, lists and ids as they are."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _drive(engine: Engine, answers: dict[str, Any], lang: str = "it", state: dict | None = None) -> dict[str, Any]:
    """Answer the whole questionnaire through the engine, question by question, as a user would.

    `answers` maps question ids to option ids (a list for multiple choice), text, or numbers;
    None skips an optional question; questions not given take their NEUTRAL answer. Fails if a
    question the branch reaches has no answer, if a question is asked twice, or if `answers`
    answers a question the branch never reached (a scenario typo).
    """
    state = state or engine.new(lang)
    asked: list[str] = []
    while state["at"] != END:
        qid = state["at"]
        assert qid not in asked, f"question '{qid}' asked twice"
        asked.append(qid)
        if qid in answers:
            value = answers[qid]
        elif qid in NEUTRAL:
            value = NEUTRAL[qid]
        else:
            raise AssertionError(
                f"the scenario must answer '{qid}': the branch reaches it (a question on the main path"
                f" declares its `neutral` answer in {FLOW.path})"
            )
        state = engine.skip(state) if value is None else engine.answer(state, _typed(value))
    off_branch = set(answers) - set(state["answers"])
    assert not off_branch, f"the scenario answers questions its branch never reaches: {sorted(off_branch)}"
    return state


def _state_at(engine: Engine, qid: str, answers: dict[str, Any] | None = None, lang: str = "it") -> dict[str, Any]:
    """A conversation driven (with `answers`, else NEUTRAL ones) until `qid` is the question asked."""
    answers = answers or {}
    defaults = {"payment": "full", "balance": "even", **NEUTRAL}
    state = engine.new(lang)
    while state["at"] != qid:
        assert state["at"] != END, f"'{qid}' is not on the branch of {answers}"
        current = state["at"]
        value = answers.get(current, defaults.get(current))
        state = engine.skip(state) if value is None else engine.answer(state, _typed(value))
    return state


def _assess(flow: Flow, engine: Engine, answers: dict[str, Any], lang: str = "it") -> tuple[Assessment, dict]:
    """Run the questionnaire through the engine and classify the answers on the branch taken."""
    state = _drive(engine, answers, lang)
    final = {q.id: value for q, value in engine.answered(state)}
    return classify(flow, final), final


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch working folder for `clientcoach` runs (so no .env is read and no default data/ lands in the repo)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


# -- the helpers as fixtures (no test module imports conftest) ---------------------------------


@pytest.fixture
def drive(engine: Engine):
    """drive(answers, lang="it", state=None) -> the finished conversation state."""
    return lambda answers, lang="it", state=None: _drive(engine, answers, lang, state)


@pytest.fixture
def state_at(engine: Engine):
    """state_at(qid, answers=None, lang="it") -> a conversation waiting at question `qid`."""
    return lambda qid, answers=None, lang="it": _state_at(engine, qid, answers, lang)


@pytest.fixture
def assess(flow: Flow, engine: Engine):
    """assess(answers, lang="it") -> (Assessment, answers on the branch), through the engine."""
    return lambda answers, lang="it": _assess(flow, engine, answers, lang)
