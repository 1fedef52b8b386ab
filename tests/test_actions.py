"""The action codec: today's callback data reads back and writes out byte for byte, every action fits
Telegram's 64 bytes, and hostile data gives None, never an exception."""

from __future__ import annotations

import random
import time

import pytest

from bot.actions import (
    CALLBACK_LIMIT,
    EXTRAS,
    FORMS,
    MAX_ANSWER,
    MAX_DIGITS,
    MAX_ID,
    MAX_NONCE,
    MAX_STEP,
    PLAN_CONTROLS,
    RESTART_WORDS,
    VARIANTS,
    Action,
    Answer,
    AnswerCheck,
    AskDelete,
    AskDeleteAll,
    Back,
    Cancel,
    CaseAction,
    Change,
    ChooseOutcome,
    ConfirmDelete,
    ConfirmDeleteAll,
    Done,
    Extra,
    Finish,
    KeepCases,
    ListPage,
    MarkSent,
    Move,
    OpenCase,
    PlanControl,
    Restart,
    Resume,
    Review,
    ScriptVariant,
    SetOutcome,
    Skip,
    Step,
    Toggle,
    decode,
)

from helpers import FLOW

# Callback data as the bot writes it today (and as buttons already in users' chats carry it),
# gathered from the code and the tests: every kind of button, with real ids and numbers.
TODAY = [
    "q:a1b2c3:0:opt:free",
    "q:a1b2c3:3:opt:below_price",
    "q:ffffff:1000000:tog:only_big_concessions",
    "q:a1b2c3:7:tog:calls_back",
    "q:a1b2c3:7:done",
    "q:a1b2c3:2:back",
    "q:a1b2c3:2:skip",
    "q:a1b2c3:2:cancel",
    "q:a1b2c3:9:review",
    "q:a1b2c3:12:chg:payment",
    "q:a1b2c3:12:chg:alias",
    "q:a1b2c3:13:finish",
    "q:a1b2c3:13:resume",
    "q::4:back",
    "r:restart",
    "r:new",
    "s:1:1:softer:tu",
    "s:1:2:softer:tu",
    "s:7:1:firmer:lei",
    "s:1:1:shorter:lei",
    "s:999999999:99:shorter:lei",
    "x:1:guide",
    "x:1:figures",
    "x:1:second",
    "x:1:all",
    "x:999999999:figures",
    "h:1",
    "h:2",
    "c:1",
    "c:7",
    "o:1",
    "o:2",
    "o:1:aperto",
    "o:1:risolto",
    "o:1:cliente_tenuto",
    "o:1:cliente_lasciato",
    "x:1",
    "x:2",
    "x:1:yes",
    "x:1:yes@6730e5c1",
    "x:all",
    "x:all:yes",
    "x:all:yes@6730e5c1",
    "x:all:yes@0",
    "x:no",
    "p:1:sollecito:softer:tu",
    "p:7:formal_notice:firmer:lei",
    "k:1:remind:paid",
    "k:1:remind_firmly:no_answer",
    "n:1:pause",
    "n:1:resume",
    "n:1:skip",
    "n:3:show",
]
BIG = 10**MAX_DIGITS - 1
LONGEST_ID = "z" * MAX_ID
# One action of every kind, each with the largest values `decode` accepts.
LARGEST: list[Action] = [
    *(
        Step("f" * MAX_NONCE, BIG, move)
        for move in (
            Answer(LONGEST_ID),
            Toggle(LONGEST_ID),
            Change(LONGEST_ID),
            Done(),
            Back(),
            Skip(),
            Cancel(),
            Review(),
            Finish(),
            Resume(),
        )
    ),
    *(Restart(word) for word in RESTART_WORDS),
    ScriptVariant(BIG, BIG, max(VARIANTS, key=len), max(FORMS, key=len)),
    Extra(BIG, max(EXTRAS, key=len)),
    ListPage(BIG),
    OpenCase(BIG),
    ChooseOutcome(BIG),
    SetOutcome(BIG, LONGEST_ID),
    AskDelete(BIG),
    ConfirmDelete(BIG, stamp=16**16 - 1),
    AskDeleteAll(),
    ConfirmDeleteAll(stamp=16**16 - 1),
    KeepCases(),
    MarkSent(BIG, LONGEST_ID, max(VARIANTS, key=len), max(FORMS, key=len)),
    AnswerCheck(BIG, "s" * MAX_STEP, "a" * MAX_ANSWER),
    PlanControl(BIG, max(PLAN_CONTROLS, key=len)),
]


@pytest.mark.parametrize("data", TODAY)
def test_todays_callback_data_reads_back_and_writes_out_identically(data):
    action = decode(data)
    assert action is not None, data
    assert action.encode() == data


def test_the_data_decodes_to_the_actions_it_stands_for():
    assert decode("q:a1b2c3:12:chg:payment") == Step("a1b2c3", 12, Change("payment"))
    assert decode("q:a1b2c3:0:opt:free") == Step("a1b2c3", 0, Answer("free"))
    assert decode("r:new") == Restart("new") and decode("r:restart") == Restart()
    assert decode("s:7:1:firmer:lei") == ScriptVariant(7, 1, "firmer", "lei")
    assert decode("x:1:second") == Extra(1, "second")
    assert decode("x:1") == AskDelete(1) and decode("x:all") == AskDeleteAll() and decode("x:no") == KeepCases()
    assert decode("x:1:yes") == ConfirmDelete(1) and decode("x:1:yes@ff") == ConfirmDelete(1, stamp=255)
    assert decode("x:all:yes@10") == ConfirmDeleteAll(stamp=16)
    assert decode("o:2:risolto") == SetOutcome(2, "risolto") and decode("o:2") == ChooseOutcome(2)
    assert decode("h:3") == ListPage(3) and decode("c:4") == OpenCase(4)
    assert decode("back") == Back(), "a move alone is what the console and the Coach use"
    assert all(isinstance(decode(d), CaseAction) for d in ("h:1", "c:1", "o:1", "o:1:x", "x:1", "x:1:yes", "x:no"))
    assert not isinstance(decode("x:1:guide"), CaseAction), "x:<n>:<extra> is a result's, not the case book's"


@pytest.mark.parametrize("action", LARGEST, ids=lambda a: type(a).__name__)
def test_every_action_with_its_largest_values_fits_telegrams_64_bytes(action):
    data = action.encode()
    assert len(data.encode("utf-8")) <= CALLBACK_LIMIT, data
    assert decode(data) == action


def test_every_kind_of_action_is_in_the_largest_list():
    kinds = {type(a) for a in LARGEST} | {type(a.move) for a in LARGEST if isinstance(a, Step)}

    def leaves(cls: type) -> set[type]:
        subclasses = cls.__subclasses__()
        return set().union(*(leaves(c) for c in subclasses)) if subclasses else {cls}

    assert leaves(Action) <= kinds


def test_every_button_of_the_bundled_flow_is_decodable():
    for q in FLOW.questions.values():
        for move in (Change(q.id), *(Answer(o.id) for o in q.options), *(Toggle(o.id) for o in q.options)):
            assert decode(Step("a1b2c3", 1, move).encode()) == Step("a1b2c3", 1, move), (q.id, move)


def test_the_stamp_of_a_confirmation():
    now = time.time()
    assert ConfirmDelete(3).stamped(now) == ConfirmDelete(3, stamp=int(now))
    assert ConfirmDeleteAll().stamped(now).encode() == f"x:all:yes@{int(now):x}"


HOSTILE = [
    "",
    ":",
    "::::",
    "q",
    "q:",
    "q:a1b2c3",
    "q:a1b2c3:1",
    "q:a1b2c3:1:",
    "q:a1b2c3:x:back",
    "q:zz:" + "9" * 50 + ":back",
    "q:a1b2c3:1:opt:",
    "q:a1b2c3:1:opt:a:b",
    "q:a1b2c3:1:restart",
    "q:a1b2c3:1:q:a1b2c3:1:back",
    "q:123456789:1:back",
    "q:a1b2c3:1:opt:" + "z" * (MAX_ID + 1),
    "q:a1b2c3:-1:back",
    "q:a1b2c3:1:BACK",
    "back:",
    "opt",
    "opt:é",
    "r:",
    "r:restart:now",
    "r:start",
    "s:1:1:firmer",
    "s:1:1:firmer:tu:x",
    "s:1:1:hard:tu",
    "s:1:1:firmer:voi",
    "s:" + "9" * 40 + ":1:firmer:tu",
    "s:1:" + "9" * 30 + ":softer:lei",
    "s:-1:1:softer:tu",
    "s:1:²:softer:tu",
    "x:",
    "x:abc:guide",
    "x:1:nothing",
    "x:1:yes:yes",
    "x:1:yes@",
    "x:1:yes@zz",
    "x:1:yes@FF",
    "x:all:yes@",
    "x:all:no",
    "x:no:yes",
    "x:1:2:3",
    "x:" + "9" * 70 + ":guide",
    "x:1:yes@" + "f" * 17,
    "p:1:sollecito:softer",
    "p:1:sollecito:hard:tu",
    "p:x:sollecito:softer:tu",
    "p:1:sol lecito:softer:tu",
    "k:1:remind",
    "k:1:" + "s" * (MAX_STEP + 1) + ":paid",
    "k:1:remind:" + "a" * (MAX_ANSWER + 1),
    "k:1:Remind:paid",
    "n:1",
    "n:1:stop",
    "n:x:pause",
    "h:",
    "h:x",
    "h:-1",
    "h:1:2",
    "h:" + "9" * 20,
    "c:",
    "c:abc",
    "c:#1",
    "c:-1",
    "c:1.5",
    "c:١",
    "c:" + "9" * 80,
    "o:",
    "o:1:",
    "o:x:risolto",
    "o:1:\ud800",
    "o:1:boh boh",
    "\udfff",
    "\ud800:1",
    "c:\udc00",
    "zz",
    "garbage",
    "y:1:guide",
    "\x00",
    "q:\x00:1:back",
    "x:1\n",
    " c:1",
    "c:1 ",
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_data_is_none_not_an_exception(data):
    assert decode(data) is None


def test_numbers_of_ten_digits_or_more_are_no_button_of_ours():
    assert decode("c:" + "9" * MAX_DIGITS) == OpenCase(BIG)
    for data in ("c:", "h:", "o:", "x:", "s:1:", "x:"):
        assert decode(data + "1" * (MAX_DIGITS + 1) + (":softer:tu" if data == "s:1:" else "")) is None
    assert decode(f"q:a1b2c3:{10**MAX_DIGITS}:back") is None


def test_anything_else_is_read_in_bounded_time_and_never_raises():
    assert decode("c:1" + "1" * 10_000_000) is None, "longer than any callback data: refused before reading"
    assert decode(None) is None and decode(b"c:1") is None and decode(1) is None
    rng = random.Random(13)
    alphabet = list("qsxhcor:0123456789ayesoptgdl@-_ ") + ["\ud800", "\udfff", "é", "²", "\x00"]
    for _ in range(20_000):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 70)))
        action = decode(data)
        if action is not None:
            assert decode(action.encode()) == action, data
            assert len(action.encode().encode()) <= CALLBACK_LIMIT


def test_moves_and_case_actions_are_told_apart_by_type():
    assert isinstance(decode("done"), Move) and not isinstance(decode("q:a:1:done"), Move)
    assert isinstance(decode("q:a:1:done"), Step)


# -- the front ends draw what a button says ------------------------------------------------------


def test_the_telegram_keyboards_tick_options_add_the_nonce_and_stamp_confirmations():
    from bot.render import Button, Screen
    from bot.telegram.cases import CONFIRM_TTL, case_keyboard, honoured
    from bot.telegram.dialog import dialog_keyboard

    rows = (
        (Button("A", Toggle("a"), checked=True),),
        (Button("B", Toggle("b"), checked=False),),
        (Button("Fatto", Done()), Button("Versione", ScriptVariant(1, 1, "softer", "tu"))),
    )
    markup = dialog_keyboard(Screen("question", "?", rows), ("a1b2c3", 3))
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["✅ A"], ["▫️ B"], ["Fatto", "Versione"]]
    datas = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert datas == ["q:a1b2c3:3:tog:a", "q:a1b2c3:3:tog:b", "q:a1b2c3:3:done", "s:1:1:softer:tu"]

    confirm = Screen("confirm", "?", ((Button("Sì", ConfirmDelete(2)), Button("No", KeepCases())),))
    yes, no = (decode(b.callback_data) for b in case_keyboard(confirm).inline_keyboard[0])
    assert isinstance(yes, ConfirmDelete) and yes.case_no == 2 and honoured(yes) and no == KeepCases()
    assert not honoured(ConfirmDelete(2)), "a confirmation without its stamp is never honoured"
    assert not honoured(ConfirmDelete(2, stamp=int(time.time()) - CONFIRM_TTL - 1))
    assert not honoured(ConfirmDeleteAll(stamp=int(time.time()) + 60)), "nor one from the future"


def test_the_console_marks_ticked_options_its_own_way(tmp_path):
    from bot.coach import Coach
    from bot.console import Console
    from bot.render import Button, Screen
    from bot.store import Store

    console = Console(Coach(Store.open(tmp_path / "cc.db"), FLOW))
    rows = (
        (Button("A", Toggle("a"), checked=True),),
        (Button("B", Toggle("b"), checked=False),),
        (Button("Fatto", Done()),),
    )
    lines = console.describe(Screen("question", "Quali?", rows)).splitlines()
    assert lines[2:4] == ["  1) [x] A", "  2) [ ] B"]
