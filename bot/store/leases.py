"""One owner per conversation: a console run leases the user's questionnaire while it is open."""

from __future__ import annotations

import time

from .base import StoreBase


class LeaseStore(StoreBase):
    """Leases on conversations (`conversation_leases`)."""

    def lease_conversation(self, user_id: int, owner: str, ttl: float = 30.0) -> bool:
        """Take or renew the user's conversation lease for `owner`; False while someone else holds it."""
        now = time.time()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # read and write under one lock: two owners cannot both win
            row = self.conn.execute(
                "SELECT owner, expires FROM conversation_leases WHERE user_id = ?", (user_id,)
            ).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            self.conn.execute(
                "INSERT INTO conversation_leases (user_id, owner, expires) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET owner = excluded.owner, expires = excluded.expires",
                (user_id, owner, now + ttl),
            )
        return True

    def release_conversation(self, user_id: int, owner: str) -> None:
        """Give the lease back (only if `owner` holds it)."""
        with self.conn:
            self.conn.execute("DELETE FROM conversation_leases WHERE user_id = ? AND owner = ?", (user_id, owner))
