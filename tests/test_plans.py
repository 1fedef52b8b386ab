"""Plans (bot/plans.py): the declarations hold together, and a broken one is named clearly.

How plans follow each story and keep to the guards is in tests/test_scenarios.py (the scenario
suite); following a plan case by case (sent, checks, answers) is below, on a real store.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.plans import CLOSE, NEXT, STEPS, Step, Wait, plan_problems


def with_step(step: Step, at: int | None = None) -> list[Step]:
    """The declared steps with `step` put in place of the one of the same id (or inserted at `at`)."""
    steps = [step if s.id == step.id else s for s in STEPS]
    if step.id not in {s.id for s in STEPS}:
        steps.insert(len(steps) if at is None else at, step)
    return steps


def test_the_declared_plans_hold_together():
    assert plan_problems() == []


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        (
            with_step(Step("extra", ("no_such_message",), {"no_answer": NEXT})),
            "unknown message or action 'no_such_message'",
        ),
        (with_step(Step("hold", ("attesa",), {"no_answer": "nowhere"})), "'no_answer' leads to unknown step 'nowhere'"),
        (
            with_step(
                Step("terms", ("tempi_di_risposta", "no_chiaro", "regole_chiare", "sconto_vip"), {"worse": "value"})
            ),
            "'worse' leads back to step 'value' (a loop)",
        ),
        (with_step(Step("hold", ("attesa",), {"shrug": NEXT})), "unknown answer 'shrug'"),
        (
            with_step(Step("hold", ("attesa",), {"settled": f"{CLOSE}forgotten"})),
            "closes with unknown outcome 'forgotten'",
        ),
        ([s for s in STEPS if s.id != "hold"], "message 'attesa': no plan step sends it"),
        (with_step(replace(STEPS[0], wait=Wait(0))), "waits 0 days"),
        (with_step(replace(STEPS[0], wait=Wait(3, fact="moon"))), "waits for unknown fact 'moon'"),
        (with_step(replace(STEPS[0], given={"colour": "red"})), "presumes an answer to 'colour'"),
        (with_step(Step("again", ("sollecito",), {"no_answer": NEXT})), "'sollecito' is already sent by step 'remind'"),
        (with_step(Step("mixed", ("counsel", "attesa"), {"no_answer": NEXT}), at=0), "an action is a step of its own"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_broken_plan_is_named(steps, problem):
    found = plan_problems(steps)
    assert any(problem in p for p in found), found


def test_an_action_nothing_leads_to_is_unreachable():
    steps = [replace(s, otherwise="end") if s.id == "exit" else s for s in STEPS]
    assert "plan step 'stop': no answer of any step leads to it (unreachable)" in plan_problems(steps)


def test_flows_check_names_a_broken_plan(monkeypatch):
    from bot import plans

    from helpers import run_cli

    assert run_cli("flows", "check").returncode == 0
    monkeypatch.setattr(plans, "STEPS", tuple(s for s in STEPS if s.id != "hold"))
    done = run_cli("flows", "check")
    assert done.returncode == 1 and "message 'attesa': no plan step sends it" in done.stderr, done.stderr
