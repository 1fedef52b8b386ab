"""From answers to an explained profile: a pure function, no I/O.

Every picked option (and every numeric band hit) adds its evidence to each profile. The profile
with the most evidence is the main one; a second problem profile close behind is shown too; the
three answers that added most to the main profile are the explanation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .flow import Band, Flow, Option, Question

# Below this much evidence the signals are thin: the result says it may be a bad day.
THIN_EVIDENCE = 5.0
HIGH_EVIDENCE = 9.0
# A second problem profile is "strong" when it has at least this share of the main one.
SECONDARY_SHARE = 0.55
SECONDARY_MIN = 4.0
CLEAR_MARGIN = 3.0
# A client who scores as a good client is a VIP (a problem profile whose client is kept: `keep` in
# the flow's profiles) when the VIP evidence is not thin and reaches this share of the good-client
# evidence: the risks of seed 000 (informal processes, the owner on call, other clients paying for
# the priority) matter more than the comfort of a good client, and the VIP advice never drops the
# client. The card and the chart then name VIP first.
VIP_SHARE_OF_MVC = 0.7


@dataclass(frozen=True)
class Reason:
    """One answer and how much it added to the main profile."""

    question: str
    value: Any
    weight: float


@dataclass(frozen=True)
class Assessment:
    """The classifier's verdict, as plain data that can be stored and rendered."""

    scores: dict[str, float]
    main: str
    secondary: str | None
    confidence: str  # "high" | "medium" | "low"
    reasons: tuple[Reason, ...]
    own_error: bool
    first_time: bool
    recurring: bool
    thin: bool
    good_client: bool
    # Added with flow version 2; stored assessments from before read them as False.
    shared_error: bool = False
    new_behaviour: bool = False
    # Added with flow version 4.
    escalated: bool = False
    legal: bool = False
    pressure: bool = False
    repeated: bool = False

    @property
    def recovery_first(self) -> bool:
        """The trouble began (at least partly) with the user's error: recovery before anything else."""
        return self.own_error or self.shared_error

    @property
    def bad_day_caveat(self) -> bool:
        """A first occurrence, or thin evidence of something that has not happened before: suggest
        watching for a repeat before acting. Never once the harm is done (a review posted, a
        lawyer's letter): that is no bad day."""
        if self.good_client or self.escalated:
            return False
        return self.first_time or (self.thin and not self.repeated)

    def ranked(self) -> list[str]:
        """Profiles with some evidence, as the card names them: main, then second, then by score."""
        order = sorted(self.scores, key=lambda p: (p != self.main, p != self.secondary, -self.scores[p]))
        return [p for p in order if self.scores[p] > 0]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = [asdict(r) for r in self.reasons]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Assessment":
        known = cls.__dataclass_fields__
        return cls(
            **{**{k: v for k, v in data.items() if k in known}, "reasons": tuple(Reason(**r) for r in data["reasons"])}
        )


def _contributions(q: Question, value: Any) -> tuple[dict[str, float], set[str]]:
    """The evidence and flags one answer brings."""
    evidence: dict[str, float] = {}
    flags: set[str] = set()
    if value is None or not q.accepts(value):  # an answer that does not fit its question adds nothing
        return evidence, flags
    if q.is_choice:
        sources: list[Option | Band] = [q.option_index[o] for o in (value if isinstance(value, list) else [value])]
    else:
        sources = [b for b in q.bands if b.holds(value)]  # only number and money questions have bands
    for source in sources:
        for profile, weight in source.evidence.items():
            evidence[profile] = evidence.get(profile, 0.0) + weight
        flags.update(source.flags)
    return evidence, flags


def classify(flow: Flow, answers: dict[str, Any]) -> Assessment:
    """Score every profile of the flow from the answers and explain the winner."""
    order, problems, good = flow.profiles.ids, flow.profiles.problems, flow.profiles.good_client
    scores = dict.fromkeys(order, 0.0)
    flags: set[str] = set()
    per_answer: list[tuple[str, Any, dict[str, float]]] = []
    for qid, value in answers.items():
        q = flow.questions.get(qid)
        if q is None:
            continue
        evidence, answer_flags = _contributions(q, value)
        flags |= answer_flags
        per_answer.append((qid, value, evidence))
        for profile, weight in evidence.items():
            scores[profile] += weight

    # Ties go to the profile listed first in the flow.
    ranked = sorted(order, key=lambda p: (-scores[p], order.index(p)))
    main = ranked[0]
    kept = [p for p in flow.profiles.kept_problems if scores[p] >= max(THIN_EVIDENCE, VIP_SHARE_OF_MVC * scores[good])]
    if main == good and kept:
        main = max(kept, key=lambda p: (scores[p], -order.index(p)))
    top_problem = max(problems, key=lambda p: (scores[p], -order.index(p)))
    good_client = main == good and scores[good] >= scores[top_problem] + 1
    if scores[main] <= 0:
        main, good_client = good, False
    elif main == good and not good_client:
        main = top_problem

    others = [p for p in problems if p != main]
    second = max(others, key=lambda p: (scores[p], -order.index(p)))
    secondary = (
        second if not good_client and scores[second] >= max(SECONDARY_MIN, SECONDARY_SHARE * scores[main]) else None
    )
    runner_up = max(scores[p] for p in order if p != main)
    margin = scores[main] - runner_up
    thin = scores[main] < THIN_EVIDENCE
    if scores[main] >= HIGH_EVIDENCE and margin >= CLEAR_MARGIN:
        confidence = "high"
    elif not thin and margin >= 1:
        confidence = "medium"
    else:
        confidence = "low"

    weighed = sorted(
        (Reason(qid, value, round(evidence.get(main, 0.0), 2)) for qid, value, evidence in per_answer),
        key=lambda r: -r.weight,
    )
    reasons = tuple(r for r in weighed if r.weight > 0)[:3]
    return Assessment(
        scores={p: round(s, 2) for p, s in scores.items()},
        main=main,
        secondary=secondary,
        confidence=confidence,
        reasons=reasons,
        own_error="own_error" in flags,
        first_time="first_time" in flags,
        recurring="recurring" in flags,
        thin=thin,
        good_client=good_client,
        shared_error="shared_error" in flags,
        new_behaviour="new_behaviour" in flags,
        escalated="escalated" in flags,
        legal="legal" in flags,
        pressure="pressure" in flags,
        repeated="repeated" in flags,
    )
