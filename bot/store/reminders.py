"""Reminders on cases, and their sends recorded around the send so none is delivered twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from .base import StoreBase, parse_time, stamp, utcnow


class DueReminder(NamedTuple):
    """A reminder not yet sent, as the scheduler needs it."""

    id: int
    user_id: int
    case_no: int
    due: datetime


class ReminderStore(StoreBase):
    """Reminders (`reminders`): set by the user, sent by the scheduler of their front end."""

    def add_reminder(self, user_id: int, case_no: int, due: datetime, channel: str = "telegram") -> int | None:
        """Set a reminder on one of the user's cases for a front end ("telegram" or "console"); None if
        no such case. The same reminder not yet sent (case, time, front end) is not set twice: its id
        comes back (negated, so the caller knows nothing new was armed)."""
        due_at = stamp(due)
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            if case_id is None:
                return None
            same = self.conn.execute(
                "SELECT id FROM reminders WHERE case_id = ? AND user_id = ? AND substr(due, 1, 16) = substr(?, 1, 16) "
                "AND channel = ? "
                "AND fired IS NULL",
                (case_id, user_id, due_at, channel),
            ).fetchone()
            if same:
                return -same[0]
            cursor = self.conn.execute(
                "INSERT INTO reminders (user_id, case_id, due, created, channel) VALUES (?, ?, ?, ?, ?)",
                (user_id, case_id, due_at, utcnow(), channel),
            )
        return cursor.lastrowid

    def reminders(self, user_id: int, case_no: int) -> list[dict[str, Any]]:
        """The reminders of one of the user's cases, soonest first."""
        return self._rows(
            "SELECT r.id, r.due, r.created, r.fired FROM reminders r JOIN cases c ON c.id = r.case_id "
            "WHERE c.user_id = ? AND c.case_no = ? AND r.user_id = ? ORDER BY r.due, r.id",
            (user_id, case_no, user_id),
        )

    def reminder(self, user_id: int, reminder_id: int) -> dict[str, Any] | None:
        """One of the user's reminders with its case number; None if it is not theirs or is gone."""
        found = self._rows(
            "SELECT r.id, r.due, r.created, r.fired, r.step, c.case_no FROM reminders r "
            "JOIN cases c ON c.id = r.case_id WHERE r.id = ? AND r.user_id = ? AND c.user_id = ?",
            (reminder_id, user_id, user_id),
        )
        return found[0] if found else None

    def pending_reminders(self, channel: str | None = None) -> list[DueReminder]:
        """Every reminder not yet sent, across all users, soonest first (for the scheduler at start);
        with `channel`, only that front end's ("telegram" or "console")."""
        rows = self.conn.execute(
            "SELECT r.id, r.user_id, c.case_no, r.due FROM reminders r "
            "JOIN cases c ON c.id = r.case_id AND c.user_id = r.user_id WHERE r.fired IS NULL "
            "AND (? IS NULL OR r.channel = ?) ORDER BY r.due, r.id",
            (channel, channel),
        ).fetchall()
        return [DueReminder(rid, user_id, case_no, parse_time(due)) for rid, user_id, case_no, due in rows]

    def begin_reminder_send(self, reminder_id: int, user_id: int) -> int | None:
        """Record the intent to send a reminder, before the send; returns how many sends were begun
        before and never recorded (a crash in between: the user may have it), None if it is not due."""
        with self.conn:
            row = self.conn.execute(
                "SELECT attempts FROM reminders WHERE id = ? AND user_id = ? AND fired IS NULL", (reminder_id, user_id)
            ).fetchone()
            if row is None:
                return None
            self.conn.execute("UPDATE reminders SET attempts = attempts + 1 WHERE id = ?", (reminder_id,))
        return row[0]

    def abort_reminder_send(self, reminder_id: int) -> None:
        """The send begun was refused by Telegram: it never reached the user, so it does not count."""
        with self.conn:
            self.conn.execute(
                "UPDATE reminders SET attempts = MAX(attempts - 1, 0) WHERE id = ? AND fired IS NULL", (reminder_id,)
            )

    def mark_fired(
        self,
        reminder_id: int,
        user_id: int | None = None,
        due: datetime | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Record a reminder as sent; False if it was sent before or no longer exists.

        The scheduler calls this with ids from `pending_reminders`, never with ids a user typed.
        Given the user and due time it was armed with, a reminder that is no longer that one is
        left alone: once the highest reminder is deleted, SQLite hands its id to the next one
        (anybody's), and the job armed for the deleted reminder must not consume the new one.
        """
        with self.conn:
            row = self.conn.execute(
                "SELECT user_id, due FROM reminders WHERE id = ? AND fired IS NULL", (reminder_id,)
            ).fetchone()
            if row is None or (user_id is not None and row[0] != user_id):
                return False
            if due is not None and parse_time(row[1]).replace(microsecond=0) != due.replace(microsecond=0):
                return False
            cursor = self.conn.execute(
                "UPDATE reminders SET fired = ?, message_id = ? WHERE id = ? AND fired IS NULL",
                (utcnow(), message_id, reminder_id),
            )
        return cursor.rowcount == 1
