"""Rendering: data in, text out. Every screen is a jinja2 template, previewable without Telegram.

Templates are compiled once at start with StrictUndefined and HTML autoescape, so whatever a user
typed is escaped. The output is Telegram-safe HTML (Telegram's tags only); `to_plain` gives the
same text for the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from .actions import (
    FORMS,
    VARIANTS,
    Action,
    Answer,
    Back,
    Cancel,
    Change,
    Done,
    Finish,
    MarkSent,
    Resume,
    ScriptVariant,
    Skip,
    Toggle,
)
from .articles import with_article
from .classifier import Assessment
from .engine import Progress
from .facts import form_chooser, message_facts, notice_period
from .flow import PROFILES, Question
from .languages import Languages, load_languages
from .paths import cache_dir, templates_dir
from .plans import BY_ACTION, CLOSE, END, REASSESS, CasePlan, Planned, plan_problems
from .scripts import BY_ID as SCRIPTS, CATALOGUE, Script, route

TELEGRAM_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
        "span",
        "tg-emoji",
    }
)
TELEGRAM_LIMIT = 4096
PROGRESS_CELLS = 10
_AFTER_GREETING = re.compile(r"^([^\n]*,\n\n)(\w+)")
_BLANK_RUNS = re.compile(r"\n{3,}")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
# The entities Telegram's HTML allows (and that markupsafe writes); html.unescape would import
# the whole HTML5 entity table at start for nothing.
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos);")


@dataclass(frozen=True)
class Button:
    """A choice on a screen: its label, the action it triggers and, for an option that can be ticked,
    whether it is (`checked`; None for any other button). Each front end draws the tick its own way."""

    label: str
    action: Action
    checked: bool | None = None


@dataclass(frozen=True)
class Screen:
    """What to show: HTML text and rows of buttons."""

    kind: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def plain(self) -> str:
        return to_plain(self.text)


def format_money(value: float | Decimal | None, lang: str, languages: Languages | None = None) -> str | None:
    """An amount as `lang` writes it (its `language.yaml`): 1.200,00 € in Italian, €1,200.00 in English."""
    return (languages or load_languages())[lang].format_money(value)


def to_plain(text: str) -> str:
    """The visible text of Telegram HTML: tags dropped, entities decoded.

    A pattern is enough: the HTML comes from our templates, where every typed value is escaped.
    """
    return _ENTITY.sub(_unescape_entity, _TAG.sub("", text))


def _unescape_entity(match: re.Match) -> str:
    name = match.group(1)
    if name.startswith("#"):
        return chr(int(name[2:], 16) if name[1:2] in "xX" else int(name[1:]))
    return _NAMED[name]


def html_problems(text: str) -> list[str]:
    """Why Telegram would refuse this HTML (empty when it is fine)."""
    from html.parser import HTMLParser  # only checks need it; the console and the bot don't

    stack: list[str] = []
    problems: list[str] = []

    class TagCheck(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag not in TELEGRAM_TAGS:
                problems.append(f"tag <{tag}> is not allowed by Telegram")
            stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            if not stack or stack.pop() != tag:
                problems.append(f"</{tag}> closes nothing open")

    checker = TagCheck(convert_charrefs=True)
    checker.feed(text)
    checker.close()
    problems += [f"<{t}> is never closed" for t in stack]
    if len(to_plain(text)) > TELEGRAM_LIMIT:
        problems.append(f"longer than {TELEGRAM_LIMIT} characters")
    return problems


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at paragraph boundaries so each part fits one Telegram message."""
    if len(text) <= limit:
        return [text]
    parts, current = [], ""
    for paragraph in text.split("\n\n"):
        while len(paragraph) > limit:  # a single huge paragraph: cut at the last line break or space
            cut = max(paragraph.rfind("\n", 0, limit), paragraph.rfind(" ", 0, limit))
            cut = cut if cut > 0 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(paragraph[:cut].rstrip())
            paragraph = paragraph[cut:].lstrip()
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) > limit:
            parts.append(current)
            current = paragraph
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    """Compiled templates kept between runs (keyed by source checksum, so never stale)."""
    folder = cache_dir("templates")
    return FileSystemBytecodeCache(str(folder)) if folder else None


UI_FILE = "ui.html.j2"
SURFACES = ("telegram", "console")
UI_FOLDER = "ui"


class Renderer:
    """Compiles the templates once and renders every screen."""

    def __init__(self, directory: str | Path | None = None, surface: str = "telegram"):
        """`surface` names the front end ("telegram" or "console"): hints name what works there."""
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r} (known: {', '.join(SURFACES)})")
        self.directory = Path(directory) if directory else templates_dir()
        self.surface = surface
        self.languages: Languages = load_languages(self.directory)
        self.env = Environment(
            loader=FileSystemLoader(str(self.directory)),
            bytecode_cache=_bytecode_cache(),
            undefined=StrictUndefined,
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        # Every template can say `{% if surface == "console" %}` to name the console's words.
        self.env.globals["surface"] = surface
        # «del signor Rossi», «all'ing. Bellini», «a Marco»: see bot/articles.py.
        self.env.filters["with_article"] = self.env.globals["with_article"] = with_article
        self._check_scripts()
        self._ui: dict[str, Any] = {}
        self._cache: dict[str, Template] = {}

    def _check_scripts(self) -> None:
        """Every language has every template, every script of the catalogue has its template, and the
        plans that follow the scripts hold together (bot/plans.py)."""
        problems = plan_problems()
        if problems:
            raise ValueError("bot/plans.py: " + "; ".join(problems))
        self.languages.check_templates()
        for script in CATALOGUE:
            for lang in self.languages.codes:
                path = self.directory / lang / "scripts" / f"{script.id}.html.j2"
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: missing (every script needs every language)")

    def template(self, name: str) -> Template:
        template = self._cache.get(name)
        if template is None:
            template = self._cache[name] = self.env.get_template(name)
        return template

    def render(self, name: str, **context: Any) -> str:
        text = self.template(name).render(**context)
        return _BLANK_RUNS.sub("\n\n", text).strip()

    def ui(self, lang: str, name: str, *args: Any, **kwargs: Any) -> str:
        """A short interface text (a macro of `<lang>/ui.html.j2`)."""
        modules = self._ui.get(lang)
        if modules is None:
            modules = self._ui[lang] = self._ui_modules(lang)
        for module in modules:
            macro: Callable[..., str] | None = getattr(module, name, None)
            if macro is not None:
                return str(macro(*args, **kwargs)).strip()
        raise AttributeError(f"{lang}: no interface text '{name}' in {UI_FILE} or {UI_FOLDER}/")

    def _ui_modules(self, lang: str) -> list[Any]:
        """`<lang>/ui.html.j2`, then every `<lang>/ui/<area>.html.j2` (one file per area of the bot)."""
        names = [f"{lang}/{UI_FILE}"]
        folder = self.directory / lang / UI_FOLDER
        if folder.is_dir():
            names += [f"{lang}/{UI_FOLDER}/{path.name}" for path in sorted(folder.glob("*.html.j2"))]
        return [self.template(name).module for name in names]

    # -- answers as text ---------------------------------------------------------------------

    def answer_text(self, q: Question, value: Any, lang: str) -> str:
        """How an answer reads back to the user."""
        if value is None:
            return self.ui(lang, "skipped")
        if q.kind == "single":
            return q.option_index[value].label[lang]
        if q.kind == "multi":
            return "; ".join(q.option_index[v].label[lang] for v in value)
        if q.kind in ("money", "number"):  # an amount, or {"amount", "unit"} for a question with units
            amount, unit = (value.get("amount"), value.get("unit")) if isinstance(value, dict) else (value, None)
            named = next((u for u in q.units if u.id == unit), None)
            label = named.label[lang] if named else None
            if named is not None and named.share:
                shown: str | None = f"{amount:g}%"
            else:
                shown = format_money(amount, lang) if q.kind == "money" else str(amount)
            return " ".join(filter(None, (shown, label)))
        return str(value)

    # -- dialogue screens ----------------------------------------------------------------------

    def question(
        self,
        lang: str,
        q: Question,
        progress: Progress,
        *,
        error: str | None = None,
        picked: list[str] | None = None,
        current: Any = None,
        can_back: bool = True,
    ) -> Screen:
        picked = picked or []
        options: list[dict[str, Any]] = [
            {"id": o.id, "label": o.label[lang], "picked": o.id in picked, "number": i}
            for i, o in enumerate(q.options, 1)
        ]
        filled = round(PROGRESS_CELLS * (progress.number - 1) / max(progress.total, 1))
        text = self.render(
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
            current=None if current is None else self.answer_text(q, current, lang),
        )
        rows: list[tuple[Button, ...]] = []
        if q.kind == "single":
            rows += [(Button(o["label"], Answer(o["id"])),) for o in options]
        elif q.kind == "multi":
            rows += [(Button(o["label"], Toggle(o["id"]), checked=o["picked"]),) for o in options]
            rows.append((Button(self.ui(lang, "button_done"), Done()),))
        nav = []
        if can_back:
            nav.append(Button(self.ui(lang, "button_back"), Back()))
        if q.optional:
            nav.append(Button(self.ui(lang, "button_skip"), Skip()))
        nav.append(Button(self.ui(lang, "button_cancel"), Cancel()))
        rows.append(tuple(nav))
        return Screen("question", text, tuple(rows), {"question": q.id})

    def review(self, lang: str, answered: list[tuple[Question, Any]], complete: bool) -> Screen:
        items: list[dict[str, Any]] = [
            {"number": i, "question": q.short[lang], "answer": self.answer_text(q, v, lang), "id": q.id}
            for i, (q, v) in enumerate(answered, 1)
        ]
        text = self.render(f"{lang}/review.html.j2", items=items, complete=complete)
        rows: list[tuple[Button, ...]] = [
            (Button(f"✏️ {i['number']}. {i['question']}", Change(i["id"])),) for i in items
        ]
        if complete:
            last = Button(self.ui(lang, "button_result"), Finish())
        else:
            last = Button(self.ui(lang, "button_continue"), Resume())
        rows.append((last, Button(self.ui(lang, "button_cancel"), Cancel())))
        return Screen("review", text, tuple(rows))

    # -- result --------------------------------------------------------------------------------

    def script_context(
        self,
        lang: str,
        answers: dict[str, Any],
        assessment: Assessment,
        sender: dict[str, str] | None = None,
        form: str | None = None,
    ) -> dict[str, Any]:
        """What the messages are written with: the facts of `bot.facts`, computed in one place."""
        return message_facts(self.languages[lang], answers, assessment, sender, form)

    def result(
        self,
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
                reasons.append({"question": q.short[lang], "answer": self.answer_text(q, reason.value, lang)})
        # The chart names the profiles in the card's order (main, second, then by score).
        peak = max([*assessment.scores.values(), 1])
        scores = [
            {"profile": p, "score": assessment.scores[p], "bar": "█" * max(1, round(8 * assessment.scores[p] / peak))}
            for p in assessment.ranked()
        ][:4]
        text = self.render(
            f"{lang}/result.html.j2",
            a=assessment,
            client=answers.get("alias"),
            reasons=reasons,
            scores=scores,
            caveat=assessment.bad_day_caveat,
            case_no=case_no,
            profile_hint=profile_hint,
        )
        return Screen("result", text)

    def movement(self, lang: str, previous: dict[str, Any], case_no: int, assessment: Assessment) -> Screen:
        """How the profile moved since an earlier case of the same client."""
        before = Assessment.from_dict(previous["assessment"])
        rows = []
        for p in PROFILES:
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
        text = self.render(
            f"{lang}/movement.html.j2",
            before=before,
            after=assessment,
            previous_no=previous["case_no"],
            previous_date=previous["created"][:10],
            case_no=case_no,
            rows=rows,
        )
        return Screen("movement", text)

    def advice(
        self,
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
        context = self.script_context(lang, answers, assessment)
        text = self.render(
            f"{lang}/advice/{profile}.html.j2",
            profile=profile,
            main=profile == assessment.main,
            client=answers.get("alias"),
            form=context["form"],
            tl=context["tl"],
            g=context["g"],
            who=context["c"]["gender"],
            lang=lang,
            own_error=assessment.own_error,
            shared_error=assessment.shared_error,
            first_time=assessment.first_time,
            new_behaviour=assessment.new_behaviour,
            thin=assessment.thin,
            secondary=assessment.secondary,
            notice=answers.get("notice"),
            payment=answers.get("payment"),
            conflict=list(answers.get("conflict") or []),
            second_below=second_below,
        )
        return Screen("advice", text, meta={"profile": profile})

    def guide(self, lang: str, name: str, assessment: Assessment | None = None, client: str | None = None) -> Screen:
        text = self.render(
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

    def scripts_for(self, assessment: Assessment, answers: dict[str, Any] | None = None) -> list[Script]:
        """The scripts to offer, in order (see `bot.scripts.route`)."""
        return route(assessment, answers or {})

    def script(
        self,
        lang: str,
        script: Script | str,
        answers: dict[str, Any],
        assessment: Assessment,
        variant: str,
        form: str | None = None,
        sender: dict[str, str] | None = None,
    ) -> tuple[str, str, str]:
        """(title, note for the user, message body) of one script in a variant and form."""
        script = SCRIPTS[script] if isinstance(script, str) else script
        context = self.script_context(lang, answers, assessment, sender, form)
        context["variant"] = variant
        template = self.template(f"{lang}/scripts/{script.id}.html.j2")
        body = _BLANK_RUNS.sub("\n\n", template.render(**context)).strip()
        # After the greeting's comma an Italian letter goes on in lower case (but «La ringrazio» keeps
        # its courtesy capital); an English one starts a new sentence.
        language = self.languages[lang]
        body = _AFTER_GREETING.sub(lambda m: m.group(1) + language.continue_letter(m.group(2)), body, count=1)
        exported = vars(template.make_module(context))  # the template's {% set %} names, untyped by jinja2
        return str(exported["title"]), str(exported.get("note", "") or "").strip(), body

    def step_title(
        self, lang: str, plan: CasePlan, planned: Planned, assessment: Assessment, form: str | None = None
    ) -> str:
        """What a plan's step is called: its message's title, or its action's."""
        if planned.does in BY_ACTION:
            return self.ui(lang, "action_title", planned.does)
        return self.script(lang, planned.does, plan.message_answers(planned), assessment, "softer", form)[0]

    def plan_text(
        self, lang: str, plan: CasePlan, assessment: Assessment, form: str, case_no: int, first_index: int | None
    ) -> str:
        """The plan as the result shows it: each step it can come to, when to check, what each answer leads to."""
        course = plan.course()
        numbers = {p.id: i for i, p in enumerate(course, 1)}
        steps = []
        for planned in course:
            outcomes: list[dict[str, Any]] = []
            for answer in planned.answers:
                target = planned.then[answer]
                same = next((o for o in outcomes if o["to"] == target), None)
                if same is not None:
                    same["answers"].append(answer)
                    continue
                kind = "close" if target.startswith(CLOSE) else target if target in (END, REASSESS) else "step"
                outcomes.append(
                    {
                        "to": target,
                        "answers": [answer],
                        "kind": kind,
                        "number": numbers.get(target),
                        "outcome": target[len(CLOSE) :] if kind == "close" else None,
                    }
                )
            steps.append(
                {
                    "number": numbers[planned.id],
                    "title": self.step_title(lang, plan, planned, assessment, form),
                    "message": planned.is_message,
                    "wait_days": planned.step.wait.days,
                    "notice": notice_period(plan.answers) if plan.waits_for_fact(planned) else None,
                    "money": "paid" in planned.then,
                    "outcomes": outcomes,
                }
            )
        return self.render(f"{lang}/plan.html.j2", steps=steps, case_no=case_no, first_index=first_index)

    def script_screen(
        self,
        lang: str,
        script: Script,
        index: int,
        total: int,
        answers: dict[str, Any],
        assessment: Assessment,
        variant: str,
        form: str,
        case_no: int,
        sender: dict[str, str] | None = None,
    ) -> Screen:
        """One script as a message, with buttons for its variant, its form and the other scripts.

        Every button is a ScriptVariant of this case.
        """
        title, note, body = self.script(lang, script, answers, assessment, variant, form, sender)
        text = self.render(
            f"{lang}/script.html.j2",
            title=title,
            note=Markup(note),
            body=Markup(body),
            variant=variant,
            form=form,
            index=index,
            total=total,
            formal=script.formal,
        )
        here = ScriptVariant(case_no, index, variant, form)
        rows: list[tuple[Button, ...]] = [
            tuple(
                Button(("• " if v == variant else "") + self.ui(lang, f"variant_{v}"), replace(here, variant=v))
                for v in VARIANTS
            )
        ]
        if not script.formal:
            rows.append(
                tuple(
                    Button(("• " if f == form else "") + self.ui(lang, f"form_{f}"), replace(here, form=f))
                    for f in FORMS
                )
            )
        if total > 1:
            nav = []
            if index > 1:
                nav.append(Button(f"‹ {index - 1}/{total}", replace(here, index=index - 1)))
            if index < total:
                nav.append(Button(f"{index + 1}/{total} ›", replace(here, index=index + 1)))
            rows.append(tuple(nav))
        # Sent: the case's timeline records it, and its plan schedules the check (bot.casebook.follow).
        rows.append((Button(self.ui(lang, "button_sent"), MarkSent(case_no, script.id, variant, form)),))
        return Screen("script", text, tuple(rows), {"title": title, "script": script.id})
