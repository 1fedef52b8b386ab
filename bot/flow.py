"""Load and validate a questionnaire flow (YAML) into plain, frozen data.

A flow file declares questions, their options, the branching between them and the evidence each
answer adds to each profile. Everything is checked at load; an error names the file, the line,
the question and the problem, so a broken flow never reaches a user.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import cache_dir

PROFILES = ("gratis", "incontentabile", "distruttivo", "vip", "lvc", "mvc")
LANGS = ("it", "en")
KINDS = ("single", "multi", "text", "number", "money")
FLAGS = ("own_error", "shared_error", "first_time", "new_behaviour", "recurring")
END = "end"
# Questions the scripts and the case book read by id; a flow must have them.
REQUIRED_IDS = ("alias", "price", "form")
TEXT_MAX_DEFAULT = 500
_LINE = "__line__"


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
        return isinstance(value, (int, float)) and not isinstance(value, bool)

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

    def question(self, qid: str) -> Question:
        return self.questions[qid]

    def search_texts(self, answers: dict[str, Any]) -> list[str]:
        """What the case book's search indexes of a case's answers: the searchable ones, in flow order."""
        return [
            value for q in self.questions.values() if q.searchable and isinstance(value := answers.get(q.id), str)
        ]


# -- loading helpers ---------------------------------------------------------------------------


_CACHE_FORMAT = "1"


def _parse_yaml(text: str) -> Any:
    """Parse YAML keeping each mapping's line under `__line__` (libyaml's parser when present)."""
    import yaml  # imported here: a cached flow needs no YAML at all

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class LineLoader(base):  # type: ignore[misc, valid-type]
        """A safe YAML loader that remembers the line of every mapping."""

    def construct_mapping(loader: Any, node: Any) -> dict:
        mapping = loader.construct_mapping(node, deep=True)
        mapping[_LINE] = node.start_mark.line + 1
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        return yaml.load(text, Loader=LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _YamlProblem(mark.line + 1 if mark else None, str(getattr(exc, "problem", None) or exc)) from None


class _YamlProblem(Exception):
    def __init__(self, line: int | None, problem: str):
        super().__init__(problem)
        self.line, self.problem = line, problem


def _read_document(path: Path, raw: bytes, digest: str) -> Any:
    """The parsed document, from the per-user cache when this exact file was parsed before."""
    folder = cache_dir("flows")
    cached = folder / f"{digest}.{_CACHE_FORMAT}.json" if folder else None
    if cached is not None and cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    try:
        doc = _parse_yaml(raw.decode("utf-8"))
    except _YamlProblem as exc:
        raise FlowError(path, exc.line, None, f"not valid YAML: {exc.problem}") from None
    except UnicodeDecodeError:
        raise FlowError(path, None, None, "the file is not UTF-8 text") from None
    if cached is not None:
        try:
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            tmp.replace(cached)
        except (OSError, TypeError, ValueError):
            pass  # a cache that cannot be written only costs speed
    return doc


class _Checker:
    """Builds the dataclasses while collecting the first problem with its place."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, node: Any, problem: str, question: str | None = None) -> FlowError:
        line = node.get(_LINE) if isinstance(node, dict) else None
        return FlowError(self.path, line, question, problem)

    def texts(self, node: dict, key: str, qid: str | None, required: bool = True) -> dict[str, str]:
        value = node.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.fail(node, f"'{key}' must give a text per language ({', '.join(LANGS)})", qid)
        for lang in LANGS:
            text = value.get(lang)
            if not isinstance(text, str) or not text.strip():
                raise self.fail(value, f"'{key}' is missing the '{lang}' translation", qid)
        unknown = set(value) - set(LANGS) - {_LINE}
        if unknown:
            raise self.fail(value, f"'{key}' has unknown languages: {', '.join(sorted(unknown))}", qid)
        return {lang: value[lang].strip() for lang in LANGS}

    def evidence(self, node: dict, qid: str) -> dict[str, float]:
        value = node.get("evidence") or {}
        if not isinstance(value, dict):
            raise self.fail(node, "'evidence' must map profiles to numbers", qid)
        out = {}
        for profile, weight in value.items():
            if profile == _LINE:
                continue
            if profile not in PROFILES:
                raise self.fail(value, f"unknown profile '{profile}' (known: {', '.join(PROFILES)})", qid)
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
        )

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
        validate = {k: v for k, v in (node.get("validate") or {}).items() if k != _LINE}
        if kind == "text":
            validate.setdefault("max_length", TEXT_MAX_DEFAULT)
        bands = tuple(self.band(b, qid) for b in node.get("bands") or [])
        if bands and kind not in ("number", "money"):
            raise self.fail(node, "'bands' apply only to number and money questions", qid)
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
            loop = " -> ".join(trail[trail.index(qid):] + [qid])
            raise FlowError(checker.path, questions[qid].line, qid, f"is part of a loop: {loop}")
        state[qid] = 1
        for target in questions[qid].targets():
            visit(target, trail + [qid])
        state[qid] = 2

    visit(start, [])


def load_flow(path: str | Path) -> Flow:
    """Read, validate and freeze the flow in *path*."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlowError(path, None, None, f"cannot read the file ({exc.strerror})") from None
    digest = hashlib.sha256(raw).hexdigest()[:24]
    doc = _read_document(path, raw, digest)
    checker = _Checker(path)
    if not isinstance(doc, dict):
        raise FlowError(path, 1, None, "the file must be a mapping with 'flow', 'version', 'start' and 'questions'")
    for key in ("flow", "version", "start", "questions"):
        if key not in doc:
            raise checker.fail(doc, f"missing '{key}'")
    if not isinstance(doc["version"], int):
        raise checker.fail(doc, "'version' must be an integer")
    if not isinstance(doc["questions"], list) or not doc["questions"]:
        raise checker.fail(doc, "'questions' must be a non-empty list")
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
    fingerprint = digest
    title = checker.texts(doc, "title", None, required=False) or {lang: str(doc["flow"]) for lang in LANGS}
    return Flow(str(doc["flow"]), doc["version"], doc["start"], questions, str(path), fingerprint, title)


def mermaid(flow: Flow, lang: str = "it") -> str:
    """A Mermaid flowchart of the questions and their branches."""
    # "end" is a Mermaid keyword, so the end of the questionnaire gets another node id.
    node = {q: q for q in flow.questions} | {END: "result"}
    optional = " (opz.)" if lang == "it" else " (optional)"
    lines = ["flowchart TD"]
    for q in flow.questions.values():
        label = q.short[lang].replace('"', "'") + (optional if q.optional else "")
        lines.append(f'    {q.id}["{label}<br/><small>{q.id} · {q.kind}</small>"]')
    finish = "riepilogo e risultato" if lang == "it" else "review and result"
    lines.append(f'    result(["{finish}"])')
    for q in flow.questions.values():
        branches: dict[str, list[str]] = {}
        for option in q.options:
            if option.next and option.next != q.next:
                branches.setdefault(option.next, []).append(option.id)
        for target, option_ids in branches.items():
            lines.append(f"    {q.id} -->|{', '.join(option_ids)}| {node[target]}")
        lines.append(f"    {q.id} --> {node[q.next]}")
    return "\n".join(lines) + "\n"
