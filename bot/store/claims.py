"""Updates recorded as handled (`processed_updates`): a redelivered update changes nothing.

A write that an update brings claims the update in its own transaction, so applying it and
recording it happen together or not at all.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Iterable

from .base import StoreBase, stamp, utcnow

if TYPE_CHECKING:
    from sqlite_utils import Database

# Redelivery claims older than this are forgotten (Telegram redelivers within hours, not weeks).
PROCESSED_UPDATES_MAX_AGE = 7 * 24 * 3600.0
PRUNE_EVERY = 3600.0
CLAIMS_KEPT = 10_000  # updates recorded by their turn, remembered until their front end is done with them


class ClaimsStore(StoreBase):
    """Claims on updates, for every write an update brings."""

    def __init__(self, db: Database | sqlite3.Connection):
        super().__init__(db)
        self._pruned_at = float("-inf")
        self._claimed: set[int] = set()  # updates a turn recorded as handled, until the front end asks

    def _claim_update(self, update_id: int) -> bool:
        """Record an update as handled; False if it was handled before (a redelivery). Inside the
        caller's transaction (the write the update brings): old claims go at most once an hour, so
        the table stays small."""
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            self._prune_updates(PROCESSED_UPDATES_MAX_AGE)
            self._pruned_at = time.monotonic()
        cursor = self.conn.execute(
            "INSERT INTO processed_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (update_id, utcnow()),
        )
        if cursor.rowcount != 1:
            return False
        if len(self._claimed) < CLAIMS_KEPT:
            self._claimed.add(update_id)
        return True

    def claimed_here(self, update_id: int) -> bool:
        """Whether a turn of this process recorded the update as handled (asked once: then forgotten)."""
        if update_id in self._claimed:
            self._claimed.discard(update_id)
            return True
        return False

    def handled_updates(self, update_ids: Iterable[int]) -> set[int]:
        """Which of these updates were handled before (one read, no transaction)."""
        return self._handled(list(update_ids))

    def _handled(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        sql = f"SELECT update_id FROM processed_updates WHERE update_id IN ({marks})"
        return {row[0] for row in self.conn.execute(sql, ids)}

    def _prune_updates(self, max_age_seconds: float) -> int:
        """Forget redelivery claims older than `max_age_seconds`; returns how many went."""
        cutoff = stamp(datetime.now(timezone.utc) - timedelta(seconds=max_age_seconds))
        return self.conn.execute("DELETE FROM processed_updates WHERE at < ?", (cutoff,)).rowcount
