"""Load and validate a questionnaire flow (YAML) into plain, frozen data.

A flow file declares questions, their options, the branching between them and the evidence each
answer adds to each profile. Everything is checked at load; an error names the file, the line,
the question and the problem, so a broken flow never reaches a user.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .languages import Languages, load_languages
from .paths import default_flow
from .profiles import GOOD_CLIENT, NAME_KINDS, ROLES, Profile, Profiles
from .yamlfile import LINE as _LINE, YamlFileError, digest, read_document

KINDS = ("single", "multi", "text", "number", "money")
# What an answer can say beyond evidence: the user's error (own, shared), a first occurrence (for a
# long-standing good client: new behaviour), a repeat (often: a habit); the dispute already escalated (a review
# posted, a lawyer's letter...), a legal dispute, a threat used as pressure.
FLAGS = (
    "own_error",
    "shared_error",
    "first_time",
    "new_behaviour",
    "recurring",
    "repeated",
    "escalated",
    "legal",
    "pressure",
)
END = "end"
# Questions the scripts and the case book read by id; a flow must have them.
REQUIRED_IDS = ("alias", "price", "who")
TEXT_MAX_DEFAULT = 500
PROFILE_KEYS = ("id", "role", "keep", *NAME_KINDS, "guide")


class FlowError(ValueError):
    """A flow file that cannot be used, with where and why."""

    def __init__(self, path: str | Path, line: int | None, question: str | None, problem: str):
        self.path, self.line, self.question, self.problem = str(path), line, question, problem
        where = f"{path}:{line}" if line else str(path)
        about = f" question '{question}':" if question else ""
        super().__init__(f"{where}:{about} {problem}")


@dataclass(frozen=True)
class Option:
    """One answer a user can pick."""

    id: str
    label: dict[str, str]
    evidence: dict[str, float]
    flags: tuple[str, ...]
    next: str | None
    exclusive: bool
    line: int
    # Words a person would type for this option besides its label («uomo, Lei»), per language,
    # as `word_key` writes them.
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """A unit a money or number answer may name after the amount ("48 all'ora"), and the words for it."""

    id: str
    label: dict[str, str]
    words: dict[str, tuple[str, ...]]  # language -> words, as `unit_key` writes them
    line: int
    max: float | None = None  # a tighter upper bound for amounts in this unit (a percentage: 100)
    share: bool = False  # the amount is a percentage (a commission), never written as money


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ASCII punctuation (but % and the apostrophe) read as a space in typed words.
_PUNCTUATION_AS_SPACE = str.maketrans({c: " " for c in '!"#$&()*+,-./:;<=>?@[\\]^_`{|}~'})


def word_key(text: str) -> str:
    """Typed words as option words are compared: case, accents, apostrophes and punctuation do not
    matter ("Sì, Lei" -> "si lei"). One pass over the text."""
    folded = text.casefold().replace("\u2019", "'")
    if not folded.isascii():  # accents only outside ASCII: most words skip the decomposition
        folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return " ".join(folded.translate(_PUNCTUATION_AS_SPACE).split()) if folded.isascii() else _spaced(folded)


def _spaced(folded: str) -> str:
    """Every character that is neither a letter, a digit, % nor an apostrophe becomes a space."""
    return " ".join("".join(c if c.isalnum() or c in "%'" else " " for c in folded).split())


def unit_key(text: str) -> str:
    """A unit as written, ready to look up: case, typographic apostrophes, spacing and a leading
    slash or a trailing dot do not matter ("/Ora", "all’ora ", "cad.")."""
    return " ".join(text.casefold().replace("\u2019", "'").split()).lstrip("/ ").rstrip(". ")


@dataclass(frozen=True)
class Band:
    """Evidence a numeric answer adds when it falls in [min, max]."""

    min: float | None
    max: float | None
    evidence: dict[str, float]
    flags: tuple[str, ...]

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class Question:
    """One step of the questionnaire."""

    id: str
    kind: str
    text: dict[str, str]
    short: dict[str, str]
    hint: dict[str, str]
    optional: bool
    options: tuple[Option, ...]
    next: str
    validate: dict[str, Any]
    bands: tuple[Band, ...]
    line: int
    option_index: dict[str, Option] = field(repr=False, compare=False)
    # Whether the case book's search covers this answer (text questions only; all of them by default).
    searchable: bool = False
    # Units a money answer may name; the first is meant when none is written. The answer is then
    # {"amount": number, "unit": unit id}.
    units: tuple[Unit, ...] = ()
    # Asked only when an earlier answer is one of these options (question -> option ids); when
    # not, the walk goes on to `next`. A follow-up opens only on the branch whose messages use it.
    ask_if: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The answer that tells nothing that matters about the client (a choice question only: an
    # option id, a tuple of them for multi): what a test scenario that does not mention the
    # question answers. None: a scenario must answer it (or, if optional, skips it).
    neutral: str | tuple[str, ...] | None = None

    def branch(self, value: Any) -> str:
        """Where an answer leads before any `ask_if` is weighed: the first picked option, in flow
        order, that opens a branch of its own, else `next` (also for no answer yet)."""
        if not self.is_choice:
            return self.next
        picked = value if isinstance(value, list) else [value]
        return next((o.next for o in self.options if o.next and o.next != self.next and o.id in picked), self.next)

    def asked_given(self, answers: dict[str, Any]) -> bool:
        """Whether the earlier `answers` call for this question (always, without `ask_if`)."""
        for qid, wanted in self.ask_if.items():
            if qid not in answers:  # not answered yet (a look-ahead): counted as asked
                continue
            given = answers[qid]
            picked = set(given) if isinstance(given, list) else {given}
            if not picked & set(wanted):
                return False
        return True

    def unit_named(self, text: str, lang: str) -> Unit | None:
        """The unit `text` names in `lang` (None if none does); empty text means the first unit."""
        key = unit_key(text)
        if not key:
            return self.units[0] if self.units else None
        return next((u for u in self.units if key in u.words.get(lang, ())), None)

    @property
    def is_choice(self) -> bool:
        return self.kind in ("single", "multi")

    def accepts(self, value: Any) -> bool:
        """Whether a stored answer fits this question: None for an optional one, an option id (a list
        of them for multi), a text for text, a number for number and money."""
        if value is None:
            return self.optional
        if self.kind == "single":
            return isinstance(value, str) and value in self.option_index
        if self.kind == "multi":
            return isinstance(value, list) and all(isinstance(v, str) and v in self.option_index for v in value)
        if self.kind == "text":
            return isinstance(value, str)
        if self.units:
            return (
                isinstance(value, dict)
                and set(value) == {"amount", "unit"}
                and _is_number(value["amount"])
                and value["unit"] in {u.id for u in self.units}
            )
        return _is_number(value)

    def targets(self) -> list[str]:
        """Every question this one can lead to."""
        return [self.next] + [o.next for o in self.options if o.next]


@dataclass(frozen=True)
class Flow:
    """A validated questionnaire."""

    id: str
    version: int
    start: str
    questions: dict[str, Question]
    path: str
    fingerprint: str
    title: dict[str, str]
    profiles: Profiles

    def question(self, qid: str) -> Question:
        return self.questions[qid]

    def next_for(self, qid: str, answers: dict[str, Any]) -> str:
        """The question asked after `qid` given the answers so far (END when none is): the branch
        the answer to `qid` takes (its default `next` while unanswered), then `arrive`. The one
        walk of the flow: the engine's machine, the progress count and `flows check` all use it."""
        return self.arrive(self.questions[qid].branch(answers.get(qid)), answers)

    def arrive(self, qid: str, answers: dict[str, Any]) -> str:
        """The question a walk stops at from `qid`: those whose `ask_if` the answers do not meet are
        passed over (a follow-up only a branch's messages need)."""
        while qid != END and not self.questions[qid].asked_given(answers):
            qid = self.questions[qid].next
        return qid

    def next_choices(self, qid: str) -> tuple[str, ...]:
        """Every question `next_for` can give after `qid`, whatever the answers: each branch's
        target and, past questions that may be passed over, where the walk goes on."""
        found: list[str] = []
        for target in dict.fromkeys(self.questions[qid].targets()):
            while target not in found:
                found.append(target)
                if target == END or not self.questions[target].ask_if:
                    break
                target = self.questions[target].next
        return tuple(found)

    def search_texts(self, answers: dict[str, Any]) -> list[str]:
        """What the case book's search indexes of a case's answers: the searchable ones, in flow order."""
        return [value for q in self.questions.values() if q.searchable and isinstance(value := answers.get(q.id), str)]


# -- loading helpers ---------------------------------------------------------------------------


class _Checker:
    """Builds the dataclasses while collecting the first problem with its place."""

    def __init__(self, path: Path, languages: Languages):
        self.path, self.langs, self.templates = path, languages.codes, languages.directory
        self.profile_ids: tuple[str, ...] = ()

    def fail(self, node: Any, problem: str, question: str | None = None) -> FlowError:
        line = node.get(_LINE) if isinstance(node, dict) else None
        return FlowError(self.path, line, question, problem)

    def texts(self, node: dict, key: str, qid: str | None, required: bool = True, owner: str = "") -> dict[str, str]:
        """A text per language under `key`; `owner` ("profile 'x': ") prefixes a problem outside a question."""
        value = node.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(node, f"{owner}'{key}' must give a text per language ({', '.join(self.langs)})", qid)
        for lang in self.langs:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                raise self.fail(value, f"{owner}'{key}' is missing the '{lang}' translation", qid)
        unknown = set(value) - set(self.langs) - {_LINE}
        if unknown:
            raise self.fail(value, f"{owner}'{key}' has unknown languages: {', '.join(sorted(unknown))}", qid)
        return {lang: value[lang].strip() for lang in self.langs}

    def evidence(self, node: dict, qid: str) -> dict[str, float]:
        value = node.get("evidence") or {}
        if not isinstance(value, dict):
            raise self.fail(node, "'evidence' must map profiles to numbers", qid)
        out = {}
        for profile, weight in value.items():
            if profile == _LINE:
                continue
            if profile not in self.profile_ids:
                known = ", ".join(self.profile_ids)
                raise self.fail(value, f"unknown profile '{profile}' (known: {known})", qid)
            if not isinstance(weight, (int, float)) or isinstance(weight, bool):
                raise self.fail(value, f"evidence for '{profile}' must be a number", qid)
            out[profile] = float(weight)
        return out

    def flags(self, node: dict, qid: str) -> tuple[str, ...]:
        value = node.get("flags") or []
        if not isinstance(value, list) or any(f not in FLAGS for f in value):
            raise self.fail(node, f"'flags' must be a list of: {', '.join(FLAGS)}", qid)
        return tuple(value)

    def option(self, node: Any, qid: str) -> Option:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise self.fail(node if isinstance(node, dict) else {}, "every option needs an 'id'", qid)
        return Option(
            id=node["id"],
            label=self.texts(node, "label", qid),
            evidence=self.evidence(node, qid),
            flags=self.flags(node, qid),
            next=node.get("next"),
            exclusive=bool(node.get("exclusive", False)),
            line=node[_LINE],
            words=self.word_lists(node, qid, f"option '{node['id']}'", word_key, required=False),
        )

    def word_lists(
        self, node: dict, qid: str, owner: str, key: Any, required: bool = True
    ) -> dict[str, tuple[str, ...]]:
        """`words`: a list of words per language, each written as `key` writes it."""
        words = node.get("words")
        if words is None and not required:
            return {}
        if not isinstance(words, dict):
            raise self.fail(node, f"{owner} needs 'words' per language ({', '.join(self.langs)})", qid)
        out = {}
        for lang in self.langs:
            listed = words.get(lang)
            keys = tuple(key(w) if isinstance(w, str) else "" for w in listed) if isinstance(listed, list) else ()
            if not keys or not all(keys):  # no words, or one that is not text or is empty once keyed
                raise self.fail(words, f"{owner} needs a list of words for '{lang}'", qid)
            out[lang] = keys
        unknown = set(words) - set(self.langs) - {_LINE}
        if unknown:
            raise self.fail(words, f"{owner}: 'words' has unknown languages: {', '.join(sorted(unknown))}", qid)
        return out

    def unit(self, node: Any, qid: str) -> Unit:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise self.fail(node if isinstance(node, dict) else {}, "every unit needs an 'id'", qid)
        out = self.word_lists(node, qid, f"unit '{node['id']}'", unit_key)
        top = node.get("max")
        if top is not None and not _is_number(top):
            raise self.fail(node, f"unit '{node['id']}': 'max' must be a number", qid)
        return Unit(node["id"], self.texts(node, "label", qid), out, node[_LINE], top, node.get("share") is True)

    def words_named_once(self, named: tuple[Option, ...] | tuple[Unit, ...], qid: str) -> None:
        """Refuse a word that names two options (or two units) of one question in one language."""
        said: dict[tuple[str, str], str] = {}
        for item in named:
            for lang, words in item.words.items():
                for word in words:
                    if said.setdefault((lang, word), item.id) != item.id:
                        raise FlowError(
                            self.path,
                            item.line,
                            qid,
                            f"the word '{word}' ({lang}) names both '{said[lang, word]}' and '{item.id}'",
                        )

    def template(self, node: dict, owner: str, relative: str) -> None:
        """Refuse a profile whose template is missing in some language (it would fail at the result)."""
        for lang in self.langs:
            if not (self.templates / lang / relative).is_file():
                raise self.fail(node, f"{owner} needs the template {self.templates / lang / relative}")

    def profile(self, node: Any) -> Profile:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str) or not node["id"].strip():
            raise self.fail(node if isinstance(node, dict) else {}, "every profile needs an 'id'")
        pid, owner = node["id"], f"profile '{node['id']}'"
        if node.get("role") not in ROLES:
            raise self.fail(node, f"{owner}: 'role' must be one of {', '.join(ROLES)}")
        unknown = sorted(str(k) for k in node if k != _LINE and k not in PROFILE_KEYS)
        if unknown:
            raise self.fail(node, f"{owner}: unknown keys {', '.join(unknown)} (known: {', '.join(PROFILE_KEYS)})")
        guide, keep = node.get("guide"), node.get("keep", node["role"] == GOOD_CLIENT)
        if not isinstance(guide, str) or not guide.strip():
            raise self.fail(node, f"{owner} needs a 'guide' (a template of guides/)")
        if not isinstance(keep, bool) or (node["role"] == GOOD_CLIENT and not keep):
            raise self.fail(node, f"{owner}: 'keep' must be true or false (and true for the good client)")
        names = {kind: self.texts(node, kind, None, owner=f"{owner}: ") for kind in NAME_KINDS}
        for kind, relative in (("advice", f"advice/{pid}.html.j2"), ("guide", f"guides/{guide}.html.j2")):
            self.template(node, f"{owner}: its {kind}", relative)
        return Profile(pid, node["role"], names["name"], names["short"], names["inline"], guide, keep, node[_LINE])

    def profiles(self, doc: dict) -> Profiles:
        """The flow's `profiles`: unique ids, exactly one good client, every name and template there."""
        nodes = doc.get("profiles")
        if not isinstance(nodes, list) or not nodes:
            raise self.fail(doc, "'profiles' must list the profiles (id, role, names, guide)")
        declared: dict[str, Profile] = {}
        for node in nodes:
            profile = self.profile(node)
            if profile.id in declared:
                raise FlowError(self.path, profile.line, None, f"duplicate profile id '{profile.id}'")
            declared[profile.id] = profile
        good = [p for p in declared.values() if p.good_client]
        if len(good) != 1 or len(declared) < 2:
            raise self.fail(doc, "'profiles' needs exactly one good_client and at least one problem profile")
        self.profile_ids = tuple(declared)
        return Profiles(tuple(declared.values()))

    def neutral(self, node: dict, qid: str, kind: str, options: tuple[Option, ...]) -> str | tuple[str, ...] | None:
        """`neutral`: one option id of a single choice, a list of option ids of a multiple one."""
        value = node.get("neutral")
        if value is None:
            return None
        if kind == "single" and isinstance(value, str):
            picked: list[str] = [value]
        elif kind == "multi" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            picked = value
        else:
            shape = {"single": "one option id", "multi": "a list of option ids"}.get(kind)
            problem = f"'neutral' must be {shape}" if shape else f"a '{kind}' question takes no 'neutral' answer"
            raise self.fail(node, problem, qid)
        index = {o.id: o for o in options}
        unknown = [v for v in picked if v not in index]
        if unknown:
            raise self.fail(node, f"'neutral' names unknown option '{unknown[0]}'", qid)
        if len(picked) > 1 and any(index[v].exclusive for v in picked):
            raise self.fail(node, "'neutral' picks an exclusive option together with others", qid)
        return picked[0] if kind == "single" else tuple(picked)

    def band(self, node: Any, qid: str) -> Band:
        if not isinstance(node, dict) or ("min" not in node and "max" not in node):
            raise self.fail(node if isinstance(node, dict) else {}, "a band needs 'min' or 'max'", qid)
        return Band(node.get("min"), node.get("max"), self.evidence(node, qid), self.flags(node, qid))

    def question(self, node: Any) -> Question:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise self.fail(node if isinstance(node, dict) else {}, "every question needs an 'id'")
        qid = node["id"]
        kind = node.get("kind")
        if kind not in KINDS:
            raise self.fail(node, f"'kind' must be one of {', '.join(KINDS)}", qid)
        if not isinstance(node.get("next"), str):
            raise self.fail(node, "'next' (the default next question, or 'end') is required", qid)
        options = tuple(self.option(o, qid) for o in node.get("options") or [])
        if kind in ("single", "multi") and len(options) < 2:
            raise self.fail(node, "a choice question needs at least two options", qid)
        if kind not in ("single", "multi") and options:
            raise self.fail(node, f"a '{kind}' question takes no options", qid)
        seen: set[str] = set()
        for option in options:
            if option.id in seen:
                raise FlowError(self.path, option.line, qid, f"duplicate option id '{option.id}'")
            seen.add(option.id)
        self.words_named_once(options, qid)
        validate = {k: v for k, v in (node.get("validate") or {}).items() if k != _LINE}
        if kind == "text":
            validate.setdefault("max_length", TEXT_MAX_DEFAULT)
        bands = tuple(self.band(b, qid) for b in node.get("bands") or [])
        if bands and kind not in ("number", "money"):
            raise self.fail(node, "'bands' apply only to number and money questions", qid)
        units = tuple(self.unit(u, qid) for u in node.get("units") or [])
        if units and kind not in ("number", "money"):
            raise self.fail(node, "'units' apply only to number and money questions", qid)
        self.words_named_once(units, qid)
        if len({u.id for u in units}) != len(units):
            raise self.fail(node, "duplicate unit id", qid)
        ask_if = node.get("ask_if") or {}
        if not isinstance(ask_if, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and v and all(isinstance(o, str) for o in v)
            for k, v in ask_if.items()
            if k != _LINE
        ):
            raise self.fail(node, "'ask_if' must map earlier questions to lists of their option ids", qid)
        searchable = node.get("searchable", kind == "text")
        if not isinstance(searchable, bool):
            raise self.fail(node, "'searchable' must be true or false", qid)
        if searchable and kind != "text":
            raise self.fail(node, "only 'text' questions can be 'searchable'", qid)
        return Question(
            id=qid,
            kind=kind,
            text=self.texts(node, "text", qid),
            short=self.texts(node, "short", qid, required=False) or self.texts(node, "text", qid),
            hint=self.texts(node, "hint", qid, required=False),
            optional=bool(node.get("optional", False)),
            options=options,
            next=node["next"],
            validate=validate,
            bands=bands,
            line=node[_LINE],
            option_index={o.id: o for o in options},
            searchable=searchable,
            units=units,
            ask_if={k: tuple(v) for k, v in ask_if.items() if k != _LINE},
            neutral=self.neutral(node, qid, kind, options),
        )


def _check_graph(checker: _Checker, start: str, questions: dict[str, Question]) -> None:
    """Refuse unknown targets, unreachable questions, cycles and dead ends."""
    for q in questions.values():
        for target in q.targets():
            if target != END and target not in questions:
                raise FlowError(checker.path, q.line, q.id, f"leads to unknown question '{target}'")
    reachable, stack = set(), [start]
    while stack:
        qid = stack.pop()
        if qid == END or qid in reachable:
            continue
        reachable.add(qid)
        stack.extend(questions[qid].targets())
    for q in questions.values():
        if q.id not in reachable:
            raise FlowError(checker.path, q.line, q.id, f"cannot be reached from the start '{start}'")
    # A question path must always move forward: a cycle would ask the same thing again.
    state: dict[str, int] = {}

    def visit(qid: str, trail: list[str]) -> None:
        if qid == END or state.get(qid) == 2:
            return
        if state.get(qid) == 1:
            loop = " -> ".join(trail[trail.index(qid) :] + [qid])
            raise FlowError(checker.path, questions[qid].line, qid, f"is part of a loop: {loop}")
        state[qid] = 1
        for target in questions[qid].targets():
            visit(target, trail + [qid])
        state[qid] = 2

    visit(start, [])
    _check_ask_if(checker, start, questions)


def _check_ask_if(checker: _Checker, start: str, questions: dict[str, Question]) -> None:
    """An `ask_if` names choice questions asked before this one, and options they have."""

    def leads_to(source: str, target: str) -> bool:
        stack, seen = [source], set()
        while stack:
            qid = stack.pop()
            if qid == target:
                return True
            if qid != END and qid not in seen:
                seen.add(qid)
                stack.extend(questions[qid].targets())
        return False

    for q in questions.values():
        if q.ask_if and q.id == start:
            raise FlowError(checker.path, q.line, q.id, "the first question is always asked: no 'ask_if'")
        for qid, options in q.ask_if.items():
            earlier = questions.get(qid)
            if earlier is None or not earlier.is_choice:
                raise FlowError(checker.path, q.line, q.id, f"'ask_if' names '{qid}', which is not a choice question")
            if qid == q.id or not leads_to(qid, q.id):
                raise FlowError(checker.path, q.line, q.id, f"'ask_if' names '{qid}', which is not asked before it")
            for option in options:
                if option not in earlier.option_index:
                    raise FlowError(checker.path, q.line, q.id, f"'ask_if' names unknown option '{qid}={option}'")


def load_flow(path: str | Path, languages: Languages | None = None) -> Flow:
    """Read, validate and freeze the flow in *path*: every text in every language of `languages`
    (default: the bundled templates' languages)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlowError(path, None, None, f"cannot read the file ({exc.strerror})") from None
    try:
        doc = read_document(raw)
    except YamlFileError as exc:
        raise FlowError(path, exc.line, None, exc.problem) from None
    languages = languages or load_languages()
    checker = _Checker(path, languages)
    if not isinstance(doc, dict):
        raise FlowError(
            path, 1, None, "the file must be a mapping with 'flow', 'version', 'start', 'profiles' and 'questions'"
        )
    for key in ("flow", "version", "start", "profiles", "questions"):
        if key not in doc:
            raise checker.fail(doc, f"missing '{key}'")
    if not isinstance(doc["version"], int):
        raise checker.fail(doc, "'version' must be an integer")
    if not isinstance(doc["questions"], list) or not doc["questions"]:
        raise checker.fail(doc, "'questions' must be a non-empty list")
    profiles = checker.profiles(doc)
    questions: dict[str, Question] = {}
    for node in doc["questions"]:
        q = checker.question(node)
        if q.id in questions:
            raise FlowError(path, q.line, q.id, f"duplicate question id (first at line {questions[q.id].line})")
        if q.id == END:
            raise FlowError(path, q.line, q.id, f"'{END}' is reserved for the end of the questionnaire")
        questions[q.id] = q
    if doc["start"] not in questions:
        raise checker.fail(doc, f"the start question '{doc['start']}' does not exist")
    for required in REQUIRED_IDS:
        if required not in questions:
            raise checker.fail(doc, f"the scripts need a question with id '{required}'")
    _check_graph(checker, doc["start"], questions)
    fingerprint = digest(raw)
    title = checker.texts(doc, "title", None, required=False) or {lang: str(doc["flow"]) for lang in languages.codes}
    return Flow(str(doc["flow"]), doc["version"], doc["start"], questions, str(path), fingerprint, title, profiles)


_BUNDLED: dict[str, Profiles] = {}


def bundled_profiles() -> Profiles:
    """The bundled flow's profiles, loaded once: for a renderer or a router used without a flow of its own."""
    path = str(default_flow())
    if path not in _BUNDLED:
        _BUNDLED[path] = load_flow(path).profiles
    return _BUNDLED[path]


def mermaid(flow: Flow, lang: str | None = None, languages: Languages | None = None) -> str:
    """A Mermaid flowchart of the questions and their branches, labelled in `lang` (default: the default language)."""
    languages = languages or load_languages()
    language = languages[languages.pick(lang)]
    # "end" is a Mermaid keyword, so the end of the questionnaire gets another node id.
    node = {q: q for q in flow.questions} | {END: "result"}
    optional = f" {language.mermaid_optional}"
    lines = ["flowchart TD"]
    for q in flow.questions.values():
        label = q.short[language.code].replace('"', "'") + (optional if q.optional else "")
        only = "".join(f" · if {qid}: {', '.join(options)}" for qid, options in q.ask_if.items())
        lines.append(f'    {q.id}["{label}<br/><small>{q.id} · {q.kind}{only}</small>"]')
    lines.append(f'    result(["{language.mermaid_finish}"])')
    for q in flow.questions.values():
        branches: dict[str, list[str]] = {}
        for option in q.options:
            if option.next and option.next != q.next:
                branches.setdefault(option.next, []).append(option.id)
        for target, option_ids in branches.items():
            lines.append(f"    {q.id} -->|{', '.join(option_ids)}| {node[target]}")
        lines.append(f"    {q.id} --> {node[q.next]}")
    return "\n".join(lines) + "\n"
