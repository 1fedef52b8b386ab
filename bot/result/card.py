"""The profile card of a case, and how the profile moved since an earlier case of the same client."""

from __future__ import annotations

from typing import Any

from ..case import Case
from ..classifier import Assessment
from ..facts import client_label
from ..flow import Question
from ..render import Renderer, Screen

CHART_ROWS = 4  # profiles on the card's chart
CHART_CELLS = 8  # cells of the longest bar


def profile_card(
    renderer: Renderer,
    lang: str,
    flow_questions: dict[str, Question],
    answers: dict[str, Any],
    assessment: Assessment,
    case_no: int | None = None,
    profile_hint: bool = False,
) -> Screen:
    """The profile card: the saved notice (with `case_no`), profile, confidence, reasons and caveats."""
    reasons = []
    for reason in assessment.reasons:
        q = flow_questions.get(reason.question)
        if q is not None:
            reasons.append({"question": q.short[lang], "answer": renderer.answer_text(q, reason.value, lang)})
    # The chart names the profiles in the card's order (main, second, then by score).
    peak = max([*assessment.scores.values(), 1])
    scores = [
        {
            "profile": p,
            "score": assessment.scores[p],
            "bar": "█" * max(1, round(CHART_CELLS * assessment.scores[p] / peak)),
        }
        for p in assessment.ranked()
    ][:CHART_ROWS]
    text = renderer.render(
        f"{lang}/result.html.j2",
        a=assessment,
        client=client_label(answers),
        reasons=reasons,
        scores=scores,
        caveat=assessment.bad_day_caveat,
        case_no=case_no,
        profile_hint=profile_hint,
    )
    return Screen("result", text)


def movement(renderer: Renderer, lang: str, previous: Case, case_no: int, assessment: Assessment) -> Screen:
    """How the profile moved since an earlier case of the same client."""
    before = previous.assessment
    rows = []
    for p in renderer.profiles.ids:
        old, new = before.scores.get(p, 0.0), assessment.scores.get(p, 0.0)
        if old or new:
            rows.append(
                {
                    "profile": p,
                    "before": old,
                    "after": new,
                    "arrow": "▲" if new > old else "▼" if new < old else "=",
                }
            )
    text = renderer.render(
        f"{lang}/movement.html.j2",
        before=before,
        after=assessment,
        previous_no=previous.case_no,
        previous_date=previous.created[:10],
        case_no=case_no,
        rows=rows,
    )
    return Screen("movement", text)


__all__ = ["movement", "profile_card"]
