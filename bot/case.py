"""A saved case as every layer sees it: one frozen value, built once from its stored row.

The store makes a `Case` from a row of `cases` (`Case.from_row`): the answers and the assessment as
they were saved (`stored_answers`, `stored_assessment`, written verbatim by the JSON export), and the
assessment built once as an `Assessment`. A case saved under an earlier version of the flow is read
by today's flow in one place, `bot.upgrade.read_case`, which returns the case with `answers` and
`assessment` as today's questions read them; until then they are the saved ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .classifier import Assessment

# A note, a reminder or an event of a case, as `Store.case_history` gives them (and the export writes).
Related = tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Case:
    """One of a user's saved cases. Treat it as a value: `but` returns a changed copy."""

    id: int
    user_id: int
    case_no: int
    client_id: int | None
    alias: str | None  # the client's name as the user typed it (None: no name given)
    flow: str | None
    flow_version: int | None
    lang: str
    status: str
    created: str
    updated: str
    conversation: str | None  # the questionnaire it came from (its id); None before schema 4
    stored_answers: dict[str, Any]  # as saved, never rewritten
    stored_assessment: dict[str, Any]  # as saved, never rewritten
    answers: dict[str, Any]  # as today's flow reads them once `bot.upgrade.read_case` has read the case
    assessment: Assessment  # likewise: its reasons carried to today's questions by `read_case`
    # Filled by `Store.case_history` only (the export's): oldest first.
    notes: Related = ()
    reminders: Related = ()
    events: Related = ()

    @property
    def main(self) -> str:
        return self.assessment.main

    @property
    def secondary(self) -> str | None:
        return self.assessment.secondary

    @property
    def confidence(self) -> str:
        return self.assessment.confidence

    def but(self, **changes: Any) -> Case:
        """This case with `changes`."""
        return replace(self, **changes)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Case:
        """A row of `cases` (with the client's `alias`) as a case: the one place a stored assessment
        becomes an `Assessment`."""
        from .classifier import Assessment  # here: the store loads without the result path (the first prompt)

        answers, assessment = json.loads(row["answers"]), json.loads(row["assessment"])
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            case_no=row["case_no"],
            client_id=row.get("client_id"),
            alias=row.get("alias"),
            flow=row.get("flow"),
            flow_version=row.get("flow_version"),
            lang=row["lang"],
            status=row["status"],
            created=row["created"],
            updated=row["updated"],
            conversation=row.get("conversation"),
            stored_answers=answers,
            stored_assessment=assessment,
            answers=dict(answers),
            assessment=Assessment.from_dict(assessment),
        )


__all__ = ["Case"]
