"""The guarded database: every unusable file is refused with a StoreError (key + one-line text),
never a raw sqlite3/OS error, and nothing is written to a file that is not ours or is newer.

Also the storage APIs other parts build on: the sender profile, the conversation lease, `check`,
`backup`, pruning of redelivery claims, and migrations that take turns between processes.
"""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.render import Renderer
from bot.store import PROCESSED_UPDATES_MAX_AGE, Store, StoreError, schema_version

ROOT = Path(__file__).resolve().parents[1]
KEYS = (
    "empty_path",
    "is_directory",
    "not_a_database",
    "foreign_database",
    "newer_schema",
    "read_only",
    "disk_full",
    "locked",
    "missing_folder",
    "cannot_open",
    "output_exists",
    "output_is_database",
    "missing_database",
)


def refused(path, key: str, **kwargs) -> StoreError:
    with pytest.raises(StoreError) as caught:
        Store.open(path, **kwargs).close()
    assert caught.value.key == key, caught.value
    return caught.value


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- refusing what cannot be used ----------------------------------------------------------------


def test_an_empty_path_is_refused_not_a_temporary_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused("", "empty_path")
    refused("   ", "empty_path")
    assert list(tmp_path.iterdir()) == []


def test_a_directory_is_refused(tmp_path):
    error = refused(tmp_path, "is_directory")
    assert error.params["path"] == str(tmp_path)


def test_a_garbage_file_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "notes.db"
    garbage = b"this is not SQLite at all\n" * 200
    path.write_bytes(garbage)
    refused(path, "not_a_database")
    assert path.read_bytes() == garbage
    assert not Path(f"{path}-wal").exists()


def test_another_applications_database_gets_no_tables_and_no_wal(tmp_path):
    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    other.execute("INSERT INTO photos (name) VALUES ('beach.jpg')")
    other.execute("PRAGMA user_version = 2")
    other.commit()
    other.close()
    before = path.read_bytes()
    refused(path, "foreign_database")
    assert path.read_bytes() == before, "not one byte changed"
    assert not Path(f"{path}-wal").exists()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert [n for (n,) in check.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["photos"]
    check.close()


def test_a_newer_schema_is_refused_and_never_set_back(tmp_path):
    path = tmp_path / "newer.db"
    Store.open(path).close()
    newer = schema_version() + 3
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.commit()
    conn.close()
    error = refused(path, "newer_schema")
    assert error.params["found"] == newer
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == newer
    conn.close()


def test_a_missing_folder_is_refused_for_a_given_path(tmp_path):
    from bot.config import read_environment

    refused(tmp_path / "typo" / "cases.db", "missing_folder")
    assert not (tmp_path / "typo").exists()
    refused(read_environment(None, {"CLIENTCOACH_DB": str(tmp_path / "also-typo" / "cases.db")}).db, "missing_folder")
    assert not (tmp_path / "also-typo").exists()


def test_the_default_location_is_created_private_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIENTCOACH_DB", str(tmp_path / "ignored.db"))  # the store reads no environment
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    store = Store.open()
    store.set_user_lang(1, "it")
    path = tmp_path / "data-home" / "clientcoach" / "clientcoach.db"
    assert Path(store.path) == path and not (tmp_path / "ignored.db").exists()
    assert mode(path.parent) == 0o700
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert mode(file) == 0o600, file
    store.close()


def test_the_default_location_without_xdg_is_under_home(tmp_path, monkeypatch):
    from bot.paths import default_db_path

    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".local" / "share" / "clientcoach" / "clientcoach.db"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert default_db_path() == tmp_path / ".local" / "share" / "clientcoach" / "clientcoach.db"


def test_clientcoach_db_still_overrides_the_default(tmp_path, monkeypatch, capsys):
    from bot import cli

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CLIENTCOACH_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    Store.open(tmp_path / "env.db").close()
    assert cli.main(["db", "check"]) == 0, "read once by the command, passed down to the store"
    assert str(tmp_path / "env.db") in capsys.readouterr().out
    assert (tmp_path / "env.db").is_file() and not (tmp_path / "data-home").exists()


def test_a_new_database_and_its_wal_are_created_0600(tmp_path):
    path = tmp_path / "private.db"
    store = Store.open(path)
    store.set_user_lang(1, "en")
    reader = sqlite3.connect(path)  # keeps -wal and -shm in place
    reader.execute("SELECT 1 FROM users").fetchall()
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert mode(file) == 0o600, file
    reader.close()
    store.close()


_READ_ONLY_CHILD = """
import os, sys
from bot.store import Store, StoreError
if os.geteuid() == 0:  # root writes anywhere: look at the file as an ordinary user would
    os.setgid(65534); os.setuid(65534)
try:
    store = Store.open(sys.argv[1])
    store.set_user_lang(1, "it")
except StoreError as e:
    print(e.key)
else:
    print("opened")
"""


@pytest.mark.parametrize("fresh", [True, False], ids=["new-file", "existing-wal-db"])
def test_a_read_only_database_is_refused(tmp_path, fresh):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "cc.db"
    if fresh:
        sqlite3.connect(path).close()  # an empty file the program may not write
    else:
        Store.open(path).close()
    path.chmod(0o444)
    folder.chmod(0o555)
    tmp_path.chmod(0o755)  # so an ordinary user can reach it
    try:
        done = subprocess.run(
            [sys.executable, "-c", _READ_ONLY_CHILD, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    finally:
        folder.chmod(0o755)
    assert done.stdout.strip() == "read_only", done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_lock_held_past_the_timeout_is_refused_at_open(tmp_path):
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")  # not WAL: an exclusive lock stops readers too
    holder.execute("BEGIN EXCLUSIVE")
    try:
        refused(path, "locked", timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_lock_held_past_the_timeout_at_run_time_is_a_store_error(tmp_path, state_at):
    path = tmp_path / "busy.db"
    Store.open(path).close()
    store = Store.open(path, timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as caught:
            store.save_conversation(1, state_at("payment"))
        assert caught.value.key == "locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.save_conversation(1, state_at("payment")) is True, "the store works again once the lock is gone"
    store.close()


def test_a_full_disk_at_run_time_is_a_store_error_and_changes_nothing(tmp_path, state_at):
    store = Store.open(tmp_path / "full.db")
    store.save_conversation(1, state_at("payment"))
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL, as on a full disk
    with pytest.raises(StoreError) as caught:
        store.set_sender_profile(1, {"signature": "x" * 200_000})
    assert caught.value.key == "disk_full"
    assert store.sender_profile(1) == {}
    assert store.load_conversation(1)[0] == state_at("payment")
    store.close()


def test_a_bug_is_not_disguised_as_a_store_error(store):
    with pytest.raises(ValueError):
        store.set_status(1, 1, "not-a-status")
    with pytest.raises(sqlite3.ProgrammingError):
        store._rows("SELECT ?", ())


@pytest.mark.parametrize("lang", ["it", "en"])
def test_every_store_error_has_one_clear_line(lang):
    renderer = Renderer()
    seen = set()
    for key in KEYS:
        text = renderer.ui(lang, "store_error", key, {"path": "/x/cc.db", "folder": "/x", "found": 9, "known": 3})
        assert text and "\n" not in text and "{" not in text, (key, text)
        seen.add(text)
    assert len(seen) == len(KEYS), "each problem has its own words"
    assert renderer.ui("it", "store_error", "locked", {}) != renderer.ui("en", "store_error", "locked", {})


# -- migrations take turns ---------------------------------------------------------------------------

_OPENER = """
import sys
from bot.store import Store, StoreError
print("ready", flush=True)
sys.stdin.readline()
try:
    Store.open(sys.argv[1]).close()
    print("ok")
except StoreError as e:
    print("refused", e.key)
"""


@pytest.mark.slow
def test_concurrent_first_runs_on_a_new_database_never_see_a_lock(tmp_path):
    """20 pairs of real processes open 20 new databases, each pair released at the same moment."""
    pairs = 20
    children = []
    for i in range(pairs):
        for _ in range(2):
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", _OPENER, str(tmp_path / f"new{i}.db")],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
    for child in children:  # every child has imported everything: release them together
        assert child.stdout.readline().strip() == "ready"
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [child.communicate(timeout=60) for child in children]
    failures = [(out, err[-300:]) for out, err in results if out.strip() != "ok"]
    assert failures == []
    for i in range(pairs):
        conn = sqlite3.connect(tmp_path / f"new{i}.db")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
        assert conn.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0] == schema_version()
        conn.close()


# -- the sender profile ---------------------------------------------------------------------------------


def test_the_sender_profile_round_trips_per_user(file_store):
    assert file_store.sender_profile(1) == {}
    profile = {"name": "Giulia", "signature": "Giulia — Studio «Rossi» ✓", "voice": "noi", "hours": "9-18"}
    file_store.set_sender_profile(1, profile)
    file_store.set_sender_profile(2, {"name": "Ann"})
    assert file_store.sender_profile(1) == profile
    file_store.set_sender_profile(1, {"name": "Giulia B."})
    assert file_store.sender_profile(1) == {"name": "Giulia B."}, "replaced, not merged"
    assert file_store.sender_profile(2) == {"name": "Ann"}
    file_store.delete_user(1)
    assert file_store.sender_profile(1) == {}
    assert file_store.sender_profile(2) == {"name": "Ann"}


# -- one owner per conversation ------------------------------------------------------------------------


def test_the_lease_has_one_owner_at_a_time(file_store):
    assert file_store.lease_conversation(1, "console-a") is True
    assert file_store.lease_conversation(1, "console-b") is False
    assert file_store.lease_conversation(1, "console-a") is True, "the owner renews it"
    assert file_store.lease_conversation(2, "console-b") is True, "leases are per user"
    file_store.release_conversation(1, "console-b")  # not theirs: nothing happens
    assert file_store.lease_conversation(1, "console-b") is False
    file_store.release_conversation(1, "console-a")
    assert file_store.lease_conversation(1, "console-b") is True


def test_an_expired_lease_can_be_taken(file_store):
    assert file_store.lease_conversation(1, "crashed", ttl=-1) is True
    assert file_store.lease_conversation(1, "next") is True


def test_the_lease_is_atomic_across_connections(tmp_path):
    path = tmp_path / "lease.db"
    Store.open(path).close()
    winners: list[str] = []
    start = threading.Barrier(8)

    def contend(name: str) -> None:
        store = Store.open(path)
        start.wait()
        if store.lease_conversation(42, name):
            winners.append(name)
        store.close()

    threads = [threading.Thread(target=contend, args=(f"owner{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


# -- check and backup ------------------------------------------------------------------------------


def test_check_reports_integrity_version_size_and_path(file_store):
    file_store.set_user_lang(1, "it")
    report = file_store.check()
    assert report["integrity"] == "ok"
    assert report["schema_version"] == schema_version()
    assert report["size_bytes"] == Path(file_store.path).stat().st_size > 0
    assert Path(report["path"]).name == "clientcoach.db"


def test_backup_copies_while_another_connection_writes(tmp_path, state_at):
    path = tmp_path / "live.db"
    store, bot = Store.open(path), Store.open(path)
    for user in range(50):
        bot.save_conversation(user, state_at("payment"))
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM conversations").fetchone()  # a reader mid-transaction
    target = tmp_path / "copy.db"
    store.backup(target)
    bot.save_conversation(99, state_at("balance"))
    reader.rollback()
    assert mode(target) == 0o600
    copy = Store.open(target)
    assert copy.check()["integrity"] == "ok"
    assert copy.conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 50
    copy.close()
    for s in (store, bot):
        s.close()
    reader.close()


def test_backup_refuses_an_existing_target(file_store, tmp_path):
    target = tmp_path / "exists.db"
    target.write_bytes(b"keep me")
    with pytest.raises(StoreError) as caught:
        file_store.backup(target)
    assert caught.value.key == "output_exists"
    assert target.read_bytes() == b"keep me"
    with pytest.raises(StoreError) as caught:
        file_store.backup(tmp_path / "nowhere" / "copy.db")
    assert caught.value.key == "missing_folder"


# -- redelivery claims are pruned -----------------------------------------------------------------------


def _claimed_at(store: Store, update_id: int, age: timedelta) -> None:
    at = (datetime.now(timezone.utc) - age).isoformat(timespec="seconds")
    with store.conn:
        store.conn.execute("INSERT INTO processed_updates (update_id, at) VALUES (?, ?)", (update_id, at))


def test_a_claim_prunes_only_old_claims(store):
    _claimed_at(store, 1, timedelta(seconds=PROCESSED_UPDATES_MAX_AGE + 60))
    _claimed_at(store, 2, timedelta(seconds=PROCESSED_UPDATES_MAX_AGE - 3600))
    assert store.drop_conversation(5, update_id=3) is True  # the next claim (a cancel's) prunes
    assert [u for (u,) in store.conn.execute("SELECT update_id FROM processed_updates ORDER BY 1")] == [2, 3]


def test_claiming_prunes_at_most_once_an_hour(store):
    _claimed_at(store, 1, timedelta(seconds=PROCESSED_UPDATES_MAX_AGE + 60))
    assert store.drop_conversation(5, update_id=10) is True
    assert store.conn.execute("SELECT COUNT(*) FROM processed_updates WHERE update_id = 1").fetchone()[0] == 0
    _claimed_at(store, 2, timedelta(seconds=PROCESSED_UPDATES_MAX_AGE + 60))
    assert store.drop_conversation(5, update_id=11) is True
    assert store.conn.execute("SELECT COUNT(*) FROM processed_updates WHERE update_id = 2").fetchone()[0] == 1, (
        "not again within the hour"
    )
