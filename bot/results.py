"""The advice and scripts of an assessed case, as screens: shared by the Coach's result and the case book.

Rendering only: data in (answers, assessment, the sender's profile), screens out. The advice
carries buttons for the extras (an `Extra` action, answered by `Coach.extra`); the first script
carries its own navigation between scripts, variants and forms of address.
"""

from __future__ import annotations

from typing import Any

from .actions import Extra
from .classifier import Assessment
from .facts import addressee
from .plans import plan_for
from .render import Button, Renderer, Screen

DEFAULT_VARIANT = "softer"


def script_form(answers: dict[str, Any]) -> str:
    """How the scripts address the client: the form the user chose, informal by default."""
    return addressee(answers)[1]


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
    scripts = renderer.scripts_for(assessment, answers)
    second_below = second_below and assessment.secondary is not None
    advice = renderer.advice(lang, answers, assessment, second_below=second_below)
    extras = (
        Button(renderer.ui(lang, "button_guide"), Extra(case_no, "guide")),
        Button(renderer.ui(lang, "button_figures"), Extra(case_no, "figures")),
    )
    rows: list[tuple[Button, ...]] = [extras]
    if assessment.secondary:
        rows.append((Button(renderer.ui(lang, "button_second", assessment.secondary), Extra(case_no, "second")),))
    if len(scripts) > 1:
        rows.append((Button(renderer.ui(lang, "button_all_scripts", len(scripts)), Extra(case_no, "all")),))
    text = advice.text if scripts else f"{advice.text}\n\n{renderer.ui(lang, 'no_scripts')}"
    plan = plan_for(assessment, answers)
    if plan.first is not None:
        ids = [s.id for s in scripts]
        first = ids.index(plan.first.does) + 1 if plan.first.does in ids else None
        text += "\n\n" + renderer.plan_text(lang, plan, assessment, script_form(answers), case_no, first)
    screens = [Screen("advice", text, tuple(rows), {**advice.meta, "scripts": len(scripts)})]
    if second_below:
        screens.append(renderer.advice(lang, answers, assessment, profile=assessment.secondary))
    if scripts:
        form = script_form(answers)
        screens.append(
            renderer.script_screen(
                lang, scripts[0], 1, len(scripts), answers, assessment, DEFAULT_VARIANT, form, case_no, sender
            )
        )
    return screens


def case_script(
    renderer: Renderer,
    case: dict[str, Any],
    index: int,
    variant: str = DEFAULT_VARIANT,
    form: str | None = None,
    sender: dict[str, str] | None = None,
) -> tuple[Screen | None, int]:
    """Message `index` (1, 2, ...) of a saved case in a version and form (by default the case's own),
    with the result's navigation, and how many messages the case has; None when out of range."""
    answers, assessment = case["answers"], Assessment.from_dict(case["assessment"])
    scripts = renderer.scripts_for(assessment, answers)
    if not 1 <= index <= len(scripts):
        return None, len(scripts)
    form = form or script_form(answers)
    screen = renderer.script_screen(
        case["lang"],
        scripts[index - 1],
        index,
        len(scripts),
        answers,
        assessment,
        variant,
        form,
        case["case_no"],
        sender,
    )
    return screen, len(scripts)


__all__ = ["DEFAULT_VARIANT", "advice_screens", "case_script", "script_form"]
