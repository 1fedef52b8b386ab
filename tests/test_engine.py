"""The dialogue engine: branching, back, skip, cancel, review and change, progress, typed input, state."""

from __future__ import annotations

import copy
import dataclasses
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from bot.engine import CANCELLED, END, MODES, Engine, Invalid, Progress, clean_text, parse_money

from helpers import FLOW

# A valid typed answer for every non-choice question.
TYPED = {
    "alias": "Rossi",
    "owed": "850",
    "price": "1.200",
    "concession_offer": "uno sconto del 10%",
    "attention": "telefonate la sera",
    "service": "consulenza fiscale",
    "address": "Mario",
    "notice_period": "3 mesi",
}

GOOD_CLIENT = {"payment": "full", "balance": "worth_it", "behaviours": ["values_work"], "feelings": ["glad"]}
FREE_CLIENT = {"payment": "free", "free_attitude": "demands"}
DESTRUCTIVE = {
    "payment": "full",
    "balance": "even",
    "behaviours": ["threats"],
    "conflict": ["review_posted"],
    "settle": "no_will",
}
PRESTIGIOUS = {"payment": "full", "balance": "even", "prestige": "very", "vip_signals": ["jumps_queue"]}
VIP_TURNED_DESTRUCTIVE = {**DESTRUCTIVE, "prestige": "very", "vip_signals": ["jumps_queue", "influential_lawyers"]}
EVERY_BRANCH = {
    "alias": "Rossi",
    "payment": "free",
    "free_attitude": "demands",
    "price": "1.200,50 al mese",
    "behaviours": ["calls_back", "threats"],
    "conflict": ["lawyer_letter"],
    "settle": "only_big_concessions",
    "concessions": "none_yet",
    "concession_offer": "uno sconto",
    "origin": "their_error",
    "pattern": "often",
    "prestige": "very",
    "vip_signals": ["special_attentions"],
    "attention": "telefonate",
    "feelings": ["nights"],
    "notice": "with_notice",
    "notice_period": "3 mesi",
    "service": "il sito web",
    "who": "company_lei",
    "address": "Studio Bianchi",
}


def all_branches(engine: Engine) -> list[dict]:
    """Every finished conversation, one per distinct branch: the options of a choice question are
    grouped by where they lead and one of each group is followed (a multiple choice leads where
    one of its options leads, so single picks cover every branch). Options are also told apart by
    the questions they open through an `ask_if`: two of them may lead to the same question and
    still open different questions later (a one-off job its kind of work, an ongoing contract its
    notice)."""
    finished: list[dict] = []

    def opens(q, option_id: str) -> tuple[str, ...]:
        return tuple(later.id for later in engine.flow.questions.values() if option_id in later.ask_if.get(q.id, ()))

    def visit(state: dict) -> None:
        if state["at"] == END:
            finished.append(state)
            return
        q = engine.question(state)
        if not q.is_choice:
            visit(engine.answer(state, TYPED.get(q.id) or {"text": "testo", "number": "3", "money": "100"}[q.kind]))
            return
        by_target: dict[tuple[str, tuple[str, ...]], dict] = {}
        for option in q.options:
            after = engine.answer(state, [option.id] if q.kind == "multi" else option.id)
            by_target.setdefault((after["at"], opens(q, option.id)), after)
        for after in by_target.values():
            visit(after)

    visit(engine.new())
    return finished


# -- path length -------------------------------------------------------------------------------


def test_every_branch_takes_between_12_and_25_questions(engine):
    branches = all_branches(engine)
    lengths = sorted(len(state["history"]) for state in branches)
    # relationship (kind of work, package, notice), payment (cheap work, money owed), behaviours
    # (conflict, concessions), origin (our own error: the mistake and the remedy) and prestige (VIP)
    # branch, and some branches open a follow-up of their own.
    assert lengths[0] == 12, "the shortest path (a finished one-off job paid in full, no branch taken)"
    assert lengths[-1] == 25, (
        "the longest path (late payer + conflict + concessions + our error + VIP attentions + notice)"
    )
    assert set(lengths) == set(range(12, 26))
    assert {qid for state in branches for qid in state["history"]} == set(FLOW.questions), "every question is reached"


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(GOOD_CLIENT, 13, id="good-client"),
        pytest.param(FREE_CLIENT, 14, id="free-client"),
        pytest.param({"payment": "below_price", "free_attitude": "demands", "balance": "drains"}, 15, id="underpaid"),
        # The typical late payer: a job delivered and not paid (no notice to end it). On an ongoing
        # contract the notice joins the count: 16 questions.
        pytest.param(
            {
                "relationship": "one_off_finished",
                "payment": "late",
                "owed": "850",
                "owed_since": "overdue",
                "balance": "drains",
            },
            15,
            id="late-payer",
        ),
        pytest.param(PRESTIGIOUS, 14, id="prestigious"),
        pytest.param(DESTRUCTIVE, 15, id="destructive"),
    ],
)
def test_a_typical_run_asks_15_questions_or_fewer(drive, answers, expected):
    state = drive(answers)
    assert len(state["history"]) == expected <= 15
    asked = set(state["history"])
    # Follow-ups open only on their branch: the price only for cheap work, how the client treats the
    # work and its price whenever the price is not paid in full on time, the money owed only for a
    # late payer, the balance never for free work (it brings nothing in), the notice only for a
    # relationship that goes on.
    assert ("price" in asked) == (answers["payment"] in ("free", "below_price"))
    assert ("free_attitude" in asked) == (answers["payment"] in ("free", "below_price", "late"))
    assert ("balance" in asked) == (answers["payment"] != "free")
    assert ({"owed", "owed_since"} <= asked) == (answers["payment"] == "late")
    assert ("notice" in asked) == (answers.get("relationship", "ongoing") in ("ongoing", "mandate"))
    assert not asked & {"trade", "prepaid_state", "notice_period"}, "no branch of the relationship or the notice"


def test_a_mixed_profile_run_asks_every_branch_it_touches(drive):
    assert len(drive(VIP_TURNED_DESTRUCTIVE)["history"]) == 16
    assert len(drive(EVERY_BRANCH)["history"]) == 21


def test_changing_to_free_work_drops_the_balance_and_asks_the_price(engine, drive):
    state = drive({"payment": "full", "balance": "drains"})
    state = engine.answer(engine.change(state, "payment"), "free")
    assert state["at"] == "free_attitude"
    for value in ("demands", "1.500 una tantum"):
        state = engine.answer(state, value)
    assert state["at"] == END, "the rest of the branch was answered before"
    answered = [q.id for q, _ in engine.answered(state)]
    assert "balance" not in answered and answered[:6] == [
        "alias",
        "relationship",
        "payment",
        "free_attitude",
        "price",
        "behaviours",
    ]
    assert {q.id: v for q, v in engine.answered(state)}["price"] == {"amount": 1500.0, "unit": "once"}


# -- back ----------------------------------------------------------------------------------------


def test_back_undoes_the_last_answer_down_to_the_first_question(engine, drive):
    state = drive(EVERY_BRANCH)
    asked = list(state["history"])
    for expected_at in reversed(asked):
        state = engine.back(state)
        assert state["at"] == expected_at
        assert expected_at not in state["answers"]
        assert state["history"] == asked[: asked.index(expected_at)]
        assert set(state["answers"]) == set(state["history"])
    assert state["at"] == FLOW.start and state["answers"] == {} and state["history"] == []
    with pytest.raises(Invalid) as caught:
        engine.back(state)
    assert caught.value.key == "nothing_to_undo"


def test_back_then_a_different_answer_takes_the_other_branch(engine, state_at):
    state = state_at("balance", {"payment": "full"})
    state = engine.back(state)
    assert state["at"] == "payment"
    state = engine.answer(state, "free")
    assert state["at"] == "free_attitude"


def test_back_at_the_first_question_changes_nothing(engine):
    state = engine.new()
    before = copy.deepcopy(state)
    with pytest.raises(Invalid, match="nothing_to_undo"):
        engine.back(state)
    assert state == before


# -- skip and cancel -----------------------------------------------------------------------------


def test_skip_leaves_an_optional_question_unanswered(engine):
    state = engine.skip(engine.new())
    assert state["answers"] == {"alias": None}
    assert state["at"] == "relationship"


@pytest.mark.parametrize("qid", ["payment", "behaviours", "pattern", "who"])
def test_a_required_question_cannot_be_skipped(engine, state_at, qid):
    state = state_at(qid)
    with pytest.raises(Invalid) as caught:
        engine.skip(state)
    assert caught.value.key == "cannot_skip"


def test_every_question_marked_optional_can_be_skipped_and_only_those(engine, state_at):
    for qid, q in FLOW.questions.items():
        payment = {"owed": "late", "owed_since": "late", "balance": "below_price"}.get(qid, "free")
        relationship = {"trade": "one_off_in_progress", "prepaid_state": "prepaid"}.get(qid, "ongoing")
        answers = {
            "relationship": relationship,
            "payment": payment,
            "free_attitude": "demands",
            "behaviours": ["threats"],
            "conflict": ["lawyer_letter"],
            "settle": "only_big_concessions",
            "concessions": "none_yet",
            "prestige": "very",
            "vip_signals": ["special_attentions"],
            "notice": "with_notice",
            "origin": "our_error",  # opens whatever only a recovery needs
        }
        state = state_at(qid, answers)
        if q.optional:
            assert engine.skip(state)["answers"][qid] is None
        else:
            with pytest.raises(Invalid, match="cannot_skip"):
                engine.skip(state)


def test_cancel_ends_the_conversation(engine, state_at):
    state = engine.cancel(state_at("balance"))
    assert state["at"] == CANCELLED
    assert engine.question(state) is None and not engine.complete(state)
    with pytest.raises(Invalid, match="no_question"):
        engine.answer(state, "1")
    with pytest.raises(Invalid, match="no_question"):
        engine.skip(state)
    assert engine.compatible(state)


def test_answering_after_the_end_is_refused(engine, drive):
    state = drive(GOOD_CLIENT)
    assert engine.complete(state)
    with pytest.raises(Invalid, match="no_question"):
        engine.answer(state, "1")


# -- review and change ---------------------------------------------------------------------------


def test_changing_payment_to_free_asks_only_the_free_work_question(engine, drive):
    done = drive({**GOOD_CLIENT, "alias": "Rossi"})
    assert "free_attitude" not in done["history"]
    state = engine.show_review(done)
    assert state["review"] and [q.id for q, _ in engine.answered(state)] == done["history"]

    state = engine.change(state, "payment")
    assert (state["at"], state["editing"], state["review"]) == ("payment", True, False)
    state = engine.answer(state, "free")
    assert state["at"] == "free_attitude", "the question the change brings in comes next"
    state = engine.answer(state, "demands")
    assert state["at"] == "price", "price was answered, but not on this branch: it is asked"
    state = engine.answer(state, "900")  # the price, with its unit: for the whole job
    assert state["at"] == END and not state["editing"], "then straight back to the review"

    brought_in = {
        "payment": "free",
        "free_attitude": "demands",
        "price": {"amount": 900.0, "unit": "once"},
    }
    kept = {k: v for k, v in done["answers"].items() if k != "balance"}
    assert state["answers"] == {**kept, **brought_in}, "every other answer is kept; the balance is off this branch"
    assert done["history"][:4] == ["alias", "relationship", "payment", "balance"]
    assert state["history"] == ["alias", "relationship", "payment", "free_attitude", "price", *done["history"][4:]]


def test_dropping_threats_drops_the_conflict_answers(engine, drive):
    done = drive({**DESTRUCTIVE, "behaviours": ["rude", "threats"]})
    assert {"conflict", "settle"} <= set(done["answers"])
    state = engine.change(engine.show_review(done), "behaviours")
    state = engine.answer(state, ["rude"])
    assert state["at"] == END
    assert "conflict" not in state["answers"] and "settle" not in state["answers"]
    assert "conflict" not in state["history"] and "settle" not in state["history"]
    kept = {k: v for k, v in done["answers"].items() if k not in ("conflict", "settle", "behaviours")}
    assert state["answers"] == {**kept, "behaviours": ["rude"]}


def test_adding_threats_asks_the_conflict_questions_then_returns_to_the_review(engine, drive):
    done = drive({**GOOD_CLIENT, "feelings": ["nights"]})
    state = engine.change(done, "behaviours")
    state = engine.answer(state, ["values_work", "offended"])
    assert state["at"] == "conflict"
    state = engine.answer(state, ["fair_complaint"])
    assert state["at"] == "settle"
    state = engine.answer(state, "willing")
    assert state["at"] == END
    assert state["answers"]["feelings"] == ["nights"] and state["answers"]["payment"] == "full"
    assert engine.path(state["answers"]) == (state["history"], END)


def test_changing_an_answer_off_any_branch_goes_straight_back_to_the_review(engine, drive):
    done = drive({**FREE_CLIENT, "price": "900"})
    state = engine.answer(engine.change(done, "price"), "1.500")
    assert state["at"] == END
    assert state["answers"] == {**done["answers"], "price": {"amount": 1500.0, "unit": "once"}}
    assert state["history"] == done["history"]


def test_a_change_in_the_middle_of_the_questionnaire_resumes_where_the_user_was(engine, state_at):
    state = state_at("origin", {"payment": "full"})
    state = engine.change(engine.show_review(state), "payment")
    state = engine.answer(state, "below_price")
    assert state["at"] == "free_attitude" and state["editing"]
    for raw in ("grateful", "900 al mese"):  # how the client treats the work, the price
        state = engine.answer(state, raw)
    assert state["at"] == "origin", "the unanswered question the user had reached"
    assert state["editing"] and {"balance", "behaviours"} <= set(state["answers"])


def test_only_answered_questions_can_be_changed(engine, state_at):
    state = state_at("balance")
    with pytest.raises(Invalid, match="not_answered"):
        engine.change(state, "who")
    with pytest.raises(Invalid, match="not_answered"):
        engine.change(state, "no_such_question")


def test_the_review_needs_at_least_one_answer(engine):
    with pytest.raises(Invalid, match="nothing_to_review"):
        engine.show_review(engine.new())


def test_leaving_the_review_returns_to_the_question(engine, state_at):
    state = state_at("behaviours")
    back = engine.leave_review(engine.show_review(state))
    assert back["at"] == "behaviours" and not back["review"]


def test_prefill_keeps_answers_after_a_question_the_flow_gained(engine, drive):
    """A re-assessment: answers from an earlier case, where free_attitude was never answered."""
    earlier = dict(drive(GOOD_CLIENT)["answers"], payment="below_price", ghost="x", who="maybe")
    state = engine.prefill(engine.new(), earlier)
    assert state["at"] == "free_attitude" and state["mode"] == "editing", "the new questions are asked as a change"
    assert "ghost" not in state["answers"] and "who" not in state["answers"], "invalid answers are dropped"
    for raw in ("grateful", "900"):
        state = engine.answer(state, raw)
    assert state["at"] == "who", "the answers after the new questions were kept"
    state = engine.answer(state, "man_tu")
    assert state["at"] == END and state["answers"]["balance"] == "worth_it"


# -- progress ------------------------------------------------------------------------------------


def test_progress_follows_the_branch(engine, drive):
    def default_chain() -> list[str]:
        chain, qid = [], FLOW.start
        while qid != END:
            chain.append(qid)
            qid = FLOW.questions[qid].next
        return chain

    def total(state: dict) -> int:
        return engine.progress(state).total

    state = engine.new()
    start = engine.progress(state)
    assert start.number == 1
    assert start.total == len(default_chain()), "before any answer, every question a first answer may open counts"
    state = engine.answer(state, "Rossi")
    assert engine.progress(state) == Progress(2, start.total)
    state = engine.answer(state, "ongoing")
    assert engine.progress(state) == Progress(3, start.total - 2), "an ongoing contract: no kind of work, no package"
    state = engine.answer(state, "free")
    assert engine.progress(state) == Progress(4, start.total - 3), "free work: the balance leaves the count"
    for raw in ("demands", "900"):
        state = engine.answer(state, raw)
    assert engine.progress(state) == Progress(6, start.total - 3), "the cheap-work questions were counted already"
    state = engine.answer(state, ["threats"])
    assert engine.progress(state) == Progress(7, start.total - 1), "conflict and settle join the count"
    for raw in (["lawyer_letter"], "no_will"):
        state = engine.answer(state, raw)
    before_origin = total(state)
    state = engine.answer(state, "unsure")
    # What only our own error opens (the recovery's follow-ups, if the flow has any) leaves the count.
    recovery_only = sum(1 for q in FLOW.questions.values() if "origin" in q.ask_if)
    assert total(state) == before_origin - recovery_only
    for raw in ("few", "very"):
        state = engine.answer(state, raw)
    assert state["at"] == "vip_signals"
    assert engine.progress(state) == Progress(12, before_origin - recovery_only + 1), "the VIP signals join"
    state = engine.back(state)
    assert state["at"] == "prestige"
    assert engine.progress(state) == Progress(11, before_origin - recovery_only), "back takes it out of the count"
    same_branch = {"payment": "free", "free_attitude": "demands", "price": "900", "behaviours": ["threats"]}
    same_branch |= {"conflict": ["lawyer_letter"], "settle": "no_will", "prestige": "not_influential"}
    assert total(state) == len(drive(same_branch)["history"]), "the count is the branch the answers take"


def test_progress_counts_to_the_last_question(engine, drive):
    state = engine.back(drive(FREE_CLIENT))
    assert state["at"] == "who"
    assert engine.progress(state) == Progress(14, 14)


def test_progress_while_changing_an_answer(engine, drive):
    done = drive(FREE_CLIENT)
    state = engine.change(done, "payment")
    assert engine.progress(state) == Progress(3, 14)


# -- typed input ---------------------------------------------------------------------------------

# Answers that lead to questions off the default branch.
REACH = {
    "price": {"payment": "free", "free_attitude": "demands"},
    "owed": {"payment": "late"},
    "conflict": {"behaviours": ["threats"]},
    "notice_period": {"relationship": "ongoing", "notice": "with_notice"},
}
NUMBER = dataclasses.replace(
    FLOW.questions["price"], id="how_many", kind="number", validate={"min": 0, "max": 999}, units=(), ask_if={}
)


def nth(qid: str, *option_ids: str) -> str:
    """The options as typed by their numbers ("4 1"), wherever the flow lists them."""
    ids = [o.id for o in FLOW.questions[qid].options]
    return " ".join(str(ids.index(o) + 1) for o in option_ids)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("tre", "not_number"),
        ("NaN", "not_number"),
        ("1e3", "not_number"),
        ("1 1 1", "not_number"),
        ("٣", "not_number"),
        ("2,5", "not_integer"),
        ("1000", "out_of_range"),
        ("-1", "out_of_range"),
    ],
)
def test_a_number_question_refuses_what_is_not_a_number(engine, raw, key):
    """A number question with no units (the flow's one has units, tested below): plain numbers only."""
    with pytest.raises(Invalid) as caught:
        engine.parse(NUMBER, raw)
    assert caught.value.key == key


@pytest.mark.parametrize(("raw", "value"), [("0", 0), (" 999 ", 999), ("4,0", 4), ("１２", 12), ("+7", 7)])
def test_a_number_question_reads_numbers(engine, raw, value):
    assert engine.parse(NUMBER, raw) == value and type(engine.parse(NUMBER, raw)) is int


@pytest.mark.parametrize(
    ("qid", "raw", "key"),
    [
        ("payment", "9", "not_an_option"),
        ("payment", "0", "not_an_option"),
        ("payment", "baratto?", "not_an_option"),
        ("payment", "   ", "not_an_option"),
        ("behaviours", "1 42", "not_an_option"),
        ("behaviours", "litiga sempre", "not_an_option"),
        ("behaviours", nth("behaviours", "threats", "none"), "exclusive_option"),
        ("behaviours", ["threats", "none"], "exclusive_option"),
        ("behaviours", [], "pick_at_least_one"),
        ("behaviours", "", "pick_at_least_one"),
        ("alias", "", "empty"),
        ("alias", " \t \u200b ", "empty"),
        ("alias", "x" * 61, "too_long"),
        ("service", "y" * 81, "too_long"),
        ("price", "dodici euro", "not_money"),
        ("price", "48 al secolo", "unknown_unit"),
        ("price", "all'ora", "not_money"),
        ("price", "£ 1,200 per month", "not_money"),
        ("price", "1 1 1", "not_money"),
        ("price", "12,345,67", "not_money"),
        ("price", "20.000.000", "out_of_range"),
    ],
)
def test_invalid_input_is_refused_with_the_right_key(engine, state_at, qid, raw, key):
    state = state_at(qid, REACH.get(qid))
    before = copy.deepcopy(state)
    with pytest.raises(Invalid) as caught:
        engine.answer(state, raw)
    assert caught.value.key == key
    assert state == before, "a refused answer changes nothing"


def test_refusals_carry_what_the_reprompt_needs(engine, state_at):
    with pytest.raises(Invalid) as caught:
        engine.answer(state_at("payment"), "7")
    assert caught.value.params == {"count": 4}
    with pytest.raises(Invalid) as caught:
        engine.answer(state_at("alias"), "x" * 61)
    assert caught.value.params == {"max": 60}
    with pytest.raises(Invalid) as caught:
        engine.answer(state_at("price", REACH["price"]), "20.000.000")
    assert caught.value.params == {"min": 0.01, "max": 10_000_000}
    with pytest.raises(Invalid) as caught:
        engine.answer(state_at("behaviours", lang="en"), nth("behaviours", "offended", "none"))
    assert caught.value.params == {"option": "None of these"}


@pytest.mark.parametrize(
    ("qid", "raw", "value", "lang"),
    [
        ("payment", "3", "free", "it"),
        ("payment", " 3 ", "free", "it"),
        ("payment", "free", "free", "it"),
        ("payment", "niente:  LAVORO gratis o quasi", "free", "it"),
        ("payment", "Full price, on time", "full", "en"),
        ("behaviours", nth("behaviours", "calls_back", "threats"), ["threats", "calls_back"], "it"),
        (
            "behaviours",
            nth("behaviours", "calls_back") + ", " + nth("behaviours", "rude") + "; " + nth("behaviours", "rude"),
            ["calls_back", "rude"],
            "it",
        ),
        (
            "behaviours",
            ["values_work", nth("behaviours", "discount_demands")],
            ["discount_demands", "values_work"],
            "it",
        ),
        ("behaviours", nth("behaviours", "none"), ["none"], "it"),
        ("behaviours", "\u00a0\u00a0\u00a0\u00a01" * 20, ["threats"], "it"),
        ("behaviours", "Nessuno di questi", ["none"], "it"),
        ("alias", "  Mario \t  Rossi\x00 ", "Mario Rossi", "it"),
        ("alias", '<b>x</b> & "y"', '<b>x</b> & "y"', "it"),
        ("price", "1.200", {"amount": 1200.0, "unit": "once"}, "it"),
        ("price", "350,5", {"amount": 350.5, "unit": "once"}, "it"),
        ("price", "€ 1,200.50", {"amount": 1200.5, "unit": "once"}, "en"),
        ("price", "48 all’ora", {"amount": 48.0, "unit": "hour"}, "it"),
        ("price", "48€/h", {"amount": 48.0, "unit": "hour"}, "it"),
        ("price", "300 euro al mese", {"amount": 300.0, "unit": "month"}, "it"),
        ("price", "EUR 90 a seduta", {"amount": 90.0, "unit": "piece"}, "it"),
        ("price", "1 200,50 Una Tantum", {"amount": 1200.5, "unit": "once"}, "it"),
        ("price", "450 a day", {"amount": 450.0, "unit": "day"}, "en"),
    ],
)
def test_valid_input_is_read(engine, state_at, qid, raw, value, lang):
    state = engine.answer(state_at(qid, REACH.get(qid), lang=lang), raw)
    assert state["answers"][qid] == value
    assert type(state["answers"][qid]) is type(value)


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("1.200", "1200.00"),
        ("1.200,50", "1200.50"),
        ("350,5", "350.50"),
        ("€ 1,200.50", "1200.50"),
        ("1200", "1200.00"),
        ("1200 €", "1200.00"),
        ("1,200", "1200.00"),
        ("12.50", "12.50"),
        ("0,99", "0.99"),
        ("1.234.567,89", "1234567.89"),
        ("1,234,567.89", "1234567.89"),
        ("EUR 99", "99.00"),
        ("99 euro", "99.00"),
    ],
)
def test_money_is_read_the_italian_and_the_english_way(raw, amount):
    assert parse_money(raw) == Decimal(amount)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "€",
        "abc",
        "dodici",
        "12a",
        "-5",
        "1.200,505",
        ",500",
        ".500",
        "12,345,67",
        "1.2.3",
        "1,2.3",
        "1.200,000.50",
        "...",
    ],
)
def test_garbage_is_not_money(raw):
    with pytest.raises(Invalid) as caught:
        parse_money(raw)
    assert caught.value.key == "not_money"


def test_money_above_the_hard_limit_is_out_of_range():
    with pytest.raises(Invalid) as caught:
        parse_money("999.999.999")
    assert caught.value.key == "out_of_range"


def test_typed_text_is_cleaned():
    assert clean_text("  a\u202eb\u200b  c \r\n\n\n d\x07 ") == "ab c\nd"
    assert clean_text("e\u0301") == "é", "NFC"
    assert len(clean_text("z" * 10_000)) == 4000, "hostile input is cut before any work"


# -- option words, units, amounts of nothing (flow version 4) ----------------------------------


@pytest.mark.parametrize(
    ("qid", "raw", "value", "lang"),
    [
        ("who", "uomo, Lei", "man_lei", "it"),
        ("who", "donna tu", "woman_tu", "it"),
        ("who", "Signora", "woman_lei", "it"),
        ("notice", "sì", "with_notice", "it"),
        ("notice", "Sì!", "with_notice", "it"),
        ("notice", "non lo so", "unknown", "it"),
        ("pattern", "spesso", "often", "it"),
        ("payment", "gratis?", "free", "it"),
        ("relationship", "abbonamento", "ongoing", "it"),
        ("who", "man, formal", "man_lei", "en"),
        ("who", "woman informal", "woman_tu", "en"),
        ("notice", "yes", "with_notice", "en"),
        ("pattern", "a few", "few", "en"),
        ("behaviours", "vie legali", ["legal"], "it"),
        ("conflict", "recensione pubblicata, lettera", ["review_posted", "lawyer_letter"], "it"),
        ("conflict", "social; fornitori, reclamo", ["public_posts", "writes_to_clients", "formal_complaint"], "it"),
        ("conflict", "review posted, lawyer's letter", ["review_posted", "lawyer_letter"], "en"),
    ],
)
def test_typed_words_pick_the_option(engine, state_at, qid, raw, value, lang):
    """An option is named by words a person would type («uomo, Lei»), not only by its number or label;
    at a multiple choice, one option per comma-separated item."""
    state = engine.answer(state_at(qid, REACH.get(qid), lang=lang), raw)
    assert state["answers"][qid] == value


@pytest.mark.parametrize(
    ("qid", "vague", "told_apart", "value", "lang"),
    [
        ("who", "Lei", "uomo, Lei", "man_lei", "it"),
        ("who", "uomo", "uomo tu", "man_tu", "it"),
        ("who", "tu", "azienda tu", "company_tu", "it"),
        ("who", "woman", "woman formal", "woman_lei", "en"),
        ("notice", "yes", "sì", "with_notice", "it"),  # the words of one language only
        ("notice", "sì", "yes", "with_notice", "en"),
    ],
)
def test_words_that_fit_more_than_one_option_are_reprompted(engine, state_at, qid, vague, told_apart, value, lang):
    state = state_at(qid, lang=lang)
    with pytest.raises(Invalid) as caught:
        engine.answer(state, vague)
    assert caught.value.key == "not_an_option"
    assert caught.value.params == {"count": len(FLOW.questions[qid].options)}
    assert engine.answer(state, told_apart)["answers"][qid] == value, "the words that tell one apart pick it"


@pytest.mark.parametrize(
    ("qid", "raw"), [("price", "0"), ("price", "0,00"), ("price", "€ 0 al mese"), ("owed", "0"), ("owed", "0,00")]
)
def test_an_amount_of_nothing_is_refused(engine, state_at, qid, raw):
    state = state_at(qid, REACH[qid])
    with pytest.raises(Invalid) as caught:
        engine.answer(state, raw)
    assert caught.value.key == "not_positive"
    assert engine.answer(state, "0,50")["answers"][qid] in (0.5, {"amount": 0.5, "unit": "once"}), "cents are fine"


@pytest.mark.parametrize(
    ("qid", "raw", "value", "lang"),
    [
        ("price", "800 al trimestre", {"amount": 800.0, "unit": "quarter"}, "it"),
        ("price", "300 all'anno", {"amount": 300.0, "unit": "year"}, "it"),
        ("price", "5%", {"amount": 5.0, "unit": "percent"}, "it"),
        ("price", "12,5 % di provvigione", {"amount": 12.5, "unit": "percent"}, "it"),
        ("price", "100%", {"amount": 100.0, "unit": "percent"}, "it"),
        ("price", "250 a pacchetto", {"amount": 250.0, "unit": "package"}, "it"),
        ("price", "2,000 a year", {"amount": 2000.0, "unit": "year"}, "en"),
        ("notice_period", "3 mesi", {"amount": 3, "unit": "month"}, "it"),
        ("notice_period", "30", {"amount": 30, "unit": "day"}, "it"),
        ("notice_period", "+7 giorni", {"amount": 7, "unit": "day"}, "it"),
        ("notice_period", "2 settimane", {"amount": 2, "unit": "week"}, "it"),
        ("notice_period", "6 months", {"amount": 6, "unit": "month"}, "en"),
    ],
)
def test_amounts_are_read_with_their_unit(engine, state_at, qid, raw, value, lang):
    state = engine.answer(state_at(qid, REACH[qid], lang=lang), raw)
    assert state["answers"][qid] == value
    assert type(state["answers"][qid]["amount"]) is type(value["amount"]), "days are whole, euros are not"


@pytest.mark.parametrize(
    ("qid", "raw", "key", "params"),
    [
        ("price", "120%", "out_of_range", {"min": 0.01, "max": 100}),
        ("notice_period", "25 mesi", "out_of_range", {"min": 1, "max": 24}),
        ("notice_period", "731", "out_of_range", {"min": 1, "max": 730}),
        ("notice_period", "0 mesi", "not_positive", {}),
        ("notice_period", "1,5 mesi", "not_integer", {}),
        ("notice_period", "tre mesi", "not_number", {}),
        (
            "notice_period",
            "3 secoli",
            "unknown_unit",
            {"unit": "secoli", "units": "giorni · settimane · mesi", "first": "giorni"},
        ),
    ],
)
def test_amounts_out_of_their_unit_s_bounds_are_refused(engine, state_at, qid, raw, key, params):
    state = state_at(qid, REACH[qid])
    with pytest.raises(Invalid) as caught:
        engine.answer(state, raw)
    assert (caught.value.key, caught.value.params) == (key, params)


# -- the state -----------------------------------------------------------------------------------


def test_the_state_is_plain_json_and_stays_small(engine, drive):
    def every(qid: str) -> list[str]:
        return [o.id for o in FLOW.questions[qid].options if not o.exclusive]

    # Every branch at once (our own error opens whatever only a recovery needs), every multiple
    # choice with all its options, every text at its longest.
    branch = {**EVERY_BRANCH, "origin": "our_error", "price": "1.234.567,89"}
    asked = [FLOW.questions[qid] for qid in drive(branch)["history"]]
    longest = {
        **branch,
        **{q.id: "Z" * q.validate["max_length"] for q in asked if q.kind == "text"},
        **{qid: every(qid) for qid in ("behaviours", "conflict", "vip_signals", "feelings")},
    }
    state = drive(longest)
    assert set(FLOW.questions) - set(state["answers"]) == {"trade", "prepaid_state", "owed", "owed_since", "balance"}, (
        "all but the kind of work and the package (an ongoing contract), the money owed and its due date,"
        " and the balance (free work)"
    )
    assert json.loads(json.dumps(state)) == state
    stored = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")  # as the store writes it
    assert len(stored) < 2048, f"{len(stored)} bytes"


def test_the_engine_never_changes_the_state_it_is_given(engine, state_at, drive):
    for move in (
        lambda s: engine.answer(s, "free"),
        lambda s: engine.back(s),
        lambda s: engine.cancel(s),
        lambda s: engine.show_review(s),
        lambda s: engine.change(s, "alias"),
    ):
        state = state_at("payment", {"alias": "Rossi"})
        before = copy.deepcopy(state)
        after = move(state)
        assert state == before and after is not state
        assert after["step"] == before["step"] + 1


def test_the_machine_keeps_one_model_whatever_the_number_of_conversations(flow):
    engine = Engine(flow)
    states = [engine.new() for _ in range(1000)]
    for round_ in (["Rossi", "ongoing", "full"], ["drains", ["rude"]]):
        for raw in round_:
            states = [engine.answer(s, raw) for s in states]
    assert all(s["at"] == "origin" for s in states)
    assert len(engine.machine.models) == 1
    assert all(not hasattr(s, "trigger") for s in states), "a conversation is plain data"


def test_interleaved_conversations_do_not_disturb_each_other(engine, drive):
    """The machine's cursor is shared: moving one conversation must not move another."""
    a, b = engine.new(), engine.new("en")
    script_a = ["Rossi", "ongoing", "full", "drains", ["threats"], ["lawyer_letter"], "no_will", "unsure"]
    script_b = ["Bianchi", "mandate", "full", "worth_it", ["values_work"], "unsure", "few", "very"]
    for raw_a, raw_b in zip(script_a, script_b, strict=True):
        a, b = engine.answer(a, raw_a), engine.answer(b, raw_b)
    assert a["at"] == "pattern" and b["at"] == "vip_signals"
    assert b["lang"] == "en" and a["lang"] == "it"


def test_compatible_refuses_states_that_do_not_fit_the_flow(engine, drive):
    good = drive(FREE_CLIENT)
    assert engine.compatible(good)
    broken = [
        {**good, "v": 99},
        {**good, "flow": "another_flow"},
        {**good, "at": "vanished_question"},
        {**good, "answers": {**good["answers"], "vanished_question": "x"}},
        {**good, "answers": {**good["answers"], "payment": "barter"}},
        {**good, "answers": {**good["answers"], "behaviours": "rude"}},
        {**good, "answers": {**good["answers"], "behaviours": ["rude", "screams"]}},
        {**good, "answers": {**good["answers"], "payment": None}},
        {**good, "answers": {**good["answers"], "payment": ["free"]}},
        {**good, "answers": {**good["answers"], "price": "1200"}},
        {**good, "answers": {**good["answers"], "alias": 42}},
        {**good, "history": [*good["history"], "vanished_question"]},
    ]
    for state in broken:
        assert not engine.compatible(state), state


# -- random use ----------------------------------------------------------------------------------

QUESTION_IDS = list(FLOW.questions)


def _valid_answers(q) -> list:
    if q.kind == "single":
        return [o.id for o in q.options] + [str(i) for i in range(1, len(q.options) + 1)]
    if q.kind == "multi":
        plain = [o.id for o in q.options if not o.exclusive]
        return [[o.id] for o in q.options] + [plain[:2], plain[1:], " ".join(str(i) for i in range(1, len(plain) + 1))]
    return {"text": ["Rossi", "<b>x</b> & y", "è"], "number": ["0", "1", "4", "999"], "money": ["1.200", "350,5", "0"]}[
        q.kind
    ]


GARBAGE = ["", " ", "0", "99", "1 99", "x" * 100, "dodici", "-3", "1,5", "<b>", ["none", "rude"], [], ["1", "9"], None]
# Mostly valid answers, so that runs reach the review and the end, then get changed and undone.
KINDS = ["answer"] * 12 + ["typed", "typed", "back", "back", "skip", "change", "change", "review", "resume", "cancel"]
ACTION = st.tuples(st.sampled_from(KINDS), st.integers(0, 1000))


def _stray_answer_actions() -> list[tuple[str, int]]:
    """The sequence that once ended with an off-branch answer, found on the real flow:

    answer into a branch and past where it rejoins; change the branching answer so the branch's
    question is off it (a change ends only at the end, so its answer stays for now); change another
    answer and step `back` out of that change in the middle of the questionnaire; answer on to the
    end. `back` used to clear `editing` without pruning, so the end kept the branch's answer.
    """
    engine = Engine(FLOW)

    def act(state: dict, kind: str, arg: int) -> dict:
        actions.append((kind, arg))
        if kind == "answer":
            return engine.answer(state, _valid_answers(engine.question(state))[arg])
        return {"change": lambda: engine.change(state, QUESTION_IDS[arg]), "back": lambda: engine.back(state)}[kind]()

    def pick(q, option_id: str) -> int:
        return _valid_answers(q).index(option_id)

    # The first question, along the first answers, with an option that leads off its usual next question.
    state, branching = engine.new(), None
    while state["at"] != END and branching is None:
        q = engine.question(state)
        if (
            q.kind == "single"
            and any(o.next and o.next != q.next for o in q.options)
            and any(not o.next for o in q.options)
        ):
            branching = q
        state = engine.answer(state, _valid_answers(q)[0])
    into = next(o.id for o in branching.options if o.next and o.next != branching.next)
    usual = next(o.id for o in branching.options if not o.next)
    actions: list[tuple[str, int]] = []
    state = engine.new()
    while state["at"] != branching.id:
        state = act(state, "answer", 0)
    state = act(state, "answer", pick(branching, into))
    while state["at"] != branching.next:  # through the branch, to where it rejoins
        state = act(state, "answer", 0)
    state = act(state, "answer", 0)  # one past the rejoin: the user stops mid-questionnaire
    state = act(state, "change", QUESTION_IDS.index(branching.id))
    state = act(state, "answer", pick(branching, usual))
    assert state["editing"] and state["at"] not in state["answers"], "a change resumes mid-questionnaire"
    state = act(state, "change", QUESTION_IDS.index(state["history"][0]))
    state = act(state, "back", 0)
    while state["at"] != END:
        state = act(state, "answer", 0)
    return actions


STRAY_ANSWER_ACTIONS = _stray_answer_actions()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(ACTION, min_size=20, max_size=80), lang=st.sampled_from(["it", "en"]))
@example(actions=STRAY_ANSWER_ACTIONS, lang="it")
def test_random_use_never_breaks_the_state(engine, actions, lang):
    state = engine.new(lang)
    for kind, arg in actions:
        given_state, before = state, copy.deepcopy(state)
        q = engine.question(state)
        try:
            if kind == "answer":
                choices = _valid_answers(q) if q else ["1"]
                state = engine.answer(state, choices[arg % len(choices)])
            elif kind == "typed":
                state = engine.answer(state, GARBAGE[arg % len(GARBAGE)])
            elif kind == "back":
                state = engine.back(state)
            elif kind == "skip":
                state = engine.skip(state)
            elif kind == "change":
                state = engine.change(state, QUESTION_IDS[arg % len(QUESTION_IDS)])
            elif kind == "review":
                state = engine.show_review(state)
            elif kind == "resume":
                state = engine.leave_review(state)
            else:
                state = engine.cancel(state)
        except Invalid:
            assert given_state == before, f"a refused {kind} changed the state"
            continue
        assert given_state == before, f"{kind} changed the state it was given"
        assert engine.compatible(state), state
        assert json.loads(json.dumps(state)) == state
        history = state["history"]
        assert len(history) == len(set(history)), "no question twice on the branch"
        assert set(history) <= set(state["answers"])
        mode = state["mode"]
        assert mode in MODES and state["review"] == (mode == "reviewing")
        if mode in ("asking", "done"):
            assert set(state["answers"]) == set(history), f"{kind}: outside a change, only the branch's answers"
            assert not state["editing"]
        if state["at"] == END:
            assert engine.path(state["answers"]) == (history, END)
            assert set(state["answers"]) == set(history), "answers off the branch are gone at the end"
        elif state["at"] != CANCELLED:
            assert state["editing"] or state["at"] not in history
            progress = engine.progress(state)
            assert 1 <= progress.number <= progress.total <= len(FLOW.questions)


def test_back_while_changing_an_answer_steps_out_of_the_change(engine, drive):
    done = drive({**GOOD_CLIENT, "alias": "Rossi"})
    state = engine.change(engine.show_review(done), "payment")
    state = engine.back(state)
    assert state["at"] == END and not state["editing"], "back to the review, not to the last question"
    assert state["answers"] == done["answers"] and state["history"] == done["history"]


def test_stepping_back_out_of_a_change_mid_questionnaire_leaves_no_stray_answer(engine):
    """The sequence that made the random test flaky, as a plain test: it ends with exactly the branch."""
    state = engine.new()
    for kind, arg in STRAY_ANSWER_ACTIONS:
        if kind == "answer":
            state = engine.answer(state, _valid_answers(engine.question(state))[arg])
        elif kind == "change":
            state = engine.change(state, QUESTION_IDS[arg])
        else:
            state = engine.back(state)
            assert state["mode"] == "asking" and set(state["answers"]) == set(state["history"])
    assert state["at"] == END and state["mode"] == "done"
    assert set(state["answers"]) == set(state["history"])


# -- modes -----------------------------------------------------------------------------------------


def test_the_modes_are_states_of_one_shared_machine(flow):
    engine = Engine(flow)
    assert sorted(engine.modes.states) == sorted(MODES)
    state = engine.new()
    assert state["mode"] == "asking"
    state = engine.answer(state, _valid_answers(engine.question(state))[0])
    assert engine.show_review(state)["mode"] == "reviewing"
    assert engine.leave_review(engine.show_review(state))["mode"] == "asking"
    changing = engine.change(state, state["history"][0])
    assert changing["mode"] == "editing" and changing["editing"]
    under_review = engine.show_review(changing)
    assert under_review["mode"] == "reviewing" and under_review["editing"], "the change goes on under the review"
    assert engine.leave_review(under_review)["mode"] == "editing"
    assert engine.cancel(state)["mode"] == "cancelled"
    assert len(engine.modes.models) == 1, "no model per conversation"


def test_a_finished_questionnaire_is_done_and_back_asks_again(engine):
    state = engine.new()
    while state["at"] != END:
        state = engine.answer(state, _valid_answers(engine.question(state))[0])
    assert state["mode"] == "done" and not state["editing"] and not state["review"]
    again = engine.back(state)
    assert again["mode"] == "asking" and again["at"] == state["history"][-1]


def test_a_cancelled_conversation_refuses_every_move(engine):
    state = engine.new()
    state = engine.cancel(engine.answer(state, _valid_answers(engine.question(state))[0]))
    for move in (engine.back, engine.skip, engine.cancel, engine.leave_review, lambda s: engine.answer(s, "1")):
        with pytest.raises(Invalid, match="no_question"):
            move(state)


@pytest.mark.parametrize(
    ("flags", "mode"),
    [
        ({}, "asking"),
        ({"review": True}, "reviewing"),
        ({"editing": True}, "editing"),
        ({"review": True, "editing": True}, "reviewing"),
        ({"at": END}, "done"),
        ({"at": CANCELLED}, "cancelled"),
    ],
)
def test_a_conversation_stored_before_modes_still_loads(engine, flags, mode):
    state = engine.answer(engine.new(), _valid_answers(engine.question(engine.new()))[0])
    old = {k: v for k, v in {**state, **flags}.items() if k != "mode"}
    assert engine.compatible(old)
    assert engine.mode(old) == mode
    if mode not in ("cancelled", "done"):
        moved = engine.leave_review(old)
        assert moved["mode"] in MODES and moved["mode"] != "reviewing"


def test_a_stored_conversation_with_an_unknown_mode_is_not_compatible(engine):
    assert not engine.compatible({**engine.new(), "mode": "dancing"})


def test_machine_calls_from_many_threads_do_not_mix_conversations(flow):
    """Front ends may run the engine off the event loop: the shared models are locked per call."""
    import threading

    engine = Engine(flow)
    results: list[bool] = []

    def run() -> None:
        state = engine.new()
        while state["at"] != END:
            state = engine.answer(state, _valid_answers(engine.question(state))[0])
            state = engine.leave_review(engine.show_review(state)) if state["at"] != END else state
        results.append(engine.path(state["answers"]) == (state["history"], END))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8


# -- one walk of the flow ----------------------------------------------------------------------


def test_the_machine_goes_where_the_flows_walk_goes(engine):
    """The engine's machine and `Flow.next_for` (used by `flows check`) are one rule: along every
    branch, each answer leads where the flow's walk says, and the walk's choices are the machine's."""
    flow = engine.flow
    for state in all_branches(engine):
        history = state["history"]
        for qid, after in zip(history, [*history[1:], END], strict=True):
            assert flow.next_for(qid, state["answers"]) == after
            assert after in flow.next_choices(qid)
    # Unanswered, a question leads along its default way; a follow-up is passed over when the
    # answer it waits for was not given (a one-off job's trade under an ongoing contract).
    assert flow.next_for("payment", {}) == flow.question("payment").next
    assert flow.arrive("trade", {"relationship": "ongoing"}) != "trade"
    assert flow.arrive("trade", {"relationship": "one_off_in_progress"}) == "trade"


def test_a_walk_the_machine_was_not_built_for_is_an_error_not_a_silent_stay(flow, state_at, monkeypatch):
    """Were `next_choices` to miss a place the walk leads, the answer would otherwise keep the user
    on the same question forever."""
    from bot.flow import Flow

    state = state_at("payment")
    monkeypatch.setattr(Flow, "next_choices", lambda self, qid: (self.questions[qid].next,))
    with pytest.raises(RuntimeError, match="leads nowhere"):
        Engine(flow).answer(state, "late")
