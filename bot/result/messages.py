"""The ready-to-send messages of a case: which ones (the router's choice), each one's text in a
version and a form of address, and each one as a screen with the buttons beside it."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

from ..actions import FORMS, VARIANTS, MarkSent, ScriptVariant
from ..classifier import Assessment
from ..facts import addressee, message_facts
from ..profiles import Profiles
from ..render import Button, Renderer, Screen
from ..scripts import BY_ID as SCRIPTS, Script, route

DEFAULT_VARIANT = "softer"
_AFTER_GREETING = re.compile(r"^([^\n]*,\n\n)(\w+)")


def script_form(answers: dict[str, Any]) -> str:
    """How the scripts address the client: the form the user chose, informal by default."""
    return addressee(answers)[1]


def scripts_for(
    assessment: Assessment, answers: dict[str, Any] | None = None, profiles: Profiles | None = None
) -> list[Script]:
    """The scripts to offer, in order (see `bot.scripts.route`); `profiles` are the flow's (default:
    the bundled flow's)."""
    return route(assessment, answers or {}, profiles=profiles)


def script(
    renderer: Renderer,
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
    language = renderer.languages[lang]
    context = {**message_facts(language, answers, assessment, sender, form), "variant": variant}
    name = f"{lang}/scripts/{script.id}.html.j2"
    body = renderer.render(name, **context)
    # After the greeting's comma an Italian letter goes on in lower case (but «La ringrazio» keeps
    # its courtesy capital); an English one starts a new sentence.
    body = _AFTER_GREETING.sub(lambda m: m.group(1) + language.continue_letter(m.group(2)), body, count=1)
    exported = vars(renderer.template(name).make_module(context))  # the template's {% set %} names, untyped by jinja2
    return str(exported["title"]), str(exported.get("note", "") or "").strip(), body


def message_rows(
    renderer: Renderer, lang: str, script: Script, here: ScriptVariant, total: int
) -> list[tuple[Button, ...]]:
    """The buttons beside a message, a row each: its versions, its forms of address (not for a
    formal one), the way to the other messages (ScriptVariants of this case), and "Sent"."""
    rows: list[tuple[Button, ...]] = [
        tuple(
            Button(("• " if v == here.variant else "") + renderer.ui(lang, f"variant_{v}"), here.replace(variant=v))
            for v in VARIANTS
        )
    ]
    if not script.formal:
        rows.append(
            tuple(
                Button(("• " if f == here.form else "") + renderer.ui(lang, f"form_{f}"), here.replace(form=f))
                for f in FORMS
            )
        )
    if total > 1:
        nav = []
        if here.index > 1:
            nav.append(Button(f"‹ {here.index - 1}/{total}", here.replace(index=here.index - 1)))
        if here.index < total:
            nav.append(Button(f"{here.index + 1}/{total} ›", here.replace(index=here.index + 1)))
        rows.append(tuple(nav))
    # Sent: the case's timeline records it, and its plan schedules the check (bot.casebook.follow).
    rows.append((Button(renderer.ui(lang, "button_sent"), MarkSent(here.case_no, script.id, here.variant, here.form)),))
    return rows


def script_screen(
    renderer: Renderer,
    lang: str,
    message: Script,
    index: int,
    total: int,
    answers: dict[str, Any],
    assessment: Assessment,
    variant: str,
    form: str,
    case_no: int,
    sender: dict[str, str] | None = None,
) -> Screen:
    """One script as a message, with the buttons of `message_rows`."""
    title, note, body = script(renderer, lang, message, answers, assessment, variant, form, sender)
    text = renderer.render(
        f"{lang}/script.html.j2",
        title=title,
        note=Markup(note),
        body=Markup(body),
        variant=variant,
        form=form,
        index=index,
        total=total,
        formal=message.formal,
    )
    rows = message_rows(renderer, lang, message, ScriptVariant(case_no, index, variant, form), total)
    return Screen("script", text, tuple(rows), {"title": title, "script": message.id})


__all__ = ["DEFAULT_VARIANT", "message_rows", "script", "script_form", "script_screen", "scripts_for"]
