"""What every part of the store shares: the connection, the users, row and time helpers."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from ..choices import STATUSES
from .connection import BUSY_TIMEOUT, open_connection, wrap

if TYPE_CHECKING:
    from sqlite_utils import Database


def stamp(moment: datetime | None = None) -> str:
    """How a time is stored: ISO 8601 in UTC, to the second (now when not given)."""
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")


def utcnow() -> str:
    return stamp()


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_time(value: str) -> datetime:
    """A stored timestamp (ISO 8601, UTC) as an aware datetime."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def known_status(status: str) -> str:
    """`status` if it is one a case can have; ValueError (a bug, never a StoreError) if not."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    return status


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made (sqlite3 types it Optional: no INSERT yet on that cursor)."""
    if cursor.lastrowid is None:
        raise RuntimeError("the cursor has made no row")
    return cursor.lastrowid


class StoreBase:
    """The connection and the users; each concern of the store is a mixin on this."""

    def __init__(self, db: Database | sqlite3.Connection):
        """On an open database: sqlite-utils' Database, or the bare connection `open_connection`
        gives (its Database is then made when first asked for: `db`)."""
        self._db = None if isinstance(db, sqlite3.Connection) else db
        self.conn: sqlite3.Connection = db if isinstance(db, sqlite3.Connection) else db.conn
        # The file, "" for a database in memory.
        self.path = next((row[2] for row in self.conn.execute("PRAGMA database_list") if row[1] == "main"), "")

    @property
    def db(self) -> Database:
        """sqlite-utils' Database on this store's connection."""
        if self._db is None:
            self._db = wrap(self.conn)
        return self._db

    @classmethod
    def open(cls, path: str | Path | None = None, timeout: float = BUSY_TIMEOUT) -> Self:
        """The store on `path` (see `open_connection`); raises StoreError when the file cannot be used."""
        return cls(open_connection(path, timeout))

    def close(self) -> None:
        self.conn.close()

    # -- users ---------------------------------------------------------------------------------

    def user_lang(self, user_id: int) -> str | None:
        row = self.conn.execute("SELECT lang FROM users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def set_user_lang(self, user_id: int, lang: str) -> None:
        with self.conn:
            self._ensure_user(user_id, lang)
            self.conn.execute("UPDATE users SET lang = ? WHERE id = ?", (lang, user_id))

    def _ensure_user(self, user_id: int, lang: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO users (id, lang, created) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (user_id, lang, utcnow()),
        )

    def _case_id(self, user_id: int, case_no: int) -> int | None:
        row = self.conn.execute("SELECT id FROM cases WHERE user_id = ? AND case_no = ?", (user_id, case_no)).fetchone()
        return row[0] if row else None

    def _event(self, case_id: int, user_id: int, kind: str, before: str | None, after: str | None, now: str) -> None:
        """One entry of a case's timeline (inside the caller's transaction)."""
        self.conn.execute(
            "INSERT INTO case_events (user_id, case_id, kind, before, after, at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, case_id, kind, before, after, now),
        )

    def _change_status(self, case_id: int, user_id: int, status: str, now: str) -> str:
        """Set how a case went, with its timeline entry if it changed (inside the caller's
        transaction); returns the status before."""
        known_status(status)
        row = self.conn.execute("SELECT status FROM cases WHERE id = ? AND user_id = ?", (case_id, user_id)).fetchone()
        before = str(row[0])
        if before != status:
            self.conn.execute(
                "UPDATE cases SET status = ?, updated = ? WHERE id = ? AND user_id = ?", (status, now, case_id, user_id)
            )
            self._event(case_id, user_id, "status", before, status, now)
        return before

    def _rows(self, sql: str, params: tuple | dict[str, Any]) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def _checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it, so erased rows leave no copy in -wal.

        A reader in the middle of a transaction can block the truncation; it is retried briefly,
        then left to the next erasure or the next automatic checkpoint.
        """
        if not self.path:  # in memory: no file, no WAL
            return
        # A TRUNCATE checkpoint waits for readers through the busy handler: keep that wait short
        # here (about 0.3 s in all), an erasure must not hold the bot for the full lock timeout.
        timeout = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        self.conn.execute("PRAGMA busy_timeout = 50")
        try:
            for _ in range(6):
                busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
