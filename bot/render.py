"""Rendering: data in, text out. Every screen is a jinja2 template, previewable without Telegram.

Templates are compiled once at start with StrictUndefined and HTML autoescape, so whatever a user
typed is escaped. The output is Telegram-safe HTML (Telegram's tags only); `to_plain` gives the
same text for the console. The Renderer only fills templates: what goes into a message comes from
`bot.facts`, which messages from the router (`bot.scripts`), and the screens with their buttons
are built by `bot.questions` (the questionnaire) and `bot.result` (the result, shared with the
case book).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, Template

from .actions import Action
from .articles import with_article
from .commands import COMMANDS
from .flow import Question, bundled_profiles
from .languages import Languages, load_languages
from .paths import cache_dir, templates_dir
from .profiles import Profile, Profiles

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


class _DeclaredProfiles:
    """The renderer's profiles for the templates, read only when a template names one."""

    def __init__(self, renderer: Renderer):
        self.renderer = renderer

    def __getitem__(self, profile_id: str) -> Profile:
        return self.renderer.profiles[profile_id]


UI_FILE = "ui.html.j2"
SURFACES = ("telegram", "console")
UI_FOLDER = "ui"


class Renderer:
    """Compiles the templates once and fills them: screens, interface texts and answers read back."""

    def __init__(
        self, directory: str | Path | None = None, surface: str = "telegram", profiles: Profiles | None = None
    ):
        """`surface` names the front end ("telegram" or "console"): hints name what works there.
        `profiles` are the flow's (see `bot.profiles`); without them, the bundled flow's, read when first named."""
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r} (known: {', '.join(SURFACES)})")
        self.directory = Path(directory) if directory else templates_dir()
        self.surface = surface
        self._profiles = profiles
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
        # A profile's names and role, as the flow declares them: `profiles[p].name.it`.
        self.env.globals["profiles"] = _DeclaredProfiles(self)
        # `cmd("restart")` in the texts: the word the console takes, or the command Telegram shows.
        self.env.globals["command_word"] = self.command_word
        self._check_scripts()
        self._ui: dict[str, list[str]] = {}  # per language, the files its interface texts come from
        self._cache: dict[str, Template] = {}

    def _check_scripts(self) -> None:
        """Every language has every template, and every script of the catalogue has its template (the
        plans that follow the scripts are checked where they load: bot/plans.py)."""
        # The router's catalogue alone: the rest of the result path loads only once there is a result.
        from .scripts import CATALOGUE

        held = self.languages.check_templates()  # the same in every language, or it refused
        for script in CATALOGUE:
            relative = os.path.join("scripts", f"{script.id}.html.j2")
            if relative not in held:
                path = self.directory / self.languages.default / relative
                raise FileNotFoundError(f"{path}: missing (every script needs every language)")

    def command_word(self, meaning: str, lang: str) -> str:
        """What the user types for a chat command here: its word in the console (`ricomincia`), its
        command on Telegram (`/nuovo`, the name the menu shows); both from their one declaration."""
        if self.surface == "console":
            words = self.languages[lang].words["commands"]
            return next(word for word, meant in words.items() if meant == meaning)
        return "/" + next(c.name for c in COMMANDS if c.word == meaning)

    @property
    def profiles(self) -> Profiles:
        if self._profiles is None:
            self._profiles = bundled_profiles()
        return self._profiles

    def template(self, name: str) -> Template:
        template = self._cache.get(name)
        if template is None:
            template = self._cache[name] = self.env.get_template(name)
        return template

    def render(self, name: str, **context: Any) -> str:
        text = self.template(name).render(**context)
        return _BLANK_RUNS.sub("\n\n", text).strip()

    def ui(self, lang: str, name: str, *args: Any, **kwargs: Any) -> str:
        """A short interface text (a macro of `<lang>/ui.html.j2`, else of the first `ui/` file that has it)."""
        files = self._ui.get(lang)
        if files is None:
            files = self._ui[lang] = self._ui_files(lang)
        # In order, each file compiled when first looked into: the console's first prompt needs two of them.
        for file in files:
            macro: Callable[..., str] | None = getattr(self.template(file).module, name, None)
            if macro is not None:
                return str(macro(*args, **kwargs)).strip()
        raise AttributeError(f"{lang}: no interface text '{name}' in {UI_FILE} or {UI_FOLDER}/")

    def _ui_files(self, lang: str) -> list[str]:
        """`<lang>/ui.html.j2`, then every `<lang>/ui/<area>.html.j2` (one file per area of the bot)."""
        names = [f"{lang}/{UI_FILE}"]
        folder = self.directory / lang / UI_FOLDER
        if folder.is_dir():
            names += [f"{lang}/{UI_FOLDER}/{path.name}" for path in sorted(folder.glob("*.html.j2"))]
        return names

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
