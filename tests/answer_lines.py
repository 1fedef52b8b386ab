"""Typed console lines for a whole questionnaire, whatever the flow looks like today.

A scenario names the answers that matter to a test, by question id, as a user types them ("3",
"1 2", "1.200", "Rossi"); every other question the branch reaches gets a plain default. The lines
are found by walking the real engine, so they stay right while the flow gains or loses questions.
"""

from __future__ import annotations

from typing import Any

from bot.engine import END, Engine, Invalid
from bot.flow import Flow, Question

from helpers import FLOW

DEFAULT_TEXT = "testo"


def neutral_answers(flow: Flow) -> dict[str, Any]:
    """Answers a scenario need not spell out, from the flow: a choice question's `neutral` answer (it
    adds no evidence that matters to any profile), None (skip) for an optional question. Questions
    with neither (payment, balance, the questions a branch opens) must be given."""
    out: dict[str, Any] = {}
    for q in flow.questions.values():
        if q.neutral is not None:
            out[q.id] = list(q.neutral) if isinstance(q.neutral, tuple) else q.neutral
        elif q.optional:
            out[q.id] = None  # None = skip
    return out


def _defaults(q: Question) -> list[str]:
    """Lines to try, in order, for a question the scenario does not mention. Not its neutral answer:
    the first options open the longer branches (the trade, the VIP signals, the mistake), so a walk
    with these lines visits more questions."""
    if q.optional:
        return [""]
    if q.kind == "single":
        return [str(i) for i in range(1, len(q.options) + 1)]
    if q.kind == "multi":  # the last option is usually "none of these"
        return [str(i) for i in range(len(q.options), 0, -1)]
    if q.kind == "text":
        return [DEFAULT_TEXT]
    return ["3", "100", "1"]


def typed_lines(
    scenario: dict[str, str | None] | None = None,
    lang: str = "it",
    flow: Flow | None = None,
    review: bool = True,
    state: dict | None = None,
) -> list[str]:
    """The lines answering every question the branch reaches (from `state`, a questionnaire under way,
    or from the start), then Enter at the review."""
    scenario = scenario or {}
    engine = Engine(flow or FLOW)
    state = state or engine.new(lang)
    lines: list[str] = []
    while state["at"] != END:
        q = engine.question(state)
        assert q is not None and len(lines) < 200, "the walk does not end"
        given = scenario.get(q.id)
        tries = [given or ""] if q.id in scenario else _defaults(q)  # None skips, like ""
        for line in tries:
            try:
                state = engine.skip(state) if line == "" else engine.answer(state, line)
            except Invalid:
                continue
            lines.append(line)
            break
        else:
            raise AssertionError(f"no line answers question '{q.id}' (tried {tries})")
    return lines + ([""] if review else [])


def question_ids(scenario: dict[str, str] | None = None, lang: str = "it") -> list[str]:
    """The questions the scenario's branch asks, in order."""
    engine = Engine(FLOW)
    state = engine.new(lang)
    asked = []
    for line in typed_lines(scenario, lang, review=False):
        asked.append(state["at"])
        state = engine.skip(state) if line == "" else engine.answer(state, line)
    return asked
