"""The dialogue engine: one shared `transitions` machine per flow, conversations as plain data.

A conversation is a small JSON-able dict (current question, answers, history for "back"); the
engine takes it, moves it through the flow's single machine and hands it back to be stored. No
machine and no model stays attached to a conversation between turns, so ten thousand open
conversations cost ten thousand small dicts in SQLite, not ten thousand state machines in memory.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from transitions import Machine

from .flow import END, Flow, Question

STATE_VERSION = 1
CANCELLED = "cancelled"
# Typed-answer limits that hold whatever the flow says, so hostile input stays small.
MAX_RAW_INPUT = 4000
MAX_MONEY = Decimal("100000000")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[ \t]+")
_MONEY_CHARS = re.compile(r"[€\s]|eur(o)?", re.IGNORECASE)
_GROUPED = re.compile(r"\d{1,3}([.,])\d{3}(\1\d{3})*")
_INDEX_LIST = re.compile(r"^\s*\d+(\s*[,;\s]\s*\d+)*\s*$")


class Invalid(ValueError):
    """A typed answer that does not fit its question; `key` names the reprompt text."""

    def __init__(self, key: str, **params: Any):
        super().__init__(key)
        self.key, self.params = key, params


@dataclass(frozen=True)
class Progress:
    """Where the user is: question `number` of an expected `total`."""

    number: int
    total: int


class _Cursor:
    """The one model the shared machine drives; it holds a state only during a call."""

    state: str


def _picked(option_id: str):
    def condition(event) -> bool:
        value = event.kwargs.get("value")
        return option_id == value or (isinstance(value, list) and option_id in value)

    condition.__name__ = f"picked_{option_id}"
    return condition


def clean_text(raw: str) -> str:
    """Normalise typed text: NFC, no control or direction characters, single spaces."""
    text = unicodedata.normalize("NFC", raw[:MAX_RAW_INPUT])
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def parse_money(raw: str) -> Decimal:
    """Read a price written the Italian way (1.200,50 €) or the English way (€1,200.50)."""
    text = _MONEY_CHARS.sub("", raw.strip())
    if not text or not re.fullmatch(r"[\d.,]+", text):
        raise Invalid("not_money")
    last_dot, last_comma = text.rfind("."), text.rfind(",")
    decimal_sep = None
    if last_dot >= 0 and last_comma >= 0:
        decimal_sep = "." if last_dot > last_comma else ","
    elif last_comma >= 0 or last_dot >= 0:
        sep = "," if last_comma >= 0 else "."
        head, _, tail = text.rpartition(sep)
        # "1.200" is twelve hundred, "12,5" and "12.50" are decimals.
        if text.count(sep) == 1 and len(tail) != 3:
            decimal_sep = sep
        elif text.count(sep) == 1 and sep == "," and len(tail) == 3 and not head:
            raise Invalid("not_money")
    whole, cents = text, ""
    if decimal_sep:
        whole, _, cents = text.rpartition(decimal_sep)
        if len(cents) > 2 or not cents:
            raise Invalid("not_money")
    # Thousands separators must group by three ("1.200.000"), never "12,345,67" or "1.2.3".
    if whole and not whole.isdigit() and not _GROUPED.fullmatch(whole):
        raise Invalid("not_money")
    whole = whole.replace(".", "").replace(",", "")
    text = f"{whole or '0'}.{cents}" if decimal_sep else whole
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Invalid("not_money") from None
    if value > MAX_MONEY:
        raise Invalid("out_of_range", min=0, max=int(MAX_MONEY))
    return value.quantize(Decimal("0.01"))


class Engine:
    """Moves conversation states through one flow; every method takes and returns plain data."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self._cursor = _Cursor()
        transitions: list[dict[str, Any]] = []
        for q in flow.questions.values():
            for option in q.options:
                if option.next and option.next != q.next:
                    transitions.append(
                        {"trigger": "answer", "source": q.id, "dest": option.next, "conditions": _picked(option.id)}
                    )
            transitions.append({"trigger": "answer", "source": q.id, "dest": q.next})
        self.machine = Machine(
            model=self._cursor,
            states=[*flow.questions, END],
            transitions=transitions,
            initial=flow.start,
            auto_transitions=False,
            send_event=True,
        )

    # -- state ----------------------------------------------------------------------------------

    def new(self, lang: str = "it") -> dict[str, Any]:
        """A fresh conversation at the flow's first question."""
        return {
            "v": STATE_VERSION,
            "flow": self.flow.id,
            "flow_version": self.flow.version,
            "lang": lang,
            "at": self.flow.start,
            "answers": {},
            "history": [],
            "editing": False,
            "review": False,
            "step": 0,
        }

    def compatible(self, state: dict[str, Any]) -> bool:
        """True when a stored conversation still fits the current flow (ids, options, values)."""
        if state.get("v") != STATE_VERSION or state.get("flow") != self.flow.id:
            return False
        at = state.get("at")
        if at not in self.flow.questions and at not in (END, CANCELLED):
            return False
        for qid, value in state.get("answers", {}).items():
            q = self.flow.questions.get(qid)
            if q is None:
                return False
            if value is None:
                if not q.optional:
                    return False
                continue
            if q.kind == "single" and value not in q.option_index:
                return False
            if q.kind == "multi" and (not isinstance(value, list) or any(v not in q.option_index for v in value)):
                return False
        return all(h in self.flow.questions for h in state.get("history", []))

    def question(self, state: dict[str, Any]) -> Question | None:
        """The question waiting for an answer, or None at the review or after cancel."""
        return self.flow.questions.get(state["at"])

    def complete(self, state: dict[str, Any]) -> bool:
        return state["at"] == END

    # -- branching ------------------------------------------------------------------------------

    def _next(self, qid: str, value: Any) -> str:
        """Ask the shared machine where an answer leads."""
        self.machine.set_state(qid, model=self._cursor)
        self._cursor.trigger("answer", value=value)
        return self._cursor.state

    def path(self, answers: dict[str, Any]) -> tuple[list[str], str]:
        """Questions answered along the branch the answers take, and where that branch stops."""
        answered, qid = [], self.flow.start
        while qid != END and qid in answers:
            answered.append(qid)
            qid = self._next(qid, answers[qid])
        return answered, qid

    def progress(self, state: dict[str, Any]) -> Progress:
        """"Question n of total": the total follows the branch taken and the defaults after it.

        The history already is the branch taken (answered questions in order), so no walk
        through the machine is needed on every screen.
        """
        history = state["history"]
        at = state["at"]
        number = history.index(at) + 1 if at in history else len(history) + 1
        seen, qid, remaining = set(history), at, 0
        if at in seen:  # changing an earlier answer: count what follows the branch as it stands
            qid = self._next(history[-1], state["answers"].get(history[-1]))
        while qid != END and qid in self.flow.questions and qid not in seen:
            seen.add(qid)
            remaining += 1
            qid = self.flow.questions[qid].next
        return Progress(number, len(history) + remaining)

    # -- reading typed answers ------------------------------------------------------------------

    def parse(self, q: Question, raw: Any, lang: str = "it") -> Any:
        """Turn what the user gave (an option id, an index, text) into a stored value or raise Invalid."""
        if q.kind == "single":
            return self._parse_single(q, raw, lang)
        if q.kind == "multi":
            return self._parse_multi(q, raw, lang)
        if not isinstance(raw, str):
            raise Invalid("empty")
        text = clean_text(raw)
        if not text:
            raise Invalid("empty", optional=q.optional)
        rules = q.validate
        if q.kind == "text":
            if len(text) > rules.get("max_length", 500):
                raise Invalid("too_long", max=rules.get("max_length", 500))
            if len(text) < rules.get("min_length", 1):
                raise Invalid("too_short", min=rules.get("min_length", 1))
            return text
        if q.kind == "money":
            value = parse_money(text)
        else:
            try:
                value = Decimal(text.replace(",", "."))
            except InvalidOperation:
                raise Invalid("not_number") from None
            if not value.is_finite():
                raise Invalid("not_number")
            if rules.get("integer", True) and value != value.to_integral_value():
                raise Invalid("not_integer")
        low, high = rules.get("min", 0), rules.get("max", MAX_MONEY)
        if not low <= value <= high:
            raise Invalid("out_of_range", min=low, max=high)
        return float(value) if q.kind == "money" else int(value) if value == value.to_integral_value() else float(value)

    def _option_by_token(self, q: Question, token: str, lang: str) -> str:
        token = token.strip()
        if token in q.option_index:
            return token
        if token.isdigit() and 1 <= int(token) <= len(q.options):
            return q.options[int(token) - 1].id
        folded = token.casefold()
        for option in q.options:
            if option.label[lang].casefold() == folded:
                return option.id
        raise Invalid("not_an_option", count=len(q.options))

    def _parse_single(self, q: Question, raw: Any, lang: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise Invalid("not_an_option", count=len(q.options))
        return self._option_by_token(q, clean_text(raw), lang)

    def _parse_multi(self, q: Question, raw: Any, lang: str) -> list[str]:
        if isinstance(raw, str):
            text = clean_text(raw)
            tokens = re.split(r"[,;\s]+", text) if _INDEX_LIST.match(text) else [text]
            raw = [t for t in tokens if t]
        if not isinstance(raw, list) or not raw:
            raise Invalid("pick_at_least_one")
        chosen: list[str] = []
        for token in raw:
            option_id = self._option_by_token(q, str(token), lang)
            if option_id not in chosen:
                chosen.append(option_id)
        exclusive = [o for o in chosen if q.option_index[o].exclusive]
        if exclusive and len(chosen) > 1:
            raise Invalid("exclusive_option", option=q.option_index[exclusive[0]].label[lang])
        return [o.id for o in q.options if o.id in chosen]

    # -- moves ----------------------------------------------------------------------------------

    def _stepped(self, state: dict[str, Any], **changes: Any) -> dict[str, Any]:
        return {**state, **changes, "step": state["step"] + 1, "review": False}

    def answer(self, state: dict[str, Any], raw: Any) -> dict[str, Any]:
        """Record an answer to the current question and move on; raises Invalid."""
        q = self.question(state)
        if q is None:
            raise Invalid("no_question")
        value = self.parse(q, raw, state["lang"])
        return self._advance(state, q, value)

    def skip(self, state: dict[str, Any]) -> dict[str, Any]:
        """Leave an optional question unanswered; raises Invalid for a required one."""
        q = self.question(state)
        if q is None:
            raise Invalid("no_question")
        if not q.optional:
            raise Invalid("cannot_skip")
        return self._advance(state, q, None)

    def _advance(self, state: dict[str, Any], q: Question, value: Any) -> dict[str, Any]:
        answers = {**state["answers"], q.id: value}
        if state["editing"]:
            # Re-walk from the start: questions the change put on the branch are asked, the rest kept.
            history, at = self.path(answers)
            if at == END:  # the branch is whole again: only now drop answers off it
                answers = {qid: answers[qid] for qid in history}
            return self._stepped(state, answers=answers, history=history, at=at, editing=at != END)
        history = [h for h in state["history"] if h != q.id] + [q.id]
        return self._stepped(state, answers=answers, history=history, at=self._next(q.id, value))

    def back(self, state: dict[str, Any]) -> dict[str, Any]:
        """Undo the last answer (or step out of a change in progress); raises Invalid when there is none."""
        if state["editing"] and state["at"] in state["answers"]:
            # Backing out of "change this answer" keeps the old answer: the user is where they were.
            history, at = self.path(state["answers"])
            return self._stepped(state, history=history, at=at, editing=False)
        if not state["history"]:
            raise Invalid("nothing_to_undo")
        *history, last = state["history"]
        # Only answers still on the branch stay (an unfinished change may hold later ones).
        answers = {k: v for k, v in state["answers"].items() if k in history}
        return self._stepped(state, answers=answers, history=history, at=last, editing=False)

    def change(self, state: dict[str, Any], qid: str) -> dict[str, Any]:
        """Go back to one answered question to change it; what depends on it is asked again."""
        if qid not in state["answers"] or qid not in self.flow.questions:
            raise Invalid("not_answered")
        return self._stepped(state, at=qid, editing=True)

    def show_review(self, state: dict[str, Any]) -> dict[str, Any]:
        """Mark the review screen as shown (answers so far, each changeable)."""
        if not state["answers"]:
            raise Invalid("nothing_to_review")
        return {**state, "review": True, "step": state["step"] + 1}

    def leave_review(self, state: dict[str, Any]) -> dict[str, Any]:
        """Back from the review screen to where the user was."""
        return self._stepped(state)

    def cancel(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._stepped(state, at=CANCELLED)

    def answered(self, state: dict[str, Any]) -> list[tuple[Question, Any]]:
        """The answers on the branch taken, in the order asked."""
        history, _ = self.path(state["answers"])
        return [(self.flow.questions[qid], state["answers"][qid]) for qid in history]

    def prefill(self, state: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
        """Start a conversation from earlier answers still valid in this flow (for a re-assessment)."""
        candidate = {**state, "answers": dict(answers)}
        valid = {
            qid: value
            for qid, value in answers.items()
            if qid in self.flow.questions and self.compatible({**candidate, "answers": {qid: value}, "history": []})
        }
        history, at = self.path(valid)
        # Until the branch reaches the end, later answers are kept for when the walk gets there.
        kept = {q: valid[q] for q in history} if at == END else valid
        return {**state, "answers": kept, "history": history, "at": at}
