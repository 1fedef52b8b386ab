"""The classifier, table-driven: realistic scenarios answered through the engine -> expected profile.

Each scenario is what a user would answer (question id -> option ids, text, numbers); questions it
does not mention take a neutral answer (see NEUTRAL in conftest). Every run goes through the real
engine, so the branch questions (free work, open conflict, prestige) are asked exactly when the
answers lead to them.
"""

from __future__ import annotations

import json

import pytest

from bot import result as results
from bot.classifier import Assessment, classify

from helpers import FLOW
from stories import STORIES, Story

PROFILES, PROBLEM_PROFILES = FLOW.profiles.ids, FLOW.profiles.problems


def _param(s: Story):
    return pytest.param(s.answers, s.main, s.secondary, id=s.id)


# One story table (tests/stories.py) for the classifier and the router, split by what it shows.
PROBLEM_SCENARIOS = [_param(s) for s in STORIES if s.main != FLOW.profiles.good_client and s.secondary is None]
MIXED_SCENARIOS = [_param(s) for s in STORIES if s.secondary is not None]
GOOD_CLIENT_SCENARIOS = [_param(s) for s in STORIES if s.main == FLOW.profiles.good_client]


def _option_weight(qid: str, value, profile: str) -> float:
    """What one answer adds to one profile, read straight from the flow (independent of the classifier)."""
    q = FLOW.questions[qid]
    if value is None:
        return 0.0
    if q.is_choice:
        picked = value if isinstance(value, list) else [value]
        return sum(q.option_index[o].evidence.get(profile, 0.0) for o in picked)
    return sum(b.evidence.get(profile, 0.0) for b in q.bands if b.holds(value))


# -- the tables ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("answers", "main", "secondary"), PROBLEM_SCENARIOS)
def test_problem_scenarios_get_the_expected_profile(assess, answers, main, secondary):
    a, _ = assess(answers)
    assert (a.main, a.secondary) == (main, secondary), a.scores
    assert not a.good_client


def test_each_problem_profile_has_at_least_four_scenarios():
    counts = {p: sum(1 for s in PROBLEM_SCENARIOS if s.values[1] == p) for p in PROBLEM_PROFILES}
    assert all(n >= 4 for n in counts.values()), counts


@pytest.mark.parametrize(("answers", "main", "secondary"), MIXED_SCENARIOS)
def test_mixed_scenarios_show_a_main_and_a_strong_secondary_profile(assess, answers, main, secondary):
    a, _ = assess(answers)
    assert (a.main, a.secondary) == (main, secondary), a.scores
    assert a.scores[secondary] >= 4 and a.scores[secondary] <= a.scores[main]


@pytest.mark.parametrize(("answers", "main", "secondary"), GOOD_CLIENT_SCENARIOS)
def test_good_clients_are_mvc_and_get_no_exit_scripts(assess, renderer, answers, main, secondary):
    a, final = assess(answers)
    assert a.main == "mvc" and a.good_client, a.scores
    assert a.secondary is None
    assert not a.bad_day_caveat
    offered = [s.id for s in results.scripts_for(a, final)]
    assert not any(s.exit for s in results.scripts_for(a, final))
    assert offered, "a good client always gets a message"
    assert offered[0] == ("recupero" if a.own_error else "attesa" if a.new_behaviour else offered[0])


def test_every_profile_is_reachable_by_a_full_questionnaire(assess):
    reached = {assess(s.values[0])[0].main for s in PROBLEM_SCENARIOS + GOOD_CLIENT_SCENARIOS}
    assert reached == set(PROFILES)


def test_a_strong_clear_case_is_high_confidence_and_a_thin_one_low(assess):
    strong, _ = assess(
        {
            "payment": "full",
            "balance": "even",
            "behaviours": ["threats"],
            "conflict": ["review_posted"],
            "settle": "no_will",
        }
    )
    assert strong.confidence == "high"
    thin, _ = assess({"payment": "full", "balance": "even", "behaviours": ["rude"]})
    assert thin.confidence == "low"


# -- caveats -------------------------------------------------------------------------------------


def test_a_first_occurrence_gives_the_bad_day_caveat(assess):
    a, _ = assess({"payment": "full", "balance": "even", "behaviours": ["calls_back", "rude"], "pattern": "first"})
    assert a.main == "incontentabile"
    assert a.first_time and not a.thin and not a.recurring
    assert a.bad_day_caveat


def test_thin_evidence_of_something_new_gives_the_bad_day_caveat(assess):
    a, _ = assess({"payment": "full", "balance": "even", "behaviours": ["rude"], "pattern": "no_problem"})
    assert a.main == "incontentabile"
    assert a.thin and not a.first_time
    assert a.bad_day_caveat


def test_thin_evidence_of_a_repeated_behaviour_is_no_bad_day(assess):
    """How often the trouble happened decides: two or three times is no bad day, however thin."""
    a, _ = assess({"payment": "full", "balance": "even", "behaviours": ["rude"], "pattern": "few"})
    assert a.thin and a.repeated and not a.first_time
    assert not a.bad_day_caveat


def test_harm_already_done_is_never_a_bad_day(assess):
    """Ten days of public attacks answered as "the first time" are no bad day."""
    a, _ = assess(
        {
            "payment": "full",
            "balance": "even",
            "behaviours": ["offended"],
            "conflict": ["review_posted", "public_posts"],
            "settle": "willing",
            "pattern": "first",
        }
    )
    assert a.first_time and a.escalated
    assert not a.bad_day_caveat


def test_a_vip_close_to_a_good_client_is_a_vip_named_first_on_the_card_and_chart(assess):
    a, _ = assess(
        {
            "payment": "full",
            "balance": "worth_it",
            "behaviours": ["values_work", "invests"],
            "pattern": "no_problem",
            "prestige": "very",
            "vip_signals": ["special_attentions"],
            "attention": None,
            "feelings": ["glad"],
        }
    )
    assert a.scores["mvc"] > a.scores["vip"]
    assert a.main == "vip" and not a.good_client
    assert a.ranked()[0] == "vip"


def test_thin_evidence_on_a_first_occurrence_gives_the_caveat_too(assess):
    a, _ = assess({"payment": "full", "balance": "even", "behaviours": ["rude"], "pattern": "first"})
    assert a.thin and a.first_time and a.bad_day_caveat


def test_a_recurring_pattern_with_plenty_of_evidence_has_no_bad_day_caveat(assess):
    a, _ = assess({"payment": "free", "free_attitude": "demands", "pattern": "often"})
    assert a.recurring and not a.first_time and not a.thin
    assert not a.bad_day_caveat


def test_a_good_client_on_a_first_occurrence_gets_no_bad_day_caveat(assess):
    a, _ = assess({"payment": "full", "balance": "worth_it", "behaviours": ["values_work"], "pattern": "first"})
    assert a.good_client and a.first_time
    assert not a.bad_day_caveat


def test_own_error_puts_recovery_first_for_a_destructive_client(assess, renderer):
    answers = {
        "payment": "full",
        "balance": "even",
        "behaviours": ["offended"],
        "conflict": ["review_posted"],
        "settle": "no_will",
    }
    ours, _ = assess({**answers, "origin": "our_error"})
    theirs, _ = assess({**answers, "origin": "their_error"})
    assert ours.main == theirs.main == "distruttivo"
    assert ours.own_error and not theirs.own_error
    ongoing = {**answers, "relationship": "ongoing"}
    offered = [s.id for s in results.scripts_for(ours, {**ongoing, "origin": "our_error"})]
    natural = [s.id for s in results.scripts_for(theirs, {**ongoing, "origin": "their_error"})]
    assert offered[0] == "recupero" and "recupero" not in natural
    assert natural[0] == "risposta_recensione" and natural[-1] == "disdetta"


def test_own_error_is_shown_on_the_result_card(assess, flow, renderer):
    a, answers = assess(
        {
            "payment": "full",
            "balance": "even",
            "behaviours": ["offended"],
            "conflict": ["review_threatened"],
            "settle": "no_will",
            "origin": "our_error",
        }
    )
    assert "Prima il recupero" in results.profile_card(renderer, "it", flow.questions, answers, a).plain
    assert "Recovery comes first" in results.profile_card(renderer, "en", flow.questions, answers, a).plain


# -- the explanation -----------------------------------------------------------------------------


ALL = PROBLEM_SCENARIOS + MIXED_SCENARIOS + GOOD_CLIENT_SCENARIOS


@pytest.mark.parametrize(("answers", "main", "secondary"), ALL)
def test_the_explanation_is_the_three_answers_that_weighed_most(assess, answers, main, secondary):
    a, final = assess(answers)
    weights = {qid: _option_weight(qid, value, a.main) for qid, value in final.items()}
    assert 1 <= len(a.reasons) <= 3
    assert all(r.weight > 0 for r in a.reasons), "only answers that pointed to the profile"
    assert [r.weight for r in a.reasons] == sorted((r.weight for r in a.reasons), reverse=True)
    for r in a.reasons:
        assert r.value == final[r.question]
        assert r.weight == pytest.approx(weights[r.question])
    left_out = [w for qid, w in weights.items() if qid not in {r.question for r in a.reasons}]
    assert not left_out or max(left_out) <= min(r.weight for r in a.reasons), "no heavier answer left out"
    positive = [w for w in weights.values() if w > 0]
    assert len(a.reasons) == min(3, len(positive))


@pytest.mark.parametrize(("answers", "main", "secondary"), ALL)
def test_scores_add_up_the_evidence_of_every_answer(assess, answers, main, secondary):
    a, final = assess(answers)
    for profile in PROFILES:
        expected = sum(_option_weight(qid, value, profile) for qid, value in final.items())
        assert a.scores[profile] == pytest.approx(expected)


def test_the_assessment_is_plain_data_that_round_trips_through_json(assess):
    a, _ = assess(MIXED_SCENARIOS[0].values[0])
    stored = json.loads(json.dumps(a.to_dict()))
    assert Assessment.from_dict(stored) == a


def test_classify_is_pure(assess, flow):
    _, answers = assess(PROBLEM_SCENARIOS[0].values[0])
    frozen = json.dumps(answers, sort_keys=True)
    assert classify(flow, answers) == classify(flow, answers)
    assert json.dumps(answers, sort_keys=True) == frozen, "the answers are not touched"


def test_answers_to_unknown_questions_are_ignored(assess, flow):
    a, answers = assess(PROBLEM_SCENARIOS[0].values[0])
    assert classify(flow, {**answers, "vanished_question": "x"}) == a


def test_answers_that_do_not_fit_their_question_are_ignored(assess, flow):
    _, answers = assess(PROBLEM_SCENARIOS[0].values[0])
    misfit_for = {
        "single": lambda v: [v],
        "multi": lambda v: [*v, "vanished_option"],
        "text": lambda v: 42,
        "number": str,
        "money": lambda v: True,
    }
    for qid, value in answers.items():
        if value is None:
            continue
        misfit = misfit_for[flow.questions[qid].kind](value)
        without = {k: v for k, v in answers.items() if k != qid}
        assert classify(flow, {**answers, qid: misfit}) == classify(flow, without), (qid, misfit)
