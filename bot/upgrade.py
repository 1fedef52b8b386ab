"""Answers given to an earlier version of the questionnaire, carried to the current one.

One step per flow version: `STEPS[n]` turns the answers of flow version n into those of version
n + 1. A step maps what it can (a renamed option, a question merged into another) and leaves every
other key as it was stored; a key the current flow does not ask (or whose value no longer fits) is
an *earlier answer*: kept in the case, shown labelled as it was stored, never dropped. Adding a
version is one function and one line in STEPS (and, if a question goes away, its words in
EARLIER_QUESTIONS).

Used in one place per kind of data: every saved case is read through `read_case` (by
`CaseBook.case`, `Coach.case` and the export); `Coach.load` carries a questionnaire in progress
with `upgrade_state`, which resumes it at the first question its branch has not answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .engine import ASKING, CANCELLED, DONE, EDITING, END, Engine
from .flow import Flow
from .state import UNREADABLE, Conversation

if TYPE_CHECKING:  # named in a signature only: a questionnaire is carried over without the classifier
    from .case import Case
    from .classifier import Assessment

Answers = dict[str, Any]
Step = Callable[[Answers], Answers]
FLOW_ID = "cliente_difficile"  # the flow these steps know; another flow's answers are left alone


def v1_to_v2(answers: Answers) -> Answers:
    """Flow 1 → 2: payment "discounted" became "below_price"; the conflict became a multiple choice
    ("recensioni offensive" is a review posted); the influential lawyers got their own id; the number
    of times in three months became how often it happens (the number stays as an earlier answer)."""
    out = dict(answers)
    if out.get("payment") == "discounted":
        out["payment"] = "below_price"
    conflict = out.get("conflict")
    if isinstance(conflict, str):
        out["conflict"] = [
            {"public_attacks": "review_posted", "threatened": "review_threatened"}.get(conflict, conflict)
        ]
    if isinstance(out.get("vip_signals"), list):
        out["vip_signals"] = ["influential_lawyers" if s == "lawyers" else s for s in out["vip_signals"]]
    times = out.get("occurrences")
    if isinstance(times, (int, float)) and not isinstance(times, bool) and "pattern" not in out:
        out["pattern"] = "first" if times <= 1 else "few" if times < 4 else "often"
    return out


def v2_to_v3(answers: Answers) -> Answers:
    """Flow 2 → 3: the price and its unit became one answer (without a unit, the first one, as a
    price typed without one reads today); who the client is and tu/Lei became one question."""
    out = dict(answers)
    price, unit = out.get("price"), out.get("price_unit")
    if isinstance(price, (int, float)) and not isinstance(price, bool):
        out["price"] = {"amount": float(price), "unit": unit if isinstance(unit, str) else "once"}
        out.pop("price_unit", None)
    elif price is None and unit is None:
        out.pop("price_unit", None)
    who, form = out.get("who"), out.get("form")
    if who in ("woman", "man", "company") and form in ("tu", "lei"):
        out["who"] = f"{who}_{form}"
        out.pop("form")
    return out


# Flow 3 asked the stage only of free work; flow 4 asks the shape of every relationship.
_STAGE_TO_RELATIONSHIP = {
    "not_started": "one_off_not_started",
    "ongoing": "one_off_in_progress",
    "finished": "one_off_finished",
}


def v3_to_v4(answers: Answers) -> Answers:
    """Flow 3 → 4: the stage of free work became the shape of the relationship (a one-off job not
    started, under way or finished); every other answer of flow 3 still fits flow 4 as it is."""
    out = dict(answers)
    stage = out.get("stage")
    if stage in _STAGE_TO_RELATIONSHIP and "relationship" not in out:
        out["relationship"] = _STAGE_TO_RELATIONSHIP[stage]
        out.pop("stage")
    return out


STEPS: dict[int, Step] = {1: v1_to_v2, 2: v2_to_v3, 3: v3_to_v4}

# Questions that are gone, with their words, to show an earlier answer as it was stored.
EARLIER_QUESTIONS: dict[str, dict[str, Any]] = {
    "occurrences": {"short": {"it": "Volte in tre mesi", "en": "Times in three months"}},
    "sender": {"short": {"it": "Firma", "en": "Signature"}},
    "form": {
        "short": {"it": "Tu o Lei", "en": "Informal or formal"},
        "options": {"tu": {"it": "Del tu", "en": "Informal (tu)"}, "lei": {"it": "Del Lei", "en": "Formal (Lei)"}},
    },
    "who": {
        "short": {"it": "Chi è", "en": "Who they are"},
        "options": {
            "woman": {"it": "Una donna", "en": "A woman"},
            "man": {"it": "Un uomo", "en": "A man"},
            "company": {"it": "Un'azienda", "en": "A company"},
        },
    },
    "price_unit": {"short": {"it": "Unità del prezzo", "en": "Price unit"}},
}


def upgrade_answers(answers: Answers, from_version: int | None, flow: Flow) -> Answers:
    """The answers of flow version `from_version` as the current flow reads them (earlier answers kept)."""
    if flow.id != FLOW_ID or not isinstance(from_version, int):
        return dict(answers)
    version = from_version
    while version < flow.version and version in STEPS:
        answers = STEPS[version](answers)
        version += 1
    return dict(answers)


def earlier_answers(answers: Answers, flow: Flow) -> Answers:
    """The stored answers the current flow does not read (no such question, or a value that no longer
    fits it), unanswered ones left out."""
    return {
        key: value
        for key, value in answers.items()
        if value not in (None, "", []) and (key not in flow.questions or not flow.questions[key].accepts(value))
    }


def earlier_reading(key: str, value: Any, lang: str) -> tuple[str, str]:
    """An earlier answer's question and value as words (the stored id or value where none are known)."""
    known = EARLIER_QUESTIONS.get(key, {})
    label = known.get("short", {}).get(lang) or known.get("short", {}).get("en") or key
    options = known.get("options", {})

    def word(item: Any) -> str:
        names = options.get(item) if isinstance(item, str) else None
        if names:
            return names.get(lang) or names.get("en") or str(item)
        if isinstance(item, float) and item.is_integer():
            return str(int(item))
        return str(item)

    text = ", ".join(word(v) for v in value) if isinstance(value, list) else word(value)
    return label, text


def read_case(case: Case, flow: Flow) -> Case:
    """A saved case as the current flow reads it: its answers and its assessment's reasons carried to
    today's questions (the stored ones are never rewritten). The one reading of a saved case; reading
    a case again gives the same case."""
    if case.flow in (None, flow.id):
        answers = upgrade_answers(case.stored_answers, case.flow_version, flow)
    else:  # another flow's answers are left as they are
        answers = dict(case.stored_answers)
    return case.but(answers=answers, assessment=_carried(case, flow, answers))


def _carried(case: Case, flow: Flow, answers: Answers) -> Assessment:
    """A saved case's assessment with its reasons' answers as the current flow reads them; a reason
    whose question is gone is left out (its answer shows among the earlier answers)."""
    if case.flow_version == flow.version:
        return case.assessment
    reasons = []
    for reason in case.assessment.reasons:
        q = flow.questions.get(reason.question)
        value = answers.get(reason.question)
        if q is not None and value is not None and q.accepts(value):
            reasons.append(replace(reason, value=value))
    return replace(case.assessment, reasons=tuple(reasons))


def upgrade_state(engine: Engine, state: Conversation) -> Conversation | None:
    """A questionnaire in progress under an earlier flow version, carried to the current one: its
    answers mapped (earlier answers set aside in `earlier`, saved with the case), and the position
    recomputed: the first question its branch has not answered, or the review when none is left.
    None when it cannot be carried (another flow, a newer version, a shape we do not know)."""
    flow = engine.flow
    version = state.flow_version
    if state.flow != flow.id or version >= flow.version or state.v == UNREADABLE:
        return None
    mapped = upgrade_answers(state.answers, version, flow)
    earlier = {**state.earlier, **earlier_answers(mapped, flow)}
    answers = {k: v for k, v in mapped.items() if k in flow.questions and flow.questions[k].accepts(v)}
    history, at = engine.path(answers)
    # Answers beyond the first question the branch lacks wait for the walk to get there: the
    # questions the flow gained are asked as a change (as for a re-assessment), then the review.
    later = any(qid not in history for qid in answers)
    cancelled = state.at == CANCELLED
    mode = CANCELLED if cancelled else DONE if at == END else EDITING if later else ASKING
    upgraded = state.but(
        flow_version=flow.version,
        answers=answers if at != END else {qid: answers[qid] for qid in history},
        history=history,
        at=CANCELLED if cancelled else at,
        changing=mode == EDITING,
        mode=mode,
        picked=[],
        earlier=earlier,
        upgraded_from=state.upgraded_from if state.upgraded_from is not None else version,
    )
    return upgraded if engine.compatible(upgraded) else None


__all__ = [
    "EARLIER_QUESTIONS",
    "STEPS",
    "earlier_answers",
    "earlier_reading",
    "read_case",
    "upgrade_answers",
    "upgrade_state",
]
