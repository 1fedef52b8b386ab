"""Erasure: one case, or everything kept about a user, with nothing left behind in the WAL."""

from __future__ import annotations

from .base import StoreBase
from .index import purge_search_index


class ErasureStore(StoreBase):
    """Deleting cases and users."""

    def delete_case(self, user_id: int, case_no: int) -> bool:
        """Delete one of the user's cases with its notes, reminders, events, index entry and, if it
        was the client's last case, the client; a re-assessment of it in progress goes too.
        False if the user has no such case."""
        with self.conn:
            if self._case_id(user_id, case_no) is None:
                return False
            self._erase_cases(user_id, "case_no = ?", (case_no,))
            self.conn.execute(
                "DELETE FROM conversations WHERE user_id = ? AND json_extract(state, '$.previous') = ?",
                (user_id, case_no),
            )
        self._checkpoint()
        return True

    def delete_user(self, user_id: int) -> None:
        """Delete everything kept about a user: cases and all that hangs off them, clients, the open
        conversation, its lease, the sender profile, their updates in the inbox and the user row; the
        search index is purged of their terms, and the WAL is truncated so no copy stays behind."""
        with self.conn:
            self._erase_cases(user_id, "1 = 1", ())
            for table in ("conversations", "conversation_leases", "sender_profiles", "case_numbers"):
                self.conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            # The user's updates waiting in the inbox (their JSON holds what they typed and who they are).
            self.conn.execute(
                "DELETE FROM update_inbox WHERE ? IN (json_extract(body, '$.message.from.id'), "
                "json_extract(body, '$.callback_query.from.id'))",
                (user_id,),
            )
            self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
        self._checkpoint()

    def _erase_cases(self, user_id: int, condition: str, params: tuple) -> None:
        """Inside a transaction: delete the user's cases matching `condition` and what belongs to them."""
        chosen = f"SELECT id FROM cases WHERE user_id = ? AND {condition}"
        case_ids = [row[0] for row in self.conn.execute(chosen, (user_id, *params))]
        if not case_ids:
            return
        for table in ("notes", "reminders", "case_events", "case_plans"):  # result_sends below: it has no user_id
            self.conn.execute(
                f"DELETE FROM {table} WHERE user_id = ? AND case_id IN ({chosen})", (user_id, user_id, *params)
            )
        self.conn.execute(f"DELETE FROM result_sends WHERE case_id IN ({chosen})", (user_id, *params))
        # One lookup per rowid: FTS5 answers `rowid = ?` directly, where `IN (...)` could scan it all.
        self.conn.executemany("DELETE FROM case_search WHERE rowid = ?", [(case_id,) for case_id in case_ids])
        self.conn.execute(f"DELETE FROM cases WHERE user_id = ? AND {condition}", (user_id, *params))
        self.conn.execute(
            "DELETE FROM clients WHERE user_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM cases WHERE cases.user_id = clients.user_id AND cases.client_id = clients.id)",
            (user_id,),
        )
        purge_search_index(self.conn)
