"""Saved cases: the next case number, the client, the answers and assessment, result sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ..state import Conversation
from .base import inserted_id, to_json, utcnow
from .claims import ClaimsStore
from .index import index_texts

if TYPE_CHECKING:
    from ..case import Case


def alias_key(alias: str | None) -> str:
    """How two spellings of one client's alias are recognised as the same client."""
    return " ".join((alias or "").casefold().split())


class CaseStore(ClaimsStore):
    """The user's saved cases and the clients they are about."""

    def save_case(
        self,
        user_id: int,
        state: Conversation,
        assessment: dict[str, Any],
        alias: str | None,
        update_id: int | None = None,
        *,
        search_texts: Iterable[str] = (),
    ) -> int | None:
        """Save a finished questionnaire as the user's next case and close the conversation; the
        alias and `search_texts` (the flow's `search_texts` of the answers) go into the search index.

        Returns the per-user case number, or None if this update was already handled.
        """
        now = utcnow()
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return None
            self._ensure_user(user_id, state.lang)
            client_id = self._client_id(user_id, alias, now)
            case_no = self.conn.execute(
                "SELECT MAX(COALESCE((SELECT MAX(case_no) FROM cases WHERE user_id = :user), 0), "
                "COALESCE((SELECT last FROM case_numbers WHERE user_id = :user), 0)) + 1",
                {"user": user_id},
            ).fetchone()[0]
            self.conn.execute(
                "INSERT INTO case_numbers (user_id, last) VALUES (?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET last = excluded.last",
                (user_id, case_no),
            )
            cursor = self.conn.execute(
                "INSERT INTO cases (user_id, case_no, client_id, flow, flow_version, lang, answers, assessment, "
                "main, secondary, confidence, status, created, updated, conversation) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'aperto', ?, ?, ?)",
                (
                    user_id,
                    case_no,
                    client_id,
                    state.flow,
                    state.flow_version,
                    state.lang,
                    to_json(state.answers),
                    to_json(assessment),
                    assessment["main"],
                    assessment["secondary"],
                    assessment["confidence"],
                    now,
                    now,
                    state.cid or None,
                ),
            )
            index_texts(self.conn, inserted_id(cursor), user_id, [alias, *search_texts])
            self.conn.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
        return case_no

    def result_sends(self, user_id: int, case_no: int) -> dict[int, int]:
        """Which result messages of one of the user's cases reached the chat: {part: message id}."""
        rows = self.conn.execute(
            "SELECT r.part, r.message_id FROM result_sends r JOIN cases c ON c.id = r.case_id "
            "WHERE c.user_id = ? AND c.case_no = ?",
            (user_id, case_no),
        )
        return dict(rows.fetchall())

    def record_result_send(self, user_id: int, case_no: int, part: int, message_id: int) -> None:
        """One result message of the user's case reached the chat (a redelivered finish skips it)."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO result_sends (case_id, part, message_id, at) "
                "SELECT id, ?, ?, ? FROM cases WHERE user_id = ? AND case_no = ? "
                "ON CONFLICT DO UPDATE SET message_id = excluded.message_id, at = excluded.at",
                (part, message_id, utcnow(), user_id, case_no),
            )

    def _client_id(self, user_id: int, alias: str | None, now: str) -> int:
        key = alias_key(alias)
        row = self.conn.execute("SELECT id FROM clients WHERE user_id = ? AND alias_key = ?", (user_id, key)).fetchone()
        if row:
            return row[0]
        cursor = self.conn.execute(
            "INSERT INTO clients (user_id, alias, alias_key, created) VALUES (?, ?, ?, ?)",
            (user_id, alias, key, now),
        )
        return inserted_id(cursor)

    def case(self, user_id: int, case_no: int) -> Case | None:
        """One of the user's cases by its number, decoded; None if the user has no such case."""
        found = self._select_cases("c.user_id = ? AND c.case_no = ?", (user_id, case_no))
        return found[0] if found else None

    def case_from_conversation(self, user_id: int, conversation: str) -> Case | None:
        """The user's case saved by the questionnaire `conversation` (its id); None if none was."""
        found = self._select_cases("c.user_id = ? AND c.conversation = ?", (user_id, conversation))
        return found[0] if found else None

    def cases(self, user_id: int, limit: int = 10, offset: int = 0) -> list[Case]:
        """The user's cases, newest first."""
        return self._select_cases(
            "c.user_id = ? ORDER BY c.created DESC, c.case_no DESC LIMIT ? OFFSET ?", (user_id, limit, offset)
        )

    def count_cases(self, user_id: int) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM cases WHERE user_id = ?", (user_id,)).fetchone()[0]

    def _select_cases(self, where: str, params: tuple) -> list[Case]:
        rows = self._rows(
            "SELECT c.*, cl.alias AS alias FROM cases c LEFT JOIN clients cl ON cl.id = c.client_id WHERE " + where,
            params,
        )
        from ..case import Case  # its reading (the classifier) is not needed before a case is read

        return [Case.from_row(row) for row in rows]

    def case_history(self, user_id: int) -> list[Case]:
        """All the user's cases, oldest first, each with its `notes`, `reminders` and `events`."""
        cases = self._select_cases("c.user_id = ? ORDER BY c.case_no", (user_id,))
        by_id: dict[int, dict[str, list[dict[str, Any]]]] = {
            case.id: {"notes": [], "reminders": [], "events": []} for case in cases
        }
        related = (
            ("notes", "SELECT case_id, text, created FROM notes WHERE user_id = ? ORDER BY id"),
            ("reminders", "SELECT case_id, due, created, fired FROM reminders WHERE user_id = ? ORDER BY due, id"),
            ("events", "SELECT case_id, kind, before, after, at FROM case_events WHERE user_id = ? ORDER BY id"),
        )
        for key, sql in related:
            for row in self._rows(sql, (user_id,)):
                found = by_id.get(row.pop("case_id"))
                if found is not None:
                    found[key].append(row)
        return [case.but(**{key: tuple(rows) for key, rows in by_id[case.id].items()}) for case in cases]

    def case_summaries(self, user_id: int) -> list[tuple[str, str, str]]:
        """(created, main profile, status) of each of the user's cases, for statistics."""
        return self.conn.execute(
            "SELECT created, main, status FROM cases WHERE user_id = ? ORDER BY created", (user_id,)
        ).fetchall()
