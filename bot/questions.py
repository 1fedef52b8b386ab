"""The questionnaire's screens: one question with its buttons (an option each, ticks for a multiple
choice, back, skip and cancel) and the review of the answers, each changeable.

The words come from the Renderer's templates; which question, its progress and the answers so
far come from the engine.
"""

from __future__ import annotations

from typing import Any

from .actions import Answer, Back, Cancel, Change, Done, Finish, Resume, Skip, Toggle
from .engine import Progress
from .flow import Question
from .render import Button, Renderer, Screen

PROGRESS_CELLS = 10


def question_screen(
    renderer: Renderer,
    lang: str,
    q: Question,
    progress: Progress,
    *,
    error: str | None = None,
    picked: list[str] | None = None,
    current: Any = None,
    can_back: bool = True,
) -> Screen:
    """Question `q` with its progress bar, the reason the last answer was refused (`error`), the
    answer being changed (`current`) and its buttons."""
    picked = picked or []
    options: list[dict[str, Any]] = [
        {"id": o.id, "label": o.label[lang], "picked": o.id in picked, "number": i} for i, o in enumerate(q.options, 1)
    ]
    filled = round(PROGRESS_CELLS * (progress.number - 1) / max(progress.total, 1))
    text = renderer.render(
        f"{lang}/question.html.j2",
        q=q,
        text=q.text[lang],
        hint=q.hint.get(lang),
        kind=q.kind,
        options=options,
        number=progress.number,
        total=progress.total,
        bar="▰" * filled + "▱" * (PROGRESS_CELLS - filled),
        error=error,
        current=None if current is None else renderer.answer_text(q, current, lang),
    )
    rows: list[tuple[Button, ...]] = []
    if q.kind == "single":
        rows += [(Button(o["label"], Answer(o["id"])),) for o in options]
    elif q.kind == "multi":
        rows += [(Button(o["label"], Toggle(o["id"]), checked=o["picked"]),) for o in options]
        rows.append((Button(renderer.ui(lang, "button_done"), Done()),))
    nav = []
    if can_back:
        nav.append(Button(renderer.ui(lang, "button_back"), Back()))
    if q.optional:
        nav.append(Button(renderer.ui(lang, "button_skip"), Skip()))
    nav.append(Button(renderer.ui(lang, "button_cancel"), Cancel()))
    rows.append(tuple(nav))
    return Screen("question", text, tuple(rows), {"question": q.id})


def review_screen(renderer: Renderer, lang: str, answered: list[tuple[Question, Any]], complete: bool) -> Screen:
    """The answers so far, a button each to change it, then the result (when `complete`) or the way back."""
    items: list[dict[str, Any]] = [
        {"number": i, "question": q.short[lang], "answer": renderer.answer_text(q, v, lang), "id": q.id}
        for i, (q, v) in enumerate(answered, 1)
    ]
    text = renderer.render(f"{lang}/review.html.j2", items=items, complete=complete)
    rows: list[tuple[Button, ...]] = [(Button(f"✏️ {i['number']}. {i['question']}", Change(i["id"])),) for i in items]
    if complete:
        last = Button(renderer.ui(lang, "button_result"), Finish())
    else:
        last = Button(renderer.ui(lang, "button_continue"), Resume())
    rows.append((last, Button(renderer.ui(lang, "button_cancel"), Cancel())))
    return Screen("review", text, tuple(rows))


__all__ = ["question_screen", "review_screen"]
