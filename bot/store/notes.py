"""What happens to a case after it is saved: notes, status changes, and the timeline of both
with its reminders."""

from __future__ import annotations

from typing import Any

from .base import known_status, utcnow
from .claims import ClaimsStore
from .index import index_texts


class NoteStore(ClaimsStore):
    """Notes and status changes of the user's cases (`notes`, `case_events`)."""

    def add_note(self, user_id: int, case_no: int, text: str, update_id: int | None = None) -> int | None:
        """Add a note to one of the user's cases (and to its search entry); None if no such case, 0 if
        `update_id` was already handled (a redelivered /nota after a crash adds nothing: the update is
        claimed in the note's own transaction)."""
        now = utcnow()
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            if case_id is None:
                return None
            if update_id is not None and not self._claim_update(update_id):
                return 0
            cursor = self.conn.execute(
                "INSERT INTO notes (user_id, case_id, text, created) VALUES (?, ?, ?, ?)", (user_id, case_id, text, now)
            )
            self.conn.execute("UPDATE cases SET updated = ? WHERE id = ? AND user_id = ?", (now, case_id, user_id))
            index_texts(self.conn, case_id, user_id, [text])
        return cursor.lastrowid

    def notes(self, user_id: int, case_no: int) -> list[dict[str, Any]]:
        """The notes of one of the user's cases, oldest first."""
        return self._rows(
            "SELECT n.id, n.text, n.created FROM notes n JOIN cases c ON c.id = n.case_id "
            "WHERE c.user_id = ? AND c.case_no = ? AND n.user_id = ? ORDER BY n.id",
            (user_id, case_no, user_id),
        )

    def set_status(self, user_id: int, case_no: int, status: str) -> str | None:
        """Record how a case went, as an event too; returns the previous status, None if no such case."""
        known_status(status)  # refused as a bug even when there is no such case
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            return None if case_id is None else self._change_status(case_id, user_id, status, utcnow())

    def timeline(self, user_id: int, case_no: int) -> list[dict[str, Any]]:
        """What happened to one of the user's cases, oldest first.

        Each entry has `at`, `kind` (created | note | status | reminder_set | reminder_fired, and a
        plan's sent | answer | skipped | paused | resumed | wait | check_fired, see bot.store.plans)
        and, as the kind needs, `text` (a note), `before`/`after` (statuses; a plan's step and what
        it did) or `due` (a reminder).
        """
        case_id = self._case_id(user_id, case_no)
        if case_id is None:
            return []
        return self._rows(
            "SELECT at, kind, text, before, after, due FROM ("
            " SELECT created AS at, 'created' AS kind, NULL AS text, NULL AS before, NULL AS after, NULL AS due,"
            "  0 AS rank, id AS seq FROM cases WHERE id = :case AND user_id = :user"
            " UNION ALL SELECT created, 'note', text, NULL, NULL, NULL, 1, id FROM notes"
            "  WHERE case_id = :case AND user_id = :user"
            " UNION ALL SELECT at, kind, NULL, before, after, NULL, 1, id FROM case_events"
            "  WHERE case_id = :case AND user_id = :user"
            " UNION ALL SELECT created, 'reminder_set', NULL, NULL, NULL, due, 1, id FROM reminders"
            "  WHERE case_id = :case AND user_id = :user AND step IS NULL"
            " UNION ALL SELECT fired, CASE WHEN step IS NULL THEN 'reminder_fired' ELSE 'check_fired' END,"
            "  NULL, step, NULL, due, 2, id FROM reminders"
            "  WHERE case_id = :case AND user_id = :user AND fired IS NOT NULL"
            ") ORDER BY at, rank, seq",
            {"case": case_id, "user": user_id},
        )
