"""The language registry: every language is a folder `templates/<code>/` holding a `language.yaml`.

A language file gives the language's name, the Telegram language codes it serves, its money format,
the words typed in the console and the case book, the bot's command menu, the Mermaid labels and
how a letter goes on after its greeting. Everything is checked at load; an error names the file and
the line, like a flow's. Nothing else in the code names a language: argparse choices, the Telegram
user's language, flow validation, /lingua and the menus all come from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .choices import ANSWERS, EXTRAS, FORMS, STATUSES, VARIANTS
from .commands import COMMANDS, Command
from .paths import templates_dir
from .yamlfile import LINE, YamlFileError, line_of, read_document

LANGUAGE_FILE = "language.yaml"
# The word tables and the meanings their words may have (`confirm` is a plain list of yes-words).
WORD_TABLES: dict[str, tuple[str, ...]] = {
    "commands": ("back", "skip", "cancel", "review", "restart", "help", "quit"),
    "variants": VARIANTS,
    "forms": FORMS,
    "extras": EXTRAS,
    "outcomes": STATUSES,
    "durations": ("hour", "day", "week", "month"),
    "answers": ANSWERS,
    "confirm": (),
}
AFTER_GREETING = ("lower", "upper")
KEYS = ("name", "default", "telegram", "money", "letter", "mermaid", "menu", "words")
_AMOUNT = "{amount}"
_LANGUAGES = "{languages}"  # in a menu text: the registered language codes


class LanguageError(ValueError):
    """A language file that cannot be used, with where and why."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")


@dataclass(frozen=True)
class Language:
    """One registered language, as its `language.yaml` describes it."""

    code: str
    name: str
    default: bool
    telegram: tuple[str, ...]
    decimal: str
    thousands: str
    money_format: str
    after_greeting: str
    keep_capital: frozenset[str]
    # A company addressed formally takes the plural (Spett.le … Vi, Vostro) in this language's letters.
    plural_courtesy: bool
    mermaid_optional: str
    mermaid_finish: str
    menu: tuple[tuple[str, str], ...]
    words: dict[str, dict[str, str]]
    path: str

    def format_money(self, value: float | Decimal | None) -> str | None:
        """An amount with two decimals, the language's separators and currency placement."""
        if value is None:
            return None
        amount = f"{Decimal(str(value)).quantize(Decimal('0.01')):,.2f}"
        amount = amount.replace(",", "\0").replace(".", self.decimal).replace("\0", self.thousands)
        return self.money_format.replace(_AMOUNT, amount)

    def continue_letter(self, word: str) -> str:
        """The first word after a letter's greeting: capitalised, or lower case unless a courtesy capital."""
        if self.after_greeting == "upper":
            return word[:1].upper() + word[1:]
        return word if word in self.keep_capital else word[:1].lower() + word[1:]


class Languages:
    """Every language of a templates folder, the default first."""

    def __init__(self, directory: Path, languages: list[Language]):
        self.directory = directory
        self._by_code = {lang.code: lang for lang in sorted(languages, key=lambda lang: (not lang.default, lang.code))}
        self.codes = tuple(self._by_code)
        self.default = self.codes[0]

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Language]:
        return iter(self._by_code.values())

    def __getitem__(self, code: str) -> Language:
        return self._by_code[code]

    def pick(self, code: str | None) -> str:
        """`code` when it is registered, else the default language."""
        return code if code in self._by_code else self.default

    def for_telegram(self, language_code: str | None) -> str:
        """The language serving a Telegram client's language_code ("en-GB" -> en), else the default."""
        base = (language_code or "").casefold().replace("_", "-").split("-")[0]
        return next((lang.code for lang in self if base in lang.telegram), self.default)

    def words(self, table: str) -> dict[str, str]:
        """A word table of every language together (typed word -> meaning): any language's words work."""
        merged: dict[str, str] = {}
        for lang in self:
            merged.update(lang.words[table])
        return merged

    def check_templates(self) -> set[str]:
        """Every language has every template any other one has, the default's included (a file
        missing would fail mid-dialogue in that language); returns them, relative to a language's folder."""
        held = {lang.code: _templates_in(os.path.join(self.directory, lang.code)) for lang in self}
        for lang in self:
            for other in self:  # the default first: a file it has is named as missing from the others
                for relative in sorted(held[other.code] - held[lang.code]):
                    raise LanguageError(
                        Path(self.directory, lang.code, relative), None, f"missing (language '{other.code}' has it)"
                    )
        return held[self.default]

    def menu(self, code: str) -> list[tuple[str, str]]:
        """The bot's commands in a language, in menu order: (command, its text for the menu and the
        help), "{languages}" filled in."""
        return [(command, text.replace(_LANGUAGES, " | ".join(self.codes))) for command, text in self[code].menu]

    def help_text(self) -> str:
        """For --lang: each code with its name, the default marked."""
        return ", ".join(f"{lang.code} ({lang.name}{', the default' if lang.default else ''})" for lang in self)


def _templates_in(folder: str) -> set[str]:
    """The templates (*.j2) of one language's folder, relative to it."""
    # os.walk and plain strings: pathlib's rglob cost the console's first prompt a millisecond.
    found: set[str] = set()
    for where, subfolders, names in os.walk(folder):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        relative = os.path.relpath(where, folder)
        found.update(os.path.normpath(os.path.join(relative, name)) for name in names if name.endswith(".j2"))
    return found


# -- loading -----------------------------------------------------------------------------------


class _Checker:
    """Reads one language file's document, failing with the file and line of the first problem."""

    def __init__(self, path: Path, commands: tuple[Command, ...] = COMMANDS):
        self.path, self.commands = path, commands

    def fail(self, node: Any, problem: str) -> LanguageError:
        return LanguageError(self.path, line_of(node), problem)

    def mapping(self, node: dict, key: str) -> dict:
        value = node.get(key)
        if not isinstance(value, dict):
            raise self.fail(node, f"'{key}' must be a mapping")
        return value

    def text(self, node: dict, key: str, blank_ok: bool = False) -> str:
        value = node.get(key)
        if not isinstance(value, str) or (not blank_ok and not value.strip()):
            raise self.fail(node, f"'{key}' must be a text")
        return value

    def texts(self, node: dict, key: str) -> list[str]:
        value = node.get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(node, f"'{key}' must be a list of texts (quote words YAML reads otherwise, like \"yes\")")
        return [v.strip() for v in value]

    def table(self, words: dict, name: str) -> dict[str, str]:
        """Typed word -> meaning; every meaning of the table needs a word, each word one meaning."""
        meanings = WORD_TABLES[name]
        if not meanings:
            return dict.fromkeys((w.casefold() for w in self.texts(words, name)), "yes")
        node = self.mapping(words, name)
        unknown = sorted(str(k) for k in node if k != LINE and k not in meanings)
        if unknown:
            raise self.fail(node, f"'{name}' has unknown meanings: {', '.join(unknown)} (known: {', '.join(meanings)})")
        table: dict[str, str] = {}
        for meaning in meanings:
            if meaning not in node and name != "outcomes":  # an outcome's stored name always works as typed
                raise self.fail(node, f"'{name}' needs words for '{meaning}'")
            for word in self.texts(node, meaning) if meaning in node else []:
                if table.setdefault(word.casefold(), meaning) != meaning:
                    raise self.fail(node, f"'{name}': the word '{word}' has two meanings")
        return table

    def menu(self, doc: dict) -> tuple[tuple[str, str], ...]:
        """Each command's text (its menu entry and its help line), in the commands' order: one for
        every command of `bot.commands`, and none for a command that does not exist."""
        menu = self.mapping(doc, "menu")
        wanted = [c.name for c in self.commands]
        missing = [name for name in wanted if name not in menu]
        unknown = sorted(str(k) for k in menu if k != LINE and k not in wanted)
        if missing or unknown:
            gaps = [f"missing: {', '.join(missing)}"] if missing else []
            gaps += [f"unknown: {', '.join(unknown)}"] if unknown else []
            raise self.fail(menu, f"'menu' must describe the commands {', '.join(wanted)} ({'; '.join(gaps)})")
        return tuple((name, self.text(menu, name)) for name in wanted)

    def language(self, code: str, doc: Any) -> Language:
        if not isinstance(doc, dict):
            raise LanguageError(self.path, 1, "the file must be a mapping (name, telegram, money, words, ...)")
        unknown = sorted(str(k) for k in doc if k != LINE and k not in KEYS)
        if unknown:
            raise self.fail(doc, f"unknown keys: {', '.join(unknown)} (known: {', '.join(KEYS)})")
        money, letter, mermaid = self.mapping(doc, "money"), self.mapping(doc, "letter"), self.mapping(doc, "mermaid")
        money_format = self.text(money, "format")
        if money_format.count(_AMOUNT) != 1:
            raise self.fail(money, f"'format' must hold {_AMOUNT} once, e.g. \"{_AMOUNT} €\"")
        after = letter.get("after_greeting")
        if after not in AFTER_GREETING:
            raise self.fail(letter, f"'after_greeting' must be one of {', '.join(AFTER_GREETING)}")
        words = self.mapping(doc, "words")
        missing = [name for name in WORD_TABLES if name not in words]
        if missing:
            raise self.fail(words, f"'words' is missing the tables: {', '.join(missing)}")
        if not isinstance(doc.get("default", False), bool):
            raise self.fail(doc, "'default' must be true or false")
        return Language(
            code=code,
            name=self.text(doc, "name"),
            default=doc.get("default", False),
            telegram=tuple(t.casefold() for t in self.texts(doc, "telegram")),
            decimal=self.text(money, "decimal"),
            thousands=self.text(money, "thousands", blank_ok=True),
            money_format=money_format,
            after_greeting=after,
            keep_capital=frozenset(self.texts(letter, "keep_capital")) if "keep_capital" in letter else frozenset(),
            plural_courtesy=letter.get("plural_courtesy") is True,
            mermaid_optional=self.text(mermaid, "optional"),
            mermaid_finish=self.text(mermaid, "finish"),
            menu=self.menu(doc),
            words={name: self.table(words, name) for name in WORD_TABLES},
            path=str(self.path),
        )


def load_language(path: Path, commands: tuple[Command, ...] = COMMANDS) -> Language:
    """Read and check one `language.yaml` (a text for each of `commands`); its folder's name is the language code."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LanguageError(path, None, f"cannot read the file ({exc.strerror})") from None
    try:
        doc = read_document(raw)
    except YamlFileError as exc:
        raise LanguageError(path, exc.line, exc.problem) from None
    return _Checker(path, commands).language(path.parent.name, doc)


def _check_together(languages: list[Language], directory: Path) -> None:
    """One default, Telegram codes served once, one meaning per typed word (each menu is checked alone)."""
    if not languages:
        raise LanguageError(directory, None, f"no language: each needs a folder <code>/ with a {LANGUAGE_FILE}")
    defaults = [lang for lang in languages if lang.default]
    if len(defaults) != 1:
        names = ", ".join(lang.path for lang in defaults) or "none"
        raise LanguageError(directory, None, f"exactly one language must say 'default: true' (found: {names})")
    served: dict[str, str] = {}
    for lang in languages:
        for code in lang.telegram:
            if served.setdefault(code, lang.code) != lang.code:
                raise LanguageError(lang.path, None, f"Telegram code '{code}' is served by '{served[code]}' already")
    for table in WORD_TABLES:  # every language's words work everywhere, so a word keeps one meaning
        meaning_of: dict[str, tuple[str, str]] = {}
        for lang in languages:
            for word, meaning in lang.words[table].items():
                first = meaning_of.setdefault(word, (meaning, lang.code))
                if first[0] != meaning:
                    raise LanguageError(
                        lang.path,
                        None,
                        f"'{table}': the word '{word}' means '{meaning}' here but '{first[0]}' in '{first[1]}'",
                    )


_REGISTRIES: dict[str, Languages] = {}


def load_languages(directory: str | Path | None = None) -> Languages:
    """The languages of a templates folder (default: the bundled one), read once per process like the templates."""
    directory = Path(directory) if directory else templates_dir()
    registry = _REGISTRIES.get(str(directory))
    if registry is None:
        languages = [load_language(f) for f in sorted(directory.glob(f"*/{LANGUAGE_FILE}"))]
        _check_together(languages, directory)
        registry = _REGISTRIES[str(directory)] = Languages(directory, languages)
    return registry


__all__ = ["LANGUAGE_FILE", "WORD_TABLES", "Language", "LanguageError", "Languages", "load_language", "load_languages"]
