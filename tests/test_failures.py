"""One clear line for every failure: each case through `cli.main`, its line and exit code.

The expected lines are rendered from the same templates the program uses, in both languages; no
case may print a traceback (or Python's "Exception ignored" complaints) on either stream. What only
a real `python -m bot` process shows (Ctrl-C, a closed pipe, a file size limit, `run` starting up)
runs as one.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import cli
from bot.actions import Finish, Skip
from bot.coach import Coach
from bot.render import Renderer, to_plain
from bot.store import Store

from answer_lines import typed_lines
from helpers import clean_environment, run_cli, run_process

CONSOLE = Renderer(surface="console")
TOKEN = "123456789:" + "A" * 35  # well formed, known to nobody


def ui(lang: str, name: str, *args) -> str:
    return to_plain(CONSOLE.ui(lang, name, *args))


def store_line(lang: str, key: str, **params) -> str:
    return ui(lang, "store_error", key, params)


def clientcoach(*args: str, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    """`clientcoach ARGS` in-process, with the settings in `env` only."""
    return run_cli(*args, stdin=stdin, env=clean_environment(**(env or {})))


def clean(done: subprocess.CompletedProcess) -> tuple[str, str]:
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream and "Exception ignored" not in stream, stream
    return done.stdout, done.stderr


def one_line(done: subprocess.CompletedProcess, line: str, code: int = 1) -> None:
    _, err = clean(done)
    assert done.returncode == code, err
    assert err == line + "\n", f"expected {line!r}, got {err!r}"


def make_case(db: Path, user: int = 0) -> None:
    """A saved case through the real Coach."""
    coach = Coach(Store.open(db))
    try:
        coach.start(user, "it")
        for line in typed_lines({"alias": "Rossi"}, review=False):
            coach.act(user, Skip()) if line == "" else coach.text(user, line)
        assert coach.act(user, Finish()).case_no is not None
    finally:
        coach.store.close()


def copy_db(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as conn, sqlite3.connect(target) as copy:
        conn.backup(copy)


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("good") / "cc.db"
    make_case(db)
    return db


# -- the database ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_an_empty_db_path_is_refused(lang):
    one_line(clientcoach("--db", "", "--lang", lang, "cases", "list"), store_line(lang, "empty_path"))
    one_line(clientcoach("chat", "--db", "", "--lang", lang), store_line(lang, "empty_path"))


@pytest.mark.parametrize("lang", ["it", "en"])
def test_a_garbage_file_is_not_a_database(tmp_path, lang):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database\n" * 500)
    before = junk.read_bytes()
    done = clientcoach("cases", "list", "--db", str(junk), "--lang", lang)
    one_line(done, store_line(lang, "not_a_database", path=str(junk)))
    assert junk.read_bytes() == before, "left as it was"


def test_a_directory_is_not_a_database(tmp_path):
    one_line(
        clientcoach("chat", "--create", "--db", str(tmp_path)), store_line("it", "is_directory", path=str(tmp_path))
    )


def test_a_typo_in_the_folder_is_refused_not_created(tmp_path):
    db = tmp_path / "no-such-folder" / "cc.db"
    one_line(
        clientcoach("cases", "--db", str(db), "list"),
        store_line("it", "missing_folder", path=str(db), folder=str(db.parent)),
    )
    assert not db.parent.exists()


def test_another_applications_database_is_left_alone(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    one_line(
        clientcoach("chat", "--create", "--db", str(db), "--lang", "en"),
        store_line("en", "foreign_database", path=str(db)),
    )
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["invoices"]


def test_a_newer_schema_is_refused(tmp_path, good_db):
    db = tmp_path / "newer.db"
    copy_db(good_db, db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    done = clientcoach("cases", "list", "--db", str(db))
    _, err = clean(done)
    assert done.returncode == 1 and err.count("\n") == 1 and str(db) in err and "recente" in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 999, "not set back"


def test_a_read_only_database_is_one_line(tmp_path, good_db):
    db = tmp_path / "cc.db"
    copy_db(good_db, db)
    with sqlite3.connect(db) as conn:  # one self-contained file: no -wal or -shm beside it
        conn.execute("PRAGMA journal_mode = DELETE")
    root = os.geteuid() == 0
    if root:  # root writes any file whatever its mode: make it immutable instead
        if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode:
            pytest.skip("running as root without chattr: a read-only file cannot be made")
    else:
        db.chmod(0o444)
        tmp_path.chmod(0o555)
    try:
        done = clientcoach("cases", "note", "1", "ciao", "--db", str(db))
        chat = clientcoach("chat", "--create", "--db", str(db), "--lang", "en")
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(db)], check=True)
        tmp_path.chmod(0o755)
    one_line(done, store_line("it", "read_only", path=str(db)))
    _, err = clean(chat)
    assert chat.returncode == 1 and err.strip() == store_line("en", "read_only", path=str(db))


def _tiny_files() -> None:
    """A disk that is full: no file of this process may grow past 64 KB (EFBIG instead of SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_full_disk_is_one_line_and_saves_nothing(tmp_path, good_db):
    db = tmp_path / "full.db"
    copy_db(good_db, db)
    big = "x" * 1900
    done = None
    for _ in range(3):  # enough notes to pass the limit somewhere: the database, its WAL or the journal
        done = run_process("cases", "note", "1", big, "--db", str(db), preexec=_tiny_files)
        if done.returncode:
            break
    _, err = clean(done)
    assert done.returncode == 1 and err.count("\n") == 1, err
    assert err.strip() in {store_line("it", key, path=str(db)) for key in ("disk_full", "cannot_open")}


@pytest.mark.slow  # it waits out the lock timeout (5 s)
def test_a_lock_held_too_long_is_one_line(tmp_path, good_db):
    db = tmp_path / "locked.db"
    copy_db(good_db, db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode = wal'); c.execute('BEGIN EXCLUSIVE')\n"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        started = time.monotonic()
        done = clientcoach("cases", "note", "1", "ciao", "--db", str(db))
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    one_line(done, store_line("it", "locked", path=str(db)))
    assert waited >= 4, "it waited for the lock before giving up"


# -- input that is not what it should be -----------------------------------------------------------


def test_invalid_utf8_on_stdin_in_chat_is_refused_and_changes_nothing(tmp_path):
    db = tmp_path / "cc.db"
    done = clientcoach("chat", "--create", "--db", str(db), stdin=b"Ros\xffsi\n\xc3\x28\nRossi\n")
    out, err = clean(done)
    assert done.returncode == 0 and err == ""
    assert out.count(ui("it", "console_not_utf8")) == 2
    store = Store.open(db)
    try:
        state, _ = store.load_conversation(0)
    finally:
        store.close()
    assert state.answers == {"alias": "Rossi"}


@pytest.mark.parametrize("lang", ["it", "en"])
def test_invalid_utf8_in_a_note_is_refused(good_db, tmp_path, lang):
    db = tmp_path / "cc.db"
    copy_db(good_db, db)
    # As Python decodes a command line argument that is not UTF-8: with surrogates.
    done = clientcoach("cases", "note", "1", os.fsdecode(b"pagato \xff\xfe"), "--db", str(db), "--lang", lang)
    one_line(done, ui(lang, "cli_not_utf8", "text"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


def test_invalid_utf8_at_the_delete_confirmation_is_not_a_yes(good_db, tmp_path):
    db = tmp_path / "cc.db"
    copy_db(good_db, db)
    done = clientcoach("cases", "delete", "1", "--db", str(db), stdin=b"s\xff\n")
    _, err = clean(done)
    assert done.returncode == 1 and "Non confermato" in err or "nulla" in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 1


def test_a_user_id_too_big_for_sqlite_is_a_usage_line(tmp_path):
    for command in (["chat"], ["cases", "list"]):
        done = clientcoach(*command, "--user", "99999999999999999999", "--db", str(tmp_path / "cc.db"))
        _, err = clean(done)
        assert done.returncode == 2 and err.count("\n") == 1 and "id utente fuori intervallo" in err
    assert not (tmp_path / "cc.db").exists()


# -- signals and pipes -----------------------------------------------------------------------------


INTERRUPT_AT_IMPORT = """
import runpy, sys

TARGET = sys.argv[1]

class CtrlC:
    \"\"\"Ctrl-C exactly while the module named is being imported.\"\"\"
    def find_spec(self, name, path=None, target=None):
        if name == TARGET:
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
sys.argv = ["clientcoach", *sys.argv[2:]]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("module", ["bot.cli", "bot.flow", "jinja2", "sqlite_utils", "transitions", "bot.console"])
def test_ctrl_c_during_start_up_imports_exits_130_quietly(tmp_path, module):
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPT_AT_IMPORT, module, "chat", "--create", "--db", str(tmp_path / "cc.db")],
        capture_output=True,
        env=clean_environment(),
        timeout=60,
    )
    assert done.stderr == b"", done.stderr.decode()
    assert done.returncode == 130


def test_a_real_ctrl_c_soon_after_start_is_quiet(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "cases", "list", "--create", "--db", str(tmp_path / "cc.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_environment(),
    )
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
    # 130 when the command was stopped, 0 when it had finished; a signal that lands while Python is
    # already shutting down (its own handler gone) ends the process by the signal, quietly too.
    assert proc.returncode in (0, 130, -signal.SIGINT), proc.returncode


def test_output_cut_short_by_a_pipe_ends_quietly(good_db):
    for command in (["cases", "list"], ["cases", "export", "--format", "json"], ["flows", "draw"]):
        read, write = os.pipe()
        os.close(read)  # the reader (`head`) has gone before the first line is written
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *command, "--db", str(good_db)]
            if command[0] == "cases"
            else [sys.executable, "-m", "bot", *command],
            stdout=write,
            stderr=subprocess.PIPE,
            env=clean_environment(),
        )
        os.close(write)
        _, err = proc.communicate(timeout=30)
        assert err == b"", err.decode()
        assert proc.returncode == 0


# -- running the bot -------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("lang", ["it", "en"])
def test_run_with_an_unreachable_api_retries_then_says_so(lang, monkeypatch):
    from bot import cli

    monkeypatch.setattr(cli, "STARTUP_BACKOFF", cli.STARTUP_BACKOFF / 10)  # the same growing pauses, shorter
    url = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    done = clientcoach("run", "--api-url", url, "--lang", lang, env={"TELEGRAM_BOT_TOKEN": TOKEN})
    took = time.monotonic() - started

    one_line(done, ui(lang, "run_unreachable", url, cli.STARTUP_ATTEMPTS))
    assert took >= cli.STARTUP_BACKOFF * (2 ** (cli.STARTUP_ATTEMPTS - 1) - 1), "it retried with a pause"
    assert TOKEN not in done.stdout + done.stderr


def test_run_check_against_the_bot_api_server():
    from botapi import BotApiServer

    with BotApiServer.in_thread() as server:
        good = clientcoach("run", "--check", "--api-url", server.root, env={"TELEGRAM_BOT_TOKEN": server.token})
        out, err = clean(good)
        assert good.returncode == 0 and err == ""
        assert out == ui("it", "run_check_ok", "test_bot", "Test Bot") + "\n"
        assert [c.method for c in server.calls()] == ["getMe"]
        english = clientcoach(
            "run", "--check", "--lang", "en", "--api-url", server.root, env={"TELEGRAM_BOT_TOKEN": server.token}
        )
        assert clean(english)[0].startswith("The token works: the bot is @test_bot")
        refused = clientcoach("run", "--check", "--api-url", server.root, env={"TELEGRAM_BOT_TOKEN": TOKEN})
        one_line(refused, ui("it", "run_token_refused"), code=cli.TOKEN_REFUSED)
        assert TOKEN not in refused.stderr


def test_run_with_a_refused_token_stops_at_once_with_one_line():
    from botapi import BotApiServer

    with BotApiServer.in_thread() as server:  # a real process: `run` starting up as the service starts it
        done = run_process("run", "--api-url", server.root, env=clean_environment(TELEGRAM_BOT_TOKEN=TOKEN), timeout=30)
    # Its own exit code, which the service unit lists in RestartPreventExitStatus: no restart helps.
    one_line(done, ui("it", "run_token_refused"), code=cli.TOKEN_REFUSED)
    assert cli.TOKEN_REFUSED not in (0, 1, 3), "not a failure a restart may cure, nor a 401 while running"


def test_run_check_with_a_malformed_token_says_what_is_wrong():
    done = clientcoach("run", "--check", env={"TELEGRAM_BOT_TOKEN": "not-a-token"})
    _, err = clean(done)
    assert done.returncode == 2 and err.count("\n") == 1 and "non sembra il token di un bot" in err


def test_a_note_read_from_stdin_must_be_utf8(good_db, tmp_path):
    db = tmp_path / "cc.db"
    copy_db(good_db, db)
    one_line(
        clientcoach("cases", "note", "1", "-", "--db", str(db), stdin=b"pagato a met\xe0\n"),
        ui("it", "cli_not_utf8", "stdin"),
    )
    done = clientcoach("cases", "note", "1", "-", "--db", str(db), stdin="pagato a metà\n".encode())
    assert done.returncode == 0 and "Nota aggiunta al caso n. 1" in clean(done)[0]
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT text FROM notes")] == ["pagato a metà"]
