"""Plans (bot/plans.py): the declarations hold together, and a broken one is named clearly.

How plans follow each story and keep to the guards is in tests/test_scenarios.py (the scenario
suite); following a plan case by case (sent, checks, answers) is below, on a real store.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot.actions import Finish, decode
from bot.casebook import CaseBook, CaseBookError
from bot.classifier import Assessment
from bot.coach import Coach
from bot.plans import CLOSE, NEXT, STEPS, Step, Wait, plan_problems
from bot.render import Renderer, html_problems
from bot.result import scripts_for

from helpers import FLOW


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


def test_the_result_path_refuses_a_broken_plan_when_it_loads():
    """The console's first prompt does not load the plans; the result path checks them as it loads,
    before any result is shown (a fresh process: this one has loaded them already)."""
    from helpers import ROOT, clean_environment

    load = "from bot import plans; plans.STEPS = tuple(s for s in plans.STEPS if s.id != 'hold'); import bot.result"
    done = subprocess.run(
        [sys.executable, "-c", load], capture_output=True, text=True, cwd=ROOT, env=clean_environment(), timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "ValueError: bot/plans.py: message 'attesa': no plan step sends it" in done.stderr, done.stderr


# -- following a plan, on a real store (the end-to-end walks are in test_cases_cli and test_telegram_cases) --

ALICE, BOB = 5, 6
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
OVERDUE = {"alias": "Bianchi Srl", "payment": "late", "owed": "640", "owed_since": "overdue", "balance": "even"}
LEGAL_AND_REVIEW = {
    "alias": "Neri",
    "payment": "full",
    "balance": "even",
    "behaviours": ["legal", "offended"],
    "conflict": ["review_posted", "lawyer_letter"],
    "settle": "no_will",
    "origin": "no_error",
}


@pytest.fixture
def saved(store, drive):
    """save(user, answers, lang) -> the case number of a questionnaire answered through the engine."""
    coach = Coach(store, FLOW)

    def save(user: int, answers: dict, lang: str = "it") -> int:
        state = drive(answers, lang)
        store.save_conversation(user, state.but(cid=f"c{user}", picked=[]), {})
        case_no = coach.act(user, Finish()).case_no
        assert case_no is not None
        return case_no

    return save


@pytest.fixture
def book(store):
    return CaseBook(store, FLOW, Renderer(), clock=lambda: NOW, zone=timezone.utc)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_plan_and_its_checks_read_in_both_languages(book, saved, lang):
    no = saved(ALICE, OVERDUE, lang)
    assert "🗺" in book.case_view(ALICE, no, lang)[3].text
    sent = book.mark_sent(ALICE, no, "1", lang=lang)
    reminder = sent.meta["reminder"]
    assert reminder.due == NOW + timedelta(days=7) and sent.meta["step"] == "remind"
    again = book.mark_sent(ALICE, no, "1", lang=lang)  # a double tap: the same send, recorded once
    assert "reminder" not in again.meta and again.plain == sent.plain
    assert [e["kind"] for e in book.store.timeline(ALICE, no)].count("sent") == 1
    check = book.reminder_message(ALICE, reminder.id, lang)
    assert check.kind == "check" and [b.action.answer for b in check.buttons[0]] == ["paid", "answered"]
    assert not html_problems(check.text) and "{{" not in check.text
    view = book.plan_view(ALICE, no, lang)
    assert not html_problems(view.text) and view.meta["state"] == "waiting"


def test_an_action_step_is_marked_done_and_a_message_off_the_plan_sets_no_check(book, saved, store):
    no = saved(ALICE, LEGAL_AND_REVIEW)
    first, review = (s.id for s in scripts_for(*_assessed(store, ALICE, no)))
    assert (first, review) == ("presa_d_atto", "risposta_recensione")
    off = book.mark_sent(ALICE, no, "2")
    assert "Non è un passo del piano" in off.plain and "reminder" not in off.meta, "a legal claim: no public reply step"
    book.mark_sent(ALICE, no, "1")
    following = book.answer_check(ALICE, no, "acknowledge", "answered")
    assert following[1].kind == "step" and "avvocato" in following[1].plain
    done = book.act(ALICE, decode(following[1].buttons[0][0].action.encode()))[0]
    assert "fatto «Parlare con un avvocato»" in done.plain and done.meta["step"] == "counsel"


def test_statistics_count_the_users_own_cases_only_and_erasure_leaves_no_plan(book, saved, store):
    alice, bob = saved(ALICE, OVERDUE), saved(BOB, OVERDUE)
    book.mark_sent(ALICE, alice, "1")
    book.answer_check(ALICE, alice, "remind", "paid")
    assert book.stats(ALICE).meta["sent"] == {"sollecito": 1}
    assert book.stats(ALICE).meta["answers"] == {"sollecito": {"paid": 1}}
    assert book.stats(BOB).meta["sent"] == {} and book.plans_chart(BOB) is None
    assert book.plans_chart(ALICE) is not None
    book.mark_sent(BOB, bob, "1")
    book.delete_all(BOB)
    assert store.conn.execute("SELECT COUNT(*) FROM case_plans WHERE user_id = ?", (BOB,)).fetchone() == (0,)
    assert store.conn.execute("SELECT COUNT(*) FROM reminders WHERE user_id = ?", (BOB,)).fetchone() == (0,)
    with pytest.raises(CaseBookError):
        book.answer_check(ALICE, alice, "remind", "paid")  # answered already: the plan moved on


def _assessed(store, user: int, case_no: int):
    case = store.case(user, case_no)
    return case.assessment, case.answers


def test_an_answer_that_closes_the_case_is_recorded_with_its_outcome_or_not_at_all(book, saved, store):
    """ "Paid" moves the plan and closes the case in one transaction: if the outcome cannot be written,
    the answer is not recorded either, and the check can still be answered."""
    no = saved(ALICE, OVERDUE)
    book.mark_sent(ALICE, no, "1")
    before = store.timeline(ALICE, no)
    with pytest.raises(ValueError, match="unknown status"):
        store.record_answer(ALICE, no, "remind", "paid", None, None, NOW, outcome="not-a-status")
    assert store.timeline(ALICE, no) == before and store.plan_state(ALICE, no)["state"] == "waiting"
    book.answer_check(ALICE, no, "remind", "paid")
    assert store.case(ALICE, no).status == "risolto"
    kinds = [e["kind"] for e in store.timeline(ALICE, no)][len(before) :]
    assert "status" in kinds


def test_the_plan_says_how_to_mark_a_send_until_the_plan_has_started(book, saved):
    """Before anything is sent the plan ends with how to mark the first message sent; once the plan
    has started, where it stands says what comes next instead (not the first message again)."""
    no = saved(ALICE, OVERDUE)
    assert "Quando l'hai mandato" in book.plan_view(ALICE, no, "it").plain
    book.mark_sent(ALICE, no, "1", lang="it")
    view = book.plan_view(ALICE, no, "it").plain
    assert "Quando l'hai mandato" not in view and "🗺" in view
