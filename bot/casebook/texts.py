"""How the case book words a case: its short texts, the answers as they read back, local times.

`CaseTexts` holds what every case-book screen and document needs besides the store: the flow (to
read answers back), the renderer (templates of `<lang>/cases/`) and the time zone dates are shown in.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from markupsafe import Markup

from ..case import Case
from ..flow import Flow, Question
from ..render import Renderer, Screen, to_plain
from ..store import parse_time
from ..upgrade import earlier_answers, earlier_reading
from .parsing import CaseBookError


class CaseTexts:
    """The case book's words for one flow, renderer and time zone."""

    def __init__(self, flow: Flow, renderer: Renderer, zone: tzinfo):
        self.flow = flow
        self.renderer = renderer
        self.zone = zone
        self._messages: dict[str, Any] = {}

    def text(self, lang: str, name: str, *args: Any) -> Markup:
        """A short text of the case book (a macro of `<lang>/cases/messages.html.j2`), as safe HTML."""
        module = self._messages.get(lang)
        if module is None:
            module = self._messages[lang] = self.renderer.template(f"{lang}/cases/messages.html.j2").module
        return Markup(str(getattr(module, name)(*args)).strip())

    def label(self, lang: str, name: str, *args: Any) -> str:
        """A short text as plain characters (button labels, chart labels, console prompts)."""
        return to_plain(self.text(lang, name, *args))

    def error_text(self, lang: str, exc: CaseBookError) -> str:
        return str(self.text(lang, "error", exc.key, exc.params))

    def error_screen(self, lang: str, exc: CaseBookError) -> Screen:
        return Screen("error", "⚠️ " + self.error_text(lang, exc), meta={"error": exc.key})

    def local(self, stamp: str) -> datetime:
        """A stored timestamp in the case book's time zone."""
        return parse_time(stamp).astimezone(self.zone)

    def answered(self, answers: dict[str, Any]) -> dict[str, Question]:
        """The flow's questions whose stored answers still fit them, in the flow's order."""
        return {qid: q for qid, q in self.flow.questions.items() if qid in answers and q.accepts(answers[qid])}

    def readings(self, lang: str, answers: dict[str, Any]) -> list[tuple[Question, str]]:
        """Each answer that still fits with how it reads back in the language."""
        return [(q, self.renderer.answer_text(q, answers[qid], lang)) for qid, q in self.answered(answers).items()]

    def earlier(self, lang: str, answers: dict[str, Any]) -> list[tuple[str, str]]:
        """The answers given to an earlier version of the questionnaire that the current one does not
        ask, as (labelled question, answer as stored)."""
        return [
            (self.label(lang, "earlier_question", label), text)
            for label, text in (
                earlier_reading(key, value, lang) for key, value in earlier_answers(answers, self.flow).items()
            )
        ]

    def summary(self, case: Case) -> dict[str, Any]:
        """What the list, a case's card and a reminder say about a case."""
        return {
            "no": case.case_no,
            "client": case.alias,
            "created": self.local(case.created),
            "main": case.main,
            "status": case.status,
        }


__all__ = ["CaseTexts"]
