"""Every message, rendered every way it can be sent, read as the client and as the sender's lawyer.

The sweep covers every script × variant × form × client (woman, man, company) × voice (io/noi) ×
stage × language, with the facts known and unknown. Each rendering must: greet without the private
label, agree with the client's gender and the tu/Lei form and the sender's io/noi, never write
"di signor", never wrap the service in «», print no figure the user did not give, leave no empty or
dangling sentence or placeholder, and be Telegram-safe HTML within 4096 characters.
"""

from __future__ import annotations

import re
from itertools import product

import pytest

from bot import result as results
from bot.actions import FORMS, VARIANTS
from bot.classifier import Assessment, Reason
from bot.facts import STAGE_OF
from bot.render import (
    TELEGRAM_LIMIT,
    Renderer,
    html_problems,
    to_plain,
)
from bot.scripts import CATALOGUE

from helpers import FLOW

PROFILES = FLOW.profiles.ids
RENDERER = Renderer()
LANGS = ("it", "en")
GENDERS = ("woman", "man", "company")
VOICES = ("io", "noi")
# Every shape of relationship (the flow's options): a job not started, under way or done, a package...
RELATIONSHIPS = tuple(STAGE_OF)
LABEL = "Furbetto Privato"

FACTS = {
    "alias": LABEL,
    "service": "«la consulenza fiscale»",
    "price": {"amount": 48.0, "unit": "hour"},
    "owed": 850.0,
    "payment": "below_price",
    "notice": "with_notice",
    "prepaid_state": "active",
    "concession_offer": "uno sconto del 10% su questa fattura",
    "attention": "un aggiornamento scritto a ogni consegna",
    "conflict": ["review_posted", "damages", "lawyer_letter"],
    "behaviours": ["insults_staff", "free_extras"],
}
NO_FACTS = {"alias": LABEL, "concession_offer": "una revisione in più", "attention": "una telefonata di verifica"}
ADDRESS = {"woman": "signora Rossi", "man": "dott. Bianchi", "company": "Studio Verdi"}
ADDRESS_EN = {"woman": "Ms Rossi", "man": "Dr Bianchi", "company": "Verdi & Partners"}
SENDER = {
    "name": "Giulia Neri",
    "business": "Studio Neri",
    "hours": "dal lunedì al venerdì, 9-13",
    "reply_time": "entro 2 giorni lavorativi",
    "channel": "email",
    "vat": "plus",
}


def assessment(**flags: bool) -> Assessment:
    return Assessment(
        scores={p: 1.0 for p in PROFILES} | {"gratis": 8.0},
        main="gratis",
        secondary=None,
        confidence="medium",
        reasons=(Reason("payment", "free", 4.0),),
        own_error=flags.get("own_error", False),
        first_time=False,
        recurring=False,
        thin=False,
        good_client=False,
        shared_error=flags.get("shared_error", False),
    )


# -- what a message must never contain ---------------------------------------------------------

MASCULINE_IT = re.compile(r"\b(lui|signore|Caro|Lascialo|seguirlo|soddisfatto|interessato|contento|sicuro|libero)\b")
MASCULINE_EN = re.compile(r"\b(he|him|his|Mr|Sir)\b")
# Second person singular (tu) in a Lei letter, and Lei in a tu letter.
TU_WORDS = re.compile(
    r"\b(ti|tuo|tua|tuoi|tue|te|hai|sei|puoi|vuoi|dimmelo|fammi|mandami|scusami)\b|\b\w+(?<!cer)(?<!par)(?<!aper)[aei]rti\b"
)
LEI_WORDS = re.compile(r"\b(Lei|Sua|Suo|Suoi|Sue)\b|[a-z,] (Le|La|Gli) ")
# First person singular in a "noi" letter, plural in an "io" one (inclusive "we, you and I" is fine).
IO_WORDS_IT = re.compile(
    r"\b(ho|avrò|dovrò|posso|voglio|vorrei|preferisco|preferirei|credo|devo|mio|mia|miei|mie|mi|me|avermi|contattarmi|"
    r"indicarmi|capisco|chiedo|propongo|ringrazio|scrivo|ricordo|comunico|spiego|confermo|rispondo|aggiorno|aggiornerò|"
    r"ricontatto|mando|riconosco|auguro|restituisco|consegno|indico|faccio|lavorerò)\b"
)
NOI_WORDS_IT = re.compile(
    r"\b(abbiamo|vorremmo|crediamo|dobbiamo|preferiremmo|siamo disponibili|avremo|dovremo|chiediamo|proponiamo|"
    r"ringraziamo|scriviamo|ricordiamo|comunichiamo|spieghiamo|confermiamo|rispondiamo|aggiorniamo|mandiamo|capiamo)\b"
)
# Articles after a bare preposition: «a la consulenza» must be «alla consulenza».
UNCONTRACTED = re.compile(r"\b(a|di|da|in|su) (il|lo|la|i|gli|le|l')\b")
IO_WORDS_EN = re.compile(r"\b(I|I'm|I'll|I'd|my|me|mine)\b")
NOI_WORDS_EN = re.compile(
    r"\bwe (have|will|would|believe|need|charge|offer|take|owe|follow|handle|were|wish)\b|\bours\b"
)
DANGLING = re.compile(
    r"\s[,.;:]|,,|\.\.(?!\.)|:\s*\.|,\s*\.|\(\s*\)|\[|\]|\{|\}|\bNone\b|  |"
    r"\b(di|a|da|per|con|su|the|of|regarding)\s*[.,;:]\s|\. [a-zà-ù]"
)
CLOSING = re.compile(r"\n\n(Cordiali saluti|Un caro saluto|A presto|Kind regards|All the best|Speak soon)[,.]")
WRONG_PREPOSITION = re.compile(r"\b(di|a|da|su|con) (signor|signora|dott)\b", re.IGNORECASE)


def rendered(lang: str, script, variant: str, form: str, gender: str, voice: str, relationship: str, known: bool):
    answers = {**(FACTS if known else NO_FACTS), "who": f"{gender}_{form}", "relationship": relationship}
    stage = STAGE_OF[relationship]
    if known:
        answers["address"] = (ADDRESS if lang == "it" else ADDRESS_EN)[gender]
    sender = {**SENDER, "voice": voice} if known else {"voice": voice}
    flags = {"own_error": stage != "finished", "shared_error": stage == "finished"}
    return answers, sender, results.script(RENDERER, lang, script, answers, assessment(**flags), variant, form, sender)


def figures_allowed(answers: dict, sender: dict) -> str:
    """Every typed text a figure may legitimately come from."""
    texts = [str(v) for v in answers.values() if isinstance(v, str)] + list(sender.values())
    return " ".join(texts)


SWEEP = list(product(LANGS, CATALOGUE))


@pytest.mark.parametrize(("lang", "script"), SWEEP, ids=[f"{lang}/{s.id}" for lang, s in SWEEP])
def test_every_rendering_of_a_script_is_safe_to_send(lang, script):
    seen = 0
    shapes = product(VARIANTS, FORMS, GENDERS, VOICES, RELATIONSHIPS, (True, False))
    for variant, form, gender, voice, relationship, known in shapes:
        answers, sender, (title, _note, body) = rendered(
            lang, script, variant, form, gender, voice, relationship, known
        )
        plain = to_plain(body)
        where = f"{variant}/{form}/{gender}/{voice}/{relationship}/{'known' if known else 'unknown'}:\n{plain}"
        seen += 1
        assert plain.strip() and title.strip(), where
        assert html_problems(body) == [] and len(plain) <= TELEGRAM_LIMIT, where
        _greeting, _, rest = plain.partition("\n\n")
        assert rest.strip(), f"nothing after the greeting: {where}"
        assert LABEL not in plain, f"the private label leaked: {where}"
        assert CLOSING.search(plain), f"the closing is not a paragraph of its own: {where}"
        assert "\n\n\n" not in plain, where
        assert "«" not in plain and "»" not in plain, f"quotes around a typed phrase: {where}"
        assert not WRONG_PREPOSITION.search(plain), where
        if lang == "it":
            assert not UNCONTRACTED.search(plain), f"{UNCONTRACTED.search(plain).group(0)!r}: {where}"
            first = rest.split(None, 1)[0]
            # A courtesy pronoun keeps its capital: Le, La, or Vi for a company (addressed in the plural).
            assert first[:1].islower() or first in ("Le", "La", "Vi"), f"capital after the greeting's comma: {where}"
        assert not DANGLING.search(plain), f"{DANGLING.search(plain).group(0)!r} in {where}"
        # Figures come only from what the user typed (the price and the debt, formatted, included).
        allowed = figures_allowed(answers, sender)
        for number in re.findall(r"\d+", plain.replace(".", "").replace(",", "")):
            assert number in allowed.replace(".", "").replace(",", "") or number in ("4800", "85000", "48", "850"), (
                f"invented figure {number}: {where}"
            )
        if gender == "woman":
            masculine = (MASCULINE_IT if lang == "it" else MASCULINE_EN).search(plain)
            assert not masculine, f"{masculine.group(0)!r} for a woman: {where}"
        if lang == "it" and not script.formal:
            wrong = (TU_WORDS if form == "lei" else LEI_WORDS).search(rest)
            assert not wrong, f"{wrong.group(0)!r} breaks the {form} form: {where}"
        if lang == "it":
            wrong = (IO_WORDS_IT if voice == "noi" else NOI_WORDS_IT).search(rest)
        else:
            wrong = (IO_WORDS_EN if voice == "noi" else NOI_WORDS_EN).search(rest)
        assert not wrong, f"{wrong.group(0)!r} breaks the {voice} voice: {where}"
        if lang == "it" and script.formal:
            assert not TU_WORDS.search(rest), f"a public or collective message is always formal: {where}"
    assert seen == len(VARIANTS) * len(FORMS) * len(GENDERS) * len(VOICES) * len(RELATIONSHIPS) * 2


@pytest.mark.parametrize(
    ("gender", "it", "en"),
    [
        ("woman", "Gentile signora Rossi,", "Dear Ms Rossi,"),
        ("man", "Gentile dott. Bianchi,", "Dear Dr Bianchi,"),
        # A company addressed formally is addressed in the plural, on first-name terms in the singular.
        ("company", {"lei": "Spett.le Studio Verdi,", "tu": "Gentile Studio Verdi,"}, "Dear Verdi & Partners,"),
    ],
)
def test_the_greeting_uses_the_address_with_its_title(gender, it, en):
    for lang, expected in (("it", it), ("en", en)):
        for form in FORMS:
            _, _, (_, _, body) = rendered(lang, CATALOGUE[0], "softer", form, gender, "io", "mandate", True)
            opening = expected[form] if isinstance(expected, dict) else expected
            assert to_plain(body).startswith(opening), body


def test_first_name_terms_greet_by_first_name_and_without_a_name_nobody_is_invented():
    answers = {"address": "Marco", "form": "tu", "who": "man"}
    body = results.script(RENDERER, "it", "attesa", answers, assessment(), "softer", "tu")[2]
    assert body.startswith("Ciao Marco,")
    assert results.script(RENDERER, "en", "attesa", answers, assessment(), "softer", "tu")[2].startswith("Hi Marco,")
    for gender, opening in (("woman", "Gentile signora,"), ("man", "Gentile signore,"), ("company", "Buongiorno,")):
        body = results.script(RENDERER, "it", "attesa", {"who": gender}, assessment(), "softer", "lei")[2]
        assert body.startswith(opening)
    assert results.script(RENDERER, "en", "attesa", {"who": "woman"}, assessment(), "softer", "lei")[2].startswith(
        "Hello,"
    )


def test_the_service_phrase_sits_in_the_sentence_without_quotes():
    body = to_plain(
        results.script(
            RENDERER,
            "it",
            "sollecito",
            {"service": "«il sito del ristorante»", "owed": 300},
            assessment(),
            "softer",
            "tu",
        )[2]
    )
    assert "per il sito del ristorante" in body and "«" not in body


def test_a_public_reply_is_formal_even_between_people_on_first_name_terms():
    tu = results.script(
        RENDERER, "it", "risposta_recensione", {**FACTS, "address": "Marco", "form": "tu"}, assessment(), "softer", "tu"
    )[2]
    lei = results.script(
        RENDERER,
        "it",
        "risposta_recensione",
        {**FACTS, "address": "Marco", "form": "lei"},
        assessment(),
        "softer",
        "lei",
    )[2]
    assert tu == lei and tu.startswith("Buongiorno,") and "Marco" not in tu
    _, note, _ = results.script(RENDERER, "it", "risposta_recensione", FACTS, assessment(), "softer", "tu")
    assert "segnalala alla piattaforma" in note


def test_unknown_terms_are_left_out_not_invented():
    for lang in LANGS:
        for script in CATALOGUE:
            for variant in VARIANTS:
                body = to_plain(results.script(RENDERER, lang, script, NO_FACTS, assessment(), variant, "lei", {})[2])
                digits = re.findall(r"\d", body)
                assert not digits, f"{lang}/{script.id}/{variant}: a figure nobody gave: {body}"
                for invented in ("24 ore", "9 alle 18", "5 giorni", "referente dedicato", "mese prossimo", "24 hours"):
                    assert invented not in body


def test_the_recovery_admits_the_error_without_taking_on_liability():
    for lang in LANGS:
        for variant, form in product(VARIANTS, FORMS):
            body = to_plain(
                results.script(RENDERER, lang, "recupero", FACTS, assessment(own_error=True), variant, form)[2]
            ).casefold()
            for phrase in (
                "responsabilità",
                "a nostro carico",
                "a nostre spese",
                "prossima fattura",
                "responsibility",
                "at our expense",
                "next invoice",
            ):
                assert phrase not in body, (lang, variant, form, phrase)


def test_the_firmer_reminder_names_the_next_step_and_interest_only_between_businesses():
    person = to_plain(
        results.script(RENDERER, "it", "sollecito_fermo", {**FACTS, "who": "woman"}, assessment(), "firmer", "lei")[2]
    )
    company = to_plain(
        results.script(RENDERER, "it", "sollecito_fermo", {**FACTS, "who": "company"}, assessment(), "firmer", "lei")[2]
    )
    assert "diffida formale" in person and "interessi di mora" not in person
    assert "interessi di mora" in company


def test_the_withdrawal_respects_notice_and_hands_over_what_is_urgent():
    notice = {**FACTS, "relationship": "mandate", "notice_period": {"amount": 3, "unit": "month"}}
    with_notice = to_plain(results.script(RENDERER, "it", "recesso", notice, assessment(), "softer", "lei")[2])
    assert "nel rispetto del preavviso di 3 mesi" in with_notice and "attività urgenti" in with_notice
    assert "con effetto da oggi" not in with_notice.casefold()
    _, note, _ = results.script(
        RENDERER, "it", "recesso", {**notice, "notice_period": None}, assessment(), "softer", "lei"
    )
    assert "Rispetta il preavviso" in note, "the length unknown: the user is told to respect the notice"
    _, note, _ = results.script(RENDERER, "it", "recesso", {"notice": "unknown"}, assessment(), "softer", "lei")
    assert "2237" in note and "preavviso" in note
