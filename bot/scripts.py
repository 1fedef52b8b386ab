"""Which ready-to-send messages fit a case: the script catalogue as data, and one router.

Every script declares when it fits: the profiles it serves (main or strong second profile), the
answers it needs (any of the listed options; for a multiple choice, any of them picked), answers
that rule it out, assessment flags it needs or refuses, and what kind of message it is (an
admission, a concession, an exit...). The guards are rules no message may break, as data: under a
legal claim no admission, concession, exit or argument; under a threat no concession; with money
owed nothing that contradicts the reminder; on a bad day, for a good client, a VIP or an MVC no
exit. The router keeps the scripts whose conditions hold and no guard refuses, ordered by `rank`.
`check()` refuses conditions that name unknown questions or options and lists scripts no path
of the flow can reach, for `clientcoach flows check`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .flow import END, FLAGS, Flow, Question, bundled_profiles
from .profiles import Profiles

if TYPE_CHECKING:  # only named in signatures: a renderer loads the catalogue without the classifier
    from .classifier import Assessment

# Flags the router derives from the assessment and the answers, beside the flow's own flags.
DERIVED_FLAGS = ("bad_day", "good_client", "recovery_first", "keep_client", "money_owed")
KNOWN_FLAGS = (*FLAGS, *DERIVED_FLAGS)
# Ranks: lower comes first. Recovery (or, under a legal claim, the acknowledgement) leads; exits come last.
RANK_RECOVERY, RANK_HOLDING, RANK_MONEY, RANK_PUBLIC, RANK_CALM, RANK_TERMS, RANK_CARE, RANK_EXIT = range(8)
# What a message does, as the guards name it.
KINDS = (
    "acknowledgement",  # says a letter or a claim was received, commits to nothing
    "admission",  # recognises the user's own mistake
    "concession",  # gives money or terms (a discount, an extra)
    "exit",  # ends the relationship or declines further work
    "withdrawal",  # a professional's withdrawal from a mandate (art. 2237 c.c.)
    "referral",  # points the client to someone else
    "price",  # proposes a price or a move to paid work
    "value",  # states what the work is worth
    "merits",  # argues or discusses the substance of a dispute
    "money",  # asks for money owed
    "debt_step",  # names the next step of debt collection
    "holding",  # a reply that takes time
    "public",  # read by everyone: a review reply, an announcement
    "terms",  # states how the user works, or says no
    "care",  # looks after a good client
)


@dataclass(frozen=True)
class Script:
    """One message in the catalogue and the conditions under which it is offered."""

    id: str
    rank: int
    kinds: tuple[str, ...]  # what the message does (the guards refuse kinds, see GUARDS)
    profiles: tuple[str, ...] = ()  # empty = any profile
    needs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # question -> any of these options
    refuses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # question -> none of these
    filled: tuple[str, ...] = ()  # text/money questions that must have an answer
    flags: tuple[str, ...] = ()  # all of these must hold
    not_flags: tuple[str, ...] = ()  # none of these may hold
    formal: bool = False  # public or addressed to everyone: always formal, whatever the private tu/Lei
    # The facts its text uses (names of `bot.facts.Facts` fields), listed in the README.
    uses: tuple[str, ...] = ()

    @property
    def exit(self) -> bool:
        """Ends the relationship or declines further work."""
        return "exit" in self.kinds


@dataclass(frozen=True)
class Guard:
    """A rule no message may break: when any of `when` holds, no message of the `refuses` kinds."""

    id: str
    when: tuple[str, ...]
    refuses: tuple[str, ...]
    why: str  # for the README


GUARDS: tuple[Guard, ...] = (
    Guard(
        "legal_dispute",
        ("legal",),
        ("admission", "concession", "exit", "withdrawal", "referral", "price", "value", "merits", "money"),
        "a lawyer's letter, a threat to sue, a formal complaint or a damages claim: a written admission is "
        "evidence (art. 2735 c.c.) and may breach the liability policy; only the acknowledgement, a public "
        "reply that commits to nothing, and speaking to a lawyer or the insurer first",
    ),
    Guard(
        "under_pressure",
        ("pressure",),
        ("concession", "price"),
        "a review or harm threatened to obtain something: a concession would reward the threat",
    ),
    Guard(
        "money_owed",
        ("money_owed",),
        ("concession", "care", "value", "merits"),
        "an overdue invoice: no message may contradict the reminder (no discount, no friendly check-in, no "
        "negotiation that could reopen the amount)",
    ),
    Guard(
        "keep_the_client",
        ("bad_day", "good_client", "keep_client"),
        ("exit", "withdrawal", "referral"),
        "a possible bad day, a good client, a VIP or an MVC: no exit and no referral",
    ),
    Guard(
        "after_our_error",
        ("recovery_first",),
        ("withdrawal", "money", "debt_step"),
        "the trouble began with the user's mistake: withdrawing is not giusta causa (art. 2237 c.c.), and "
        "asking for the full amount next to an admission reads as a contradiction (the client may withhold "
        "payment for defective work, art. 1460 c.c.): put it right first, remind later",
    ),
)
BY_GUARD = {g.id: g for g in GUARDS}

EXITS_FOR = ("gratis", "incontentabile", "distruttivo", "lvc")
# Behaviour a holding reply answers: there must be a message or an outburst to reply to.
OUTBURSTS = (
    "threats",
    "offended",
    "insults_staff",
    "legal",
    "calls_back",
    "discount_demands",
    "free_extras",
    "exceptions",
    "rude",
)
ONE_OFF_OPEN = ("one_off_not_started", "one_off_in_progress")
OVERDUE = ("overdue", "reminded")
PERSON = ("address", "gender", "form", "voice")  # what every letter uses to greet and agree

CATALOGUE: tuple[Script, ...] = (
    Script(
        "presa_d_atto",
        RANK_RECOVERY,
        ("acknowledgement",),
        flags=("legal",),
        uses=(*PERSON, "conflict", "service"),
    ),
    Script(
        "recupero",
        RANK_RECOVERY,
        ("admission",),
        flags=("recovery_first",),
        uses=(*PERSON, "own_error", "shared_error", "mistake", "remedy", "offer", "service", "reply_time"),
    ),
    Script(
        "attesa",
        RANK_HOLDING,
        ("holding",),
        flags=("bad_day",),
        not_flags=("recovery_first",),
        needs={"behaviours": OUTBURSTS},
        uses=(*PERSON, "reply_time", "channel"),
    ),
    Script(
        "sollecito",
        RANK_MONEY,
        ("money",),
        needs={"payment": ("late",), "owed_since": ("overdue",)},
        not_flags=("pressure",),
        uses=(*PERSON, "owed", "service"),
    ),
    Script(
        "sollecito_fermo",
        RANK_MONEY,
        ("money", "debt_step"),
        needs={"payment": ("late",), "owed_since": ("reminded",)},
        not_flags=("pressure",),
        uses=(*PERSON, "owed", "service", "b2b"),
    ),
    Script(
        "debito_e_recensione",
        RANK_MONEY,
        ("money",),
        needs={"payment": ("late",), "owed_since": OVERDUE},
        flags=("pressure",),
        uses=(*PERSON, "owed", "service", "owed_since"),
    ),
    Script(
        "risposta_recensione",
        RANK_PUBLIC,
        ("public",),
        needs={"conflict": ("review_posted", "public_posts")},
        formal=True,
        uses=("voice", "channel"),
    ),
    Script(
        "minaccia_recensione",
        RANK_PUBLIC,
        ("merits",),
        needs={"conflict": ("review_threatened",)},
        refuses={"owed_since": OVERDUE},
        uses=(*PERSON, "service", "channel", "own_error", "fair_complaint"),
    ),
    Script(
        "mediazione",
        RANK_CALM,
        ("merits",),
        profiles=("distruttivo",),
        needs={"behaviours": ("threats", "offended", "insults_staff")},
        not_flags=("recovery_first",),
        uses=(*PERSON, "service", "channel", "hours", "insults", "fair_complaint"),
    ),
    Script(
        "problema_esterno",
        RANK_CALM,
        ("holding",),
        profiles=("mvc", "vip"),
        needs={"origin": ("external",)},
        uses=(*PERSON, "service", "reply_time"),
    ),
    Script(
        "concessione",
        RANK_CALM,
        ("concession",),
        profiles=("incontentabile",),
        needs={"concessions": ("none_yet",)},
        filled=("concession_offer",),
        not_flags=("bad_day",),
        uses=(*PERSON, "offer", "service"),
    ),
    Script(
        "tempi_di_risposta",
        RANK_TERMS,
        ("terms",),
        profiles=("incontentabile", "vip"),
        needs={"behaviours": ("calls_back",)},
        uses=(*PERSON, "service", "hours", "reply_time", "channel"),
    ),
    Script(
        "sconto_vip",
        RANK_TERMS,
        ("terms",),
        profiles=("vip",),
        needs={"behaviours": ("discount_demands",)},
        uses=(*PERSON, "service"),
    ),
    Script(
        "valore",
        RANK_TERMS,
        ("value",),
        profiles=("gratis",),
        needs={"payment": ("free", "below_price")},
        uses=(*PERSON, "service", "price", "price_unit", "stage", "payment"),
    ),
    Script(
        "passaggio_a_pagamento",
        RANK_TERMS,
        ("price",),
        profiles=("gratis",),
        needs={"payment": ("free",)},
        uses=(*PERSON, "service", "price", "price_unit", "stage"),
    ),
    Script(
        "aggiornamento_prezzo",
        RANK_TERMS,
        ("price",),
        profiles=("lvc", "gratis"),
        needs={"payment": ("below_price",)},
        uses=(*PERSON, "service", "price", "price_unit", "stage"),
    ),
    Script(
        "no_chiaro",
        RANK_TERMS,
        ("terms",),
        profiles=("lvc", "incontentabile", "gratis"),
        needs={"behaviours": ("exceptions", "free_extras")},
        uses=(*PERSON, "behaviours", "payment"),
    ),
    Script(
        "regole_chiare",
        RANK_TERMS,
        ("terms",),
        profiles=("vip",),
        needs={"vip_signals": ("jumps_queue", "informal", "others_pay")},
        uses=(*PERSON, "service", "hours", "reply_time", "channel", "informal"),
    ),
    Script(
        "annuncio_attenzione",
        RANK_CARE,
        ("public",),
        profiles=("vip",),
        needs={"vip_signals": ("special_attentions",)},
        filled=("attention",),
        formal=True,
        uses=("voice", "attention", "business"),
    ),
    Script(
        "grazie",
        RANK_CARE,
        ("care",),
        profiles=("mvc", "vip"),
        needs={"behaviours": ("invests",)},
        uses=(*PERSON, "service"),
    ),
    Script(
        "check_in",
        RANK_CARE,
        ("care",),
        profiles=("mvc", "vip"),
        needs={"origin": ("no_problem_yet", "unsure")},
        refuses={"behaviours": (*OUTBURSTS, "invests")},
        uses=(*PERSON, "service", "channel"),
    ),
    Script(
        "referenza",
        RANK_EXIT,
        ("referral", "exit"),
        profiles=("lvc",),
        uses=(*PERSON, "service", "stage", "relationship"),
    ),
    # Exits follow the shape of the relationship: who may end what, and how, differs.
    Script(
        "disdetta",
        RANK_EXIT,
        ("exit",),
        profiles=EXITS_FOR,
        needs={"relationship": ("ongoing",)},
        uses=(*PERSON, "service", "notice", "notice_period", "end_date"),
    ),
    Script(
        "recesso",
        RANK_EXIT,
        ("exit", "withdrawal"),
        profiles=EXITS_FOR,
        needs={"relationship": ("mandate", *ONE_OFF_OPEN), "trade": ("professional",)},
        uses=(*PERSON, "service", "stage", "notice", "notice_period", "end_date", "payment"),
    ),
    Script(
        "fine_lavoro",
        RANK_EXIT,
        ("exit",),
        profiles=EXITS_FOR,
        needs={"relationship": ONE_OFF_OPEN, "trade": ("craft", "retail")},
        uses=(*PERSON, "service", "stage"),
    ),
    Script(
        "nessun_nuovo_lavoro",
        RANK_EXIT,
        ("exit",),
        profiles=EXITS_FOR,
        needs={"relationship": ("one_off_finished", "warranty", "prepaid")},
        uses=(*PERSON, "service", "relationship", "prepaid_state"),
    ),
)
BY_ID = {s.id: s for s in CATALOGUE}


def flags_of(
    assessment: Assessment, answers: dict[str, Any] | None = None, profiles: Profiles | None = None
) -> set[str]:
    """The flags a condition or a guard can name, from an assessment (and the answers, for money owed);
    `profiles` (default: the bundled flow's) say which clients are kept."""
    out = {name for name in FLAGS if getattr(assessment, name, False)}
    if assessment.bad_day_caveat or assessment.new_behaviour:
        out.add("bad_day")
    if assessment.good_client:
        out.add("good_client")
    if assessment.recovery_first:
        out.add("recovery_first")
    if assessment.good_client or (profiles or bundled_profiles()).kept(assessment.main):
        out.add("keep_client")
    if answers and answers.get("payment") == "late" and answers.get("owed_since") in OVERDUE:
        out.add("money_owed")
    return out


def implied(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers with what they imply but the questionnaire does not ask: an open-ended
    professional mandate is an intellectual profession's work."""
    if answers.get("relationship") == "mandate" and "trade" not in answers:
        return {**answers, "trade": "professional"}
    return answers


def guarded(script: Script, flags: set[str], guards: Iterable[Guard] = GUARDS) -> Guard | None:
    """The first guard that rules the script out under these flags, or None."""
    return next((g for g in guards if flags & set(g.when) and set(g.refuses) & set(script.kinds)), None)


def _picked(value: Any) -> set[str]:
    if value is None:
        return set()
    return set(value) if isinstance(value, list) else {str(value)}


def fits(script: Script, answers: dict[str, Any], profiles: set[str], flags: set[str]) -> bool:
    """True when every condition of the script holds for these answers, profiles and flags (the
    guards apart: see `route`)."""
    if script.profiles and not profiles & set(script.profiles):
        return False
    if any(not _picked(answers.get(q)) & set(opts) for q, opts in script.needs.items()):
        return False
    if any(_picked(answers.get(q)) & set(opts) for q, opts in script.refuses.items()):
        return False
    if any(answers.get(q) in (None, "") for q in script.filled):
        return False
    return set(script.flags) <= flags and not flags & set(script.not_flags)


def route(
    assessment: Assessment,
    answers: dict[str, Any],
    guards: Iterable[Guard] = GUARDS,
    profiles: Profiles | None = None,
) -> list[Script]:
    """The scripts to offer for a case, best first: those whose conditions hold and no guard refuses.
    A good client's main profile is the good client's own, with no second one (see the classifier)."""
    main = assessment.main
    served = {main} | ({assessment.secondary} if assessment.secondary else set())
    answers = implied(answers)
    flags = flags_of(assessment, answers, profiles)
    guards = tuple(guards)
    offered = [s for s in CATALOGUE if fits(s, answers, served, flags) and guarded(s, flags, guards) is None]
    # Within a rank, the main profile's own messages come before those of the second profile.
    return sorted(offered, key=lambda s: (s.rank, bool(s.profiles) and main not in s.profiles, CATALOGUE.index(s)))


# -- checks for `clientcoach flows check` ------------------------------------------------------


def condition_problems(flow: Flow, catalogue: Iterable[Script] | None = None) -> list[str]:
    """Conditions that name a question, option, profile or flag the flow does not have."""
    problems = []
    for s in CATALOGUE if catalogue is None else catalogue:
        for p in s.profiles:
            if p not in flow.profiles:
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
        problems += [f"script '{s.id}': unknown kind '{k}'" for k in s.kinds if k not in KINDS]
        if not s.kinds:
            problems.append(f"script '{s.id}': says no kind (what the message does, for the guards)")
    return problems


def guard_problems(guards: Iterable[Guard] = GUARDS, catalogue: Iterable[Script] | None = None) -> list[str]:
    """Guards that name an unknown flag or kind, or refuse a kind no message has (a guard that guards nothing)."""
    used = {k for s in (CATALOGUE if catalogue is None else catalogue) for k in s.kinds}
    problems = []
    for g in guards:
        problems += [f"guard '{g.id}': unknown flag '{f}'" for f in g.when if f not in KNOWN_FLAGS]
        problems += [f"guard '{g.id}': unknown kind '{k}'" for k in g.refuses if k not in KINDS]
        if not set(g.refuses) & used:
            problems.append(f"guard '{g.id}': no message is of a kind it refuses")
    return problems


def _answers_to(q: Question, allowed: set[str] | None, barred: set[str]) -> set[frozenset[str]]:
    """The answers to `q` worth trying (options picked; none for a typed answer) when one of
    `allowed` (None: any option) must be picked and none of `barred` may be: each option of a single
    choice; for a multiple choice, a needed option alone or beside one other."""
    if not q.is_choice:
        return {frozenset()}
    usable = [o for o in q.options if o.id not in barred]
    needed = [o for o in usable if allowed is None or o.id in allowed]
    if q.kind == "single":
        return {frozenset({o.id}) for o in needed}
    return {
        frozenset({one.id, other.id})
        for one in needed
        for other in [one, *usable]
        if other is one or not (one.exclusive or other.exclusive)
    }


def _value(q: Question, picked: frozenset[str]) -> Any:
    """`picked` as the stored answer to `q` (an option id, a list of them; None for a typed answer)."""
    if q.kind == "single":
        return next(iter(picked))
    return sorted(picked) if q.kind == "multi" else None


def reachable(flow: Flow, script: Script) -> bool:
    """True if some path through the flow asks every question the script needs, with a needed
    option picked that leads along that very path, and every question it needs filled. The path
    goes where the flow's own walk (`Flow.next_for`) takes its answers, `ask_if` included."""
    needed = set(script.needs) | set(script.filled)
    conditions = {qid for q in flow.questions.values() for qid in q.ask_if}
    seen: set[tuple[str, frozenset[str], frozenset[tuple[str, frozenset[str]]]]] = set()

    def walk(qid: str, asked: frozenset[str], chosen: frozenset[tuple[str, frozenset[str]]]) -> bool:
        if qid == END:
            return needed <= asked
        if (qid, asked, chosen) in seen:
            return False
        seen.add((qid, asked, chosen))
        q = flow.questions[qid]
        allowed = set(script.needs[qid]) if qid in script.needs else None
        for picked in _answers_to(q, allowed, set(script.refuses.get(qid, ()))):
            # Only the answers a later `ask_if` reads are carried along the path.
            now = chosen | {(qid, picked)} if qid in conditions else chosen
            answers = {cid: sorted(p) for cid, p in now} | {qid: _value(q, picked)}
            if walk(flow.next_for(qid, answers), asked | ({qid} & needed), now):
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
    problems = condition_problems(flow) + guard_problems()
    problems += [f"script '{sid}': no path through the questionnaire can reach it" for sid in unreachable(flow)]
    return problems


__all__ = [
    "BY_ID",
    "CATALOGUE",
    "GUARDS",
    "Guard",
    "Script",
    "check",
    "fits",
    "flags_of",
    "guarded",
    "reachable",
    "route",
    "unreachable",
]
