"""The file as a whole: its integrity and version, and copies of it made while the bot runs."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from ..outfile import write_file
from .base import StoreBase
from .connection import open_existing
from .guard import store_error
from .schema import schema_version


def inspect_database(path: str | Path | None) -> dict[str, Any]:
    """Integrity, the schema version found and the one it would be migrated to, size and path;
    the file is only read."""
    conn = open_existing(path)
    try:
        messages = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        file = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    except (sqlite3.Error, OSError) as exc:
        error = store_error(exc, path)
        if error is None:
            raise
        raise error from exc
    finally:
        conn.close()
    return {
        "integrity": "ok" if messages == ["ok"] else "; ".join(messages[:5]),
        "schema_version": found,
        "schema_target": schema_version(),
        "size_bytes": os.path.getsize(file),
        "path": file,
    }


def online_copy(conn: sqlite3.Connection, target: str | Path, database: str | Path | None, force: bool) -> Path:
    """Copy the database behind `conn` to `target` (0600) with SQLite's online backup, safe while the
    bot runs, as one self-contained file; the target is checked and written as every output file is
    (`bot.outfile`): never `database` itself, never over an existing file unless `force`."""

    def copy_into(temp: Path) -> None:
        copy = sqlite3.connect(str(temp))
        try:
            conn.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # no -wal beside it
        finally:
            copy.close()

    return write_file(target, copy_into, database=database, force=force)


def backup_database(source: str | Path | None, target: str | Path, force: bool = False) -> Path:
    """Copy a database as it is (its schema untouched, whichever release wrote it) to a new file,
    mode 0600, with SQLite's online backup: safe while the bot runs. See `bot.outfile` for the target."""
    conn = open_existing(source)
    try:
        database = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
        try:
            return online_copy(conn, target, database or None, force)
        except (sqlite3.Error, OSError) as exc:
            error = store_error(exc, target)
            if error is None:
                raise
            raise error from exc
    finally:
        conn.close()


class FileStore(StoreBase):
    """Checks and copies of the open database."""

    def check(self) -> dict[str, Any]:
        """Integrity ("ok" or SQLite's first complaint), schema version, size in bytes and path."""
        messages = [row[0] for row in self.conn.execute("PRAGMA integrity_check")]
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        return {
            "integrity": "ok" if messages == ["ok"] else "; ".join(messages[:5]),
            "schema_version": self.conn.execute("PRAGMA user_version").fetchone()[0],
            "size_bytes": os.path.getsize(self.path) if self.path else page_size * pages,
            "path": self.path,
        }

    def backup(self, target: str | Path, force: bool = False) -> None:
        """Copy the database to a new file with SQLite's online backup (see `online_copy`)."""
        online_copy(self.conn, target, self.path or None, force)
