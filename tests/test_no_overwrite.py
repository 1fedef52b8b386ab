"""Issue 19, point 3: no command overwrites data. Export, chart and backup refuse a file that exists
(unless --force) and refuse the open database and its -wal/-shm always, whatever the spelling of the
path; the database is untouched and the refusal is one line."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from answer_lines import typed_lines
from helpers import clean_environment, run_cli, run_process

ROSSI = typed_lines({"alias": "Rossi Srl", "payment": "3", "service": "sito web", "price": "1.200"})


def clientcoach(*args: str, cwd: Path | None = None, stdin: list[str] | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, stdin=stdin, cwd=cwd, env=clean_environment(CLIENTCOACH_TZ="Europe/Rome"))


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("overwrite") / "casi.db"
    done = clientcoach("--db", str(db), "--create", "chat", stdin=ROSSI)
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "casi.db"
    assert run_cli("--db", str(template_db), "db", "backup", str(copy)).returncode == 0
    return copy


def digest(path: Path) -> str:
    """The database's whole content (opening it may switch its journal mode, which changes header bytes)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def one_line_refusal(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == "", "nothing is announced as done"
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def still_works(db: Path) -> None:
    listed = clientcoach("--db", str(db), "cases", "list")
    assert listed.returncode == 0 and "Rossi Srl" in listed.stdout, listed.stderr


def test_export_onto_the_database_is_refused_in_a_real_process(db):
    """The issue's report: `--db casi.db cases export --out casi.db` replaced the database with the CSV."""
    before = digest(db)
    done = run_process(
        "--db", str(db), "cases", "export", "--out", str(db), env=clean_environment(CLIENTCOACH_TZ="Europe/Rome")
    )
    one_line_refusal(done, str(db), "--force")
    assert digest(db) == before
    still_works(db)


@pytest.mark.parametrize("force", [[], ["--force"]])
@pytest.mark.parametrize("spelling", ["same", "relative", "dotted", "symlink", "hardlink", "wal", "shm"])
def test_no_spelling_of_the_database_or_its_side_files_is_written(db, tmp_path, spelling, force):
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        (tmp_path / "link.db").symlink_to(db)
    if spelling == "hardlink":
        os.link(db, tmp_path / "hard.db")
    target = {
        "same": str(db),
        "relative": "casi.db",
        "dotted": "sub/../casi.db",
        "symlink": "link.db",
        "hardlink": "hard.db",
        "wal": "casi.db-wal",
        "shm": str(db) + "-shm",
    }[spelling]
    before = digest(db)
    for args in (["cases", "export", "--out", target], ["cases", "stats", "--png", target], ["db", "backup", target]):
        done = clientcoach("--db", str(db), *args, *force, cwd=tmp_path)
        one_line_refusal(done, target, "database")
        assert digest(db) == before, args
    still_works(db)


@pytest.mark.parametrize(
    "args",
    [["cases", "export", "--out"], ["cases", "export", "--format", "json", "--out"], ["cases", "stats", "--png"]],
)
def test_an_existing_file_is_kept_unless_force(db, tmp_path, args):
    target = tmp_path / "keep.txt"
    target.write_bytes(b"my thesis")
    done = clientcoach("--db", str(db), *args, str(target))
    one_line_refusal(done, str(target), "--force")
    assert target.read_bytes() == b"my thesis"
    done = clientcoach("--db", str(db), *args, str(target), "--force")
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() != b"my thesis"
    assert target.stat().st_mode & 0o777 == 0o600, "the replacement is readable by its owner alone"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".keep")] == [], "no temporary file left"


def test_backup_onto_an_existing_file_needs_force(db, tmp_path):
    target = tmp_path / "old-backup.db"
    target.write_bytes(b"last week's backup")
    done = clientcoach("--db", str(db), "db", "backup", str(target), "--lang", "en")
    one_line_refusal(done, str(target), "--force")
    assert target.read_bytes() == b"last week's backup"
    done = clientcoach("--db", str(db), "db", "backup", str(target), "--force")
    assert done.returncode == 0, done.stderr
    still_works(target)


def test_a_write_goes_through_a_temporary_file_renamed_into_place(db, tmp_path):
    """A target that is a symlink to another file is replaced by the new file, not written through:
    the write is a rename, so the file the link pointed to keeps its content."""
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"not mine to change")
    link = tmp_path / "out.csv"
    link.symlink_to(elsewhere)
    done = clientcoach("--db", str(db), "cases", "export", "--out", str(link), "--force")
    assert done.returncode == 0, done.stderr
    assert elsewhere.read_bytes() == b"not mine to change"
    assert not link.is_symlink() and "Rossi Srl" in link.read_text(encoding="utf-8-sig")
