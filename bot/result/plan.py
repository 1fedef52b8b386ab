"""A case's plan as the result shows it (bot.plans): each step it can come to, when to check, and
what each answer leads to; and what a step is called."""

from __future__ import annotations

from typing import Any

from ..classifier import Assessment
from ..facts import notice_period
from ..plans import BY_ACTION, CLOSE, END, REASSESS, CasePlan, Planned
from ..render import Renderer
from .messages import DEFAULT_VARIANT, script


def step_title(
    renderer: Renderer, lang: str, plan: CasePlan, planned: Planned, assessment: Assessment, form: str | None = None
) -> str:
    """What a plan's step is called: its message's title, or its action's."""
    if planned.does in BY_ACTION:
        return renderer.ui(lang, "action_title", planned.does)
    return script(renderer, lang, planned.does, plan.message_answers(planned), assessment, DEFAULT_VARIANT, form)[0]


def _outcomes(planned: Planned, numbers: dict[str, int]) -> list[dict[str, Any]]:
    """Where the step's answers lead, the answers that lead to the same place together."""
    outcomes: list[dict[str, Any]] = []
    for answer in planned.answers:
        target = planned.then[answer]
        same = next((o for o in outcomes if o["to"] == target), None)
        if same is not None:
            same["answers"].append(answer)
            continue
        kind = "close" if target.startswith(CLOSE) else target if target in (END, REASSESS) else "step"
        outcome = target[len(CLOSE) :] if kind == "close" else None
        outcomes.append(
            {"to": target, "answers": [answer], "kind": kind, "number": numbers.get(target), "outcome": outcome}
        )
    return outcomes


def plan_text(
    renderer: Renderer,
    lang: str,
    plan: CasePlan,
    assessment: Assessment,
    form: str,
    case_no: int,
    first_index: int | None,
    how_to: bool = True,
) -> str:
    """The plan: each step it can come to, when to check, what each answer leads to; `first_index`
    is the first step's message among the case's messages (for the console's `cases sent`);
    `how_to` adds how to mark it sent (left out once the plan has started)."""
    course = plan.course()
    numbers = {p.id: i for i, p in enumerate(course, 1)}
    steps = [
        {
            "number": numbers[planned.id],
            "title": step_title(renderer, lang, plan, planned, assessment, form),
            "message": planned.is_message,
            "wait_days": planned.step.wait.days,
            "notice": notice_period(plan.answers) if plan.waits_for_fact(planned) else None,
            "money": "paid" in planned.then,
            "outcomes": _outcomes(planned, numbers),
        }
        for planned in course
    ]
    return renderer.render(f"{lang}/plan.html.j2", steps=steps, case_no=case_no, first_index=first_index, how_to=how_to)


__all__ = ["plan_text", "step_title"]
