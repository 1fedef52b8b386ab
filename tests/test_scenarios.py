"""Forty-odd realistic stories, driven through the engine: profile, flags and the messages offered.

Each story is what a user would answer (questions it does not mention take the NEUTRAL answer in
conftest); the engine asks exactly the questions its branch reaches. For each story the table says
the main and strong second profile, the flags raised (own or shared error, first time, new
behaviour for this client, recurring, bad day, good client), the scripts offered in order and
scripts that must never be offered. The invariants below hold for every story at once.
"""

from __future__ import annotations

import pytest

from bot.actions import Extra, Finish, Move, decode
from bot.coach import Coach
from bot.scripts import BY_ID, flags_of, route

SHOWN_FLAGS = ("own_error", "shared_error", "first_time", "new_behaviour", "recurring", "bad_day", "good_client")


def story(
    sid: str, main: str, secondary: str | None, flags: list[str], offered: list[str], *, never: list[str], **answers
):
    return pytest.param(answers, main, secondary, flags, offered, never, id=sid)


STORIES = [
    story(
        "gratis/free-website-for-a-friend-who-disputes-every-pixel",
        "gratis",
        None,
        ["recurring"],
        ["valore", "passaggio_a_pagamento", "recesso"],
        never=[],
        payment="free",
        free_attitude="demands",
        price="1500 una tantum",
        stage="ongoing",
        behaviours=["rude"],
        pattern="often",
    ),
    story(
        "gratis/free-consultations-taken-for-granted-not-started",
        "gratis",
        "lvc",
        [],
        ["valore", "passaggio_a_pagamento", "recesso", "referenza"],
        never=[],
        payment="free",
        free_attitude="takes_for_granted",
        price="90 all'ora",
        stage="not_started",
        feelings=["nights"],
    ),
    story(
        "gratis/discounted-forever-and-judged-as-premium",
        "gratis",
        "lvc",
        ["recurring"],
        ["valore", "aggiornamento_prezzo", "recesso", "referenza"],
        never=[],
        payment="below_price",
        free_attitude="demands",
        price="400 al mese",
        balance="drains",
        pattern="often",
    ),
    story(
        "gratis/free-extras-after-a-free-trial",
        "gratis",
        "lvc",
        [],
        ["valore", "passaggio_a_pagamento", "no_chiaro", "recesso", "referenza"],
        never=[],
        payment="free",
        free_attitude="takes_for_granted",
        stage="finished",
        behaviours=["free_extras"],
        concessions="several",
    ),
    story(
        "gratis/free-work-and-a-first-outburst",
        "gratis",
        None,
        ["bad_day", "first_time"],
        ["attesa", "valore", "passaggio_a_pagamento"],
        never=["recesso", "referenza"],
        payment="free",
        free_attitude="demands",
        stage="ongoing",
        behaviours=["rude"],
        pattern="first",
    ),
    story(
        "incontentabile/calls-back-and-wants-a-discount-first-concession",
        "incontentabile",
        None,
        ["recurring"],
        ["concessione", "tempi_di_risposta", "recesso"],
        never=[],
        payment="full",
        balance="even",
        behaviours=["calls_back", "discount_demands"],
        concessions="none_yet",
        concession_offer="uno sconto del 10% su questa fattura",
        origin="their_error",
        pattern="often",
    ),
    story(
        "incontentabile/discount-demands-already-granted-twice",
        "incontentabile",
        "lvc",
        ["recurring"],
        ["recesso", "referenza"],
        never=["concessione"],
        payment="full",
        balance="drains",
        behaviours=["discount_demands", "rude"],
        concessions="several",
        origin="no_error",
        pattern="often",
    ),
    story(
        "incontentabile/discount-wanted-but-user-skips-the-amount",
        "incontentabile",
        None,
        [],
        ["tempi_di_risposta", "recesso"],
        never=["concessione"],
        payment="full",
        balance="even",
        behaviours=["discount_demands", "calls_back"],
        concessions="none_yet",
        origin="their_error",
        pattern="few",
    ),
    story(
        "incontentabile/impatient-and-our-mistake",
        "incontentabile",
        None,
        ["own_error"],
        ["recupero", "tempi_di_risposta", "recesso"],
        never=[],
        payment="full",
        balance="even",
        behaviours=["calls_back", "rude"],
        origin="our_error",
        pattern="few",
    ),
    story(
        "incontentabile/rude-on-a-first-occurrence",
        "incontentabile",
        None,
        ["bad_day", "first_time"],
        ["attesa", "tempi_di_risposta"],
        never=["recesso"],
        payment="full",
        balance="even",
        behaviours=["calls_back", "rude"],
        pattern="first",
    ),
    story(
        "incontentabile/harsh-but-fair-complaint-big-concessions",
        "incontentabile",
        None,
        ["recurring"],
        ["concessione", "tempi_di_risposta", "recesso"],
        never=[],
        payment="full",
        balance="even",
        behaviours=["calls_back", "offended"],
        conflict=["fair_complaint"],
        settle="only_big_concessions",
        concessions="none_yet",
        concession_offer="una revisione gratuita in più",
        origin="their_error",
        pattern="often",
    ),
    story(
        "distruttivo/review-posted-and-no-will",
        "distruttivo",
        None,
        [],
        ["risposta_recensione", "mediazione", "recesso"],
        never=["recupero", "minaccia_recensione"],
        payment="full",
        balance="even",
        behaviours=["threats"],
        conflict=["review_posted"],
        settle="no_will",
        origin="their_error",
        feelings=["afraid"],
        pattern="few",
    ),
    story(
        "distruttivo/threatens-a-review-only",
        "distruttivo",
        None,
        [],
        ["minaccia_recensione", "mediazione", "recesso"],
        never=["risposta_recensione", "recupero"],
        payment="full",
        balance="even",
        behaviours=["threats", "offended"],
        conflict=["review_threatened"],
        settle="no_will",
        origin="no_error",
        pattern="few",
    ),
    story(
        "distruttivo/our-mistake-then-a-bad-review",
        "distruttivo",
        None,
        ["own_error"],
        ["recupero", "risposta_recensione", "recesso"],
        never=["mediazione"],
        payment="full",
        balance="even",
        behaviours=["offended"],
        conflict=["review_posted"],
        settle="no_will",
        origin="our_error",
        pattern="few",
    ),
    story(
        "distruttivo/shared-mistake-and-a-lawyer-letter",
        "distruttivo",
        None,
        ["shared_error"],
        ["recupero", "recesso"],
        never=[],
        payment="full",
        balance="even",
        behaviours=["threats"],
        conflict=["lawyer_letter", "damages"],
        settle="no_will",
        origin="shared_error",
        pattern="few",
    ),
    story(
        "distruttivo/insults-the-staff-and-demands-damages",
        "distruttivo",
        None,
        ["recurring"],
        ["mediazione", "recesso"],
        never=[],
        payment="full",
        balance="drains",
        behaviours=["insults_staff", "threats"],
        conflict=["damages"],
        settle="no_will",
        origin="external",
        pattern="often",
    ),
    story(
        "distruttivo/first-outburst-with-a-threat",
        "distruttivo",
        None,
        ["bad_day", "first_time"],
        ["attesa", "mediazione"],
        never=["recesso"],
        payment="full",
        balance="even",
        behaviours=["threats"],
        conflict=["none"],
        settle="no_will",
        origin="unsure",
        pattern="first",
    ),
    story(
        "vip/famous-with-special-attentions",
        "vip",
        None,
        [],
        ["annuncio_attenzione"],
        never=["recesso", "referenza"],
        payment="full",
        balance="even",
        prestige="very",
        vip_signals=["special_attentions", "influential_lawyers"],
        attention="un aggiornamento scritto a ogni consegna",
    ),
    story(
        "vip/jumps-the-queue-and-calls-back",
        "vip",
        None,
        [],
        ["tempi_di_risposta", "regole_chiare"],
        never=[],
        payment="full",
        balance="even",
        behaviours=["calls_back"],
        prestige="very",
        vip_signals=["jumps_queue", "special_attentions"],
        pattern="few",
    ),
    story(
        "vip/our-mistake-with-a-powerful-client",
        "vip",
        None,
        ["own_error"],
        ["recupero"],
        never=[],
        payment="full",
        balance="even",
        prestige="very",
        vip_signals=["special_attentions", "influential_lawyers"],
        origin="our_error",
    ),
    story(
        "vip/attention-but-no-phrase-given",
        "vip",
        None,
        [],
        [],
        never=["annuncio_attenzione"],
        payment="full",
        balance="even",
        prestige="very",
        vip_signals=["special_attentions"],
        feelings=["afraid"],
    ),
    story(
        "vip/powerful-afraid-for-reputation",
        "vip",
        None,
        [],
        [],
        never=[],
        payment="full",
        balance="even",
        prestige="very",
        vip_signals=["none"],
        feelings=["afraid"],
    ),
    story(
        "lvc/below-price-asks-exceptions-at-night",
        "lvc",
        None,
        ["recurring"],
        ["aggiornamento_prezzo", "no_chiaro", "referenza", "recesso"],
        never=[],
        payment="below_price",
        free_attitude="grateful",
        price="60 all'ora",
        balance="drains",
        behaviours=["exceptions"],
        concessions="several",
        feelings=["nights", "better_elsewhere"],
        pattern="often",
    ),
    story(
        "lvc/list-price-tiny-job-takes-far-more",
        "lvc",
        None,
        ["recurring"],
        ["no_chiaro", "referenza", "recesso"],
        never=["aggiornamento_prezzo"],
        payment="full",
        balance="drains",
        behaviours=["exceptions"],
        concessions="once",
        feelings=["better_elsewhere"],
        pattern="often",
    ),
    story(
        "lvc/late-payer-overdue-invoice",
        "lvc",
        None,
        [],
        ["sollecito", "referenza", "recesso"],
        never=["sollecito_fermo", "valore"],
        payment="late",
        owed=850,
        owed_since="overdue",
        balance="drains",
        feelings=["nights"],
        pattern="few",
    ),
    story(
        "lvc/late-payer-already-reminded",
        "lvc",
        None,
        ["recurring"],
        ["sollecito_fermo", "referenza", "recesso"],
        never=["sollecito", "valore"],
        payment="late",
        owed=1200,
        owed_since="reminded",
        balance="drains",
        behaviours=["rude"],
        pattern="often",
    ),
    story(
        "lvc/late-but-not-due-yet",
        "lvc",
        None,
        [],
        ["referenza", "recesso"],
        never=["sollecito", "sollecito_fermo"],
        payment="late",
        owed=300,
        owed_since="not_due",
        balance="drains",
        feelings=["better_elsewhere"],
        pattern="few",
    ),
    story(
        "lvc/below-price-takes-it-for-granted",
        "lvc",
        None,
        [],
        ["aggiornamento_prezzo", "no_chiaro", "referenza", "recesso"],
        never=[],
        payment="below_price",
        free_attitude="takes_for_granted",
        balance="drains",
        behaviours=["free_extras"],
        concessions="once",
        feelings=["better_elsewhere"],
        pattern="few",
    ),
    story(
        "mvc/pays-brings-more-values-the-work",
        "mvc",
        None,
        ["good_client"],
        ["check_in"],
        never=["recesso", "referenza", "attesa"],
        payment="full",
        balance="worth_it",
        behaviours=["values_work", "follows_advice", "invests"],
        feelings=["glad"],
    ),
    story(
        "mvc/occasional-exception-from-a-good-client",
        "mvc",
        None,
        ["good_client"],
        ["check_in"],
        never=[],
        payment="full",
        balance="worth_it",
        behaviours=["values_work", "exceptions"],
        concessions="once",
        feelings=["glad"],
    ),
    story(
        "mvc/our-mistake-with-a-loyal-client",
        "mvc",
        None,
        ["good_client", "own_error"],
        ["recupero", "check_in"],
        never=["recesso"],
        payment="full",
        balance="worth_it",
        behaviours=["values_work", "invests"],
        origin="our_error",
        feelings=["glad"],
    ),
    story(
        "mvc/long-time-client-first-outburst",
        "mvc",
        None,
        ["bad_day", "first_time", "good_client", "new_behaviour"],
        ["attesa", "check_in"],
        never=["recesso"],
        payment="full",
        balance="worth_it",
        behaviours=["rude", "values_work", "follows_advice"],
        origin="external",
        pattern="first_new",
        feelings=["glad"],
    ),
    story(
        "mvc/fair-complaint-and-willing-to-settle",
        "mvc",
        None,
        ["good_client", "shared_error"],
        ["recupero", "check_in"],
        never=[],
        payment="full",
        balance="worth_it",
        behaviours=["offended", "values_work"],
        conflict=["fair_complaint"],
        settle="willing",
        origin="shared_error",
        feelings=["glad"],
    ),
    story(
        "mvc/refers-clients-and-pays-late-once",
        "mvc",
        None,
        ["bad_day", "first_time", "good_client", "new_behaviour"],
        ["sollecito", "check_in"],
        never=["attesa", "recesso"],
        payment="late",
        owed=400,
        owed_since="overdue",
        balance="worth_it",
        behaviours=["invests", "values_work"],
        feelings=["glad"],
        pattern="first_new",
    ),
    story(
        "mixed/vip-turned-destructive-with-review",
        "distruttivo",
        "vip",
        [],
        ["risposta_recensione", "mediazione", "annuncio_attenzione", "recesso"],
        never=[],
        payment="full",
        balance="even",
        behaviours=["threats"],
        conflict=["review_posted", "lawyer_letter"],
        settle="no_will",
        prestige="very",
        vip_signals=["special_attentions", "influential_lawyers"],
        attention="una chiamata di verifica mensile",
        feelings=["afraid"],
        pattern="few",
    ),
    story(
        "mixed/free-and-never-satisfied",
        "gratis",
        "incontentabile",
        ["recurring"],
        ["concessione", "valore", "passaggio_a_pagamento", "tempi_di_risposta", "recesso"],
        never=[],
        payment="free",
        free_attitude="demands",
        stage="ongoing",
        behaviours=["calls_back", "discount_demands"],
        concessions="none_yet",
        concession_offer="una revisione in più",
        pattern="often",
    ),
    story(
        "mixed/destructive-and-never-satisfied",
        "incontentabile",
        None,
        ["recurring"],
        ["minaccia_recensione", "concessione", "tempi_di_risposta", "recesso"],
        never=[],
        payment="full",
        balance="even",
        behaviours=["threats", "calls_back", "discount_demands"],
        conflict=["review_threatened"],
        settle="only_big_concessions",
        concessions="none_yet",
        concession_offer="uno sconto del 5%",
        origin="their_error",
        pattern="often",
    ),
    story(
        "mixed/late-payer-who-threatens-a-review",
        "distruttivo",
        "lvc",
        [],
        ["sollecito_fermo", "minaccia_recensione", "mediazione", "recesso", "referenza"],
        never=[],
        payment="late",
        owed=2000,
        owed_since="reminded",
        balance="drains",
        behaviours=["threats"],
        conflict=["review_threatened"],
        settle="no_will",
        pattern="few",
    ),
    story(
        "caveat/thin-evidence-a-bit-rude",
        "incontentabile",
        None,
        ["bad_day"],
        ["attesa"],
        never=["recesso", "tempi_di_risposta"],
        payment="full",
        balance="even",
        behaviours=["rude"],
        pattern="few",
    ),
    story(
        "caveat/good-client-new-behaviour-and-our-error",
        "mvc",
        None,
        ["bad_day", "first_time", "good_client", "new_behaviour", "own_error"],
        ["recupero", "check_in"],
        never=["attesa", "recesso"],
        payment="full",
        balance="worth_it",
        behaviours=["offended", "values_work"],
        conflict=["none"],
        settle="willing",
        origin="our_error",
        pattern="first_new",
        feelings=["glad"],
    ),
    story(
        "caveat/no-problem-yet-but-drains",
        "lvc",
        "gratis",
        [],
        ["aggiornamento_prezzo", "valore", "referenza", "recesso"],
        never=[],
        payment="below_price",
        free_attitude="takes_for_granted",
        balance="drains",
        origin="no_problem_yet",
        pattern="few",
    ),
    story(
        "caveat/gratis-finished-work-value-statement",
        "gratis",
        None,
        ["recurring"],
        ["valore", "passaggio_a_pagamento", "recesso"],
        never=["aggiornamento_prezzo"],
        payment="free",
        free_attitude="takes_for_granted",
        price="2000 una tantum",
        stage="finished",
        pattern="often",
    ),
]


@pytest.mark.parametrize(("answers", "main", "secondary", "flags", "offered", "never"), STORIES)
def test_a_story_gets_its_profile_flags_and_messages(assess, answers, main, secondary, flags, offered, never):
    a, final = assess(answers)
    assert (a.main, a.secondary) == (main, secondary), a.scores
    assert sorted(f for f in flags_of(a) if f in SHOWN_FLAGS) == flags
    got = [s.id for s in route(a, final)]
    assert got == offered
    assert not set(got) & set(never)


def test_there_are_at_least_forty_stories_covering_every_profile_and_caveat():
    assert len(STORIES) >= 40
    assert {s.values[1] for s in STORIES} == {"gratis", "incontentabile", "distruttivo", "vip", "lvc", "mvc"}
    raised = {f for s in STORIES for f in s.values[3]}
    assert raised >= {"own_error", "shared_error", "first_time", "new_behaviour", "recurring", "bad_day", "good_client"}


@pytest.mark.parametrize(("answers", "main", "secondary", "flags", "offered", "never"), STORIES)
def test_the_routing_rules_hold_for_every_story(assess, answers, main, secondary, flags, offered, never):
    a, final = assess(answers)
    got = route(a, final)
    ids = [s.id for s in got]
    raised = flags_of(a)
    # Recovery first on our own or a shared error, for every profile.
    assert (ids[:1] == ["recupero"]) == a.recovery_first
    # No exit on a bad day, for a good client or for an MVC; exits always come last.
    if raised & {"bad_day", "good_client"} or a.main == "mvc":
        assert not any(s.exit for s in got)
    exits = [i for i, s in enumerate(got) if s.exit]
    assert exits == list(range(len(got) - len(exits), len(got)))
    # A holding reply comes first on a bad day (after a recovery, if we erred).
    if "attesa" in ids:
        assert "bad_day" in raised and ids.index("attesa") == (1 if a.recovery_first else 0)
    # Money and reviews: only when the facts say so.
    assert ("sollecito" in ids) == (final.get("payment") == "late" and final.get("owed_since") == "overdue")
    assert ("sollecito_fermo" in ids) == (final.get("payment") == "late" and final.get("owed_since") == "reminded")
    if "aggiornamento_prezzo" in ids:
        assert final["payment"] == "below_price"
    assert ("risposta_recensione" in ids) == ("review_posted" in (final.get("conflict") or []))
    if "minaccia_recensione" in ids:
        assert "review_posted" not in final["conflict"]
    # One concession, only when none was granted before, with the amount the user chose.
    if "concessione" in ids:
        assert final["concessions"] == "none_yet" and final.get("concession_offer")
    # Mediation never stands in for a recovery.
    if a.recovery_first:
        assert "mediazione" not in ids


def test_a_typical_run_asks_at_most_fourteen_questions(assess):
    """Follow-ups open only on the branch that needs them: a run with no branch stays short."""
    for answers in (
        {"payment": "full", "balance": "even", "behaviours": ["calls_back", "rude"]},
        {"payment": "full", "balance": "drains", "behaviours": ["none"], "feelings": ["better_elsewhere"]},
        {"payment": "full", "balance": "worth_it", "behaviours": ["values_work"], "feelings": ["glad"]},
    ):
        _, final = assess(answers)
        assert len(final) <= 14, sorted(final)


def test_every_script_is_offered_by_at_least_one_story():
    offered = {sid for s in STORIES for sid in s.values[4]}
    assert offered == set(BY_ID)


# -- the result's shape, through the Coach -----------------------------------------------------


def finish(coach: Coach, drive, user: int, answers: dict, lang: str = "it"):
    state = drive(answers, lang)
    coach.store.save_conversation(user, {**state, "cid": "c", "picked": []}, {})
    return coach.act(user, Finish())


MANY_SCRIPTS = {
    "payment": "below_price",
    "free_attitude": "grateful",
    "balance": "drains",
    "behaviours": ["exceptions"],
    "concessions": "several",
    "feelings": ["nights", "better_elsewhere"],
    "pattern": "often",
}
WITH_SECOND = {
    "payment": "free",
    "free_attitude": "demands",
    "stage": "ongoing",
    "behaviours": ["calls_back", "discount_demands"],
    "concessions": "none_yet",
    "pattern": "often",
}


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_result_is_at_most_three_messages_with_extras_on_demand(store, flow, drive, lang):
    coach = Coach(store, flow)
    reply = finish(coach, drive, 5, MANY_SCRIPTS, lang)
    kinds = [m.kind for m in reply.messages]
    assert kinds == ["result", "advice", "script"]
    card, advice, script = reply.messages
    assert f"{reply.case_no}" in card.plain and ("salvato" in card.plain or "saved" in card.plain)
    assert not any(isinstance(b.action, Move) for m in (advice, script) for row in m.buttons for b in row), (
        "complete actions: no questionnaire move that needs a nonce"
    )
    actions = [b.action.encode() for m in reply.messages for row in m.buttons for b in row]
    assert all(len(a.encode()) <= 64 for a in actions)
    assert f"x:{reply.case_no}:guide" in actions and f"x:{reply.case_no}:all" in actions
    assert f"s:{reply.case_no}:2:softer:tu" in actions, "a button moves to the next script"
    assert script.meta["script"] == "aggiornamento_prezzo"


def test_the_extras_and_the_other_scripts_come_on_demand_for_the_owner_only(store, flow, drive):
    coach = Coach(store, flow)
    case_no = finish(coach, drive, 5, WITH_SECOND).case_no
    assert [s.kind for s in coach.extra(5, decode(f"x:{case_no}:guide"))] == ["guide"]
    assert [s.meta["guide"] for s in coach.extra(5, decode(f"x:{case_no}:figures"))] == ["figures"]
    second = coach.extra(5, decode(f"x:{case_no}:second"))
    assert second[0].kind == "advice" and second[0].meta["profile"] == "incontentabile"
    listing = coach.extra(5, decode(f"x:{case_no}:all"))[0]
    assert all(b.action.encode().startswith(f"s:{case_no}:") for row in listing.buttons for b in row)
    for stale in (f"x:{case_no}:nothing", "x:abc:guide", "y:1:guide", "x:" + "9" * 70 + ":guide"):
        assert decode(stale) is None, stale
    assert coach.extra(5, Extra(case_no + 1, "guide")) is None and coach.extra(5, Extra(case_no, "nothing")) is None
    assert coach.extra(6, Extra(case_no, "guide")) is None, "another user's case"
    count = len(listing.buttons)
    assert coach.script_variant(5, case_no, count, "firmer", "lei").meta["script"]
    assert coach.script_variant(5, case_no, count + 1, "softer", "tu") is None
    assert coach.script_variant(6, case_no, 1, "softer", "tu") is None


def test_a_reassessment_folds_the_movement_into_the_card(store, flow, drive, engine):
    coach = Coach(store, flow)
    first = finish(coach, drive, 5, MANY_SCRIPTS).case_no
    coach.reassess(5, first)
    state, _ = coach.load(5)
    state = drive({**MANY_SCRIPTS, "pattern": "few"}, state=state) if state["at"] != "end" else state
    store.save_conversation(5, {**state, "picked": []}, {})
    reply = coach.act(5, Finish())
    assert len(reply.messages) <= 3 and reply.messages[0].meta.get("movement")


def test_a_saved_case_shows_the_same_compact_advice(store, flow, drive):
    coach = Coach(store, flow)
    case_no = finish(coach, drive, 5, MANY_SCRIPTS).case_no
    assert [s.kind for s in coach.case_advice_screens(5, case_no)] == ["advice", "script"]
    assert coach.case_advice_screens(6, case_no) == []


def test_the_readme_section_on_messages_is_current(flow):
    """README's "Which messages you get, and why" is generated from the conditions: run `python -m bot.scripts`."""
    from pathlib import Path

    from bot.scripts_doc import README_BEGIN, README_END, readme_section, script_titles

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    current = text[text.index(README_BEGIN) : text.index(README_END) + len(README_END)]
    assert current == readme_section(flow, script_titles()), "stale: run `python -m bot.scripts_doc`"


def test_a_case_saved_with_the_first_flow_still_reads_and_routes(store, flow):
    """Old answers stay readable: options the flow has since split or dropped just match no condition."""
    coach = Coach(store, flow)
    old_answers = {
        "alias": "Rossi",
        "payment": "discounted",
        "free_attitude": "demands",
        "balance": "drains",
        "behaviours": ["discount_demands"],
        "origin": "our_error",
        "prestige": "not_influential",
        "feelings": ["none"],
        "occurrences": 3,
        "service": "consulenza",
        "price": 1200.0,
        "sender": "Studio Bianchi",
        "form": "lei",
    }
    old_assessment = {
        "scores": {"gratis": 9.5, "incontentabile": 4.5, "distruttivo": 0.5, "vip": 0.0, "lvc": 1.5, "mvc": 0.5},
        "main": "gratis",
        "secondary": "incontentabile",
        "confidence": "high",
        "reasons": [{"question": "free_attitude", "value": "demands", "weight": 4.0}],
        "own_error": True,
        "first_time": False,
        "recurring": False,
        "thin": False,
        "good_client": False,
    }
    state = {"lang": "it", "answers": old_answers, "flow": "cliente_difficile", "flow_version": 1}
    case_no = store.save_case(9, state, old_assessment, "Rossi")
    screens = coach.case_advice_screens(9, case_no)
    assert [s.kind for s in screens] == ["advice", "script"]
    assert screens[1].meta["script"] == "recupero"
    assert "Studio Bianchi" in screens[1].plain, "the signature typed in the old questionnaire still signs"
    assert "Rossi" not in screens[1].plain.split("\n\n", 1)[1], "the old alias is a label, never a greeting"


def test_the_console_reaches_the_extras_and_every_script_by_typing(store, flow, drive):
    import io

    from bot.console import Console
    from bot.render import Renderer

    coach = Coach(store, flow, Renderer(surface="console"))
    reply = finish(coach, drive, 0, WITH_SECOND)
    out = io.StringIO()
    console = Console(
        coach, user_id=0, stdin=io.StringIO("2 fermo Lei\nguida\nsecondo\nnumeri\nmessaggi\n99\nboh\n\n"), stdout=out
    )
    assert console.variants(reply) == 0
    text = out.getvalue()
    assert "✉️ 2/" in text and "più fermo · Lei" in text
    assert "Prevenire i clienti difficili" in text and "I numeri della relazione" in text
    assert "Cliente incontentabile" in text, "the second profile's advice"
    assert "Messaggi pronti per questo caso" in text
    assert text.count("Non ho capito") == 2, "a number out of range and an unknown word get one clear answer each"
    assert "«secondo», «numeri», «messaggi» oppure un numero da 1 a" in text


def test_the_console_names_only_the_extras_a_result_has(store, flow, drive):
    import io

    from bot.console import Console
    from bot.render import Renderer

    coach = Coach(store, flow, Renderer(surface="console"))
    reply = finish(coach, drive, 0, {"payment": "full", "balance": "worth_it", "feelings": ["glad"]})
    assert reply.case_no == 1 and not any("secondo" in m.plain for m in reply.messages)
    out = io.StringIO()
    Console(coach, user_id=0, stdin=io.StringIO("boh\n\n"), stdout=out).variants(reply)
    error = next(line for line in out.getvalue().splitlines() if "Non ho capito" in line)
    assert "«secondo»" not in error and "«messaggi»" not in error, "no second profile, one message: not offered"


def test_a_refused_answer_reads_right_on_both_front_ends(store, flow, drive):
    """The reason for a refusal names the units with their apostrophes, escaped once for Telegram."""
    coach = Coach(store, flow)
    state = drive({"payment": "free", "free_attitude": "demands"} | {"alias": "Rossi"}, "it")
    state = {**state, "at": "price", "history": state["history"][: state["history"].index("price")]}
    store.save_conversation(7, {**state, "cid": "c", "picked": []}, {})
    reply = coach.text(7, "48 al secolo")
    assert "«al secolo»" in reply.dialog.plain and "per l'intero lavoro" in reply.dialog.plain
    assert "&#39;" not in reply.dialog.plain and "&amp;#39;" not in reply.dialog.text
    assert coach.text(7, "48 all ora").dialog.plain.startswith("Domanda 5 di 14"), "«all ora» is an hour too"
