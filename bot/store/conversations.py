"""Conversations in progress: one small JSON row per user (state and front-end meta), one
transaction per turn."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from ..state import Conversation
from .base import to_json, utcnow
from .claims import ClaimsStore

if TYPE_CHECKING:
    from sqlite_utils import Database


class ConversationStore(ClaimsStore):
    """The open conversation of each user."""

    def __init__(self, db: Database | sqlite3.Connection):
        super().__init__(db)
        self._later: list[tuple[str, int, str]] = []  # meta patches for the next write

    def load_conversation(self, user_id: int) -> tuple[Conversation, dict[str, Any]] | None:
        """The state and front-end meta of the user's open conversation, if any."""
        row = self.conn.execute("SELECT state, meta FROM conversations WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return None
        state, meta = Conversation.from_stored(json.loads(row[0])), json.loads(row[1] or "{}")
        for patch, owner, cid in self._later:  # meta still to be written is already part of what is read
            if owner == user_id and cid == state.cid:
                later = json.loads(patch)
                if (meta.get("message_id") or 0) <= (later.get("message_id") or 0):
                    meta.update(later)
        return state, meta

    def save_conversation(
        self, user_id: int, state: Conversation, meta: dict[str, Any] | None = None, update_id: int | None = None
    ) -> bool:
        """Store a turn in one transaction; with an update id, a second delivery of it is refused."""
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return False
            self._ensure_user(user_id, state.lang)
            self.conn.execute(
                "INSERT INTO conversations (user_id, flow, state, meta, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET flow = excluded.flow, state = excluded.state, "
                "meta = excluded.meta, updated = excluded.updated",
                (user_id, state.flow, to_json(state.stored()), to_json(meta or {}), utcnow()),
            )
            self._write_later()
        return True

    def update_meta(self, user_id: int, meta: dict[str, Any]) -> None:
        """Merge front-end data into the open conversation's meta, in one statement."""
        with self.conn:
            self.conn.execute(
                "UPDATE conversations SET meta = json_patch(COALESCE(meta, '{}'), ?) WHERE user_id = ?",
                (to_json(meta), user_id),
            )

    def update_meta_later(self, user_id: int, conversation: str, meta: dict[str, Any]) -> None:
        """`update_meta` for the conversation `conversation` (its id; if it is still the open one),
        written with the next write (a turn, or the record of handled updates): no transaction of its own."""
        self._later.append((to_json(meta), user_id, conversation))

    def drop_conversation(self, user_id: int, update_id: int | None = None) -> bool:
        """Throw away the open conversation (a cancel): its answers leave the WAL too."""
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return False
            self.conn.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
        self._checkpoint()
        return True

    def _write_later(self) -> None:
        """Inside the caller's transaction: the meta patches waiting for a write (`update_meta_later`),
        each only on its conversation, and never bringing its message id back to an older one."""
        if self._later:
            later, self._later = self._later, []
            self.conn.executemany(
                "UPDATE conversations SET meta = json_patch(COALESCE(meta, '{}'), :patch) "
                "WHERE user_id = :user AND json_extract(state, '$.cid') = :cid "
                "AND COALESCE(json_extract(meta, '$.message_id'), 0) <= "
                "COALESCE(json_extract(:patch, '$.message_id'), 0)",
                [{"patch": patch, "user": user_id, "cid": cid} for patch, user_id, cid in later],
            )
