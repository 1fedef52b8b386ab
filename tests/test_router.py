"""The router's data (kinds, guards, facts) and the facts module, checked on their own.

The story suite (tests/test_messages.py) renders every message for every story; these tests pin
the pieces it relies on: every fact a message declares exists, the guards name what exists, the
dates a letter writes come out right.
"""

from __future__ import annotations

from datetime import date

import pytest

from bot.classifier import Assessment
from bot.facts import MissingForm, add_period, form_chooser, gender_chooser, message_facts, stage_of
from bot.languages import load_languages
from bot.scripts import CATALOGUE, GUARDS, KINDS, Guard, Script, check, guard_problems, guarded

from helpers import FLOW

BLANK = Assessment({}, "gratis", None, "low", (), False, False, False, True, False)
IT = load_languages()["it"]


def facts(answers: dict, **kwargs) -> dict:
    return message_facts(IT, answers, BLANK, **kwargs)


def test_the_catalogue_and_the_guards_agree_with_the_flow():
    assert check(FLOW) == []


def test_every_fact_a_message_declares_is_a_fact_it_can_use():
    known = set(facts({})) | set(facts({})["c"]) | set(facts({})["me"])
    for script in CATALOGUE:
        assert set(script.uses) <= known, (script.id, set(script.uses) - known)
        assert script.kinds and set(script.kinds) <= set(KINDS), script.id


def test_a_guard_naming_nothing_real_is_refused():
    ghost = Guard("ghost", ("no_such_flag",), ("no_such_kind",), "nothing")
    problems = guard_problems([ghost])
    assert any("unknown flag 'no_such_flag'" in p for p in problems)
    assert any("unknown kind 'no_such_kind'" in p for p in problems)
    idle = Guard("idle", ("legal",), ("acknowledgement",), "refuses only what is always allowed")
    assert guard_problems([idle], [Script("x", 0, ("money",))]) == ["guard 'idle': no message is of a kind it refuses"]


def test_a_guard_rules_out_a_message_of_a_kind_it_refuses_only_while_it_holds():
    concession = next(s for s in CATALOGUE if s.id == "concessione")
    assert guarded(concession, {"pressure"}).id == "under_pressure"
    assert guarded(concession, {"legal"}).id == "legal_dispute"
    assert guarded(concession, {"recurring"}) is None
    assert {g.id for g in GUARDS} >= {"legal_dispute", "under_pressure", "money_owed", "keep_the_client"}


@pytest.mark.parametrize(
    ("start", "amount", "unit", "end"),
    [
        (date(2026, 12, 6), 30, "day", date(2027, 1, 5)),
        (date(2026, 12, 6), 2, "week", date(2026, 12, 20)),
        (date(2026, 12, 6), 3, "month", date(2027, 3, 6)),
        (date(2027, 1, 31), 1, "month", date(2027, 2, 28)),  # clamped to the month's last day
        (date(2024, 1, 31), 1, "month", date(2024, 2, 29)),
    ],
)
def test_the_end_of_a_notice_is_counted_in_days_weeks_or_calendar_months(start, amount, unit, end):
    assert add_period(start, amount, unit) == end


def test_the_end_date_is_written_only_when_the_notice_and_its_length_are_known():
    given = {"notice": "with_notice", "notice_period": {"amount": 3, "unit": "month"}}
    assert facts(given, today=date(2026, 12, 6))["end_date"] == date(2027, 3, 6)
    assert facts({"notice": "with_notice"})["end_date"] is None
    assert facts({**given, "notice": "unknown"})["end_date"] is None


def test_the_stage_follows_the_relationship_and_old_cases_keep_theirs():
    assert stage_of({"relationship": "one_off_in_progress"}) == "ongoing"
    assert stage_of({"relationship": "one_off_not_started"}) == "not_started"
    assert stage_of({"relationship": "warranty"}) == "finished"
    assert stage_of({"stage": "finished"}) == "finished"  # saved by flow 3, before the relationship
    assert stage_of({}) is None


def test_a_commission_is_a_percentage_never_printed_as_euros():
    f = facts({"price": {"amount": 5, "unit": "percent"}})
    assert (f["price"], f["percent"]) == (None, "5")
    assert facts({"price": {"amount": 1200, "unit": "once"}})["price"] == "1.200,00 €"


def test_a_company_addressed_formally_takes_the_plural_and_a_missing_plural_text_is_refused():
    company = facts({"who": "company_lei", "address": "Rossi srl"})
    assert company["plural"] and company["tl"]("ti", "Le", "Vi") == "Vi"
    assert company["ind"]("chiedo", "chiediamo") == "Vi chiedo"
    with pytest.raises(MissingForm):
        company["tl"]("ti", "Le")
    with pytest.raises(MissingForm):
        company["g"]("soddisfatto", "soddisfatta")
    assert not facts({"who": "company_tu"})["plural"]
    assert not message_facts(load_languages()["en"], {"who": "company_lei"}, BLANK)["plural"]
    assert form_chooser("lei")("ti", "Le") == "Le"
    assert gender_chooser("woman", False)("lo", "la") == "la"


def test_a_plural_service_takes_plural_verbs():
    assert facts({"service": "i volantini della festa"})["sv"]("è pronto", "sono pronti") == "sono pronti"
    assert facts({"service": "il sito"})["sv"]("è pronto", "sono pronti") == "è pronto"


@pytest.mark.parametrize(
    ("service", "plural"),
    [
        ("i volantini della festa", True),
        ("le sedute", True),
        ("il sito", False),
        ("the party flyers", True),
        ("the sessions", True),
        ("the business plan", False),
        ("the process", False),
        ("the analysis", False),
    ],
)
def test_a_service_is_plural_by_its_article_or_its_last_word(service, plural):
    assert (facts({"service": service})["sv"]("is", "are") == "are") == plural


def test_a_commission_reads_back_as_a_percentage_in_the_review(renderer):
    price = FLOW.questions["price"]
    assert renderer.answer_text(price, {"amount": 5, "unit": "percent"}, "it") == "5% di provvigione o a successo"
    assert renderer.answer_text(price, {"amount": 1200, "unit": "once"}, "it").startswith("1.200,00 €")
