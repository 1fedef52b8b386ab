"""A case's result as the user receives it: the whole result after the questionnaire, a saved
case's advice and messages (the case book shows the same), and the extras its buttons ask for.

The result is at most three messages: the card (saved notice and, on a reassessment, how the
profile moved, folded in), the advice with buttons for the extras, and the first message with
buttons to move between messages, versions and forms. Extras come on demand (`extra`).
"""

from __future__ import annotations

from typing import Any

from ..actions import Extra, ScriptVariant
from ..case import Case
from ..classifier import Assessment
from ..facts import client_label
from ..flow import Question
from ..plans import plan_for
from ..render import Button, Renderer, Screen
from .advice import advice, guide
from .card import movement, profile_card
from .messages import DEFAULT_VARIANT, script, script_form, script_screen, scripts_for
from .plan import plan_text


def result_screens(
    renderer: Renderer,
    lang: str,
    case_no: int,
    flow_questions: dict[str, Question],
    answers: dict[str, Any],
    assessment: Assessment,
    sender: dict[str, str],
    previous: Case | None = None,
) -> list[Screen]:
    """The card, the advice and the first script (at most three messages); with `previous` (the
    earlier case a reassessment started from), how the profile moved joins the card."""
    first = profile_card(
        renderer, lang, flow_questions, answers, assessment, case_no=case_no, profile_hint=not sender.get("name")
    )
    if previous is not None:
        moved = movement(renderer, lang, previous, case_no, assessment)
        first = Screen(first.kind, f"{first.text}\n\n{moved.text}", first.buttons, {**first.meta, "movement": True})
    return [first, *advice_screens(renderer, lang, case_no, answers, assessment, sender)]


def advice_screens(
    renderer: Renderer,
    lang: str,
    case_no: int,
    answers: dict[str, Any],
    assessment: Assessment,
    sender: dict[str, str] | None = None,
    *,
    second_below: bool = False,
) -> list[Screen]:
    """The advice (extras behind buttons), then the first script with its navigation. With
    `second_below` (a case printed once, where nothing can be asked for), the second profile's
    advice follows the first instead of waiting behind a button."""
    scripts = scripts_for(assessment, answers, renderer.profiles)
    second_below = second_below and assessment.secondary is not None
    main = advice(renderer, lang, answers, assessment, second_below=second_below)
    extras = (
        Button(renderer.ui(lang, "button_guide"), Extra(case_no, "guide")),
        Button(renderer.ui(lang, "button_figures"), Extra(case_no, "figures")),
    )
    rows: list[tuple[Button, ...]] = [extras]
    if assessment.secondary:
        rows.append((Button(renderer.ui(lang, "button_second", assessment.secondary), Extra(case_no, "second")),))
    if len(scripts) > 1:
        rows.append((Button(renderer.ui(lang, "button_all_scripts", len(scripts)), Extra(case_no, "all")),))
    text = main.text if scripts else f"{main.text}\n\n{renderer.ui(lang, 'no_scripts')}"
    plan = plan_for(assessment, answers)  # what follows the first message, and when to check
    if plan.first is not None:
        ids = [s.id for s in scripts]
        first = ids.index(plan.first.does) + 1 if plan.first.does in ids else None
        text += "\n\n" + plan_text(renderer, lang, plan, assessment, script_form(answers), case_no, first)
    screens = [Screen("advice", text, tuple(rows), {**main.meta, "scripts": len(scripts)})]
    if second_below:
        screens.append(advice(renderer, lang, answers, assessment, profile=assessment.secondary))
    if scripts:
        form = script_form(answers)
        screens.append(
            script_screen(
                renderer, lang, scripts[0], 1, len(scripts), answers, assessment, DEFAULT_VARIANT, form, case_no, sender
            )
        )
    return screens


def case_script(
    renderer: Renderer,
    lang: str,
    case_no: int,
    answers: dict[str, Any],
    assessment: Assessment,
    index: int,
    variant: str = DEFAULT_VARIANT,
    form: str | None = None,
    sender: dict[str, str] | None = None,
) -> tuple[Screen | None, int]:
    """Message `index` (1, 2, ...) of a saved case in a version and form (by default the case's own),
    with the result's navigation, and how many messages the case has; None when out of range."""
    scripts = scripts_for(assessment, answers, renderer.profiles)
    if not 1 <= index <= len(scripts):
        return None, len(scripts)
    form = form or script_form(answers)
    screen = script_screen(
        renderer, lang, scripts[index - 1], index, len(scripts), answers, assessment, variant, form, case_no, sender
    )
    return screen, len(scripts)


def extra(
    renderer: Renderer, lang: str, case_no: int, answers: dict[str, Any], assessment: Assessment, what: str
) -> list[Screen] | None:
    """An extra of a saved case's result (`Extra.what`): its guide, the figures, the second
    profile's advice, or the list of all its messages; None when the case has no such extra."""
    if what == "guide":
        name = renderer.profiles[assessment.main].guide  # the guide its profile declares
        return [guide(renderer, lang, name, assessment, client_label(answers))]
    if what == "figures":
        return [guide(renderer, lang, "figures", assessment)]
    if what == "second" and assessment.secondary:
        return [advice(renderer, lang, answers, assessment, profile=assessment.secondary)]
    if what == "all":
        scripts = scripts_for(assessment, answers, renderer.profiles)
        if not scripts:
            return None
        form = script_form(answers)
        titles = [script(renderer, lang, s, answers, assessment, DEFAULT_VARIANT, form)[0] for s in scripts]
        buttons = tuple(
            (Button(f"{i}. {t}", ScriptVariant(case_no, i, DEFAULT_VARIANT, form)),) for i, t in enumerate(titles, 1)
        )
        return [Screen("scripts_list", renderer.ui(lang, "scripts_list", titles), buttons)]
    return None


__all__ = ["advice_screens", "case_script", "extra", "result_screens"]
