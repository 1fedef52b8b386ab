"""Opening a database file: checks on the path, the owner and the version, migration, WAL."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ..errors import StoreError
from ..paths import default_db_path
from .guard import store_error
from .schema import MIGRATIONS_TABLE, schema_migrations, schema_version

if TYPE_CHECKING:
    from sqlite_utils import Database

BUSY_TIMEOUT = 5.0  # seconds a write waits for another connection's lock before giving up
# A database is ours when it has these tables; a non-empty file without them belongs to someone else.
OWN_TABLES = {"conversations", "cases"}


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only; SQLite gives -wal and -shm its mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it first: it did so the same way


def _resolve(path: str | Path | None) -> tuple[Path, bool]:
    """The database file and whether it is the default location (the only one whose folders we create)."""
    if path is None:
        return default_db_path(), True
    if str(path).strip() == "":
        raise StoreError("empty_path")
    return Path(path), False


def _connect(path: Path, default: bool, timeout: float) -> sqlite3.Connection:
    """A connection to an existing database file or a new private one, after the checks a path needs."""
    if path.is_dir():
        raise StoreError("is_directory", path=str(path))
    folder = path.parent
    if not folder.is_dir():
        if not default:
            raise StoreError("missing_folder", path=str(path), folder=str(folder))
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    if not path.exists():
        _create_private(path)
    return sqlite3.connect(str(path), timeout=timeout)


def _check_owner(conn: sqlite3.Connection, path: Path | str, newer: bool = False) -> int:
    """The schema version of a database we may use; refuse another application's or (unless `newer`,
    for reading it as it is) a newer one."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables - {MIGRATIONS_TABLE} and not OWN_TABLES <= tables:
        raise StoreError("foreign_database", path=str(path))
    if version > schema_version() and not newer:
        raise StoreError("newer_schema", path=str(path), found=version, known=schema_version())
    return version


def wrap(conn: sqlite3.Connection) -> Database:
    """sqlite-utils' Database on an open connection (imported here, when first needed)."""
    from sqlite_utils import Database

    # No sqlite-utils plugins are used; skipping them spares scanning every installed package.
    return Database(conn, execute_plugins=False)


def _migrate(conn: sqlite3.Connection, path: Path | str) -> None:
    """Bring the schema up to date under one write lock, so concurrent first runs take turns."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the lock: another process may have migrated (or refused) meanwhile.
        if _check_owner(conn, path) < schema_version():
            schema_migrations().apply(wrap(conn))
            conn.execute(f"PRAGMA user_version = {schema_version()}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _switch_to_wal(conn: sqlite3.Connection, target: Path, timeout: float) -> None:
    """Put the file in WAL mode, waiting while another process holds it (a first run beside another).

    The switch needs the file to itself; SQLite then answers with the old mode instead of waiting,
    so the wait is ours, bounded by the same busy timeout as every other lock.
    """
    deadline = time.monotonic() + timeout
    while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        if conn.execute("PRAGMA journal_mode = wal").fetchone()[0] == "wal":
            return
        if time.monotonic() > deadline:
            raise StoreError("locked", path=str(target))
        time.sleep(0.02)


def open_connection(path: str | Path | None = None, timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open (creating if needed) the database with durable WAL settings and the latest schema.

    `None` is the default location in the user's data folder (callers pass `$CLIENTCOACH_DB` from
    `config.read_environment()`); ":memory:" is a private in-memory database. Raises StoreError
    (never a raw sqlite3 or OS error) for a path that cannot be used, another application's
    database, a newer schema, a lock, a full disk. sqlite-utils is imported only to migrate.
    """
    target, default = _resolve(path)
    conn: sqlite3.Connection | None = None
    try:
        memory = str(target) == ":memory:"
        conn = sqlite3.connect(":memory:") if memory else _connect(target, default, timeout)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        # Checked before anything is written: a foreign or newer file is left exactly as it was.
        if _check_owner(conn, target) < schema_version():
            _migrate(conn, target)
        if not memory:
            _switch_to_wal(conn, target, timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten with zeros, not left in free pages (SQLite's default keeps them).
        conn.execute("PRAGMA secure_delete = ON")
        return conn
    except BaseException as exc:
        _fail_closed(conn, exc, target)


def open_db(path: str | Path | None = None, timeout: float = BUSY_TIMEOUT) -> Database:
    """`open_connection`, as sqlite-utils' Database."""
    return wrap(open_connection(path, timeout))


def _fail_closed(conn: sqlite3.Connection | None, exc: BaseException, target: Path) -> NoReturn:
    """Close a connection that failed to open and raise why: a StoreError where one says it better."""
    if conn is not None:
        conn.close()
    error = store_error(exc, target) if isinstance(exc, Exception) else None
    if error is None or error is exc:
        raise exc
    raise error from exc


def open_existing(path: str | Path | None, timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """A connection to a database file as it is: nothing created, nothing migrated, any schema version
    (for `db check` and `db backup`). Another application's file or a file that is not SQLite is
    refused with StoreError, as is a file that does not exist."""
    target, _ = _resolve(path)
    if str(target) == ":memory:":
        raise StoreError("empty_path")
    if target.is_dir():
        raise StoreError("is_directory", path=str(target))
    if not target.is_file():
        raise missing_database(target)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(str(target), timeout=timeout)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        _check_owner(conn, target, newer=True)
        return conn
    except BaseException as exc:
        _fail_closed(conn, exc, target)


def closest_file(path: Path) -> Path | None:
    """The existing file in `path`'s folder whose name is closest to its name (a typo's intended file)."""
    import difflib

    try:
        names = [p.name for p in path.parent.iterdir() if p.is_file() and not p.name.endswith(("-wal", "-shm"))]
    except OSError:
        return None
    found = difflib.get_close_matches(path.name, names, n=1, cutoff=0.5)
    return path.parent / found[0] if found else None


def missing_database(path: Path) -> StoreError:
    """The one-line refusal for a database file that does not exist, naming the closest one there is."""
    closest = closest_file(path)
    return StoreError("missing_database", path=str(path), closest=str(closest) if closest else "")
