"""The hostile campaign: odd, huge, malformed and malicious inputs at every console answer and in
every `cases` subcommand, in-process for speed (the real Console and the real `cli.main`).

For each input: no exception escapes (a traceback), another user's data is byte for byte the same,
and the answer comes within a bound. CI runs every input at every console answer and a sample in
each `cases` subcommand; `CLIENTCOACH_FULL_CAMPAIGN=1 python -m pytest -n 0 -s tests/test_hostile_corpus.py`
runs the whole corpus everywhere and prints the figures the README reports.
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot import cli
from bot.actions import Finish, Skip
from bot.coach import Coach
from bot.config import configure_logging
from bot.console import Console, clean_line
from bot.render import Renderer
from bot.store import Store

from answer_lines import question_ids, typed_lines
from helpers import run_cli

FULL = os.environ.get("CLIENTCOACH_FULL_CAMPAIGN") == "1"
BOUND = 2.0  # seconds per input: generous, so only a hang or a blow-up trips it
OTHER = 7
TOKEN = "987654321:" + "Z" * 35

HOSTILE_BASE = [
    "",
    " ",
    "\t",
    "0",
    "-1",
    "00000000000000000001",
    "99999999999999999999",
    "1e309",
    "NaN",
    "inf",
    "-0",
    "1.5",
    "1,5",
    "1 1 1",
    "1,2,3",
    "1;2",
    "1 99",
    "2 2 2 2",
    "0x10",
    "+1",
    "²",
    "①",
    "٣",
    "𝟑",
    "１",
    "\u00a0\u00a0\u00a0\u00a01" * 12,
    "1\u2007200",
    "\x00",
    "\x00" * 50,
    "\u202eevil",
    "\ufeffRossi",
    "👨\u200d👩\u200d👧",
    "مهسا\u200cجان",
    "x" * 100_000,
    "1 " * 5_000,
    "<b>bold</b>",
    "</i><script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% raw %}",
    "' OR 1=1 --",
    '"; DROP TABLE cases; --',
    "NEAR(a b)",
    "*",
    "a AND b OR",
    "../../etc/passwd",
    "%s%s%s%n",
    "\r\n",
    "esci\x00",
    "rivedi rivedi",
    "ricomincia?",
    "\udcff\udcfe",
    "1.200.000.000.000.000",
    "-1.200",
    "€",
    "1\n2",
]


def _mutations(raw: str) -> list[str]:
    """The same input as a user could also send it: padded, marked, repeated, mixed with words."""
    short = raw[:2_000]
    return [
        raw,
        f"  {raw}  ",
        "\ufeff" + raw,
        raw + "\u202e",
        raw.upper(),
        short * 3,
        "1 " + raw,
        raw + " fermo",
        "\u200b" + raw,
        raw + "\x00\x01",
    ]


# Every base input and its mutations, once each: the corpus the README counts.
HOSTILE = list(dict.fromkeys(m for raw in HOSTILE_BASE for m in _mutations(raw)))
assert len(HOSTILE) >= 300, len(HOSTILE)


def other_users_data(db: Path) -> list:
    """Every row that belongs to the other user, in every table that has a user column."""
    with sqlite3.connect(db) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = []
        for table in sorted(tables):
            columns = [c[1] for c in conn.execute(f"PRAGMA table_info('{table}')")]
            column = "user_id" if "user_id" in columns else "id" if table == "users" else None
            if column:
                rows.append(
                    (table, sorted(map(repr, conn.execute(f"SELECT * FROM '{table}' WHERE {column} = ?", (OTHER,)))))
                )
        return rows


def save_case(coach: Coach, user: int, scenario: dict) -> None:
    coach.start(user, "it")
    for line in typed_lines(scenario, review=False):
        coach.act(user, Skip()) if line == "" else coach.text(user, line)
    assert coach.act(user, Finish()).case_no is not None


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """User 0 has two cases; the other user has a case with a note and a questionnaire in progress."""
    path = tmp_path_factory.mktemp("hostile") / "cc.db"
    coach = Coach(Store.open(path), renderer=Renderer(surface="console"))
    save_case(coach, 0, {"alias": "Rossi", "payment": "3"})
    save_case(coach, 0, {"alias": "Verdi", "payment": "1"})
    save_case(coach, OTHER, {"alias": "Segreto", "payment": "4", "service": "riservato"})
    coach.store.add_note(OTHER, 1, "nota riservata")
    coach.start(OTHER, "it")
    coach.text(OTHER, "In corso")
    coach.store.close()
    return path


class Tally:
    def __init__(self) -> None:
        self.tried, self.slowest, self.failures = 0, 0.0, []

    def time(self, what: str, call):
        started = time.thread_time()  # CPU time: a blow-up, not a machine busy with other work
        try:
            result = call()
        except SystemExit as stop:  # argparse's usage error: one line, exit 2
            result = stop.code
        except BaseException as exc:  # what would have been a traceback
            self.failures.append((what, repr(exc)[:200]))
            result = None
        took = time.thread_time() - started
        self.tried += 1
        self.slowest = max(self.slowest, took)
        if took > BOUND:
            self.failures.append((what, f"took {took:.2f} s"))
        return result


def test_every_console_answer_takes_the_whole_corpus(db):
    before = other_users_data(db)
    store = Store.open(db)
    coach = Coach(store, renderer=Renderer(surface="console"))
    tally = Tally()
    try:
        lines = typed_lines({"alias": "Rossi", "payment": "3"})
        asked = question_ids({"alias": "Rossi", "payment": "3"})
        coach.start(0, "it")
        positions = 0
        answers = len(asked) + 1
        for index in range(answers):  # every question, then the review
            state, meta = coach.load(0)
            screen = coach.screen(state)
            # CI: the base corpus at every answer and each mutation at one answer; the full run: all everywhere.
            corpus = HOSTILE if FULL else list(dict.fromkeys(HOSTILE_BASE + HOSTILE[index::answers]))
            for raw in corpus:
                console = Console(coach, 0, "it", stdin=io.StringIO(), stdout=io.StringIO())
                console.screen = screen

                def answer(raw=raw, console=console):
                    reply = console.handle(clean_line(raw))
                    if reply is not None:
                        console.show(reply)
                    return reply

                tally.time(f"{asked[index] if index < len(asked) else 'review'}: {raw[:30]!r}", answer)
                store.save_conversation(0, state, meta)  # whatever it did, the next input meets the same screen
            positions += 1
            if index < len(asked):
                line = lines[index]
                coach.act(0, Skip()) if line == "" else coach.text(0, line)
    finally:
        store.close()
    print(
        f"\nhostile corpus, console: {len(HOSTILE)} distinct inputs, {tally.tried} tries at {positions} answers, "
        f"slowest {tally.slowest * 1000:.0f} ms, failures {len(tally.failures)}"
    )
    assert tally.tried >= len(HOSTILE) and not tally.failures, tally.failures[:10]
    assert other_users_data(db) == before, "another user's data changed"


def test_the_script_version_prompt_takes_the_corpus(db, tmp_path):
    """After a result, every input at the 'another version?' prompt is answered or refused."""
    corpus = HOSTILE if FULL else HOSTILE_BASE[::4]
    tally = Tally()
    work = tmp_path / "variants.db"
    with sqlite3.connect(db) as source, sqlite3.connect(work) as copy:
        source.backup(copy)
    before = other_users_data(work)
    store = Store.open(work)
    coach = Coach(store, renderer=Renderer(surface="console"))
    finish = typed_lines({"alias": "Bianchi", "payment": "3"})
    try:
        for raw in corpus:
            text = "\n".join(finish) + "\n" + raw.replace("\n", " ") + "\n\n"
            console = Console(coach, 0, "it", stdin=io.StringIO(text), stdout=io.StringIO())
            status = tally.time(f"variant: {raw[:30]!r}", lambda console=console: console.run(new=True))
            assert status in (0, None)
    finally:
        store.close()
    print(f"\nhostile corpus, script versions: {tally.tried} inputs, slowest {tally.slowest * 1000:.0f} ms")
    assert not tally.failures, tally.failures[:10]
    assert other_users_data(work) == before


def cases_commands(raw: str) -> list[list[str]]:
    """Every `cases` subcommand with the hostile text where the user types something.

    No file paths from the corpus: `--out` and `--png` would write wherever the text points.
    """
    return [
        ["cases", "show", raw],
        ["cases", "note", "1", raw],
        ["cases", "note", raw, "testo"],
        ["cases", "outcome", "1", raw],
        ["cases", "remind", "1", raw],
        ["cases", "search", raw],
        ["cases", "list", "--page", raw],
        ["cases", "list", "--user", raw],
        ["cases", "export", "--format", raw],
        ["cases", "delete", raw, "--yes"],
        ["cases", "stats", "--lang", raw],
        ["cases", "due", "--user", raw],
    ]


@pytest.mark.slow  # about 200 commands
def test_every_cases_subcommand_takes_the_corpus(db, tmp_path):
    work = tmp_path / "cases.db"
    with sqlite3.connect(db) as source, sqlite3.connect(work) as copy:
        source.backup(copy)
    before = other_users_data(work)
    unexpected = cli.ui("it", "cli_unexpected", "").split(":")[0]
    corpus = HOSTILE if FULL else HOSTILE_BASE[::3]
    tally = Tally()
    for raw in corpus:
        for argv in cases_commands(raw.replace("\x00", "")):  # argv cannot carry NUL bytes
            # In a scratch folder (no .env from the checkout), without any setting from our environment.
            done = tally.time(" ".join(argv)[:60], lambda argv=argv: run_cli("--db", str(work), *argv, cwd=tmp_path))
            err = done.stderr if done is not None else ""
            if "Traceback" in err or unexpected in err:
                tally.failures.append((" ".join(argv)[:60], err[:200]))
    print(
        f"\nhostile corpus, cases: {tally.tried} commands, slowest {tally.slowest * 1000:.0f} ms, "
        f"failures {len(tally.failures)}"
    )
    assert not tally.failures, tally.failures[:10]
    assert other_users_data(work) == before, "another user's data changed"


def test_a_whole_session_with_debug_logging_shows_no_token_answers_or_notes(db, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    work = tmp_path / "logged.db"
    secrets = {"alias": "Zebedeo Quintili", "service": "restauro segretissimo"}
    configure_logging(TOKEN, logging.DEBUG)
    try:
        logging.getLogger("clientcoach.test").debug("session starts")  # the handler is live
        store = Store.open(work)
        coach = Coach(store, renderer=Renderer(surface="console"))
        lines = typed_lines({"payment": "3", **secrets}) + ["1 fermo", ""]
        assert (
            Console(coach, 0, "it", stdin=io.StringIO("\n".join(lines) + "\n"), stdout=io.StringIO()).run(new=True) == 0
        )
        store.close()
        assert cli.main(["--db", str(work), "cases", "note", "1", "appunto", "confidenziale"]) == 0
        assert cli.main(["--db", str(work), "cases", "search", "Zebedeo"]) == 0
    finally:
        logging.getLogger().handlers[:] = []
    captured = capsys.readouterr()
    assert "session starts" in captured.err, "the log really was written"
    for secret in (TOKEN, *secrets.values(), "appunto confidenziale", "Zebedeo"):
        assert secret not in captured.err, f"{secret!r} reached the log"
    assert secrets["alias"] in captured.out, "the session itself did show the answers"
