"""The facts a message is written from, computed once from the answers and the sender's profile.

Every message template only fills these facts: who the client is and how they are addressed (tu,
Lei, or a company in the plural), the sender's voice, the relationship and the stage of the work,
money, notice and the date the relationship ends. A fact the user did not give is None, so the
template leaves its sentence out: nothing is asserted that the answers lack. The private label
(`alias`) never reaches a message.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup

from .actions import FORMS
from .classifier import Assessment
from .languages import Language
from .sender import in_language

GENDERS = ("woman", "man", "company")
_QUOTES = " «»\"'“”‘’"
# A greeting after a title reads "Gentile dott. Bianchi" even between people on first-name terms.
TITLE = re.compile(
    r"^(sig|sig\.ra|sigg|signor|signora|signore|dott|dott\.ssa|dottor|dottoressa|avv|avvocato|avvocata|ing|prof|"
    r"prof\.ssa|professore|professoressa|arch|geom|rag|mr|mrs|ms|miss|dr|prof)\b\.?",
    re.IGNORECASE,
)
# A service written with a plural article ("i volantini", "le sedute") takes plural verbs; in
# English, one whose last word is a plural noun ("the party flyers", not "the process").
_PLURAL_SERVICE = re.compile(r"^(?:(?:i|gli|le)\b|the\b.*[^siu\W]s$)", re.IGNORECASE)
# Where each relationship stands: a job not started, under way, or done (the tense of a letter).
STAGE_OF = {
    "one_off_not_started": "not_started",
    "one_off_in_progress": "ongoing",
    "one_off_finished": "finished",
    "warranty": "finished",
    "ongoing": "ongoing",
    "mandate": "ongoing",
    "prepaid": "ongoing",
}
_PERIOD_DAYS = {"day": 1, "week": 7}


class MissingForm(ValueError):
    """A template gave no text for the form the letter needs (a company addressed in the plural)."""


def addressee(answers: dict[str, Any]) -> tuple[str | None, str]:
    """Who the client is (woman, man, company; None if unknown) and the form they are addressed in
    (tu or lei, informal if unknown): one answer since flow 3 ("woman_lei"), two before."""
    who, form = answers.get("who"), answers.get("form")
    if isinstance(who, str) and "_" in who:
        who, _, form = who.partition("_")
    return (who if who in GENDERS else None), (form if form in FORMS else FORMS[0])


def client_label(answers: dict[str, Any]) -> str | None:
    """The user's private label for the client (`alias`): for the user's own screens (the card, the
    advice, the guides), never for a message."""
    label: str | None = answers.get("alias")  # a text answer (or skipped): the flow checks it
    return label


def price_of(answers: dict[str, Any]) -> tuple[float | None, str | None]:
    """The normal price and its unit: one answer since flow 3 ({"amount", "unit"}), two before."""
    price = answers.get("price")
    if isinstance(price, dict):
        return price.get("amount"), price.get("unit")
    return price, answers.get("price_unit")


def phrase(value: Any) -> str | None:
    """A typed phrase ready to sit inside a sentence: no surrounding quotes, None when empty."""
    if not isinstance(value, str):
        return None
    value = value.strip().strip(_QUOTES).strip()
    return value or None


def stage_of(answers: dict[str, Any]) -> str | None:
    """Where the work stands (not_started, ongoing, finished), from the relationship or, for cases
    saved before it was asked, the stage of free work."""
    relationship = answers.get("relationship")
    if relationship in STAGE_OF:
        return STAGE_OF[relationship]
    stage = answers.get("stage")
    return stage if stage in ("not_started", "ongoing", "finished") else None


def add_period(start: date, amount: int, unit: str) -> date:
    """`start` moved on by a notice period (days, weeks, or calendar months, clamped to the month's end)."""
    if unit == "month":
        month = start.month - 1 + amount
        year, month = start.year + month // 12, month % 12 + 1
        return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
    return start + timedelta(days=amount * _PERIOD_DAYS.get(unit, 1))


def notice_period(answers: dict[str, Any]) -> tuple[int, str] | None:
    """The notice as (amount, unit), when the user gave it."""
    period = answers.get("notice_period")
    if answers.get("notice") != "with_notice" or not isinstance(period, dict):
        return None
    amount, unit = period.get("amount"), period.get("unit")
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0 or not isinstance(unit, str):
        return None
    return int(amount), unit


def _chooser(pick_second: bool) -> Callable[[str, str], Markup]:
    """A chooser between two template literals (gender, voice): never user input."""
    return (lambda a, b: Markup(b)) if pick_second else (lambda a, b: Markup(a))


def form_chooser(form: str, plural: bool = False) -> Callable[..., Markup]:
    """tl(tu_text, lei_text, voi_text) for the templates: the text for the form the letter is in.

    A company addressed formally in a language with a plural courtesy form needs the third text;
    a template that lacks it is refused, so no company is ever written to as one person.
    """

    def tl(tu: str, lei: str, voi: str | None = None) -> Markup:
        if form == "tu":
            return Markup(tu)
        if plural:
            if voi is None:
                raise MissingForm(f"a company is addressed in the plural: give tl({tu!r}, {lei!r}) its third text")
            return Markup(voi)
        return Markup(lei)

    return tl


def gender_chooser(gender: str | None, plural: bool) -> Callable[..., Markup]:
    """g(man, woman, company) for the words that agree with the client: the company text when the
    client is a company addressed in the plural (required then), the man's when the gender is unknown."""

    def g(man: str, woman: str, company: str | None = None) -> Markup:
        if gender == "company" and plural:
            if company is None:
                raise MissingForm(f"a company agrees in the plural: give g({man!r}, {woman!r}) its third text")
            return Markup(company)
        return Markup(woman if gender == "woman" else man)

    return g


def message_facts(
    language: Language,
    answers: dict[str, Any],
    assessment: Assessment,
    sender: dict[str, str] | None = None,
    form: str | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """What the messages are written with: the case's facts, the sender's profile, and the helpers
    that make every word agree (tl, g, v, ind, dir, sv). Unknown facts are None."""
    lang = language.code
    sender = in_language(sender or {}, lang, language.default)
    if not sender.get("name") and isinstance(answers.get("sender"), str):
        sender["name"] = answers["sender"]  # cases saved before the profile existed
    gender, chosen_form = addressee(answers)
    form = form if form in FORMS else chosen_form
    plural = gender == "company" and form == "lei" and language.plural_courtesy
    price, price_unit = price_of(answers)
    address = phrase(answers.get("address"))
    service = phrase(answers.get("service"))
    voice = sender.get("voice") if sender.get("voice") in ("io", "noi") else "io"
    courtesy = "ti " if form == "tu" else "Vi " if plural else None
    period = notice_period(answers)
    end = add_period(today or date.today(), *period) if period else None
    conflict = list(answers.get("conflict") or [])
    behaviours = list(answers.get("behaviours") or [])
    return {
        "lang": lang,
        "form": form,
        "plural": plural,
        "tl": form_chooser(form, plural),
        "g": gender_chooser(gender, plural),
        "v": _chooser(voice == "noi"),
        # "ti chiedo" / "Le chiedo" / "Vi chiediamo": the form and the voice at once.
        "ind": lambda io, noi: Markup((courtesy or "Le ") + (noi if voice == "noi" else io)),
        "dir": lambda io, noi: Markup((courtesy or "La ") + (noi if voice == "noi" else io)),
        # A verb that agrees with the service: «il sito è pronto», «i volantini sono pronti».
        "sv": _chooser(bool(service and _PLURAL_SERVICE.match(service))),
        "c": {"gender": gender, "address": address, "titled": bool(address and TITLE.match(address))},
        "me": {k: sender.get(k) or None for k in ("name", "business", "hours", "reply_time", "channel", "vat")}
        | {"voice": voice},
        "service": service,
        "price": language.format_money(price) if price_unit != "percent" else None,
        "percent": f"{price:g}" if price_unit == "percent" and price else None,
        "price_unit": price_unit,
        "owed": language.format_money(answers.get("owed")) if answers.get("owed") else None,
        "owed_since": answers.get("owed_since"),
        "offer": phrase(answers.get("concession_offer")),
        "attention": phrase(answers.get("attention")),
        "mistake": phrase(answers.get("mistake")),
        "remedy": phrase(answers.get("remedy")),
        "payment": answers.get("payment"),
        "relationship": answers.get("relationship"),
        "stage": stage_of(answers),
        "trade": answers.get("trade"),
        "prepaid_state": answers.get("prepaid_state"),
        "notice": answers.get("notice"),
        "notice_period": period,
        "end_date": end,
        "conflict": conflict,
        "behaviours": behaviours,
        "b2b": gender == "company",
        "insults": "insults_staff" in behaviours,
        "informal": "informal" in list(answers.get("vip_signals") or []),
        "fair_complaint": "fair_complaint" in conflict,
        "own_error": assessment.own_error,
        "shared_error": assessment.shared_error,
        "legal": assessment.legal,
        "profile": assessment.main,
    }


def advice_facts(language: Language, answers: dict[str, Any], assessment: Assessment) -> dict[str, Any]:
    """What the advice is written with: the client's label, the form and agreement the messages use
    (so the advice speaks of the client as they do), and the answers it names."""
    facts = message_facts(language, answers, assessment)
    return {
        "client": client_label(answers),
        "form": facts["form"],
        "tl": facts["tl"],
        "g": facts["g"],
        "who": facts["c"]["gender"],
        "notice": answers.get("notice"),
        "payment": answers.get("payment"),
        "conflict": list(answers.get("conflict") or []),
    }


__all__ = [
    "MissingForm",
    "add_period",
    "addressee",
    "advice_facts",
    "client_label",
    "message_facts",
    "phrase",
    "price_of",
    "stage_of",
]
