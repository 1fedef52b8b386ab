"""The store's part for plans: where each case's plan stands, its sends and answers, its checks.

A mixin of `Store` (one concern per module): every method takes the user id and scopes its
queries by it. Where a plan stands is one row per case (`case_plans`: the step, what it does, and
whether it is proposed, waiting for its check, paused or ended). What happened goes into the case's
events (`case_events`), so it joins the timeline, the export and the deletion of the case: `sent`
(before: the step, after: "message:version:form"), `answer` (the step, the answer), `skipped`,
`paused`, `resumed` and `wait` (the step, the new check time). A check is a reminder that names
its step (`reminders.step`): it is armed, delivered once and dropped with its case like any
reminder.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .base import StoreBase, inserted_id, stamp

PLAN_STATES = ("proposed", "waiting", "paused", "ended")
# The same step marked sent again within this time is the same send (a double tap, a redelivery).
SAME_SEND = timedelta(minutes=2)
# The case events a plan writes (their `kind`), as the timeline names them.
PLAN_EVENTS = ("sent", "answer", "skipped", "paused", "resumed", "wait")


class PlanStore(StoreBase):
    """Plans followed case by case (see the module's docstring)."""

    def plan_state(self, user_id: int, case_no: int) -> dict[str, Any] | None:
        """Where the plan of one of the user's cases stands ({step, does, state, updated}); None when
        nothing was done with it yet (or no such case)."""
        found = self._rows(
            "SELECT p.step, p.does, p.state, p.updated FROM case_plans p JOIN cases c ON c.id = p.case_id "
            "WHERE c.user_id = ? AND c.case_no = ? AND p.user_id = ?",
            (user_id, case_no, user_id),
        )
        return found[0] if found else None

    def pending_check(self, user_id: int, case_no: int) -> dict[str, Any] | None:
        """The check of one of the user's cases not yet delivered ({id, step, due}), if any."""
        found = self._rows(
            "SELECT r.id, r.step, r.due FROM reminders r JOIN cases c ON c.id = r.case_id "
            "WHERE c.user_id = ? AND c.case_no = ? AND r.user_id = ? AND r.step IS NOT NULL AND r.fired IS NULL "
            "ORDER BY r.id DESC LIMIT 1",
            (user_id, case_no, user_id),
        )
        return found[0] if found else None

    def _move(self, case_id: int, user_id: int, step: str | None, does: str | None, state: str, now: str) -> None:
        """Inside a transaction: the plan of the case stands at `step` in `state`; no check waits any more."""
        if state not in PLAN_STATES:
            raise ValueError(f"unknown plan state {state!r}")
        self.conn.execute(
            "INSERT INTO case_plans (case_id, user_id, step, does, state, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(case_id) DO UPDATE SET step = excluded.step, does = excluded.does, state = excluded.state, "
            "updated = excluded.updated",
            (case_id, user_id, step, does, state, now),
        )
        self.conn.execute(
            "DELETE FROM reminders WHERE case_id = ? AND user_id = ? AND step IS NOT NULL AND fired IS NULL",
            (case_id, user_id),
        )
        self.conn.execute("UPDATE cases SET updated = ? WHERE id = ? AND user_id = ?", (now, case_id, user_id))

    def _plan_row(self, case_id: int | None, user_id: int) -> tuple[str | None, str | None, str] | None:
        """Inside a transaction: (step, does, state) of a case's plan, None when nothing was done with it."""
        row = self.conn.execute(
            "SELECT step, does, state FROM case_plans WHERE case_id = ? AND user_id = ?", (case_id, user_id)
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def _check(self, case_id: int, user_id: int, step: str, due: datetime, channel: str, now: str) -> int:
        return inserted_id(
            self.conn.execute(
                "INSERT INTO reminders (user_id, case_id, due, created, channel, step) VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, case_id, stamp(due), now, channel, step),
            )
        )

    def record_sent(
        self,
        user_id: int,
        case_no: int,
        step: str | None,
        does: str,
        version: str,
        due: datetime | None,
        channel: str,
        at: datetime | None = None,
    ) -> int | None:
        """A message (or an action) of the case went out: it joins the timeline with its version and,
        when it is a step of the plan, that step waits for its check at `due` (a check already
        waiting gives way). Returns the check's id (0 without one; negated when the same step was
        just marked sent: nothing new recorded); None if no such case."""
        now = stamp(at)
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            if case_id is None:
                return None
            again = self.conn.execute(
                "SELECT r.id FROM case_plans p JOIN reminders r ON r.case_id = p.case_id AND r.step = p.step "
                "AND r.fired IS NULL WHERE p.case_id = ? AND p.user_id = ? AND p.step IS ? AND p.does = ? "
                "AND p.state = 'waiting' AND p.updated >= ?",
                (case_id, user_id, step, does, stamp((at or datetime.now(timezone.utc)) - SAME_SEND)),
            ).fetchone()
            if again:  # a second tap (or a redelivered one) on the same "sent": recorded once
                return -again[0]
            self._event(case_id, user_id, "sent", step, f"{does}:{version}", now)
            if step is None or due is None:
                return 0
            self._move(case_id, user_id, step, does, "waiting", now)
            return self._check(case_id, user_id, step, due, channel, now)

    def record_answer(
        self,
        user_id: int,
        case_no: int,
        step: str,
        answer: str,
        next_step: str | None,
        next_does: str | None,
        at: datetime | None = None,
        outcome: str | None = None,
    ) -> bool:
        """How a step went: the answer joins the timeline and the plan moves on (to `next_step`,
        proposed, or to its end), and an answer that closes the case records its `outcome`, all in
        one transaction. False when the step is not the one waiting (answered already)."""
        now = stamp(at)
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            row = self._plan_row(case_id, user_id)
            if case_id is None or row is None or row[0] != step or row[2] not in ("waiting", "paused"):
                return False
            self._event(case_id, user_id, "answer", step, answer, now)
            state = "proposed" if next_step else "ended"
            self._move(case_id, user_id, next_step, next_does, state, now)
            if outcome is not None:
                self._change_status(case_id, user_id, outcome, now)
        return True

    def skip_step(
        self,
        user_id: int,
        case_no: int,
        step: str,
        next_step: str | None,
        next_does: str | None,
        at: datetime | None = None,
    ) -> bool:
        """The user leaves a step out: the plan goes on to `next_step` (proposed) or ends."""
        now = stamp(at)
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            if case_id is None:
                return False
            self._event(case_id, user_id, "skipped", step, None, now)
            self._move(case_id, user_id, next_step, next_does, "proposed" if next_step else "ended", now)
        return True

    def pause_plan(self, user_id: int, case_no: int, step: str, does: str, at: datetime | None = None) -> bool:
        """No check comes until the plan is resumed; a plan nothing was done with yet is paused at its
        first step (`step`, `does`). False when there is nothing to pause (paused or ended already)."""
        now = stamp(at)
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            row = self._plan_row(case_id, user_id) or (step, does, "proposed")
            if case_id is None or row[2] not in ("proposed", "waiting"):
                return False
            self._event(case_id, user_id, "paused", row[0], row[2], now)
            self._move(case_id, user_id, row[0], row[1], "paused", now)
        return True

    def resume_plan(
        self, user_id: int, case_no: int, due: datetime | None, channel: str, at: datetime | None = None
    ) -> int | None:
        """A paused plan goes on: a step that was waiting waits again for a check at `due`; one that
        was proposed is proposed again. Returns the check's id (0 without one), None if not paused."""
        now = stamp(at)
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            row = self.conn.execute(
                "SELECT p.step, p.does, p.state, (SELECT after FROM case_events "
                "WHERE case_id = p.case_id AND kind = 'paused' ORDER BY id DESC LIMIT 1) "
                "FROM case_plans p WHERE p.case_id = ? AND p.user_id = ?",
                (case_id, user_id),
            ).fetchone()
            if case_id is None or row is None or row[2] != "paused":
                return None
            step, does, _, was = row
            self._event(case_id, user_id, "resumed", step, None, now)
            if was != "waiting" or due is None:
                self._move(case_id, user_id, step, does, "proposed", now)
                return 0
            self._move(case_id, user_id, step, does, "waiting", now)
            return self._check(case_id, user_id, step, due, channel, now)

    def move_check(
        self, user_id: int, case_no: int, due: datetime, channel: str, at: datetime | None = None
    ) -> int | None:
        """The check of the step waiting comes at `due` instead (the wait was a suggestion); returns
        the new check's id, None when no step is waiting."""
        now = stamp(at)
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            row = self._plan_row(case_id, user_id)
            step, does, state = row or (None, None, "")
            if case_id is None or step is None or state != "waiting":
                return None
            self._event(case_id, user_id, "wait", step, stamp(due), now)
            self._move(case_id, user_id, step, does, "waiting", now)
            return self._check(case_id, user_id, step, due, channel, now)

    def plan_history(self, user_id: int) -> list[dict[str, Any]]:
        """Every plan event of the user's cases with the case's number, profile and status, oldest
        first: what the statistics count (only this user's rows are read)."""
        return self._rows(
            "SELECT c.case_no, c.main, c.status, e.kind, e.before, e.after, e.at FROM case_events e "
            "JOIN cases c ON c.id = e.case_id AND c.user_id = e.user_id "
            "WHERE e.user_id = ? AND e.kind IN ('sent', 'answer', 'status') ORDER BY e.at, e.id",
            (user_id,),
        )


__all__ = ["PLAN_EVENTS", "PLAN_STATES", "PlanStore"]
