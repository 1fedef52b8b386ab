"""What comes after a message: the plan of a case, as data beside the router.

A plan is a sequence of steps. Each step is one of the router's messages (any of a few
alternatives: the first the router offers) or an action without a message (talk to a lawyer,
stop taking new work), with when to check how it went (`Wait`: a suggested number of days, or a
fact of the case such as the end of the notice) and what follows each answer the user can give at
the check ("paid", "no answer"...): another step, the next step the router offers, closing the
case with an outcome, the end of the plan, or doing the questionnaire again.

Steps are declared in the router's order (recovery and acknowledgement first, exits last), and a
transition only ever goes forward, so no plan loops. A case's plan (`plan_for`) is computed from
`route()`: a message step is there only when the router offers its message (under the step's
`given` answers: a firmer reminder presumes the first reminder went out), so every guard that
filters messages filters the plan too; an action is refused by the same guards (by its kinds), and
the plan guards add what only a plan needs (under a legal claim, nothing but the acknowledgement
and counsel). A step that is not there hands its transitions on to its `otherwise`.
`plan_problems()` checks the declarations for `clientcoach flows check`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .actions import MAX_ANSWER, MAX_STEP
from .choices import ANSWERS  # what the user can answer when a check falls due (each step offers those that fit)
from .classifier import Assessment
from .facts import add_period, notice_period
from .scripts import BY_ID, CATALOGUE, GUARDS, KINDS, KNOWN_FLAGS, Guard, Script, flags_of, route

# The outcomes a plan can close a case with (the case book's statuses, "aperto" apart).
OUTCOMES = ("risolto", "cliente_tenuto", "cliente_lasciato")
# Targets besides a step id: the next step the router offers, the end of the plan (the case stays
# open), the questionnaire again (the client may have changed), or closing with an outcome.
NEXT, END, REASSESS, CLOSE = "next", "end", "reassess", "close:"
# Kinds only a plan's actions have (the messages' kinds are bot.scripts.KINDS).
ACTION_KINDS = ("counsel",)
# The facts a wait can come from: the end of the notice period, when the user gave it.
WAIT_FACTS = ("notice",)
DEFAULT_WAIT_DAYS = 7
STEP_ID = re.compile(rf"[a-z0-9_]{{1,{MAX_STEP}}}")
PAYMENT_ANSWERS = ("paid", "answered", "no_answer", "worse")
REPLY_ANSWERS = ("settled", "answered", "no_answer", "worse")


@dataclass(frozen=True)
class Wait:
    """When to check: `days` (a suggestion the user can change), or the date a fact of the case
    gives (the end of the notice), when the user gave it."""

    days: int = DEFAULT_WAIT_DAYS
    fact: str | None = None


@dataclass(frozen=True)
class Action:
    """A step without a message: something the user does (its kinds face the guards like a message's)."""

    id: str
    kinds: tuple[str, ...]
    flags: tuple[str, ...] = ()  # all of these must hold for the action to fit


@dataclass(frozen=True)
class Step:
    """One step: what to do, when to check, and what follows each answer."""

    id: str
    does: tuple[str, ...]  # message ids (the first the router offers) or one action id
    then: dict[str, str]  # answer -> step id | NEXT | END | REASSESS | "close:<outcome>"
    wait: Wait = Wait()
    given: dict[str, Any] = field(default_factory=dict)  # answers the step presumes by the time it comes
    otherwise: str = NEXT  # where its transitions go when the step is not in a case's plan


@dataclass(frozen=True)
class PlanGuard:
    """A rule for plans: when any of `when` holds, only steps whose kinds are all in `only`."""

    id: str
    when: tuple[str, ...]
    only: tuple[str, ...]
    why: str


ACTIONS: tuple[Action, ...] = (
    Action("counsel", ("counsel",)),
    Action("formal_notice", ("debt_step", "counsel"), flags=("money_owed",)),
    Action("stop_new_work", ("exit",)),
)
BY_ACTION = {a.id: a for a in ACTIONS}

EXITS = ("referenza", "disdetta", "recesso", "fine_lavoro", "nessun_nuovo_lavoro")
PAID, KEPT, LEFT = f"{CLOSE}risolto", f"{CLOSE}cliente_tenuto", f"{CLOSE}cliente_lasciato"

# In the router's order: a transition goes only forward (to a later step), so no plan loops.
STEPS: tuple[Step, ...] = (
    Step(
        "acknowledge",
        ("presa_d_atto",),
        {"settled": PAID, "answered": "counsel", "no_answer": "counsel", "worse": "counsel"},
        Wait(3),
    ),
    Step("recover", ("recupero",), {"settled": KEPT, "answered": NEXT, "no_answer": NEXT, "worse": NEXT}),
    Step("hold", ("attesa",), {"settled": KEPT, "answered": NEXT, "no_answer": NEXT, "worse": REASSESS}),
    Step(
        "remind",
        ("sollecito",),
        {"paid": PAID, "answered": "remind_firmly", "no_answer": "remind_firmly", "worse": "formal_notice"},
    ),
    Step(
        "remind_firmly",
        ("sollecito_fermo",),
        {"paid": PAID, "answered": "formal_notice", "no_answer": "formal_notice", "worse": "formal_notice"},
        Wait(10),
        given={"owed_since": "reminded"},
        otherwise="formal_notice",
    ),
    Step(
        "debt_apart",
        ("debito_e_recensione",),
        {"paid": PAID, "answered": "formal_notice", "no_answer": "formal_notice", "worse": "formal_notice"},
        Wait(10),
    ),
    Step(
        "reply",
        ("risposta_recensione", "minaccia_recensione"),
        {"settled": PAID, "answered": NEXT, "no_answer": NEXT, "worse": NEXT},
    ),
    Step("mediate", ("mediazione",), {"settled": KEPT, "answered": NEXT, "no_answer": NEXT, "worse": "exit"}, Wait(14)),
    Step("outside", ("problema_esterno",), {"settled": KEPT, "answered": NEXT, "no_answer": NEXT, "worse": REASSESS}),
    Step("concede", ("concessione",), {"settled": KEPT, "answered": NEXT, "no_answer": END, "worse": "exit"}, Wait(14)),
    Step(
        "value",
        ("valore",),
        {"paid": KEPT, "settled": KEPT, "answered": NEXT, "no_answer": NEXT, "worse": "exit"},
        Wait(7),
    ),
    Step(
        "price",
        ("passaggio_a_pagamento", "aggiornamento_prezzo"),
        {"paid": KEPT, "settled": KEPT, "answered": NEXT, "no_answer": NEXT, "worse": "exit"},
        Wait(14),
    ),
    Step(
        "terms",
        ("tempi_di_risposta", "no_chiaro", "regole_chiare", "sconto_vip"),
        {"settled": KEPT, "answered": NEXT, "no_answer": NEXT, "worse": "exit"},
        Wait(14),
    ),
    Step(
        "care",
        ("grazie", "check_in", "annuncio_attenzione"),
        {"settled": KEPT, "answered": KEPT, "no_answer": END, "worse": REASSESS},
        Wait(30),
    ),
    Step(
        "exit",
        EXITS,
        {"settled": LEFT, "answered": LEFT, "no_answer": LEFT, "worse": "counsel"},
        Wait(30, fact="notice"),
        otherwise="stop",
    ),
    Step(
        "stop",
        ("stop_new_work",),
        {"settled": LEFT, "answered": LEFT, "no_answer": LEFT, "worse": "counsel"},
        Wait(30),
        otherwise=END,
    ),
    Step(
        "formal_notice",
        ("formal_notice",),
        {"paid": PAID, "settled": PAID, "answered": END, "no_answer": END, "worse": END},
        Wait(30),
        otherwise="counsel",
    ),
    Step(
        "counsel",
        ("counsel",),
        {"settled": PAID, "answered": END, "no_answer": END, "worse": END},
        Wait(30),
        otherwise=END,
    ),
)
BY_STEP = {s.id: s for s in STEPS}
ORDER = {s.id: i for i, s in enumerate(STEPS)}

PLAN_GUARDS: tuple[PlanGuard, ...] = (
    PlanGuard(
        "legal_only_counsel",
        ("legal",),
        ("acknowledgement", "counsel"),
        "under a legal claim the plan is the acknowledgement, then a lawyer or the insurer: no public reply, "
        "holding message or anything else goes out before counsel",
    ),
)


@dataclass(frozen=True)
class Planned:
    """A step as it stands in one case's plan: what it does there and where each answer leads."""

    step: Step
    does: str  # the message or action id
    then: dict[str, str]  # answer -> a step id of this plan | END | REASSESS | "close:<outcome>"

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def is_message(self) -> bool:
        return self.does in BY_ID

    @property
    def answers(self) -> tuple[str, ...]:
        return tuple(a for a in ANSWERS if a in self.then)


@dataclass(frozen=True)
class CasePlan:
    """A case's plan: every step the case has, in order, and the step it starts at. Steps off the
    default course are kept: a user who sends another offered message goes on from its step."""

    steps: tuple[Planned, ...]
    answers: dict[str, Any]
    start: str | None

    @property
    def first(self) -> Planned | None:
        return self.get(self.start)

    def course(self) -> tuple[Planned, ...]:
        """The steps an answer can lead to from the first one, in order: the plan as shown."""
        reached: set[str] = set()
        waiting = [self.start] if self.start else []
        while waiting:
            sid = waiting.pop()
            if sid not in reached:
                reached.add(sid)
                waiting += [t for t in self._targets(sid) if not is_target(t)]
        return tuple(p for p in self.steps if p.id in reached)

    def _targets(self, step_id: str) -> list[str]:
        found = self.get(step_id)
        return list(found.then.values()) if found else []

    def get(self, step_id: str | None) -> Planned | None:
        return next((p for p in self.steps if p.id == step_id), None)

    def for_message(self, message: str) -> Planned | None:
        """The step of this plan that sends `message` (a message id or an action id)."""
        return next((p for p in self.steps if p.does == message), None)

    def message_answers(self, planned: Planned) -> dict[str, Any]:
        """The answers the step's message is written from: the case's, with what the step presumes."""
        return {**self.answers, **planned.step.given}

    def due(self, planned: Planned, sent: datetime) -> datetime:
        """When to check on a step sent at `sent`: the end of the notice when the step waits for it and
        the user gave it, else the suggested days."""
        period = notice_period(self.answers) if planned.step.wait.fact == "notice" else None
        if period is not None:
            return datetime.combine(add_period(sent.date(), *period), sent.timetz())
        return sent + timedelta(days=planned.step.wait.days)

    def waits_for_fact(self, planned: Planned) -> bool:
        """True when the check date comes from the user's facts, not from a suggestion."""
        return planned.step.wait.fact == "notice" and notice_period(self.answers) is not None


def is_target(value: str) -> bool:
    """A transition that leaves the plan's steps: the end, the questionnaire again, or an outcome."""
    return value in (END, REASSESS) or (value.startswith(CLOSE) and value[len(CLOSE) :] in OUTCOMES)


def plan_blocked(
    kinds: Iterable[str], flags: set[str], plan_guards: Iterable[PlanGuard] = PLAN_GUARDS
) -> PlanGuard | None:
    """The first plan guard that refuses a step of these kinds under these flags, or None."""
    kinds = set(kinds)
    return next((g for g in plan_guards if flags & set(g.when) and not kinds <= set(g.only)), None)


def _guarded_kinds(kinds: tuple[str, ...], flags: set[str], guards: Iterable[Guard]) -> bool:
    return any(flags & set(g.when) and set(g.refuses) & set(kinds) for g in guards)


def plan_for(
    assessment: Assessment,
    answers: dict[str, Any],
    guards: Iterable[Guard] = GUARDS,
    plan_guards: Iterable[PlanGuard] = PLAN_GUARDS,
) -> CasePlan:
    """A case's plan: from the step of the router's first message, every step an answer can lead to."""
    guards, plan_guards = tuple(guards), tuple(plan_guards)
    flags = flags_of(assessment, answers)
    routes: dict[str, list[Script]] = {}

    def offered(step: Step) -> list[Script]:
        key = repr(sorted(step.given.items()))
        if key not in routes:
            routes[key] = route(assessment, {**answers, **step.given}, guards)
        return routes[key]

    def does(step: Step) -> str | None:
        """What the step does in this case, or None when it is not there."""
        if step.does[0] in BY_ACTION:
            action = BY_ACTION[step.does[0]]
            if not set(action.flags) <= flags or _guarded_kinds(action.kinds, flags, guards):
                return None
            return action.id if plan_blocked(action.kinds, flags, plan_guards) is None else None
        for script in offered(step):
            if script.id in step.does and plan_blocked(script.kinds, flags, plan_guards) is None:
                return script.id
        return None

    present = {s.id: d for s in STEPS if (d := does(s)) is not None}

    def resolve(target: str, after: int) -> str:
        """A declared target as it stands in this case: a step that is there, or where it hands on to."""
        if target == NEXT:
            later = [s for s in STEPS[after + 1 :] if s.id in present and s.does[0] in BY_ID]
            return later[0].id if later else END
        if is_target(target):
            return target
        step = BY_STEP[target]
        return target if target in present else resolve(step.otherwise, ORDER[target])

    # The plan starts where the router's offer starts: at the step of the first offered message it has.
    step_of_message = {d: sid for sid, d in present.items()}
    start = next((step_of_message[s.id] for s in route(assessment, answers, guards) if s.id in step_of_message), None)
    steps = []
    for sid, message in present.items():
        then = {a: resolve(t, ORDER[sid]) for a, t in BY_STEP[sid].then.items()}
        steps.append(Planned(BY_STEP[sid], message, then))
    return CasePlan(tuple(steps), answers, start)


def default_path(plan: CasePlan) -> list[Planned]:
    """The steps taken when the client never answers: from the first, along "no answer"."""
    path: list[Planned] = []
    current = plan.first
    while current is not None and current not in path:
        path.append(current)
        current = plan.get(current.then.get("no_answer"))
    return path


def step_of(message: str) -> Step | None:
    """The declared step that sends `message` (a message id or an action id)."""
    return next((s for s in STEPS if message in s.does), None)


# -- checks for `clientcoach flows check` ------------------------------------------------------


def plan_problems(
    steps: Iterable[Step] | None = None,
    catalogue: Iterable[Script] | None = None,
    plan_guards: Iterable[PlanGuard] = PLAN_GUARDS,
) -> list[str]:
    """Everything wrong in the plan declarations: unknown messages, actions, answers, targets or
    flags; a transition that goes back (a loop); a step nothing leads to; a message no step sends."""
    steps = tuple(STEPS if steps is None else steps)
    messages = {s.id for s in (CATALOGUE if catalogue is None else catalogue)}
    order = {s.id: i for i, s in enumerate(steps)}
    problems: list[str] = []
    sent: dict[str, str] = {}
    targeted: set[str] = set()
    read = {q for s in (CATALOGUE if catalogue is None else catalogue) for q in (*s.needs, *s.refuses)}
    for i, step in enumerate(steps):
        where = f"plan step '{step.id}'"
        if not STEP_ID.fullmatch(step.id):
            problems.append(f"{where}: an id is 1 to {MAX_STEP} lower-case letters, digits or _ (a button carries it)")
        if not step.does:
            problems.append(f"{where}: does nothing (name a message or an action)")
        actions = [d for d in step.does if d in BY_ACTION]
        if actions and len(step.does) > 1:
            problems.append(f"{where}: an action is a step of its own, not an alternative to a message")
        for d in step.does:
            if d not in messages and d not in BY_ACTION:
                problems.append(f"{where}: unknown message or action '{d}'")
            elif d in sent:
                problems.append(f"{where}: '{d}' is already sent by step '{sent[d]}'")
            sent.setdefault(d, step.id)
        if not step.then:
            problems.append(f"{where}: says nothing of what follows")
        for answer, target in (*step.then.items(), ("(otherwise)", step.otherwise)):
            if answer != "(otherwise)" and (answer not in ANSWERS or len(answer) > MAX_ANSWER):
                problems.append(f"{where}: unknown answer '{answer}'")
            if target == NEXT or is_target(target):
                continue
            if target.startswith(CLOSE):
                problems.append(f"{where}: '{answer}' closes with unknown outcome '{target[len(CLOSE) :]}'")
            elif target not in order:
                problems.append(f"{where}: '{answer}' leads to unknown step '{target}'")
            elif order[target] <= i:
                problems.append(f"{where}: '{answer}' leads back to step '{target}' (a loop)")
            else:
                targeted.add(target)
        if step.wait.fact is not None and step.wait.fact not in WAIT_FACTS:
            problems.append(f"{where}: waits for unknown fact '{step.wait.fact}'")
        if step.wait.days <= 0:
            problems.append(f"{where}: waits {step.wait.days} days (a check needs a day at least)")
        for question in step.given:
            if question not in read:
                problems.append(f"{where}: presumes an answer to '{question}', which no message's condition reads")
        # An action is never first (the plan starts at a message): nothing leading to it, it is unreachable.
    for step in steps:
        if step.does and step.does[0] in BY_ACTION and step.id not in targeted:
            problems.append(f"plan step '{step.id}': no answer of any step leads to it (unreachable)")
    problems += [f"message '{m}': no plan step sends it" for m in sorted(messages - set(sent))]
    for action in ACTIONS:
        problems += [
            f"action '{action.id}': unknown kind '{k}'" for k in action.kinds if k not in (*KINDS, *ACTION_KINDS)
        ]
        problems += [f"action '{action.id}': unknown flag '{f}'" for f in action.flags if f not in KNOWN_FLAGS]
    for guard in plan_guards:
        problems += [f"plan guard '{guard.id}': unknown flag '{f}'" for f in guard.when if f not in KNOWN_FLAGS]
        problems += [
            f"plan guard '{guard.id}': unknown kind '{k}'" for k in guard.only if k not in (*KINDS, *ACTION_KINDS)
        ]
    return problems


__all__ = [
    "ACTIONS",
    "ANSWERS",
    "BY_ACTION",
    "BY_STEP",
    "CLOSE",
    "END",
    "NEXT",
    "OUTCOMES",
    "PLAN_GUARDS",
    "REASSESS",
    "STEPS",
    "Action",
    "CasePlan",
    "PlanGuard",
    "Planned",
    "Step",
    "Wait",
    "default_path",
    "is_target",
    "plan_blocked",
    "plan_for",
    "plan_problems",
    "step_of",
]
