"""Issue 19, point 4: settings that can't be silently wrong. A `--db` file that does not exist is
created only on the first run of the default location or with --create (otherwise one line naming
the closest existing file); a database at the first release's default location is named with the
command that moves it; an unknown CLIENTCOACH_TZ is one line at start (exit code 2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from answer_lines import typed_lines
from helpers import clean_environment, run_cli, run_process

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LINES = typed_lines({"alias": "Rossi Srl", "payment": "3"})


def one_line(done: subprocess.CompletedProcess, *words: str, status: int = 1) -> str:
    assert done.returncode == status, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A working folder with one database, casi.db, holding a case."""
    done = run_cli("--db", str(tmp_path / "casi.db"), "--create", "chat", stdin=LINES, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


@pytest.mark.parametrize("command", [["cases", "list"], ["chat"], ["db", "check"], ["db", "backup", "copia.db"]])
def test_a_typo_in_the_db_file_name_is_refused_naming_the_closest_file(folder, command):
    done = run_cli("--db", "cas.db", *command, stdin=LINES, cwd=folder)
    one_line(done, "cas.db", "casi.db", "--create")
    assert not (folder / "cas.db").exists() and not (folder / "copia.db").exists()


def test_the_same_through_clientcoach_db_in_a_real_process(folder):
    done = run_process("cases", "list", cwd=folder, env=clean_environment(CLIENTCOACH_DB=str(folder / "casi.dbb")))
    one_line(done, "casi.dbb", "casi.db")
    assert not (folder / "casi.dbb").exists()


def test_without_a_close_name_the_line_says_how_to_create_one(tmp_path):
    done = run_cli("--lang", "en", "--db", str(tmp_path / "nuovo.db"), "cases", "list", cwd=tmp_path)
    one_line(done, "nuovo.db doesn't exist", "--create")
    assert list(tmp_path.iterdir()) == []


def test_create_makes_a_new_database_where_asked(tmp_path):
    done = run_cli("--db", str(tmp_path / "nuovo.db"), "--create", "cases", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "nuovo.db").is_file() and (tmp_path / "nuovo.db").stat().st_mode & 0o777 == 0o600


def test_the_default_location_is_created_on_its_first_run(tmp_path):
    home = tmp_path / "data-home"
    done = run_cli("cases", "list", cwd=tmp_path, env=clean_environment(XDG_DATA_HOME=str(home)))
    assert done.returncode == 0, done.stderr
    assert (home / "clientcoach" / "clientcoach.db").is_file()


def test_the_first_releases_default_location_is_named_with_the_command_to_move_it(tmp_path):
    """The first release kept data/clientcoach.db in the folder it ran from; today's default is
    elsewhere. Rather than an empty new database ("Non hai ancora casi salvati"), one line says
    where the old one is and how to move it; the command it gives works."""
    home = tmp_path / "data-home"
    (tmp_path / "data").mkdir()
    shutil.copy(FIXTURES / "v1_schema2_f001671.db", tmp_path / "data" / "clientcoach.db")
    env = clean_environment(XDG_DATA_HOME=str(home), CLIENTCOACH_TZ="Europe/Rome")
    done = run_process("cases", "list", cwd=tmp_path, env=env)
    line = one_line(done, str(tmp_path / "data" / "clientcoach.db"), str(home / "clientcoach" / "clientcoach.db"))
    assert not (home / "clientcoach").exists(), "no empty database made"
    command = line[line.index("mkdir") : line.rindex(" (")]
    moved = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)
    assert moved.returncode == 0, moved.stderr
    listed = run_process("cases", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "Rossi Srl" in listed.stdout, listed.stderr


def test_an_unknown_time_zone_is_one_line_at_start(tmp_path):
    for lang, words in (("it", "non è un fuso orario"), ("en", "is not a time zone")):
        env = clean_environment(CLIENTCOACH_TZ="Europe/Roma", CLIENTCOACH_LANG=lang)
        done = run_process("--db", str(tmp_path / "x.db"), "--create", "cases", "list", cwd=tmp_path, env=env)
        one_line(done, "Europe/Roma", words, status=2)  # a setting to fix, like a usage error
        assert not (tmp_path / "x.db").exists(), "refused before anything is opened"
    good = run_cli(
        "--db", str(tmp_path / "x.db"), "--create", "cases", "list", env=clean_environment(CLIENTCOACH_TZ="UTC")
    )
    assert good.returncode == 0, good.stderr


def test_a_settings_file_that_cannot_be_read_is_one_line_naming_it(tmp_path):
    """A .env that is not UTF-8 stops the command with one line that says so, never silently."""
    (tmp_path / ".env").write_bytes(b"TELEGRAM_BOT_TOKEN=\xff\xfe\n")
    done = run_process("--db", str(tmp_path / "x.db"), "--create", "cases", "list", cwd=tmp_path)
    one_line(done, ".env", "cannot read", status=2)
    assert not (tmp_path / "x.db").exists(), "refused before anything is opened"
