"""The advice for a case's profile, and the guides the result offers beside it."""

from __future__ import annotations

from typing import Any

from ..classifier import Assessment
from ..facts import advice_facts, form_chooser
from ..render import Renderer, Screen
from ..scripts import flags_of


def advice(
    renderer: Renderer,
    lang: str,
    answers: dict[str, Any],
    assessment: Assessment,
    profile: str | None = None,
    *,
    second_below: bool = False,
) -> Screen:
    """The advice for the main profile (or, on demand, for the strong second one); with
    `second_below`, the second profile's advice comes right after it (no button, no prompt)."""
    profile = profile or assessment.main
    text = renderer.render(
        f"{lang}/advice/{profile}.html.j2",
        **advice_facts(renderer.languages[lang], answers, assessment),
        profile=profile,
        main=profile == assessment.main,
        lang=lang,
        own_error=assessment.own_error,
        shared_error=assessment.shared_error,
        first_time=assessment.first_time,
        new_behaviour=assessment.new_behaviour,
        thin=assessment.thin,
        secondary=assessment.secondary,
        second_below=second_below,
        # The guards' flags (a legal claim, a threat, money owed): the advice puts them first, so it
        # never suggests a concession, a price or an exit the messages would refuse.
        flags=sorted(flags_of(assessment, answers, renderer.profiles)),
    )
    return Screen("advice", text, meta={"profile": profile})


def guide(
    renderer: Renderer, lang: str, name: str, assessment: Assessment | None = None, client: str | None = None
) -> Screen:
    """One of the guides (`<lang>/guides/<name>.html.j2`), for a case's profile and client if given."""
    text = renderer.render(
        f"{lang}/guides/{name}.html.j2",
        profile=assessment.main if assessment else None,
        client=client,
        form="tu",
        tl=form_chooser("tu"),
        lang=lang,
        own_error=bool(assessment and assessment.own_error),
        first_time=bool(assessment and assessment.first_time),
        thin=bool(assessment and assessment.thin),
        secondary=assessment.secondary if assessment else None,
    )
    return Screen("guide", text, meta={"guide": name})


__all__ = ["advice", "guide"]
