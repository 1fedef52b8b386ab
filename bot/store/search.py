"""Searching the user's cases by the words of their alias, text answers and notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cases import CaseStore
from .index import match_query

if TYPE_CHECKING:
    from ..case import Case


class SearchStore(CaseStore):
    """Word-prefix search over the index (`bot.store.index`)."""

    def search_cases(self, user_id: int, text: str, limit: int = 10) -> tuple[int, list[Case]]:
        """The user's cases whose alias, text answers or notes have words starting with the typed ones.

        Returns how many match and the newest `limit` of them. Only this user's index terms are read.
        """
        query = match_query(user_id, text)
        if query is None:
            return 0, []
        ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT c.id FROM case_search s JOIN cases c ON c.id = s.rowid "
                "WHERE case_search MATCH ? AND c.user_id = ? ORDER BY c.created DESC, c.case_no DESC",
                (query, user_id),
            )
        ]
        shown = ids[:limit]
        if not shown:
            return len(ids), []
        marks = ",".join("?" * len(shown))
        # `+c.user_id`: still checked, but not used as an index, so SQLite fetches the shown ids by
        # primary key instead of walking every case of the user to find them.
        cases = self._select_cases(
            f"+c.user_id = ? AND c.id IN ({marks}) ORDER BY c.created DESC, c.case_no DESC", (user_id, *shown)
        )
        return len(ids), cases
