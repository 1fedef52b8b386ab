"""`clientcoach run` as a real process: kill -9 mid-questionnaire, start again, go on exactly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils

from botapi import DEFAULT_TOKEN, BotApiServer
from helpers import clean_environment

ALICE = 3001
ALIAS = "Studio Segretissimo"


def start_bot(root: str, db: Path, log: Path) -> subprocess.Popen:
    env = run_env(root, db)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--create", "run"],
        env=env,
        cwd=db.parent,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def until(condition, timeout: float) -> None:
    """Look every 10 ms (the server's `wait_for` looks again only when a call ends: not for one in flight)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def dialog_text(server) -> str:
    for message in reversed(server.chat(ALICE)):
        if any((data or "").startswith("q:") for _, data in message.buttons):
            return message.text
    return ""


def wait_text(server, needle: str) -> None:
    server.wait_for(lambda: needle in dialog_text(server), 15)


def press_option(server, option: str) -> None:
    message = next(m for m in reversed(server.chat(ALICE)) if any((d or "").startswith("q:") for _, d in m.buttons))
    data = next(d for _, d in message.buttons if d and d.endswith(f":opt:{option}"))
    server.press_button(ALICE, message.message_id, data)


@pytest.mark.slow
def test_kill_9_and_restart_resumes_at_the_same_question_with_the_same_answers(tmp_path):
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    with BotApiServer.in_thread() as server:
        bot = start_bot(server.root, db, log)
        try:
            server.send_text(ALICE, "/nuovo")
            wait_text(server, "Domanda 1 di")
            server.send_text(ALICE, ALIAS)
            wait_text(server, "Domanda 2 di")
            press_option(server, "ongoing")
            wait_text(server, "Domanda 3 di")
            press_option(server, "free")
            wait_text(server, "Domanda 4 di")
        finally:
            bot.send_signal(signal.SIGKILL)
            bot.wait(10)
        state = json.loads(sqlite_utils.Database(db)["conversations"].get(ALICE)["state"])
        assert state["at"] == "free_attitude" and state["answers"]["alias"] == ALIAS

        bot = start_bot(server.root, db, log)
        try:
            press_option(server, "demands")  # a button of the message sent before the kill
            wait_text(server, "Domanda 5 di")
            answers = json.loads(sqlite_utils.Database(db)["conversations"].get(ALICE)["state"])["answers"]
            assert answers == {"alias": ALIAS, "relationship": "ongoing", "payment": "free", "free_attitude": "demands"}
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(15)
    logs = log.read_text(encoding="utf-8", errors="replace")
    assert "bot started" in logs, logs[-2000:]
    assert DEFAULT_TOKEN not in logs and DEFAULT_TOKEN.split(":")[1] not in logs, "the token never reaches the logs"
    assert ALIAS not in logs, "case contents never reach the logs"


@pytest.mark.parametrize(
    "token, message", [("", "TELEGRAM_BOT_TOKEN non è impostato"), ("abc", "non sembra il token di un bot")]
)
def test_a_missing_or_malformed_token_is_one_clear_line(tmp_path, token, message):
    env = clean_environment(TELEGRAM_BOT_TOKEN=token)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--create", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def run_env(root: str, db: Path, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    return clean_environment(TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_URL=root, CLIENTCOACH_DB=str(db))


def test_a_token_the_server_refuses_at_start_is_one_line_and_never_printed(tmp_path):
    token = "1111111111:" + "Q" * 35
    with BotApiServer.in_thread() as server:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "--create", "run"],
            env=run_env(server.root, tmp_path / "b.db", token),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "Traceback" not in output and token not in output and "Q" * 35 not in output
    assert "TELEGRAM_BOT_TOKEN" in output


@pytest.mark.slow
def test_a_401_while_running_exits_non_zero_so_a_supervisor_restarts_the_bot(tmp_path):
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    with BotApiServer.in_thread() as server:
        bot = start_bot(server.root, db, log)
        try:
            server.send_text(ALICE, "/start")
            server.wait_for(lambda: server.chat(ALICE), 15)
            server.revoke()  # the token is revoked in @BotFather
            assert bot.wait(30) == 3
        finally:
            if bot.poll() is None:
                bot.kill()
    logs = log.read_text(encoding="utf-8", errors="replace")
    assert "401" in logs and "Traceback" not in logs and DEFAULT_TOKEN.split(":")[1] not in logs


@pytest.mark.slow
def test_sigterm_finishes_the_update_in_hand_then_stops_without_an_error(tmp_path):
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    with BotApiServer.in_thread() as server:
        bot = start_bot(server.root, db, log)
        try:
            server.send_text(ALICE, "/start")
            server.wait_for(lambda: server.chat(ALICE), 15)
            server.slow_next("sendMessage", 1.5)  # the reply is on its way when the signal comes
            server.send_text(ALICE, "/nuovo")
            until(lambda: [c for c in server.calls("sendMessage") if c.status is None], 15)  # a call in flight
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(20) == 0
            assert "Domanda 1 di" in dialog_text(server), "the update in hand was finished"
            sent = len(server.chat(ALICE))
            bot = start_bot(server.root, db, log)  # nothing handled comes again
            server.send_text(ALICE, "/aiuto")
            server.wait_for(lambda: len(server.chat(ALICE)) > sent, 15)
            assert len(server.chat(ALICE)) == sent + 1
        finally:
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(20) == 0
    logs = log.read_text(encoding="utf-8", errors="replace")
    assert logs.count("bot stopped") == 2
    assert " ERROR " not in logs and "Traceback" not in logs, logs[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("chosen_by", ["options", "environment file"])
def test_webhook_mode_serves_updates_and_a_health_endpoint(tmp_path, chosen_by):
    """Webhook mode from the command line, or from the settings alone, as the service's environment
    file gives them (issue 19: the unit could not run webhook mode without editing it)."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db, log = tmp_path / "bot.db", tmp_path / "bot.log"
    with BotApiServer.in_thread(webhook_retry_delay=0.2) as server:
        env = run_env(server.root, db) | {"CLIENTCOACH_WEBHOOK_SECRET": "a-secret-for-this-test"}
        options = ["--webhook-url", f"http://127.0.0.1:{port}/hook", "--port", str(port)]
        if chosen_by == "environment file":
            settings = f"CLIENTCOACH_WEBHOOK_URL=http://127.0.0.1:{port}/hook\nCLIENTCOACH_PORT={port}\n"
            (tmp_path / ".env").write_text(settings, encoding="utf-8")
            options = []
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "--create", "run", *options],
            env=env,
            cwd=tmp_path,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        try:
            server.wait_for(lambda: server.webhook() is not None, 20)
            assert server.webhook().secret_token == "a-secret-for-this-test"
            server.send_text(ALICE, "/nuovo")
            wait_text(server, "Domanda 1 di")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                assert (answer.status, answer.read()) == (200, b"ok")
        finally:
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(20) == 0
    logs = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in logs and " ERROR " not in logs, logs[-2000:]
