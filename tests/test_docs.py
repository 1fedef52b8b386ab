"""The README documents every command the CLI has, and the two commands CI relies on."""

from __future__ import annotations

import argparse

from bot.cli import build_parser

from helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(parser: argparse.ArgumentParser, prefix: str = "clientcoach") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix} {name}")
                found += commands(sub, f"{prefix} {name}")
    return found


def test_every_cli_command_appears_in_the_readme():
    missing = [c for c in commands(build_parser()) if c not in README]
    assert not missing, f"README.md does not mention: {missing}"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci in README, "the README's second command and .ci/run must be the same"


def test_the_first_command_installs_and_starts_the_console():
    assert "pip install . && clientcoach chat" in README


def test_the_readme_diagram_is_generated_from_the_flow(flow):
    """The questionnaire's diagram in the README is what `clientcoach flows draw` prints, kept current
    by `python -m bot.scripts_doc` like the table of messages."""
    from bot.scripts_doc import FLOW_BEGIN, FLOW_END, flow_section

    current = README[README.index(FLOW_BEGIN) : README.index(FLOW_END) + len(FLOW_END)]
    assert current == flow_section(flow), "stale: run `python -m bot.scripts_doc`"


def test_the_generated_diagram_is_what_flows_draw_prints(flow, capsys):
    from bot.cli import main
    from bot.scripts_doc import flow_section

    assert main(["flows", "draw"]) == 0
    assert capsys.readouterr().out in flow_section(flow)


def test_the_readme_documents_every_environment_variable_and_the_deploy_unit():
    from bot.config import ENVIRONMENT

    missing = [name for name, _ in ENVIRONMENT if name not in README]
    assert not missing, f"README.md does not mention: {missing}"
    for words in (
        "deploy/clientcoach.service",
        ".env",
        "/newbot",
        "/setprivacy",
        "clientcoach db backup",
        "esci",
        "CLIENTCOACH_TZ",
        "/healthz",
        "SIGTERM",
    ):
        assert words in README, words
