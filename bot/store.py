"""Storage on SQLite through sqlite-utils: users, conversations in progress, and saved cases.

The schema grows by migrations (sqlite-utils' `Migrations`). Every method takes the user id and
every query is scoped by it here, so no front end can reach another user's rows. Conversations
in progress are one small JSON row per user, written in one transaction per turn, in WAL mode.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

DEFAULT_DB = Path("data") / "clientcoach.db"
STATUSES = ("aperto", "risolto", "cliente_tenuto", "cliente_lasciato")
migrations = Migrations("clientcoach")


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@migrations()
def m001_initial(db: Database) -> None:
    db["users"].create(
        {"id": int, "lang": str, "created": str}, pk="id", not_null={"created"}
    )
    db["conversations"].create(
        {"user_id": int, "flow": str, "state": str, "meta": str, "updated": str},
        pk="user_id",
        not_null={"state", "updated"},
    )
    db["clients"].create(
        {"id": int, "user_id": int, "alias": str, "alias_key": str, "created": str},
        pk="id",
        not_null={"user_id", "alias_key", "created"},
    )
    db["clients"].create_index(["user_id", "alias_key"], unique=True)
    db["cases"].create(
        {
            "id": int,
            "user_id": int,
            "case_no": int,
            "client_id": int,
            "flow": str,
            "flow_version": int,
            "lang": str,
            "answers": str,
            "assessment": str,
            "main": str,
            "secondary": str,
            "confidence": str,
            "status": str,
            "created": str,
            "updated": str,
        },
        pk="id",
        not_null={"user_id", "case_no", "answers", "assessment", "main", "status", "created", "updated"},
        foreign_keys=[("client_id", "clients", "id")],
        defaults={"status": "aperto"},
    )
    db["cases"].create_index(["user_id", "case_no"], unique=True)
    db["cases"].create_index(["user_id", "created"])
    db["notes"].create(
        {"id": int, "user_id": int, "case_id": int, "text": str, "created": str},
        pk="id",
        not_null={"user_id", "case_id", "text", "created"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db["notes"].create_index(["case_id"])
    db["reminders"].create(
        {"id": int, "user_id": int, "case_id": int, "due": str, "created": str, "fired": str},
        pk="id",
        not_null={"user_id", "case_id", "due", "created"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db["reminders"].create_index(["fired", "due"])
    db["processed_updates"].create({"update_id": int, "at": str}, pk="update_id")


def open_db(path: str | Path | None = None) -> Database:
    """Open (creating if needed) the database with durable WAL settings and the latest schema."""
    # No sqlite-utils plugins are used; skipping them spares scanning every installed package.
    if path is None or str(path) == ":memory:":
        db = Database(memory=True, execute_plugins=False) if path is not None else Database(_default_path(), execute_plugins=False)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = Database(path, execute_plugins=False)
    db.execute("PRAGMA busy_timeout = 5000")
    if not db.memory:
        db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    # user_version mirrors how many migrations ran, so an up-to-date database opens without
    # sqlite-utils reading the whole schema to find none pending.
    if db.execute("PRAGMA user_version").fetchone()[0] != len(migrations._migrations):
        migrations.apply(db)
        db.execute(f"PRAGMA user_version = {len(migrations._migrations)}")
    return db


def _default_path() -> Path:
    path = Path(os.environ.get("CLIENTCOACH_DB") or DEFAULT_DB)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def alias_key(alias: str | None) -> str:
    """How two spellings of one client's alias are recognised as the same client."""
    return " ".join((alias or "").casefold().split())


class Store:
    """All reads and writes of clientcoach, each scoped by user."""

    def __init__(self, db: Database):
        self.db = db
        self.conn: sqlite3.Connection = db.conn

    @classmethod
    def open(cls, path: str | Path | None = None) -> "Store":
        return cls(open_db(path))

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

    # -- conversations in progress -------------------------------------------------------------

    def load_conversation(self, user_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The stored state and front-end meta of the user's open conversation, if any."""
        row = self.conn.execute(
            "SELECT state, meta FROM conversations WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return None
        return json.loads(row[0]), json.loads(row[1] or "{}")

    def save_conversation(
        self, user_id: int, state: dict[str, Any], meta: dict[str, Any] | None = None, update_id: int | None = None
    ) -> bool:
        """Store a turn in one transaction; with an update id, a second delivery of it is refused."""
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return False
            self._ensure_user(user_id, state.get("lang"))
            self.conn.execute(
                "INSERT INTO conversations (user_id, flow, state, meta, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET flow = excluded.flow, state = excluded.state, "
                "meta = excluded.meta, updated = excluded.updated",
                (user_id, state.get("flow"), _json(state), _json(meta or {}), utcnow()),
            )
        return True

    def drop_conversation(self, user_id: int, update_id: int | None = None) -> bool:
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return False
            self.conn.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
        return True

    def claim_update(self, update_id: int) -> bool:
        """Record an update as handled; False if it was handled before (a redelivery)."""
        with self.conn:
            return self._claim_update(update_id)

    def _claim_update(self, update_id: int) -> bool:
        cursor = self.conn.execute(
            "INSERT INTO processed_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (update_id, utcnow()),
        )
        return cursor.rowcount == 1

    # -- cases ---------------------------------------------------------------------------------

    def save_case(
        self,
        user_id: int,
        state: dict[str, Any],
        assessment: dict[str, Any],
        alias: str | None,
        update_id: int | None = None,
    ) -> int | None:
        """Save a finished questionnaire as the user's next case and close the conversation.

        Returns the per-user case number, or None if this update was already handled.
        """
        now = utcnow()
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return None
            self._ensure_user(user_id, state.get("lang"))
            client_id = self._client_id(user_id, alias, now)
            case_no = self.conn.execute(
                "SELECT COALESCE(MAX(case_no), 0) + 1 FROM cases WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            self.conn.execute(
                "INSERT INTO cases (user_id, case_no, client_id, flow, flow_version, lang, answers, assessment, "
                "main, secondary, confidence, status, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'aperto', ?, ?)",
                (
                    user_id,
                    case_no,
                    client_id,
                    state["flow"],
                    state["flow_version"],
                    state["lang"],
                    _json(state["answers"]),
                    _json(assessment),
                    assessment["main"],
                    assessment["secondary"],
                    assessment["confidence"],
                    now,
                    now,
                ),
            )
            self.conn.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
        return case_no

    def _client_id(self, user_id: int, alias: str | None, now: str) -> int:
        key = alias_key(alias)
        row = self.conn.execute(
            "SELECT id FROM clients WHERE user_id = ? AND alias_key = ?", (user_id, key)
        ).fetchone()
        if row:
            return row[0]
        cursor = self.conn.execute(
            "INSERT INTO clients (user_id, alias, alias_key, created) VALUES (?, ?, ?, ?)",
            (user_id, alias, key, now),
        )
        return cursor.lastrowid

    def case(self, user_id: int, case_no: int) -> dict[str, Any] | None:
        """One of the user's cases by its number, decoded; None if the user has no such case."""
        found = self._select_cases("c.user_id = ? AND c.case_no = ?", (user_id, case_no))
        return found[0] if found else None

    def cases(self, user_id: int, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        """The user's cases, newest first."""
        return self._select_cases(
            "c.user_id = ? ORDER BY c.created DESC, c.case_no DESC LIMIT ? OFFSET ?", (user_id, limit, offset)
        )

    def count_cases(self, user_id: int) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM cases WHERE user_id = ?", (user_id,)).fetchone()[0]

    def _select_cases(self, where: str, params: tuple) -> list[dict[str, Any]]:
        cursor = self.conn.execute(
            "SELECT c.*, cl.alias AS alias FROM cases c LEFT JOIN clients cl ON cl.id = c.client_id WHERE " + where,
            params,
        )
        columns = [d[0] for d in cursor.description]
        cases = []
        for row in cursor.fetchall():
            case = dict(zip(columns, row))
            case["answers"] = json.loads(case["answers"])
            case["assessment"] = json.loads(case["assessment"])
            cases.append(case)
        return cases

    def iter_tables(self) -> Iterator[str]:
        yield from self.db.table_names()
