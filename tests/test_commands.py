"""One table of commands (bot/commands.py): nothing is left out, and a new command missing a piece is refused.

Every command the bot registers is in the table, every entry is in the menu and the help of every
language, and every console equivalent exists in the command line. Adding a command is its entry in
the table, its handler and its text in each `language.yaml`; each missing piece is refused with
where it is missing.
"""

from __future__ import annotations

import argparse
import shutil

import pytest
from telegram.ext import ApplicationBuilder, CommandHandler

from bot.cli import build_parser
from bot.commands import COMMANDS, Command, named
from bot.languages import WORD_TABLES, LanguageError, load_language, load_languages
from bot.render import Renderer, to_plain
from bot.telegram import dialog
from bot.telegram.app import CommandError, add_handlers, command_handler
from bot.telegram.context import CONTEXT_TYPES

from helpers import ROOT

RENDERER = Renderer()
LANGUAGES = load_languages()
# A command being added: its entry in the table, before its handler and texts exist.
EXAMPLE = Command(("esempio", "example"), "dialog.on_example", "chat")


def registered(commands: tuple[Command, ...] = COMMANDS) -> list[CommandHandler]:
    """The command handlers the bot's wiring registers."""
    application = ApplicationBuilder().token("123:TEST").context_types(CONTEXT_TYPES).updater(None).build()
    add_handlers(application, commands)
    return [h for group in application.handlers.values() for h in group if isinstance(h, CommandHandler)]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(
        (a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
        {},
    )


def console_problem(command: Command, parser: argparse.ArgumentParser) -> str | None:
    """Why `clientcoach <command.console>` is not a command line the CLI has (None when it is)."""
    for word in command.console.split():
        if word.startswith("-"):
            if word not in parser._option_string_actions:
                return f"/{command.name}: `clientcoach {command.console}` has no option {word}"
        elif word in subparsers(parser):
            parser = subparsers(parser)[word]
        else:
            return f"/{command.name}: `clientcoach {command.console}` has no command {word}"
    if subparsers(parser):
        return f"/{command.name}: `clientcoach {command.console}` names a group, not a command"
    if command.word is not None and command.word not in WORD_TABLES["commands"]:
        return f"/{command.name}: '{command.word}' is no word of the chat"
    return None


# -- nothing is left out ------------------------------------------------------------------------


def test_every_registered_command_is_in_the_table_with_its_own_handler():
    handlers = registered()
    names = [name for h in handlers for name in sorted(h.commands)]
    assert sorted(names) == sorted(name for c in COMMANDS for name in c.names), "a command registered by hand"
    for handler in handlers:
        command = named(next(iter(handler.commands)))
        assert command is not None and handler.callback is command_handler(command)
        assert handler.commands == frozenset(command.names)


def test_names_are_unique_lower_case_and_fit_telegram():
    names = [name for c in COMMANDS for name in c.names]
    assert len(names) == len(set(names))
    assert all(name.isascii() and name.islower() and name.replace("_", "").isalnum() for name in names)
    assert all(1 <= len(name) <= 32 for name in names)


@pytest.mark.parametrize("lang", LANGUAGES.codes)
def test_every_command_is_in_the_menu_and_the_help_of_every_language(lang):
    menu = LANGUAGES.menu(lang)
    assert [name for name, _ in menu] == [c.name for c in COMMANDS], "the menu follows the table"
    assert all(0 < len(text) <= 256 for _, text in menu), "Telegram's limit for a description"
    help_text = to_plain(RENDERER.ui(lang, "help", menu))
    for name, text in menu:
        assert f"/{name} — {text}" in help_text, f"/{name} is not in the {lang} help"


def test_every_console_equivalent_exists_in_the_command_line():
    parser = build_parser()
    assert [p for c in COMMANDS if (p := console_problem(c, parser))] == []


def test_the_navigation_commands_are_the_chat_words_of_the_navigation_moves():
    navigation = [c for c in COMMANDS if c.handler == "dialog.on_navigation"]
    assert {c.word for c in navigation} == set(dialog.NAVIGATION)


# -- a new command: each missing piece is refused ------------------------------------------------


def test_a_new_command_without_its_text_in_a_language_is_refused_with_file_and_line(tmp_path):
    for lang in LANGUAGES.codes:
        path = tmp_path / lang / "language.yaml"
        path.parent.mkdir()
        shutil.copy(ROOT / "templates" / lang / "language.yaml", path)
        with pytest.raises(LanguageError, match="missing: esempio") as refused:
            load_language(path, (*COMMANDS, EXAMPLE))
        assert refused.value.path == str(path)
        menu_line = path.read_text(encoding="utf-8").splitlines().index("menu:") + 1
        assert refused.value.line == menu_line + 1, "the line the menu's entries start on"
        text = path.read_text(encoding="utf-8").replace("menu:\n", "menu:\n  esempio: Un esempio\n", 1)
        path.write_text(text, encoding="utf-8")
        language = load_language(path, (*COMMANDS, EXAMPLE))
        assert language.menu[-1] == ("esempio", "Un esempio"), "in the table's order, last"
        help_text = to_plain(RENDERER.ui(lang, "help", list(language.menu)))
        assert "/esempio — Un esempio" in help_text, "its text is its help line too"


def test_a_text_for_a_command_the_table_does_not_have_is_refused(tmp_path):
    path = tmp_path / "en" / "language.yaml"
    path.parent.mkdir()
    text = (ROOT / "templates" / "en" / "language.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("menu:\n", "menu:\n  esempio: An example\n", 1), encoding="utf-8")
    with pytest.raises(LanguageError, match="unknown: esempio") as refused:
        load_language(path)
    assert refused.value.path == str(path) and refused.value.line is not None


def test_a_new_command_without_its_handler_is_refused_when_the_bot_is_wired():
    with pytest.raises(CommandError, match=r"/esempio: no handler dialog\.on_example"):
        registered((*COMMANDS, EXAMPLE))
    with pytest.raises(CommandError, match="no handler nowhere.on_new"):
        registered((Command(("nuovo",), "nowhere.on_new", "chat"),))


def test_a_console_equivalent_the_command_line_does_not_have_is_found():
    parser = build_parser()
    assert console_problem(EXAMPLE, parser) is None
    assert "no command example" in str(console_problem(Command(("esempio",), "dialog.on_example", "example"), parser))
    assert "no option --wave" in str(console_problem(Command(("esempio",), "dialog.on_example", "chat --wave"), parser))
    assert "a group" in str(console_problem(Command(("storico",), "cases.on_history", "cases"), parser))
    assert "no word" in str(console_problem(Command(("esempio",), "dialog.on_example", "chat", "wave"), parser))
