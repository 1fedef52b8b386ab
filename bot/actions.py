"""Button actions: a typed value for every button the bot has, and the one codec for its data.

Each action is a frozen dataclass that writes itself as a short string (`encode`), and `decode`
reads any such string back. The strings are the callback_data of the Telegram buttons, byte for
byte what earlier versions wrote, so buttons already sitting in users' chats keep working. The
model is aiogram-dialog's widgets, each owning its callback prefix and parsing it back:

    q:<conversation>:<step>:<move>           a questionnaire move with its nonce (Step)
    opt:<option>  tog:<option>  chg:<question>  done  back  skip  cancel  review  finish  resume
                                             the moves themselves (what the Coach applies)
    r:restart  r:new                         start a new questionnaire (Restart)
    s:<case_no>:<index>:<variant>:<form>     a script in a variant and form (ScriptVariant)
    x:<case_no>:guide|figures|second|all     more of a result, on demand (Extra)
    h:<page>  c:<case_no>                    the case book's list and one case
    o:<case_no>  o:<case_no>:<status>        choose and record an outcome
    x:<case_no>  x:<case_no>:yes[@<stamp>]   ask to delete a case, delete it
    x:all  x:all:yes[@<stamp>]  x:no         ask to erase everything, erase it, keep everything
    p:<case_no>:<message>:<variant>:<form>   a message (or an action) of a case marked as sent
    k:<case_no>:<step>:<answer>              the answer to a plan's check
    n:<case_no>:pause|resume|skip|show       pause or resume a case's plan, skip its step, show it

`decode` accepts only what the bot could have written: at most CALLBACK_LIMIT characters, numbers
of at most MAX_DIGITS digits, ids of plain ASCII letters, digits, `_` and `-`. Anything else is
None; it runs in linear time and never raises, whatever a client sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, field
from typing import Any, ClassVar, Self, dataclass_transform

from .choices import EXTRAS, FORMS, VARIANTS

CALLBACK_LIMIT = 64  # bytes of callback_data Telegram accepts (every valid action is ASCII)
MAX_DIGITS = 9  # case numbers, pages, script indexes and steps: ten digits or more is no button of ours
MAX_ID = 32  # question and option ids, outcome names
MAX_NONCE = 8  # the conversation id a questionnaire button carries (six hex digits today)
MAX_STEP = 16  # a plan step's id (bot.plans checks its steps fit)
MAX_ANSWER = 12  # an answer to a plan's check
PLAN_CONTROLS = ("pause", "resume", "skip", "show")
RESTART_WORDS = ("restart", "new")  # "r:new" is what older versions offered

_NUMBER = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")
_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID}}}")
_NONCE = re.compile(rf"[A-Za-z0-9_-]{{0,{MAX_NONCE}}}")
_STEP = re.compile(rf"[a-z0-9_]{{1,{MAX_STEP}}}")
_ANSWER = re.compile(rf"[a-z_]{{1,{MAX_ANSWER}}}")
_STAMP = re.compile(r"[0-9a-f]{1,16}")
_YES = "yes"


def _number(text: str) -> int | None:
    return int(text) if _NUMBER.fullmatch(text) else None


def _word(text: str) -> str | None:
    return text if _ID.fullmatch(text) else None


# -- the base --------------------------------------------------------------------------------------


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Action:
    """What a button does; `encode()` gives its callback data.

    An action is a value declared like a frozen dataclass (its fields are its annotations, in
    order; `field(kw_only=True)` makes one keyword-only): built from its fields, compared, hashed
    and shown by them, never changed. Not a @dataclass: Python 3.11 compiles six methods for each
    dataclass at import, 8 ms for these 29 classes, paid before the console's first prompt. Here
    the methods are written once and a subclass only records its fields.
    """

    _fields: ClassVar[tuple[str, ...]] = ()  # every field: the positional ones, then the keyword-only
    _keyword_only: ClassVar[frozenset[str]] = frozenset()
    _defaults: ClassVar[dict[str, object]] = {}
    __match_args__: ClassVar[tuple[str, ...]] = ()  # the positional fields

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        positional, keyword_only = list(cls.__match_args__), set(cls._keyword_only)
        defaults = dict(cls._defaults)
        for name, note in cls.__dict__.get("__annotations__", {}).items():
            if str(note).startswith("ClassVar"):
                continue
            default = cls.__dict__.get(name, MISSING)
            if isinstance(default, Field):
                if default.kw_only is True:
                    keyword_only.add(name)
                default = default.default
                delattr(cls, name)
            if default is not MISSING:
                defaults[name] = default
            if name not in keyword_only:
                positional.append(name)
        cls.__match_args__ = tuple(positional)  # type: ignore[misc]  # mypy holds it read-only; it is set here once
        cls._keyword_only, cls._defaults = frozenset(keyword_only), defaults
        cls._fields = (*positional, *sorted(keyword_only))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        name = type(self).__name__
        if len(args) > len(self.__match_args__):
            raise TypeError(f"{name}() takes {len(self.__match_args__)} positional arguments, {len(args)} given")
        values = dict(zip(self.__match_args__, args, strict=False))
        for key, value in kwargs.items():
            if key not in self._fields or key in values:
                raise TypeError(f"{name}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        for key in self._fields:
            if key not in values:
                if key not in self._defaults:
                    raise TypeError(f"{name}() missing argument {key!r}")
                values[key] = self._defaults[key]
        self.__dict__.update(values)

    def _values(self) -> tuple[object, ...]:
        return tuple(self.__dict__[key] for key in self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Action) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={self.__dict__[key]!r}" for key in self._fields)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (what dataclasses.replace does for a dataclass)."""
        return type(self)(**{**{key: self.__dict__[key] for key in self._fields}, **changes})

    def encode(self) -> str:
        raise NotImplementedError


# -- the questionnaire -----------------------------------------------------------------------------


class Move(Action):
    """A move of the questionnaire, applied by `Coach.act`; on Telegram it travels inside a Step."""


class _Fixed(Move):
    """A move without arguments, written as one word."""

    WORD: ClassVar[str] = ""

    def encode(self) -> str:
        return self.WORD


class Answer(Move):
    """Pick an option of a single-choice question."""

    option: str

    def encode(self) -> str:
        return f"opt:{self.option}"


class Toggle(Move):
    """Tick or untick an option of a multiple-choice question."""

    option: str

    def encode(self) -> str:
        return f"tog:{self.option}"


class Change(Move):
    """From the review, change the answer to a question."""

    question: str

    def encode(self) -> str:
        return f"chg:{self.question}"


class Done(_Fixed):
    """The ticked options are the answer."""

    WORD = "done"


class Back(_Fixed):
    """Undo the last answer."""

    WORD = "back"


class Skip(_Fixed):
    """Skip an optional question."""

    WORD = "skip"


class Cancel(_Fixed):
    """Stop the questionnaire."""

    WORD = "cancel"


class Review(_Fixed):
    """Show every answer so far."""

    WORD = "review"


class Finish(_Fixed):
    """From the review of a complete questionnaire: the result."""

    WORD = "finish"


class Resume(_Fixed):
    """From the review of an incomplete questionnaire: go on."""

    WORD = "resume"


class Step(Action):
    """A move with the nonce of the screen it was on (conversation id and step): a stale tap changes nothing."""

    conversation: str
    step: int
    move: Move

    def encode(self) -> str:
        return f"q:{self.conversation}:{self.step}:{self.move.encode()}"


class Restart(Action):
    """Start a new questionnaire (offered when the flow changed under an open one)."""

    word: str = RESTART_WORDS[0]

    def encode(self) -> str:
        return f"r:{self.word}"


# -- the result ------------------------------------------------------------------------------------


class ScriptVariant(Action):
    """One script of a saved case in a variant and form of address."""

    case_no: int
    index: int
    variant: str
    form: str

    def encode(self) -> str:
        return f"s:{self.case_no}:{self.index}:{self.variant}:{self.form}"


class Extra(Action):
    """More of a saved case's result: the guide, the figures, the second profile, all the scripts."""

    case_no: int
    what: str

    def encode(self) -> str:
        return f"x:{self.case_no}:{self.what}"


# -- the case book ---------------------------------------------------------------------------------


class CaseAction(Action):
    """A button of the case book, carried out by `CaseBook.act`."""


class ListPage(CaseAction):
    """A page of the user's cases."""

    page: int

    def encode(self) -> str:
        return f"h:{self.page}"


class OpenCase(CaseAction):
    """One case, whole."""

    case_no: int

    def encode(self) -> str:
        return f"c:{self.case_no}"


class ChooseOutcome(CaseAction):
    """Ask how a case went, with a button per outcome."""

    case_no: int

    def encode(self) -> str:
        return f"o:{self.case_no}"


class SetOutcome(CaseAction):
    """Record how a case went (the case book checks the status)."""

    case_no: int
    status: str

    def encode(self) -> str:
        return f"o:{self.case_no}:{self.status}"


class Deletion(CaseAction):
    """A step of deleting: the question, the answer "no", or a confirmation."""


class AskDelete(Deletion):
    """Ask before deleting a case."""

    case_no: int

    def encode(self) -> str:
        return f"x:{self.case_no}"


class AskDeleteAll(Deletion):
    """Ask before erasing everything about the user."""

    def encode(self) -> str:
        return "x:all"


class KeepCases(Deletion):
    """The answer "no" to a deletion: nothing is deleted."""

    def encode(self) -> str:
        return "x:no"


class Confirmation(Deletion):
    """A destructive "yes"; on Telegram it carries the time it was offered (`stamp`, Unix seconds)."""

    stamp: int | None = field(default=None, kw_only=True)

    def stamped(self, at: float) -> Confirmation:
        return self.replace(stamp=int(at))

    def _yes(self) -> str:
        return _YES if self.stamp is None else f"{_YES}@{self.stamp:x}"


class ConfirmDelete(Confirmation):
    """Delete a case."""

    case_no: int

    def encode(self) -> str:
        return f"x:{self.case_no}:{self._yes()}"


class ConfirmDeleteAll(Confirmation):
    """Erase everything about the user."""

    def encode(self) -> str:
        return f"x:all:{self._yes()}"


class MarkSent(CaseAction):
    """A message of a case went out (in this version and form), or an action was done."""

    case_no: int
    message: str
    variant: str
    form: str

    def encode(self) -> str:
        return f"p:{self.case_no}:{self.message}:{self.variant}:{self.form}"


class AnswerCheck(CaseAction):
    """How a step of a case's plan went (the case book checks the step and the answer)."""

    case_no: int
    step: str
    answer: str

    def encode(self) -> str:
        return f"k:{self.case_no}:{self.step}:{self.answer}"


class PlanControl(CaseAction):
    """Pause or resume a case's plan, skip the step it is at, or show it."""

    case_no: int
    what: str

    def encode(self) -> str:
        return f"n:{self.case_no}:{self.what}"


# -- decoding --------------------------------------------------------------------------------------


def _stamp(text: str) -> tuple[bool, int | None]:
    """(is it a "yes", its stamp) of `yes` or `yes@<hex>`."""
    word, at, stamp = text.partition("@")
    if word != _YES:
        return False, None
    if not at:
        return True, None
    return (True, int(stamp, 16)) if _STAMP.fullmatch(stamp) else (False, None)


def _move(text: str) -> Move | None:
    head, colon, rest = text.partition(":")
    if not colon:
        return _FIXED.get(text)
    reader = _WITH_ID.get(head)
    word = _word(rest)
    return reader(word) if reader and word else None


def _step(rest: str) -> Step | None:
    parts = rest.split(":", 2)
    if len(parts) != 3 or not _NONCE.fullmatch(parts[0]):
        return None
    step, move = _number(parts[1]), _move(parts[2])
    return Step(parts[0], step, move) if step is not None and move is not None else None


def _restart(rest: str) -> Restart | None:
    return Restart(rest) if rest in RESTART_WORDS else None


def _script(rest: str) -> ScriptVariant | None:
    parts = rest.split(":")
    if len(parts) != 4 or parts[2] not in VARIANTS or parts[3] not in FORMS:
        return None
    case_no, index = _number(parts[0]), _number(parts[1])
    return ScriptVariant(case_no, index, parts[2], parts[3]) if case_no is not None and index is not None else None


def _x(rest: str) -> Action | None:
    """x: is shared: the case book's deletions and a result's extras."""
    parts = rest.split(":")
    if len(parts) > 2:
        return None
    target, arg = parts[0], parts[1] if len(parts) == 2 else None
    if target == "no":
        return KeepCases() if arg is None else None
    if target == "all":
        if arg is None:
            return AskDeleteAll()
        yes, stamp = _stamp(arg)
        return ConfirmDeleteAll(stamp=stamp) if yes else None
    case_no = _number(target)
    if case_no is None:
        return None
    if arg is None:
        return AskDelete(case_no)
    if arg in EXTRAS:
        return Extra(case_no, arg)
    yes, stamp = _stamp(arg)
    return ConfirmDelete(case_no, stamp=stamp) if yes else None


def _page(rest: str) -> ListPage | None:
    page = _number(rest)
    return ListPage(page) if page is not None else None


def _open(rest: str) -> OpenCase | None:
    case_no = _number(rest)
    return OpenCase(case_no) if case_no is not None else None


def _outcome(rest: str) -> CaseAction | None:
    number, colon, status = rest.partition(":")
    case_no = _number(number)
    if case_no is None:
        return None
    if not colon:
        return ChooseOutcome(case_no)
    word = _word(status)
    return SetOutcome(case_no, word) if word else None


def _sent(rest: str) -> MarkSent | None:
    parts = rest.split(":")
    if len(parts) != 4 or parts[2] not in VARIANTS or parts[3] not in FORMS:
        return None
    case_no, message = _number(parts[0]), _word(parts[1])
    return MarkSent(case_no, message, parts[2], parts[3]) if case_no is not None and message else None


def _check(rest: str) -> AnswerCheck | None:
    parts = rest.split(":")
    if len(parts) != 3:
        return None
    case_no, step, answer = _number(parts[0]), parts[1], parts[2]
    if case_no is None or not _STEP.fullmatch(step) or not _ANSWER.fullmatch(answer):
        return None
    return AnswerCheck(case_no, step, answer)


def _control(rest: str) -> PlanControl | None:
    number, colon, what = rest.partition(":")
    case_no = _number(number)
    return PlanControl(case_no, what) if case_no is not None and colon and what in PLAN_CONTROLS else None


_FIXED: dict[str, Move] = {cls.WORD: cls() for cls in (Done, Back, Skip, Cancel, Review, Finish, Resume)}
_WITH_ID: dict[str, Callable[[str], Move]] = {"opt": Answer, "tog": Toggle, "chg": Change}
_READERS: dict[str, Callable[[str], Action | None]] = {
    "q": _step,
    "r": _restart,
    "s": _script,
    "x": _x,
    "h": _page,
    "c": _open,
    "o": _outcome,
    "p": _sent,
    "k": _check,
    "n": _control,
}


def decode(data: object) -> Action | None:
    """The action a button's data stands for; None for anything the bot could not have written."""
    if not isinstance(data, str) or not data or len(data) > CALLBACK_LIMIT:
        return None
    head, colon, rest = data.partition(":")
    reader = _READERS.get(head) if colon else None
    return reader(rest) if reader else _move(data)


__all__ = [
    "CALLBACK_LIMIT",
    "EXTRAS",
    "FORMS",
    "MAX_DIGITS",
    "MAX_ANSWER",
    "MAX_ID",
    "MAX_NONCE",
    "MAX_STEP",
    "RESTART_WORDS",
    "VARIANTS",
    "Action",
    "Answer",
    "AnswerCheck",
    "AskDelete",
    "AskDeleteAll",
    "Back",
    "Cancel",
    "CaseAction",
    "Change",
    "ChooseOutcome",
    "ConfirmDelete",
    "ConfirmDeleteAll",
    "Confirmation",
    "Deletion",
    "Done",
    "Extra",
    "Finish",
    "KeepCases",
    "ListPage",
    "MarkSent",
    "Move",
    "OpenCase",
    "PLAN_CONTROLS",
    "PlanControl",
    "Restart",
    "Resume",
    "Review",
    "ScriptVariant",
    "SetOutcome",
    "Skip",
    "Step",
    "Toggle",
    "decode",
]
