"""Which ready-to-send messages fit a case: the script catalogue as data, and one router.

Every script declares when it fits: the profiles it serves (main or strong second profile), the
answers it needs (any of the listed options; for a multiple choice, any of them picked), answers
that rule it out, and assessment flags it needs or refuses. The router keeps the scripts whose
conditions hold and orders them by their `rank`; on a bad day (a first occurrence, thin evidence,
or a good client acting out for the first time) and for a good client it drops every exit.
`check()` refuses conditions that name unknown questions or options and lists scripts no path
of the flow can reach, for `clientcoach flows check`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .classifier import Assessment
from .flow import END, FLAGS, PROFILES, Flow, Question

# Flags the router derives from the assessment, beside the flow's own flags.
DERIVED_FLAGS = ("bad_day", "good_client", "recovery_first")
KNOWN_FLAGS = (*FLAGS, *DERIVED_FLAGS)
# Ranks: lower comes first. Recovery leads whenever we erred; exits always come last.
RANK_RECOVERY, RANK_HOLDING, RANK_MONEY, RANK_PUBLIC, RANK_CALM, RANK_TERMS, RANK_CARE, RANK_EXIT = range(8)


@dataclass(frozen=True)
class Script:
    """One message in the catalogue and the conditions under which it is offered."""

    id: str
    rank: int
    profiles: tuple[str, ...] = ()  # empty = any profile
    needs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # question -> any of these options
    refuses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # question -> none of these
    filled: tuple[str, ...] = ()  # text/money questions that must have an answer
    flags: tuple[str, ...] = ()  # all of these must hold
    not_flags: tuple[str, ...] = ()  # none of these may hold
    exit: bool = False  # an exit: never for a good client or an MVC, never on a bad day
    formal: bool = False  # public or addressed to everyone: always formal, whatever the private tu/Lei


EXITS_FOR = ("gratis", "incontentabile", "distruttivo", "lvc")
# Behaviour a holding reply answers: there must be a message or an outburst to reply to.
OUTBURSTS = (
    "threats",
    "offended",
    "insults_staff",
    "calls_back",
    "discount_demands",
    "free_extras",
    "exceptions",
    "rude",
)

CATALOGUE: tuple[Script, ...] = (
    Script("recupero", RANK_RECOVERY, flags=("recovery_first",)),
    Script("attesa", RANK_HOLDING, flags=("bad_day",), not_flags=("recovery_first",), needs={"behaviours": OUTBURSTS}),
    Script("sollecito", RANK_MONEY, needs={"payment": ("late",), "owed_since": ("overdue",)}),
    Script("sollecito_fermo", RANK_MONEY, needs={"payment": ("late",), "owed_since": ("reminded",)}),
    Script("risposta_recensione", RANK_PUBLIC, needs={"conflict": ("review_posted",)}, formal=True),
    Script(
        "minaccia_recensione",
        RANK_PUBLIC,
        needs={"conflict": ("review_threatened",)},
        refuses={"conflict": ("review_posted",)},
    ),
    Script(
        "mediazione",
        RANK_CALM,
        profiles=("distruttivo",),
        needs={"behaviours": ("threats", "offended", "insults_staff")},
        not_flags=("recovery_first",),
    ),
    Script(
        "concessione",
        RANK_CALM,
        profiles=("incontentabile",),
        needs={"concessions": ("none_yet",)},
        filled=("concession_offer",),
        not_flags=("bad_day",),
    ),
    Script("tempi_di_risposta", RANK_TERMS, profiles=("incontentabile", "vip"), needs={"behaviours": ("calls_back",)}),
    Script("valore", RANK_TERMS, profiles=("gratis",), needs={"payment": ("free", "below_price")}),
    Script("passaggio_a_pagamento", RANK_TERMS, profiles=("gratis",), needs={"payment": ("free",)}),
    Script("aggiornamento_prezzo", RANK_TERMS, profiles=("lvc", "gratis"), needs={"payment": ("below_price",)}),
    Script(
        "no_chiaro",
        RANK_TERMS,
        profiles=("lvc", "incontentabile", "gratis"),
        needs={"behaviours": ("exceptions", "free_extras")},
    ),
    Script("regole_chiare", RANK_TERMS, profiles=("vip",), needs={"vip_signals": ("jumps_queue",)}),
    Script(
        "annuncio_attenzione",
        RANK_CARE,
        profiles=("vip",),
        needs={"vip_signals": ("special_attentions",)},
        filled=("attention",),
        formal=True,
    ),
    Script("check_in", RANK_CARE, profiles=("mvc",)),
    Script("referenza", RANK_EXIT, profiles=("lvc",), exit=True),
    # After a first concession the planned exit follows at once (seed 004): it stays last in the order.
    Script("recesso", RANK_EXIT, profiles=EXITS_FOR, exit=True),
)
BY_ID = {s.id: s for s in CATALOGUE}


def flags_of(assessment: Assessment) -> set[str]:
    """The flags a condition can name, from an assessment."""
    out = {name for name in FLAGS if getattr(assessment, name, False)}
    if assessment.bad_day_caveat or assessment.new_behaviour:
        out.add("bad_day")
    if assessment.good_client:
        out.add("good_client")
    if assessment.recovery_first:
        out.add("recovery_first")
    return out


def _picked(value: Any) -> set[str]:
    if value is None:
        return set()
    return set(value) if isinstance(value, list) else {str(value)}


def fits(script: Script, answers: dict[str, Any], profiles: set[str], flags: set[str]) -> bool:
    """True when every condition of the script holds for these answers, profiles and flags."""
    if script.profiles and not profiles & set(script.profiles):
        return False
    if any(not _picked(answers.get(q)) & set(opts) for q, opts in script.needs.items()):
        return False
    if any(_picked(answers.get(q)) & set(opts) for q, opts in script.refuses.items()):
        return False
    if any(answers.get(q) in (None, "") for q in script.filled):
        return False
    if not set(script.flags) <= flags or flags & set(script.not_flags):
        return False
    return not (script.exit and flags & {"bad_day", "good_client", "new_behaviour"})


def route(assessment: Assessment, answers: dict[str, Any]) -> list[Script]:
    """The scripts to offer for a case, best first."""
    profiles = {assessment.main} | ({assessment.secondary} if assessment.secondary else set())
    if assessment.good_client:
        profiles = {"mvc"}
    flags = flags_of(assessment)
    offered = [s for s in CATALOGUE if fits(s, answers, profiles, flags)]
    if assessment.main == "mvc" or assessment.good_client:
        offered = [s for s in offered if not s.exit]
    # Within a rank, the main profile's own messages come before those of the second profile.
    main = "mvc" if assessment.good_client else assessment.main
    return sorted(offered, key=lambda s: (s.rank, bool(s.profiles) and main not in s.profiles, CATALOGUE.index(s)))


# -- checks for `clientcoach flows check` ------------------------------------------------------


def condition_problems(flow: Flow, catalogue: Iterable[Script] | None = None) -> list[str]:
    """Conditions that name a question, option, profile or flag the flow does not have."""
    problems = []
    for s in CATALOGUE if catalogue is None else catalogue:
        for p in s.profiles:
            if p not in PROFILES:
                problems.append(f"script '{s.id}': unknown profile '{p}'")
        for kind, conditions in (("needs", s.needs), ("refuses", s.refuses)):
            for qid, options in conditions.items():
                q = flow.questions.get(qid)
                if q is None:
                    problems.append(f"script '{s.id}': {kind} unknown question '{qid}'")
                    continue
                for o in options:
                    if o not in q.option_index:
                        problems.append(f"script '{s.id}': {kind} unknown option '{qid}={o}'")
        for qid in s.filled:
            if qid not in flow.questions:
                problems.append(f"script '{s.id}': needs an answer to unknown question '{qid}'")
        for flag in (*s.flags, *s.not_flags):
            if flag not in KNOWN_FLAGS:
                problems.append(f"script '{s.id}': unknown flag '{flag}'")
    return problems


def _leads(q: Question, allowed: set[str] | None, barred: set[str]) -> set[tuple[str, frozenset[str]]]:
    """Where a question can lead, and with which options picked, when one of `allowed` (None: any
    option) must be picked and none of `barred` may be. A multiple choice goes where its first
    picked option with a `next` says."""
    if not q.is_choice:
        return {(q.next, frozenset())}
    usable = [o for o in q.options if o.id not in barred]
    if q.kind == "single":
        return {(o.next or q.next, frozenset({o.id})) for o in usable if allowed is None or o.id in allowed}
    leads = set()
    for needed in [o for o in usable if allowed is None or o.id in allowed]:
        for other in [needed, *usable]:  # the needed option alone, or with one other beside it
            if other is not needed and (needed.exclusive or other.exclusive):
                continue
            picked = frozenset({needed.id, other.id})
            first = next((o.next for o in q.options if o.id in picked and o.next), None)
            leads.add((first or q.next, picked))
    return leads


def reachable(flow: Flow, script: Script) -> bool:
    """True if some path through the flow asks every question the script needs, with a needed
    option picked that leads along that very path, and every question it needs filled. Questions
    asked only after some answers (`ask_if`) are passed over when the path's answers differ."""
    needed = set(script.needs) | set(script.filled)
    conditions = {qid for q in flow.questions.values() for qid in q.ask_if}
    seen: set[tuple[str, frozenset[str], frozenset[tuple[str, frozenset[str]]]]] = set()

    def arrive(qid: str, chosen: frozenset[tuple[str, frozenset[str]]]) -> str:
        answers = {cid: sorted(picked) for cid, picked in chosen}
        while qid != END and not flow.questions[qid].asked_given(answers):
            qid = flow.questions[qid].next
        return qid

    def walk(qid: str, asked: frozenset[str], chosen: frozenset[tuple[str, frozenset[str]]]) -> bool:
        if qid == END:
            return needed <= asked
        if (qid, asked, chosen) in seen:
            return False
        seen.add((qid, asked, chosen))
        q = flow.questions[qid]
        allowed = set(script.needs[qid]) if qid in script.needs else None
        for target, picked in _leads(q, allowed, set(script.refuses.get(qid, ()))):
            now = chosen | {(qid, picked)} if qid in conditions else chosen
            if walk(arrive(target, now), asked | ({qid} & needed), now):
                return True
        return False

    return walk(flow.start, frozenset(), frozenset())


def unreachable(flow: Flow, catalogue: Iterable[Script] | None = None) -> list[str]:
    """Scripts whose answer conditions no path of the flow can meet together.

    Profiles and flags depend on the scores, so only the answers are checked (see `reachable`).
    """
    return [s.id for s in (CATALOGUE if catalogue is None else catalogue) if not reachable(flow, s)]


def check(flow: Flow) -> list[str]:
    """Everything wrong between the flow and the script conditions (empty when all is well)."""
    problems = condition_problems(flow)
    problems += [f"script '{sid}': no path through the questionnaire can reach it" for sid in unreachable(flow)]
    return problems


__all__ = ["BY_ID", "CATALOGUE", "Script", "check", "fits", "flags_of", "reachable", "route", "unreachable"]
