"""What followed each message the user sent, from their own cases only: the statistics of plans.

Pure counting over `Store.plan_history` (one user's sends, answers and outcome changes) and
`Store.case_summaries`: for each message, how often it went out, what the check said after it
(paid, settled, answered, no answer, worse), how the cases it went out in ended (resolved, client
kept, client let go) and the median days from the send to that ending; per profile, how cases ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from ..plans import ANSWERS, OUTCOMES
from ..store import parse_time

DAY_SECONDS = 86400.0
# Colours of the chart's segments (Okabe-Ito, as charts.PALETTE): the answers, then "not checked yet".
ANSWER_COLOURS = {
    "paid": "#009E73",
    "settled": "#0072B2",
    "answered": "#56B4E9",
    "no_answer": "#999999",
    "worse": "#D55E00",
    "waiting": "#E69F00",
}


@dataclass
class MessageOutcome:
    """One message (or action) the user sent: how often, and what followed."""

    does: str
    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)  # the check's answer after each send
    endings: Counter[str] = field(default_factory=Counter)  # how the case ended after the send
    days: list[float] = field(default_factory=list)  # from the send to that ending

    @property
    def waiting(self) -> int:
        """Sends whose check has no answer yet."""
        return self.sent - sum(self.answers.values())

    @property
    def median_days(self) -> float | None:
        return median(self.days) if self.days else None


def message_outcomes(history: list[dict[str, Any]]) -> list[MessageOutcome]:
    """What followed each message, the most sent first (`history`: `Store.plan_history`, oldest first)."""
    by_case: dict[int, list[dict[str, Any]]] = {}
    for event in history:
        by_case.setdefault(event["case_no"], []).append(event)
    found: dict[str, MessageOutcome] = {}
    for events in by_case.values():
        for i, event in enumerate(events):
            if event["kind"] != "sent" or not event["after"]:
                continue
            does = event["after"].split(":")[0]
            outcome = found.setdefault(does, MessageOutcome(does))
            outcome.sent += 1
            later = events[i + 1 :]
            step = event["before"]
            # The answer to this send's check: the next answer about its step, before the step is sent again.
            for after in later:
                if after["kind"] == "sent" and after["before"] == step and step is not None:
                    break
                if after["kind"] == "answer" and after["before"] == step and after["after"] in ANSWERS:
                    outcome.answers[after["after"]] += 1
                    break
            ending = next((e for e in later if e["kind"] == "status" and e["after"] in OUTCOMES), None)
            if ending is not None:
                outcome.endings[ending["after"]] += 1
                seconds = (parse_time(ending["at"]) - parse_time(event["at"])).total_seconds()
                outcome.days.append(max(seconds, 0.0) / DAY_SECONDS)
    return sorted(found.values(), key=lambda o: (-o.sent, o.does))


def profile_endings(rows: list[tuple[str, str, str]], profiles: Sequence[str]) -> dict[str, Counter[str]]:
    """How the user's cases of each profile stand, in the flow's order of `profiles`: {profile: {status:
    count}} (`rows`: `Store.case_summaries`)."""
    endings: dict[str, Counter[str]] = {}
    for _, main, status in rows:
        endings.setdefault(main, Counter())[status] += 1
    return {p: endings[p] for p in profiles if p in endings}


def outcome_rows(outcomes: list[MessageOutcome]) -> dict[str, list[int]]:
    """The chart's segments: for each answer (and "waiting"), a count per message, in `outcomes`' order."""
    rows = {a: [o.answers[a] for o in outcomes] for a in ANSWERS}
    rows["waiting"] = [o.waiting for o in outcomes]
    return rows


__all__ = ["ANSWER_COLOURS", "MessageOutcome", "message_outcomes", "outcome_rows", "profile_endings"]
