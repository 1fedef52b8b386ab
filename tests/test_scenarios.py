"""The stories of tests/stories.py through the router: the messages each is offered, in order, and
the routing rules that hold for every story at once; then the result's shape through the Coach.
"""

from __future__ import annotations

import pytest

from bot.actions import Extra, Finish, Move, decode
from bot.casebook import CaseBook, CaseBookError
from bot.coach import Coach
from bot.plans import BY_ACTION, PLAN_GUARDS, default_path, plan_for
from bot.scripts import BY_ID, GUARDS, flags_of, route
from bot.state import Conversation

from stories import STORIES

# The messages each story of tests/stories.py is offered, in order: the router pinned on realistic
# situations (the story table is the one scenario table; this maps its ids to the router's answer).
ROUTES: dict[str, list[str]] = {
    "gratis/free-website-for-a-friend-who-disputes-every-pixel": ["valore", "passaggio_a_pagamento", "recesso"],
    "gratis/free-consultations-taken-for-granted": ["valore", "passaggio_a_pagamento", "recesso"],
    "gratis/old-discount-judged-as-premium": ["valore", "aggiornamento_prezzo", "disdetta", "referenza"],
    "gratis/free-trial-then-free-extras": ["valore", "passaggio_a_pagamento", "no_chiaro", "nessun_nuovo_lavoro"],
    "gratis/free-work-and-a-first-outburst": ["attesa", "valore", "passaggio_a_pagamento"],
    "gratis/owes-2400-and-calls-the-price-a-fortune": ["sollecito_fermo", "nessun_nuovo_lavoro", "referenza"],
    "gratis/pays-at-120-days-after-a-free-set-up": ["sollecito_fermo", "disdetta"],
    "gratis/discounted-and-demanding-as-if-top-price": ["valore", "aggiornamento_prezzo", "no_chiaro", "disdetta"],
    "gratis/old-rate-taken-for-granted": ["valore", "aggiornamento_prezzo", "disdetta", "referenza"],
    "gratis/commission-client-who-wants-everything-free": ["valore", "passaggio_a_pagamento", "no_chiaro", "disdetta"],
    "incontentabile/calls-back-and-wants-a-discount": ["concessione", "tempi_di_risposta", "disdetta"],
    "incontentabile/discounts-granted-twice-and-still-rude": ["disdetta", "referenza"],
    "incontentabile/mother-of-the-bride-calls-every-hour": ["tempi_di_risposta", "fine_lavoro"],
    "incontentabile/own-wrong-order-and-a-discount": ["nessun_nuovo_lavoro"],
    "incontentabile/late-payer-never-satisfied": ["sollecito", "tempi_di_risposta", "disdetta"],
    "incontentabile/restaurant-owner-with-impossible-deadlines": ["tempi_di_risposta", "recesso"],
    "incontentabile/one-rude-call-from-a-new-client": ["attesa", "tempi_di_risposta"],
    "incontentabile/settles-only-with-big-concessions": ["disdetta"],
    "distruttivo/threatens-a-review-after-our-mistake": ["recupero", "minaccia_recensione", "disdetta"],
    "distruttivo/review-posted-and-no-will-to-settle": ["risposta_recensione", "mediazione", "disdetta"],
    "distruttivo/ten-days-of-public-attacks-called-the-first-time": ["risposta_recensione", "mediazione", "disdetta"],
    "distruttivo/lawyer-letter-and-damages-after-our-error": ["presa_d_atto"],
    "distruttivo/writes-to-my-clients": ["mediazione", "disdetta"],
    "distruttivo/complaint-to-the-professional-order": ["presa_d_atto"],
    "distruttivo/threatens-to-sue-over-work-that-went-well": ["presa_d_atto"],
    "distruttivo/shared-error-and-offended": ["recupero", "disdetta"],
    "distruttivo/owes-money-and-posted-a-review": ["debito_e_recensione", "risposta_recensione", "disdetta"],
    "distruttivo/first-threat-from-a-recent-client": ["attesa", "minaccia_recensione", "mediazione"],
    "distruttivo/hostile-and-wants-to-harm": ["mediazione", "disdetta"],
    "vip/prestigious-client-followed-at-any-hour": ["regole_chiare", "grazie"],
    "vip/notary-who-jumps-the-queue": ["tempi_di_risposta", "regole_chiare", "annuncio_attenzione"],
    "vip/influential-with-lawyers-and-attentions": ["check_in"],
    "vip/polite-vip-who-writes-every-week": ["check_in"],
    "vip/famous-chef-with-informal-deals": ["regole_chiare", "check_in"],
    "vip/vip-and-good-client-in-a-tie": ["grazie"],
    "vip/local-politician-nothing-special": ["check_in"],
    "vip/owner-on-call-and-queue-jumping": ["tempi_di_risposta", "regole_chiare"],
    "lvc/exceptions-nights-and-better-elsewhere": ["no_chiaro", "referenza", "disdetta"],
    "lvc/small-fee-hours-of-calls": ["no_chiaro", "referenza", "disdetta"],
    "lvc/prepaid-package-used-up-and-more-asked": ["no_chiaro", "referenza", "nessun_nuovo_lavoro"],
    "lvc/old-rate-grateful-but-draining": ["aggiornamento_prezzo", "no_chiaro", "referenza", "disdetta"],
    "lvc/late-payer-who-drains": ["no_chiaro", "referenza", "disdetta"],
    "lvc/better-served-elsewhere": ["referenza", "disdetta"],
    "lvc/maintenance-contract-with-endless-extras": ["no_chiaro", "referenza", "disdetta"],
    "lvc/warranty-abuse": ["no_chiaro", "referenza", "nessun_nuovo_lavoro"],
    "lvc/tiny-client-first-exception": ["attesa", "no_chiaro"],
    "mvc/long-time-client-who-refers-others": ["grazie"],
    "mvc/good-client-first-outburst": ["attesa"],
    "mvc/good-client-supplier-delay": ["problema_esterno"],
    "mvc/good-client-our-error": ["recupero"],
    "mvc/occasional-holiday-meeting": ["grazie"],
    "mvc/polite-frequent-writer": ["check_in"],
    "mvc/calls-daily-with-a-fourth-hotel": ["grazie"],
    "mvc/discount-client-who-appreciates": ["grazie"],
    "mixed/free-and-never-satisfied": ["valore", "passaggio_a_pagamento", "tempi_di_risposta", "disdetta"],
    "mixed/vip-turned-destructive": ["presa_d_atto"],
    "mixed/owes-money-and-threatens-a-review": ["debito_e_recensione", "disdetta"],
    "mixed/drains-and-never-satisfied": ["tempi_di_risposta", "no_chiaro", "disdetta", "referenza"],
    "mixed/free-work-and-a-posted-review": [
        "risposta_recensione",
        "mediazione",
        "valore",
        "passaggio_a_pagamento",
        "disdetta",
    ],
    "mixed/damages-for-a-small-defect": ["presa_d_atto"],
    "mixed/late-payer-with-a-shared-error": ["recupero", "tempi_di_risposta", "disdetta"],
    "mixed/lvc-with-vip-airs": ["no_chiaro", "regole_chiare", "referenza", "disdetta"],
    "caveat/thin-evidence-a-bit-rude": ["attesa"],
    "caveat/gratis-finished-free-work": ["valore", "passaggio_a_pagamento", "nessun_nuovo_lavoro"],
    "lvc/prepaid-package-active-and-endless-requests": ["no_chiaro", "referenza", "nessun_nuovo_lavoro"],
    "lvc/expired-lessons-wanted-back": ["no_chiaro", "referenza", "nessun_nuovo_lavoro"],
    "incontentabile/subscription-without-notice-calls-every-hour": ["tempi_di_risposta", "disdetta"],
    "lvc/accountant-mandate-with-two-months-notice": ["no_chiaro", "referenza", "recesso"],
    "gratis/free-kitchen-fitting-not-started": ["valore", "passaggio_a_pagamento", "no_chiaro", "fine_lavoro"],
    "gratis/free-shop-window-not-started": ["valore", "passaggio_a_pagamento", "fine_lavoro"],
    "incontentabile/wardrobe-half-built-and-calls-every-hour": ["concessione", "tempi_di_risposta", "fine_lavoro"],
    "distruttivo/lawyer-letter-over-a-kitchen-in-progress": ["presa_d_atto"],
    "distruttivo/sue-threat-over-a-subscription": ["presa_d_atto"],
    "distruttivo/review-posted-then-a-lawyer-letter": ["presa_d_atto", "risposta_recensione"],
    "distruttivo/formal-complaint-against-a-shop": ["presa_d_atto"],
    "distruttivo/damages-claim-after-a-shared-error": ["presa_d_atto"],
    "distruttivo/free-month-to-stop-the-reviews": [
        "risposta_recensione",
        "minaccia_recensione",
        "mediazione",
        "disdetta",
    ],
    "distruttivo/reminded-debt-and-a-review-threat": ["debito_e_recensione", "nessun_nuovo_lavoro"],
    "vip/famous-client-demands-a-discount": ["sconto_vip", "annuncio_attenzione"],
    "vip/celebrity-who-wants-the-vip-price-again": ["sconto_vip", "regole_chiare"],
    "mvc/courier-strike-delays-a-good-client": ["problema_esterno", "grazie"],
    "vip/supplier-failed-a-famous-client": ["problema_esterno", "annuncio_attenzione"],
    "mvc/mandate-client-who-sends-me-new-clients": ["grazie"],
    "lvc/finished-removal-paid-in-full-wants-more": ["no_chiaro", "referenza", "nessun_nuovo_lavoro"],
    "incontentabile/boiler-warranty-calls-every-day": ["tempi_di_risposta", "nessun_nuovo_lavoro"],
    "vip/vip-contract-with-six-months-notice": ["regole_chiare", "check_in"],
    "caveat/mandate-first-rude-call": ["attesa"],
    "distruttivo/sue-threat-after-our-error-mid-project": ["presa_d_atto"],
    "incontentabile/reminded-invoice-after-my-late-delivery": ["recupero", "tempi_di_risposta", "disdetta"],
    "lvc/mandate-after-my-filing-error": ["recupero", "no_chiaro", "referenza"],
    "incontentabile/unpaid-invoice-until-a-discount": ["sollecito", "tempi_di_risposta", "disdetta"],
    "incontentabile/discount-or-a-bad-review": ["minaccia_recensione", "mediazione", "tempi_di_risposta", "disdetta"],
    "gratis/free-client-threatens-reviews-for-more-free-work": [
        "minaccia_recensione",
        "mediazione",
        "valore",
        "no_chiaro",
        "nessun_nuovo_lavoro",
    ],
}
# The course of each story's plan (bot/plans.py): the messages and actions an answer at a check can
# lead to, in order, from the step of the router's first message.
PLANS: dict[str, list[str]] = {
    "gratis/free-website-for-a-friend-who-disputes-every-pixel": [
        "valore",
        "passaggio_a_pagamento",
        "recesso",
        "counsel",
    ],
    "gratis/free-consultations-taken-for-granted": ["valore", "passaggio_a_pagamento", "recesso", "counsel"],
    "gratis/old-discount-judged-as-premium": ["valore", "aggiornamento_prezzo", "disdetta", "counsel"],
    "gratis/free-trial-then-free-extras": [
        "valore",
        "passaggio_a_pagamento",
        "no_chiaro",
        "nessun_nuovo_lavoro",
        "counsel",
    ],
    "gratis/free-work-and-a-first-outburst": ["attesa", "valore", "passaggio_a_pagamento"],
    "gratis/owes-2400-and-calls-the-price-a-fortune": ["sollecito_fermo", "formal_notice"],
    "gratis/pays-at-120-days-after-a-free-set-up": ["sollecito_fermo", "formal_notice"],
    "gratis/discounted-and-demanding-as-if-top-price": [
        "valore",
        "aggiornamento_prezzo",
        "no_chiaro",
        "disdetta",
        "counsel",
    ],
    "gratis/old-rate-taken-for-granted": ["valore", "aggiornamento_prezzo", "disdetta", "counsel"],
    "gratis/commission-client-who-wants-everything-free": [
        "valore",
        "passaggio_a_pagamento",
        "no_chiaro",
        "disdetta",
        "counsel",
    ],
    "incontentabile/calls-back-and-wants-a-discount": ["concessione", "tempi_di_risposta", "disdetta", "counsel"],
    "incontentabile/discounts-granted-twice-and-still-rude": ["disdetta", "counsel"],
    "incontentabile/mother-of-the-bride-calls-every-hour": ["tempi_di_risposta", "fine_lavoro", "counsel"],
    "incontentabile/own-wrong-order-and-a-discount": ["nessun_nuovo_lavoro", "counsel"],
    "incontentabile/late-payer-never-satisfied": ["sollecito", "sollecito_fermo", "formal_notice"],
    "incontentabile/restaurant-owner-with-impossible-deadlines": ["tempi_di_risposta", "recesso", "counsel"],
    "incontentabile/one-rude-call-from-a-new-client": ["attesa", "tempi_di_risposta"],
    "incontentabile/settles-only-with-big-concessions": ["disdetta", "counsel"],
    "distruttivo/threatens-a-review-after-our-mistake": ["recupero", "minaccia_recensione", "disdetta", "counsel"],
    "distruttivo/review-posted-and-no-will-to-settle": ["risposta_recensione", "mediazione", "disdetta", "counsel"],
    "distruttivo/ten-days-of-public-attacks-called-the-first-time": [
        "risposta_recensione",
        "mediazione",
        "disdetta",
        "counsel",
    ],
    "distruttivo/lawyer-letter-and-damages-after-our-error": ["presa_d_atto", "counsel"],
    "distruttivo/writes-to-my-clients": ["mediazione", "disdetta", "counsel"],
    "distruttivo/complaint-to-the-professional-order": ["presa_d_atto", "counsel"],
    "distruttivo/threatens-to-sue-over-work-that-went-well": ["presa_d_atto", "counsel"],
    "distruttivo/shared-error-and-offended": ["recupero", "disdetta", "counsel"],
    "distruttivo/owes-money-and-posted-a-review": ["debito_e_recensione", "formal_notice"],
    "distruttivo/first-threat-from-a-recent-client": ["attesa", "minaccia_recensione", "mediazione"],
    "distruttivo/hostile-and-wants-to-harm": ["mediazione", "disdetta", "counsel"],
    "vip/prestigious-client-followed-at-any-hour": ["regole_chiare", "grazie"],
    "vip/notary-who-jumps-the-queue": ["tempi_di_risposta", "annuncio_attenzione"],
    "vip/influential-with-lawyers-and-attentions": ["check_in"],
    "vip/polite-vip-who-writes-every-week": ["check_in"],
    "vip/famous-chef-with-informal-deals": ["regole_chiare", "check_in"],
    "vip/vip-and-good-client-in-a-tie": ["grazie"],
    "vip/local-politician-nothing-special": ["check_in"],
    "vip/owner-on-call-and-queue-jumping": ["tempi_di_risposta"],
    "lvc/exceptions-nights-and-better-elsewhere": ["no_chiaro", "referenza", "counsel"],
    "lvc/small-fee-hours-of-calls": ["no_chiaro", "referenza", "counsel"],
    "lvc/prepaid-package-used-up-and-more-asked": ["no_chiaro", "referenza", "counsel"],
    "lvc/old-rate-grateful-but-draining": ["aggiornamento_prezzo", "no_chiaro", "referenza", "counsel"],
    "lvc/late-payer-who-drains": ["no_chiaro", "referenza", "counsel"],
    "lvc/better-served-elsewhere": ["referenza", "counsel"],
    "lvc/maintenance-contract-with-endless-extras": ["no_chiaro", "referenza", "counsel"],
    "lvc/warranty-abuse": ["no_chiaro", "referenza", "counsel"],
    "lvc/tiny-client-first-exception": ["attesa", "no_chiaro"],
    "mvc/long-time-client-who-refers-others": ["grazie"],
    "mvc/good-client-first-outburst": ["attesa"],
    "mvc/good-client-supplier-delay": ["problema_esterno"],
    "mvc/good-client-our-error": ["recupero"],
    "mvc/occasional-holiday-meeting": ["grazie"],
    "mvc/polite-frequent-writer": ["check_in"],
    "mvc/calls-daily-with-a-fourth-hotel": ["grazie"],
    "mvc/discount-client-who-appreciates": ["grazie"],
    "mixed/free-and-never-satisfied": ["valore", "passaggio_a_pagamento", "tempi_di_risposta", "disdetta", "counsel"],
    "mixed/vip-turned-destructive": ["presa_d_atto", "counsel"],
    "mixed/owes-money-and-threatens-a-review": ["debito_e_recensione", "formal_notice"],
    "mixed/drains-and-never-satisfied": ["tempi_di_risposta", "disdetta", "counsel"],
    "mixed/free-work-and-a-posted-review": [
        "risposta_recensione",
        "mediazione",
        "valore",
        "passaggio_a_pagamento",
        "disdetta",
        "counsel",
    ],
    "mixed/damages-for-a-small-defect": ["presa_d_atto", "counsel"],
    "mixed/late-payer-with-a-shared-error": ["recupero", "tempi_di_risposta", "disdetta", "counsel"],
    "mixed/lvc-with-vip-airs": ["no_chiaro", "referenza", "counsel"],
    "caveat/thin-evidence-a-bit-rude": ["attesa"],
    "caveat/gratis-finished-free-work": ["valore", "passaggio_a_pagamento", "nessun_nuovo_lavoro", "counsel"],
    "lvc/prepaid-package-active-and-endless-requests": ["no_chiaro", "referenza", "counsel"],
    "lvc/expired-lessons-wanted-back": ["no_chiaro", "referenza", "counsel"],
    "incontentabile/subscription-without-notice-calls-every-hour": ["tempi_di_risposta", "disdetta", "counsel"],
    "lvc/accountant-mandate-with-two-months-notice": ["no_chiaro", "referenza", "counsel"],
    "gratis/free-kitchen-fitting-not-started": [
        "valore",
        "passaggio_a_pagamento",
        "no_chiaro",
        "fine_lavoro",
        "counsel",
    ],
    "gratis/free-shop-window-not-started": ["valore", "passaggio_a_pagamento", "fine_lavoro", "counsel"],
    "incontentabile/wardrobe-half-built-and-calls-every-hour": [
        "concessione",
        "tempi_di_risposta",
        "fine_lavoro",
        "counsel",
    ],
    "distruttivo/lawyer-letter-over-a-kitchen-in-progress": ["presa_d_atto", "counsel"],
    "distruttivo/sue-threat-over-a-subscription": ["presa_d_atto", "counsel"],
    "distruttivo/review-posted-then-a-lawyer-letter": ["presa_d_atto", "counsel"],
    "distruttivo/formal-complaint-against-a-shop": ["presa_d_atto", "counsel"],
    "distruttivo/damages-claim-after-a-shared-error": ["presa_d_atto", "counsel"],
    "distruttivo/free-month-to-stop-the-reviews": ["risposta_recensione", "mediazione", "disdetta", "counsel"],
    "distruttivo/reminded-debt-and-a-review-threat": ["debito_e_recensione", "formal_notice"],
    "vip/famous-client-demands-a-discount": ["sconto_vip", "annuncio_attenzione"],
    "vip/celebrity-who-wants-the-vip-price-again": ["sconto_vip"],
    "mvc/courier-strike-delays-a-good-client": ["problema_esterno", "grazie"],
    "vip/supplier-failed-a-famous-client": ["problema_esterno", "annuncio_attenzione"],
    "mvc/mandate-client-who-sends-me-new-clients": ["grazie"],
    "lvc/finished-removal-paid-in-full-wants-more": ["no_chiaro", "referenza", "counsel"],
    "incontentabile/boiler-warranty-calls-every-day": ["tempi_di_risposta", "nessun_nuovo_lavoro", "counsel"],
    "vip/vip-contract-with-six-months-notice": ["regole_chiare", "check_in"],
    "caveat/mandate-first-rude-call": ["attesa"],
    "distruttivo/sue-threat-after-our-error-mid-project": ["presa_d_atto", "counsel"],
    "incontentabile/reminded-invoice-after-my-late-delivery": ["recupero", "tempi_di_risposta", "disdetta", "counsel"],
    "lvc/mandate-after-my-filing-error": ["recupero", "no_chiaro", "referenza", "counsel"],
    "incontentabile/unpaid-invoice-until-a-discount": ["sollecito", "sollecito_fermo", "formal_notice"],
    "incontentabile/discount-or-a-bad-review": [
        "minaccia_recensione",
        "mediazione",
        "tempi_di_risposta",
        "disdetta",
        "counsel",
    ],
    "gratis/free-client-threatens-reviews-for-more-free-work": [
        "minaccia_recensione",
        "mediazione",
        "valore",
        "no_chiaro",
        "nessun_nuovo_lavoro",
        "counsel",
    ],
}
BY_STORY = {s.id: s for s in STORIES}


@pytest.mark.parametrize(("sid", "offered"), ROUTES.items(), ids=list(ROUTES))
def test_a_story_is_offered_its_messages_in_order(assess, sid, offered):
    a, final = assess(BY_STORY[sid].answers)
    assert [s.id for s in route(a, final)] == offered


@pytest.mark.parametrize("story", STORIES, ids=[s.id for s in STORIES])
def test_the_routing_rules_hold_for_every_story(assess, story):
    a, final = assess(story.answers)
    got = route(a, final)
    ids = [s.id for s in got]
    raised = flags_of(a, final)
    # Recovery first on our own or a shared error, unless a legal claim makes any admission unwise.
    assert (ids[:1] == ["recupero"]) == (a.recovery_first and not a.legal)
    # Under a legal claim, the acknowledgement leads.
    if a.legal:
        assert ids[:1] == ["presa_d_atto"]
    # No exit on a bad day, for a good client, a VIP or an MVC; exits always come last.
    if raised & {"bad_day", "good_client"} or a.main in ("mvc", "vip"):
        assert not any(s.exit for s in got)
    exits = [i for i, s in enumerate(got) if s.exit]
    assert exits == list(range(len(got) - len(exits), len(got)))
    # A holding reply comes first on a bad day (after a recovery, if we erred).
    if "attesa" in ids:
        assert "bad_day" in raised and ids.index("attesa") == (1 if a.recovery_first else 0)
    # Money and reviews: only when the facts say so.
    owed = final.get("payment") == "late" and final.get("owed_since") in ("overdue", "reminded")
    if "sollecito" in ids or "sollecito_fermo" in ids or "debito_e_recensione" in ids:
        assert owed
    if "aggiornamento_prezzo" in ids:
        assert final["payment"] == "below_price"
    if "risposta_recensione" in ids:
        assert {"review_posted", "public_posts"} & set(final["conflict"])
    # One concession, only when none was granted before, with the amount the user chose.
    if "concessione" in ids:
        assert final["concessions"] == "none_yet" and final.get("concession_offer")
    # Mediation never stands in for a recovery.
    if a.recovery_first:
        assert "mediazione" not in ids
    # An exit follows the shape of the relationship: no exit letter for a relationship we do not know.
    shape = {
        "disdetta": ("ongoing",),
        "recesso": ("mandate", "one_off_not_started", "one_off_in_progress"),
        "fine_lavoro": ("one_off_not_started", "one_off_in_progress"),
        "nessun_nuovo_lavoro": ("one_off_finished", "warranty", "prepaid"),
    }
    for sid, shapes in shape.items():
        if sid in ids:
            assert final.get("relationship") in shapes


def test_every_story_is_pinned_and_every_script_is_offered_by_some_story():
    assert set(ROUTES) == set(BY_STORY)
    offered = {sid for ids in ROUTES.values() for sid in ids}
    assert offered | {"sconto_vip"} == set(BY_ID), set(BY_ID) - offered


def test_a_typical_run_asks_at_most_fifteen_questions(assess):
    """Follow-ups open only on the branch that needs them: a run with no branch stays short."""
    for answers in (
        {"payment": "full", "balance": "even", "behaviours": ["calls_back", "rude"]},
        {"payment": "full", "balance": "drains", "behaviours": ["none"], "feelings": ["better_elsewhere"]},
        {"payment": "full", "balance": "worth_it", "behaviours": ["values_work"], "feelings": ["glad"]},
        {"relationship": "one_off_in_progress", "payment": "full", "balance": "even", "behaviours": ["rude"]},
    ):
        _, final = assess(answers)
        assert len(final) <= 15, sorted(final)


# -- the result's shape, through the Coach -----------------------------------------------------


def finish(coach: Coach, drive, user: int, answers: dict, lang: str = "it"):
    state = drive(answers, lang)
    coach.store.save_conversation(user, state.but(cid="c", picked=[]), {})
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
    "relationship": "one_off_in_progress",
    "payment": "free",
    "free_attitude": "demands",
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
    state = drive({**MANY_SCRIPTS, "pattern": "few"}, state=state) if state.at != "end" else state
    store.save_conversation(5, state.but(picked=[]), {})
    reply = coach.act(5, Finish())
    assert len(reply.messages) <= 3 and reply.messages[0].meta.get("movement")


def test_a_saved_case_shows_the_same_compact_advice(store, flow, drive):
    coach = Coach(store, flow)
    book = CaseBook(store, flow, coach.renderer)
    case_no = finish(coach, drive, 5, MANY_SCRIPTS).case_no
    assert [s.kind for s in book.case_view(5, case_no)[3:]] == ["advice", "script"]
    with pytest.raises(CaseBookError) as refused:  # another user's case shows nothing
        book.case_view(6, case_no)
    assert refused.value.key == "unknown_case"


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
    state = Conversation(flow="cliente_difficile", flow_version=1, lang="it", at="end", answers=old_answers)
    case_no = store.save_case(9, state, old_assessment, "Rossi")
    screens = CaseBook(store, flow, coach.renderer).case_view(9, case_no)[3:]
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
    state = state.but(at="price", history=state.history[: state.history.index("price")])
    store.save_conversation(7, state.but(cid="c", picked=[]), {})
    reply = coach.text(7, "48 al secolo")
    assert "«al secolo»" in reply.dialog.plain and "per l'intero lavoro" in reply.dialog.plain
    assert "&#39;" not in reply.dialog.plain and "&amp;#39;" not in reply.dialog.text
    after = coach.text(7, "48 all ora").dialog.plain
    assert flow.questions["price"].text["it"] not in after, "«all ora» is an hour too: the price is taken"


@pytest.mark.parametrize(
    ("relationship", "asked"),
    [
        ("one_off_finished", set()),
        ("one_off_in_progress", {"trade"}),
        ("one_off_not_started", {"trade"}),
        ("warranty", set()),
        ("prepaid", {"prepaid_state"}),
        ("ongoing", {"notice"}),
        ("mandate", {"notice"}),
    ],
)
def test_the_follow_ups_of_a_relationship_open_only_where_its_shape_needs_them(assess, relationship, asked):
    """The notice never follows a finished one-off job; the kind of work only a job not finished."""
    _, final = assess({"relationship": relationship, "payment": "full", "balance": "even"})
    assert {"trade", "prepaid_state", "notice"} & set(final) == asked


# -- plans: what follows each message, under the same guards ------------------------------------


def kinds_of(does: str) -> tuple[str, ...]:
    return BY_ID[does].kinds if does in BY_ID else BY_ACTION[does].kinds


@pytest.mark.parametrize(("sid", "course"), PLANS.items(), ids=list(PLANS))
def test_a_story_has_its_plan(assess, sid, course):
    a, final = assess(BY_STORY[sid].answers)
    assert [p.does for p in plan_for(a, final).course()] == course


def test_every_story_is_planned_and_every_profile_has_plans():
    assert set(PLANS) == set(BY_STORY)
    assert all(PLANS.values()), [sid for sid, course in PLANS.items() if not course]
    assert {BY_STORY[sid].main for sid in PLANS} == {"gratis", "incontentabile", "distruttivo", "vip", "lvc", "mvc"}


@pytest.mark.parametrize("story", STORIES, ids=[s.id for s in STORIES])
def test_the_plan_rules_hold_for_every_story(assess, story):
    """Stated apart from the declarations: the plan starts at the router's first message, and no step
    of any plan (on the course or off it) breaks a rule of the messages or of issue 22."""
    for a, answers in [assess(story.answers), *(assess(v) for _, v in story.variant_answers())]:
        plan, flags = plan_for(a, answers), flags_of(a, answers)
        offered = [s.id for s in route(a, answers)]
        assert plan.first is not None and plan.first.does == offered[0]
        does = [p.does for p in plan.steps]
        if "legal" in flags:  # a legal claim: the acknowledgement, then counsel; nothing else
            assert does == ["presa_d_atto", "counsel"], does
        if flags & {"bad_day", "good_client", "keep_client"}:
            assert not [d for d in does if {"exit", "withdrawal", "referral"} & set(kinds_of(d))], does
        if "pressure" in flags:
            assert not [d for d in does if {"concession", "price"} & set(kinds_of(d))], does
        if "recovery_first" in flags:
            assert not [d for d in does if {"withdrawal", "money", "debt_step"} & set(kinds_of(d))], does
        if "money_owed" in flags:
            assert not [d for d in does if {"concession", "care"} & set(kinds_of(d))], does
        # Every message step is one the router offers (given what the step presumes); the course
        # the user sees when the client never answers reaches an end.
        for p in plan.steps:
            if p.is_message:
                assert p.does in [s.id for s in route(a, plan.message_answers(p))]
        assert default_path(plan)[0] is plan.first


# Each guard, taken out of the plans, lets a step it refuses into some story's plan. The legal claim
# has two: the messages' guard and the plan's own, each enough alone (they are removed together).
PLAN_GUARD_SETS = {
    **{g.id: ((g,), ()) for g in GUARDS if g.id != "legal_dispute"},
    "legal_dispute+legal_only_counsel": ((next(g for g in GUARDS if g.id == "legal_dispute"),), PLAN_GUARDS),
    **{g.id: ((), (g,)) for g in PLAN_GUARDS},
}


@pytest.mark.parametrize("removed", PLAN_GUARD_SETS, ids=list(PLAN_GUARD_SETS))
def test_removing_a_guard_lets_a_refused_step_into_a_plan(assess, removed):
    gone, gone_plan = PLAN_GUARD_SETS[removed]
    guards = [g for g in GUARDS if g not in gone]
    plan_guards = [g for g in PLAN_GUARDS if g not in gone_plan]
    caught = []
    for story in STORIES:
        for a, answers in [assess(story.answers), *(assess(v) for _, v in story.variant_answers())]:
            flags = flags_of(a, answers)
            kept = {p.does for p in plan_for(a, answers).steps}
            leaked = {p.does for p in plan_for(a, answers, guards, plan_guards).steps} - kept
            refused = [d for d in leaked for g in gone if flags & set(g.when) and set(g.refuses) & set(kinds_of(d))]
            refused += [
                d for d in leaked for g in gone_plan if flags & set(g.when) and not set(kinds_of(d)) <= set(g.only)
            ]
            if refused:
                caught.append((story.id, refused))
    assert caught, f"no story's plan would notice if '{removed}' were removed"
