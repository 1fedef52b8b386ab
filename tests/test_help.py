"""Every command explains itself: a description and an example in each --help, global options
anywhere on the line, the environment in `run --help`, one-line usage errors."""

from __future__ import annotations

import argparse
import re

import pytest

from bot.cli import build_parser, main
from bot.config import ENVIRONMENT


def subcommands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*prefix, name), sub))
                found += subcommands(sub, (*prefix, name))
    return found


ALL = subcommands(build_parser())


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """These tests read the English help; the default language's is checked at the end."""
    monkeypatch.setenv("CLIENTCOACH_LANG", "en")


def help_of(capsys, *words: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*words, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_there_are_commands_to_walk():
    names = {" ".join(words) for words, _ in ALL}
    assert {"chat", "run", "cases list", "cases due", "db check", "db backup", "privacy", "flows draw"} <= names


@pytest.mark.parametrize("words", [words for words, _ in ALL], ids=" ".join)
def test_every_command_has_a_description_and_an_example(capsys, words):
    text = help_of(capsys, *words)
    parser = dict(ALL)[words]
    assert parser.description and len(parser.description) > 20, f"{' '.join(words)}: no description"
    assert parser.description.splitlines()[0] in text
    assert re.search(r"examples:\n  .*clientcoach ", text), f"{' '.join(words)}: no example"
    assert "--db PATH" in text and "--lang {it,en}" in text, "the global options are listed everywhere"
    for action in parser._actions:  # every option and argument says what it is for
        if not isinstance(action, argparse._SubParsersAction):
            assert action.help, f"{' '.join(words)}: {action.dest} has no help"


def test_the_top_level_help_has_examples(capsys):
    text = help_of(capsys)
    assert "examples:" in text and "clientcoach chat" in text


def test_run_help_lists_every_environment_variable_and_the_env_file(capsys):
    text = help_of(capsys, "run")
    for name, _ in ENVIRONMENT:
        assert name in text
    assert ".env" in text and "--check" in text


def test_chat_help_names_the_words_and_the_automatic_resume(capsys):
    text = " ".join(help_of(capsys, "chat").split())
    for word in ("esci/quit/exit", "indietro/back", "ricomincia/restart"):
        assert word in text
    assert "automatic in an interactive terminal" in text and "--new" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "X.db", "--lang", "en", "cases", "list"],
        ["cases", "--db", "X.db", "--lang", "en", "list"],
        ["cases", "list", "--db", "X.db", "--lang", "en"],
        ["--db", "other.db", "cases", "list", "--db", "X.db", "--lang", "en"],  # the last one given wins
    ],
)
def test_global_options_work_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert args.db == "X.db" and args.lang == "en" and args.cases_command == "list"


def test_a_global_option_not_repeated_is_kept():
    args = build_parser().parse_args(["--lang", "en", "chat", "--user", "3"])
    assert args.lang == "en" and args.user == 3


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["chat", "--user", "99999999999999999999"], "user id out of range"),
        (["chat", "--user", "x"], "not a user id"),
        (["chat", "--lang", "fr"], "invalid choice: 'fr'"),
        (["chat", "--resume", "--new"], "not allowed with argument"),
        (["cases"], "required"),
    ],
)
def test_a_usage_error_is_one_line_with_where_to_look(capsys, argv, fragment):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "--help" in err


# -- in the chosen language ---------------------------------------------------------------------------


def english_and_italian(parser_en: argparse.ArgumentParser, parser_it: argparse.ArgumentParser):
    """Each help text of the English parser beside the Italian one, option by option."""
    yield parser_en.description, parser_it.description
    for a, b in zip(parser_en._actions, parser_it._actions, strict=True):
        yield a.help, b.help
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from english_and_italian(sub, b.choices[name])


SAME_IN_BOTH = {"aperto | risolto | cliente_tenuto | cliente_lasciato", argparse.SUPPRESS, None}


def test_every_help_text_has_its_italian():
    """Issue 19: `--help` was English even with --lang it. No text may be left untranslated."""
    untranslated = [
        en
        for en, it in english_and_italian(build_parser("en"), build_parser("it"))
        if en == it and en not in SAME_IN_BOTH and "{" not in str(en)
    ]
    assert not untranslated, untranslated


@pytest.mark.parametrize("how", ["default", "option", "environment"])
def test_help_and_usage_errors_in_the_chosen_language(capsys, monkeypatch, how):
    monkeypatch.delenv("CLIENTCOACH_LANG")
    lang_args = {"default": [], "option": ["--lang", "it"], "environment": []}[how]
    if how == "environment":
        monkeypatch.setenv("CLIENTCOACH_LANG", "it")
    text = help_of(capsys, *lang_args, "cases", "export")
    assert "esempi:" in text and "opzioni:" in text and "tutti i tuoi casi con le note" in text.lower()
    with pytest.raises(SystemExit):
        main([*lang_args, "chat", "--user", "x"])
    assert "non è un id utente" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*lang_args, "cases"])
    assert "mancano questi argomenti: COMMAND (vedi clientcoach cases --help)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--lang", "en", "cases"])
    assert "the following arguments are required" in capsys.readouterr().err, "--lang en wins"
