"""The update inbox: updates confirmed to Telegram before they were handled, kept until they are.

Telegram forgets an update once it is confirmed (a getUpdates offset past it, or a webhook's 200).
One confirmed before it was handled is kept here until it is, so a kill -9 loses none.
"""

from __future__ import annotations

from typing import Iterable

from .base import utcnow
from .conversations import ConversationStore


class InboxStore(ConversationStore):
    """Held updates; releasing them writes the conversations' waiting meta in the same transaction."""

    def hold_updates(self, updates: list[tuple[int, str]], finished: Iterable[int] = ()) -> None:
        """Keep (update id, its JSON) until released (an update already held stays as it is); in the
        same transaction, record the `finished` ones as handled and release them."""
        with self.conn:
            self._finish_updates(finished)
            self.conn.executemany(
                "INSERT INTO update_inbox (update_id, body, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(update_id, body, utcnow()) for update_id, body in updates],
            )

    def take_updates(self, updates: list[tuple[int, str]], finished: Iterable[int] = ()) -> set[int]:
        """In one transaction: recognise the updates handled before among `updates` (id, JSON) and
        hold the others until handled; record the `finished` ones as handled and release them.
        Returns the ids handled before (Telegram sent them again)."""
        ids = [update_id for update_id, _ in updates]
        with self.conn:
            self._finish_updates(finished)
            handled = self._handled(ids)
            self.conn.executemany(
                "INSERT INTO update_inbox (update_id, body, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(update_id, body, utcnow()) for update_id, body in updates if update_id not in handled],
            )
        return handled

    def finish_updates(self, update_ids: Iterable[int]) -> None:
        """Record updates as handled (a second delivery is then recognised) and release them from the
        inbox, with the meta written later (`update_meta_later`); no transaction if there is nothing."""
        ids = list(update_ids)
        if ids or self._later:
            with self.conn:
                self._finish_updates(ids)

    def _finish_updates(self, update_ids: Iterable[int]) -> None:
        self._write_later()
        rows = [(update_id,) for update_id in update_ids]
        if rows:
            now = utcnow()
            self.conn.executemany(
                "INSERT INTO processed_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(update_id, now) for (update_id,) in rows],
            )
            self.conn.executemany("DELETE FROM update_inbox WHERE update_id = ?", rows)

    def held_updates(self) -> list[tuple[int, str]]:
        """The updates held and not yet released, oldest first (to handle them after a restart)."""
        return self.conn.execute("SELECT update_id, body FROM update_inbox ORDER BY update_id").fetchall()

    def release_update(self, update_id: int) -> None:
        """The update has been handled: forget its JSON (it holds what the user typed)."""
        with self.conn:
            self.conn.execute("DELETE FROM update_inbox WHERE update_id = ?", (update_id,))
