"""The `clientcoach` command line, run in-process through `cli.main`: flows check, flows draw, argument errors."""

from __future__ import annotations

import pytest

from helpers import DIAGRAM_FILE, FLOW, FLOW_FILE, SMALL_PROFILES, run_cli, run_process

REGENERATE = "python -m bot flows draw > flows/cliente_difficile.mmd"


def summary() -> str:
    """What `flows check` says of the bundled flow, from the flow as it is now."""
    return f"cliente_difficile.yaml (flow {FLOW.id} v{FLOW.version}, {len(FLOW.questions)} questions)"


BROKEN = (
    """\
flow: broken
version: 1
start: alias
"""
    + SMALL_PROFILES
    + """\
questions:
  - id: alias
    kind: text
    text: {it: Nome?, en: Name?}
    next: sender
  - id: sender
    kind: text
    text: {it: Firma?, en: Signature?}
    next: prize
  - id: price
    kind: money
    text: {it: Prezzo?, en: Price?}
    next: who
  - id: who
    kind: single
    text: {it: Tu o Lei?, en: Formal?}
    options:
      - {id: tu, label: {it: Tu, en: Informal}}
      - {id: lei, label: {it: Lei, en: Formal}}
    next: end
"""
)


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def test_flows_check_accepts_the_bundled_flow(workdir):
    result = run_cli("flows", "check", cwd=workdir)
    no_traceback(result)
    assert result.returncode == 0
    assert result.stdout.startswith("ok: ") and summary() in result.stdout


def test_flows_check_accepts_a_named_file(workdir):
    result = run_cli("flows", "check", str(FLOW_FILE), cwd=workdir)
    assert result.returncode == 0
    assert result.stdout == f"ok: {FLOW_FILE.parent}/{summary()}\n"


def test_flows_check_refuses_a_broken_flow_with_file_line_and_question(tmp_path, workdir):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = run_cli("flows", "check", str(broken), cwd=workdir)
    no_traceback(result)
    assert result.returncode == 1
    line = BROKEN.splitlines().index("  - id: sender") + 1
    assert f"{broken}:{line}: question 'sender':" in result.stderr
    assert "unknown question 'prize'" in result.stderr
    assert result.stdout == ""


def test_flows_check_reports_every_file_and_fails_if_one_is_broken(tmp_path, workdir):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = run_cli("flows", "check", str(FLOW_FILE), str(broken), str(tmp_path / "missing.yaml"), cwd=workdir)
    assert result.returncode == 1
    assert f"ok: {FLOW_FILE}" in result.stdout
    assert f"{broken}:" in result.stderr
    assert f"{tmp_path / 'missing.yaml'}: cannot read the file" in result.stderr


def test_flows_draw_prints_the_committed_diagram(workdir):
    result = run_cli("flows", "draw", cwd=workdir)
    assert result.returncode == 0
    committed = DIAGRAM_FILE.read_text(encoding="utf-8") if DIAGRAM_FILE.exists() else ""
    assert result.stdout == committed, f"{DIAGRAM_FILE.name} is stale or missing: regenerate it with `{REGENERATE}`"


def test_flows_draw_in_english_and_of_a_named_file(workdir):
    result = run_cli("flows", "draw", str(FLOW_FILE), "--lang", "en", cwd=workdir)
    assert result.returncode == 0
    assert result.stdout.startswith("flowchart TD\n")
    assert 'result(["review and result"])' in result.stdout
    assert "How they pay" in result.stdout


def test_flows_draw_of_a_broken_flow_fails_with_the_reason(tmp_path, workdir):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = run_cli("flows", "draw", str(broken), cwd=workdir)
    no_traceback(result)
    assert result.returncode == 1
    assert f"{broken}:" in result.stderr and "question 'sender'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("run", [run_cli, run_process], ids=["in-process", "process"])
def test_a_missing_command_is_a_usage_error(workdir, run):
    result = run(cwd=workdir)
    no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.startswith("clientcoach: ") and "mancano questi argomenti" in result.stderr
    assert "--help" in result.stderr


def test_an_unknown_language_is_a_usage_error(workdir):
    result = run_cli("chat", "--lang", "fr", cwd=workdir)
    no_traceback(result)
    assert result.returncode == 2
    assert "scelta non valida: 'fr'" in result.stderr


def test_run_without_a_token_explains_what_to_do(workdir):
    result = run_cli("run", cwd=workdir)
    no_traceback(result)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN non è impostato" in result.stderr and "clientcoach chat" in result.stderr
    english = run_cli("run", "--lang", "en", cwd=workdir)
    assert "TELEGRAM_BOT_TOKEN is not set" in english.stderr


def test_chat_with_a_broken_flow_file_says_why(tmp_path, workdir):
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = run_cli(
        "chat", "--create", "--db", str(tmp_path / "cc.db"), "--flow", str(broken), stdin=["x"], cwd=workdir
    )
    no_traceback(result)
    assert result.returncode == 1
    line = BROKEN.splitlines().index("  - id: sender") + 1
    assert f"error: {broken}:{line}: question 'sender':" in result.stderr


# -- settings: read once, from the environment, then .env --------------------------------------------


def test_the_environment_wins_over_dot_env_and_empty_values_are_unset(tmp_path):
    from bot.config import ConfigError, load_settings, read_environment

    env_file = tmp_path / ".env"
    env_file.write_text(
        "CLIENTCOACH_DB=/from/dotenv.db\nCLIENTCOACH_LANG=EN\nCLIENTCOACH_TZ=Europe/London\n"
        "TELEGRAM_BOT_TOKEN=123456789:" + "B" * 35 + "\n",
        encoding="utf-8",
    )
    env = read_environment(env_file, {"CLIENTCOACH_DB": "/from/environment.db", "CLIENTCOACH_TZ": ""})
    assert env.db == "/from/environment.db" and env.lang == "en" and env.tz == "Europe/London"
    assert read_environment(None, {"CLIENTCOACH_LANG": "fr"}).lang is None
    settings = load_settings(environment=env)
    assert settings.token.startswith("123456789:") and settings.tz == "Europe/London"
    for bad in ("12,abc", "²", "1" * 25):  # "²" is a digit to str.isdigit, not to int()
        with pytest.raises(ConfigError, match="CLIENTCOACH_ALLOWED_USERS"):
            load_settings(
                environment=read_environment(
                    None, {"TELEGRAM_BOT_TOKEN": settings.token, "CLIENTCOACH_ALLOWED_USERS": bad}
                )
            )


def test_run_help_and_the_readme_list_the_same_variables():
    from bot.config import ENVIRONMENT, Environment

    names = {name for name, _ in ENVIRONMENT}
    assert len(names) == len(Environment.__dataclass_fields__), "every variable read has its line in --help"
