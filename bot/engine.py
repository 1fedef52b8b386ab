"""The dialogue engine: shared `transitions` machines per flow, conversations as plain data.

A conversation is a small JSON-able dict (current question, answers, history for "back", mode);
the engine takes it, moves it through the flow's machines and hands it back to be stored. No
machine and no model stays attached to a conversation between turns, so ten thousand open
conversations cost ten thousand small dicts in SQLite, not ten thousand state machines in memory.

Two machines, each built once from plain dicts: the questions machine says where an answer leads;
the modes machine says what the conversation is doing (asking, reviewing, editing, done,
cancelled) and owns the one rule that keeps answers honest: entering `asking` or `done` drops
every answer off the branch taken, so no way out of a change can leave a stray answer behind.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from transitions import EventData, Machine

from .flow import END, Flow, Question, word_key
from .textin import MAX_RAW_INPUT, MAX_SHORT_INPUT, as_index, clean_text, digits_form, split_list

__all__ = ["CANCELLED", "END", "MAX_RAW_INPUT", "MODES", "Engine", "Invalid", "Progress", "clean_text", "parse_money"]

STATE_VERSION = 1
CANCELLED = "cancelled"
# What a conversation is doing; stored as `mode`, derived for conversations stored before it existed.
ASKING, REVIEWING, EDITING, DONE = "asking", "reviewing", "editing", "done"
MODES = (ASKING, REVIEWING, EDITING, DONE, CANCELLED)
_WORKING = [ASKING, REVIEWING, EDITING, DONE]
MODE_TRANSITIONS: list[dict[str, Any]] = [
    # An answer or a skip: a branch that reaches the end is done; a change goes on until it does.
    {"trigger": "advance", "source": _WORKING, "dest": DONE, "conditions": "at_end"},
    {"trigger": "advance", "source": _WORKING, "dest": EDITING, "conditions": "changing"},
    {"trigger": "advance", "source": _WORKING, "dest": ASKING},
    # Back always leaves a change: to the review if the branch is whole, else to a question.
    {"trigger": "back", "source": _WORKING, "dest": DONE, "conditions": "at_end"},
    {"trigger": "back", "source": _WORKING, "dest": ASKING},
    {"trigger": "change", "source": _WORKING, "dest": EDITING},
    {"trigger": "show_review", "source": _WORKING, "dest": REVIEWING},
    # Leaving the review returns to what was going on under it.
    {"trigger": "leave_review", "source": _WORKING, "dest": EDITING, "conditions": "changing"},
    {"trigger": "leave_review", "source": _WORKING, "dest": DONE, "conditions": "at_end"},
    {"trigger": "leave_review", "source": _WORKING, "dest": ASKING},
    {"trigger": "cancel", "source": _WORKING, "dest": CANCELLED},
]
MAX_MONEY = Decimal("100000000")
_GROUPED = re.compile(r"\d{1,3}([.,])\d{3}(\1\d{3})*")
_SPACE_GROUPED = re.compile(r"\d{1,3}( \d{3})+([.,]\d{1,2})?")  # "1 200" and "1 200,50", never "1 1 1"
_NUMBER = re.compile(r"[+-]?\d+([.,]\d+)?")
_CURRENCY = ("euro", "eur", "€")
# Words that tell no option apart, in any language of the bot.
STOPWORDS = frozenset(
    "il lo la i gli le l un uno una un' di a da in con su per tra fra e ed o ma del della dei delle al alla "
    "ai alle che ci mi ti si the an of and or to in on for with my me i is it".split()
)


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
    """The one model the shared questions machine drives; it holds a state only during a call.

    Before the machine weighs its transitions, `walk` asks the flow where its walk goes from here
    (`Flow.next_for`, once per answer); each transition's condition is that it goes to its dest."""

    state: str
    trigger: Callable[..., bool]  # added by the Machine

    def __init__(self, flow: Flow):
        self.flow = flow
        self.goes = END

    def walk(self, event: EventData) -> None:
        self.goes = self.flow.next_for(self.state, event.kwargs["answers"])


class _ModeCursor:
    """The one model of the shared modes machine: a conversation's mode and data during one call."""

    state: str
    data: dict[str, Any]
    trigger: Callable[..., bool]  # added by the Machine

    def at_end(self, event: EventData) -> bool:
        return self.data["at"] == END

    def changing(self, event: EventData) -> bool:
        return bool(self.data["editing"])

    def on_enter_asking(self, event: EventData) -> None:
        self._keep_branch_only()

    def on_enter_done(self, event: EventData) -> None:
        self._keep_branch_only()

    def _keep_branch_only(self) -> None:
        """Outside a change, the answers are exactly the branch taken (the history)."""
        history = self.data["history"]
        self.data["answers"] = {qid: self.data["answers"][qid] for qid in history if qid in self.data["answers"]}
        self.data["editing"] = False


def _goes_to(cursor: _Cursor, dest: str) -> Callable[[EventData], bool]:
    """The machine's condition for a transition to `dest`: the flow's walk goes there."""

    def condition(event: EventData) -> bool:
        return cursor.goes == dest

    condition.__name__ = f"goes_to_{dest}"
    return condition


def _strip_currency(text: str) -> str:
    """The amount without one currency mark before and/or after it ("€ 12", "12 euro", "EUR12")."""
    folded = text.casefold()
    for mark in _CURRENCY:
        if folded.startswith(mark):
            text, folded = text[len(mark) :].lstrip(), folded[len(mark) :].lstrip()
            break
    for mark in _CURRENCY:
        if folded.endswith(mark):
            text = text[: len(text) - len(mark)].rstrip()
            break
    return text


def split_unit(text: str) -> tuple[str, str]:
    """An amount and the unit written after it: "48 € all'ora" -> ("48 €", "all'ora"). One pass."""
    i = 0
    folded = text.casefold()
    for mark in _CURRENCY:  # a currency mark before the amount ("€48", "EUR 48")
        if folded.startswith(mark):
            i = len(mark)
            break
    if text[i : i + 1] in ("+", "-"):  # a sign: "+7 giorni" is 7 days, "-1" is refused by the bounds
        i += 1
    while i < len(text) and (text[i].isdigit() or text[i] in "., "):
        i += 1
    rest = folded[i:]
    for mark in _CURRENCY:  # and one after it ("48 euro al mese"), but not the start of a word
        if rest.startswith(mark) and not rest[len(mark) : len(mark) + 1].isalpha():
            i += len(mark)
            break
    return text[:i].strip(), text[i:].strip()


def parse_money(raw: str) -> Decimal:
    """Read a price written the Italian way (1.200,50 €) or the English way (€1,200.50)."""
    text = digits_form(clean_text(raw)).strip()
    if len(text) > MAX_SHORT_INPUT:
        raise Invalid("not_money")
    text = _strip_currency(text)
    if " " in text:
        # Spaces only as thousands separators: "1 200" is twelve hundred, "1 1 1" is no amount.
        if not _SPACE_GROUPED.fullmatch(text):
            raise Invalid("not_money")
        text = text.replace(" ", "")
    if not text or not text.isascii() or text.strip("0123456789.,"):
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


def parse_number(text: str) -> Decimal:
    """A plain number ("3", "-1", "2,5", "4.0"); anything else, "1 1 1" or "1e9" included, is not one."""
    text = digits_form(text).strip()
    if len(text) > MAX_SHORT_INPUT or not text.isascii() or not _NUMBER.fullmatch(text):
        raise Invalid("not_number")
    return Decimal(text.replace(",", "."))


class Engine:
    """Moves conversation states through one flow; every method takes and returns plain data."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self._cursor = _Cursor(flow)
        # One transition per place an answer can lead, each taken when the flow's walk goes there.
        transitions = [
            {"trigger": "answer", "source": qid, "dest": dest, "conditions": _goes_to(self._cursor, dest)}
            for qid in flow.questions
            for dest in flow.next_choices(qid)
        ]
        self.machine = Machine(
            model=self._cursor,
            states=[*flow.questions, END],
            transitions=transitions,
            initial=flow.start,
            auto_transitions=False,
            send_event=True,
            prepare_event="walk",
        )
        self._modes = _ModeCursor()
        self.modes = Machine(
            model=self._modes,
            states=list(MODES),
            transitions=MODE_TRANSITIONS,
            initial=ASKING,
            auto_transitions=False,
            send_event=True,
        )
        # Typed words per (question, language): see `_vocabularies`.
        self._vocabulary: dict[tuple[str, str], list[tuple[str, tuple[str, ...], frozenset[str]]]] = {}
        # The machines' models are shared: one call at a time, whichever thread the front end uses.
        self._lock = threading.RLock()

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
            "mode": ASKING,
            "step": 0,
        }

    @staticmethod
    def mode(state: dict[str, Any]) -> str:
        """What the conversation is doing; derived from the flags for one stored before modes."""
        mode = state.get("mode")
        if mode in MODES:
            return mode
        if state.get("at") == CANCELLED:
            return CANCELLED
        if state.get("review"):
            return REVIEWING
        if state.get("editing"):
            return EDITING
        return DONE if state.get("at") == END else ASKING

    def _enter(self, state: dict[str, Any], trigger: str, **changes: Any) -> dict[str, Any]:
        """The next turn's state: `changes` applied, then the modes machine's `trigger` from the current mode.

        The machine picks the new mode (asking, reviewing, editing, done, cancelled) and, entering
        asking or done, drops answers off the branch; `editing` and `review` mirror the mode for
        the code that reads them.
        """
        source = self.mode(state)
        if source == CANCELLED:
            raise Invalid("no_question")
        data = {**state, **changes, "step": state["step"] + 1}
        with self._lock:
            self.modes.set_state(source, model=self._modes)
            self._modes.data = data
            try:
                self._modes.trigger(trigger)
                mode = self._modes.state
            finally:
                self._modes.data = {}
        data["mode"] = mode
        data["review"] = mode == REVIEWING
        data["editing"] = mode == EDITING or (mode == REVIEWING and bool(data["editing"]))
        return data

    def compatible(self, state: dict[str, Any]) -> bool:
        """True when a stored conversation still fits the current flow (ids, options, values)."""
        if state.get("v") != STATE_VERSION or state.get("flow") != self.flow.id:
            return False
        if "mode" in state and state["mode"] not in MODES:
            return False
        at = state.get("at")
        if at not in self.flow.questions and at not in (END, CANCELLED):
            return False
        for qid, value in state.get("answers", {}).items():
            q = self.flow.questions.get(qid)
            if q is None or not q.accepts(value):
                return False
        return all(h in self.flow.questions for h in state.get("history", []))

    def question(self, state: dict[str, Any]) -> Question | None:
        """The question waiting for an answer, or None at the review or after cancel."""
        return self.flow.questions.get(state["at"])

    def complete(self, state: dict[str, Any]) -> bool:
        return state["at"] == END

    # -- branching ------------------------------------------------------------------------------

    def _after(self, qid: str, answers: dict[str, Any]) -> str:
        """Ask the shared questions machine where the walk goes after `qid`, given `answers`."""
        with self._lock:
            self.machine.set_state(qid, model=self._cursor)
            if not self._cursor.trigger("answer", answers=answers):
                raise RuntimeError(f"the flow's walk leads nowhere after '{qid}'")  # next_choices missed one
            return self._cursor.state

    def path(self, answers: dict[str, Any]) -> tuple[list[str], str]:
        """Questions answered along the branch the answers take, and where that branch stops."""
        answered, qid = [], self.flow.start
        while qid != END and qid in answers:
            answered.append(qid)
            qid = self._after(qid, answers)
        return answered, qid

    def progress(self, state: dict[str, Any]) -> Progress:
        """ "Question n of total": the total follows the branch taken and the defaults after it.

        The history already is the branch taken (answered questions in order), so no walk
        through the machine is needed on every screen.
        """
        history = state["history"]
        at = state["at"]
        number = history.index(at) + 1 if at in history else len(history) + 1
        seen, qid, remaining = set(history), at, 0
        answers = state["answers"]
        if at in seen:  # changing an earlier answer: count what follows the branch as it stands
            qid = self._after(history[-1], answers)
        while qid != END and qid in self.flow.questions and qid not in seen:
            seen.add(qid)
            remaining += 1
            # Not answered on this branch yet: counted along its default way.
            qid = self.flow.arrive(self.flow.questions[qid].next, answers)
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
        unit = None
        if q.units:
            text, written = split_unit(text)
            if not any(c.isdigit() for c in text):
                raise Invalid("not_money" if q.kind == "money" else "not_number")
            unit = q.unit_named(written, lang)
            if unit is None:
                raise Invalid(
                    "unknown_unit",
                    unit=written[:30],
                    units=" · ".join(u.label[lang] for u in q.units),
                    first=q.units[0].label[lang],
                )
        if q.kind == "money":
            value = parse_money(text)
        else:
            value = parse_number(text)
            if rules.get("integer", True) and value != value.to_integral_value():
                raise Invalid("not_integer")
        low, high = rules.get("min", 0), rules.get("max", MAX_MONEY)
        if unit is not None and unit.max is not None:
            high = min(high, unit.max)
        if value <= 0 < low:
            # Nothing is worth 0 €: a price or a debt of nothing would end up printed in a message.
            raise Invalid("not_positive")
        if not low <= value <= high:
            raise Invalid("out_of_range", min=low, max=high)
        number = float(value) if q.kind == "money" or value != value.to_integral_value() else int(value)
        if unit is not None:
            return {"amount": number, "unit": unit.id}
        return number

    def _option_by_token(self, q: Question, token: str, lang: str) -> str:
        token = token.strip()
        if token in q.option_index:
            return token
        index = as_index(token)
        if index is not None:
            if 1 <= index <= len(q.options):
                return q.options[index - 1].id
            raise Invalid("not_an_option", count=len(q.options))
        folded = token.casefold()
        for option in q.options:
            if option.label[lang].casefold() == folded:
                return option.id
        named = self._option_by_words(q, token, lang)
        if named is None:
            raise Invalid("not_an_option", count=len(q.options))
        return named

    def _vocabularies(self, q: Question, lang: str) -> list[tuple[str, tuple[str, ...], frozenset[str]]]:
        """Each option's id, phrases and every word of its label and phrases, folded once per question
        and language (not on every typed answer)."""
        key = (q.id, lang)
        found = self._vocabulary.get(key)
        if found is None:
            found = self._vocabulary[key] = [
                (
                    o.id,
                    o.words.get(lang, ()),
                    frozenset(word_key(o.label[lang]).split()).union(*(p.split() for p in o.words.get(lang, ()))),
                )
                for o in q.options
            ]
        return found

    def _option_by_words(self, q: Question, token: str, lang: str) -> str | None:
        """The one option the typed words tell apart («uomo, Lei», «spesso»), or None.

        An option is meant when one of its `words` stands in the text as a whole phrase, or when
        every meaningful typed word is in its label or its words. Exactly one option must fit.
        """
        key = word_key(token[:MAX_SHORT_INPUT])
        if not key:
            return None
        # Stopwords tell no option apart, but a whole phrase may be one («sì» folds to "si").
        typed = set(key.split()) - STOPWORDS
        padded = f" {key} "
        by_phrase, by_words = [], []
        for option_id, phrases, vocabulary in self._vocabularies(q, lang):
            if any(f" {phrase} " in padded for phrase in phrases):
                by_phrase.append(option_id)
            if typed and typed <= vocabulary:
                by_words.append(option_id)
        for found in (by_words, by_phrase):
            if len(found) == 1:
                return found[0]
        return None

    def _parse_single(self, q: Question, raw: Any, lang: str) -> str:
        text = clean_text(raw) if isinstance(raw, str) else ""
        if not text:
            raise Invalid("not_an_option", count=len(q.options))
        return self._option_by_token(q, text, lang)

    def _parse_multi(self, q: Question, raw: Any, lang: str) -> list[str]:
        if isinstance(raw, str):
            text = clean_text(raw)
            # "1 3, 4" is a list of numbers; anything else is one option named by its label.
            tokens = split_list(text) or [text]
            raw = [t for t in tokens if t]
            if len(raw) == 1 and any(sep in text for sep in ",;"):
                # "recensione pubblicata, avvocato": one option per item, unless the whole text names one.
                try:
                    return self._parse_multi(q, [self._option_by_token(q, text, lang)], lang)
                except Invalid:
                    raw = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
        if not isinstance(raw, list) or not raw or len(raw) > 2 * len(q.options) + 10:
            raise Invalid("pick_at_least_one") if not raw else Invalid("not_an_option", count=len(q.options))
        chosen: list[str] = []
        for token in raw:
            if not isinstance(token, (str, int)) or isinstance(token, bool):
                raise Invalid("not_an_option", count=len(q.options))
            option_id = self._option_by_token(q, str(token), lang)
            if option_id not in chosen:
                chosen.append(option_id)
        exclusive = [o for o in chosen if q.option_index[o].exclusive]
        if exclusive and len(chosen) > 1:
            raise Invalid("exclusive_option", option=q.option_index[exclusive[0]].label[lang])
        return [o.id for o in q.options if o.id in chosen]

    # -- moves ----------------------------------------------------------------------------------

    def answer(self, state: dict[str, Any], raw: Any) -> dict[str, Any]:
        """Record an answer to the current question and move on; raises Invalid."""
        q = self.question(state)
        if q is None or self.mode(state) == CANCELLED:
            raise Invalid("no_question")
        value = self.parse(q, raw, state["lang"])
        return self._advance(state, q, value)

    def skip(self, state: dict[str, Any]) -> dict[str, Any]:
        """Leave an optional question unanswered; raises Invalid for a required one."""
        q = self.question(state)
        if q is None or self.mode(state) == CANCELLED:
            raise Invalid("no_question")
        if not q.optional:
            raise Invalid("cannot_skip")
        return self._advance(state, q, None)

    def _advance(self, state: dict[str, Any], q: Question, value: Any) -> dict[str, Any]:
        answers = {**state["answers"], q.id: value}
        if state["editing"]:
            # Re-walk from the start: questions the change put on the branch are asked, the rest
            # kept; the change lasts until the branch is whole again (the machine then prunes).
            history, at = self.path(answers)
            return self._enter(state, "advance", answers=answers, history=history, at=at, editing=at != END)
        history = [h for h in state["history"] if h != q.id] + [q.id]
        return self._enter(state, "advance", answers=answers, history=history, at=self._after(q.id, answers))

    def back(self, state: dict[str, Any]) -> dict[str, Any]:
        """Undo the last answer (or step out of a change in progress); raises Invalid when there is none."""
        if self.mode(state) == CANCELLED:
            raise Invalid("no_question")
        if state["editing"] and state["at"] in state["answers"]:
            # Backing out of "change this answer" keeps the old answer: the user is where they were,
            # and whatever the change had added off that branch goes as the change ends.
            history, at = self.path(state["answers"])
            return self._enter(state, "back", history=history, at=at, editing=False)
        if not state["history"]:
            raise Invalid("nothing_to_undo")
        *history, last = state["history"]
        return self._enter(state, "back", history=history, at=last, editing=False)

    def change(self, state: dict[str, Any], qid: str) -> dict[str, Any]:
        """Go back to one answered question to change it; what depends on it is asked again."""
        if qid not in state["answers"] or qid not in self.flow.questions:
            raise Invalid("not_answered")
        return self._enter(state, "change", at=qid, editing=True)

    def show_review(self, state: dict[str, Any]) -> dict[str, Any]:
        """Show the review screen (answers so far, each changeable)."""
        if not state["answers"]:
            raise Invalid("nothing_to_review")
        return self._enter(state, "show_review")

    def leave_review(self, state: dict[str, Any]) -> dict[str, Any]:
        """Back from the review screen to where the user was."""
        return self._enter(state, "leave_review")

    def cancel(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._enter(state, "cancel", at=CANCELLED)

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
        # Until the branch reaches the end, later answers are kept for when the walk gets there:
        # the questions the flow gained are asked as a change, then the review.
        if at == END:
            return {
                **state,
                "answers": {q: valid[q] for q in history},
                "history": history,
                "at": at,
                "mode": DONE,
                "editing": False,
                "review": False,
            }
        return {
            **state,
            "answers": valid,
            "history": history,
            "at": at,
            "mode": EDITING,
            "editing": True,
            "review": False,
        }
