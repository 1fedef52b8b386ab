"""Hostile text at every text entry point of the core: bounded time, and only Invalid or a valid value.

Hypothesis feeds random Unicode (plus the strings that once froze or crashed the bot) to the answer
of every question of the real flow, to `parse_money` and to the case book's parsers. Each call must
return within a generous wall bound (`BOUND`, far above the few milliseconds a call takes, far below
the 14 s the backtracking pattern took), and must either refuse with `Invalid` or give a value its
question can hold. Figures for the README: `python -m pytest -q tests/test_engine_fuzz.py`.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from bot.casebook import clean_note, local_zone, parse_case_no, parse_status, parse_when
from bot.engine import MAX_RAW_INPUT, Engine, Invalid, clean_text, parse_money
from bot.flow import Question
from bot.textin import as_index, split_list

BOUND = 0.5  # seconds per call
PATHOLOGICAL = [
    "\u00a0\u00a0\u00a0\u00a01" * 12,
    "\u00a0\u00a0\u00a0\u00a01" * 20,
    "1" + "\u00a0\u00a0\u00a0\u00a01" * 200 + "x",
    "1 " * 3000 + "x",
    "1," * 3000 + ";",
    "²",
    "１",
    "１ ２",
    "٣",
    "¹²³",
    "1\u200d2",
    "\ufeff1",
    "\u202e1",
    "1 1 1",
    "1.2.3.4.5.6.7.8.9" * 50,
    "€" * 5000,
    "eur" * 2000,
    "9" * 5000,
    "1e999999",
    "NaN",
    "-0",
    "\x00" * 100,
    "\ud7ff" * 10,
    "a\u0301" * 3000,
    "\u0300" * 5000,
    "x" * 1_000_000,
]
UNICODE = st.text(st.characters(codec="utf-8"), max_size=300)
HOSTILE = st.one_of(UNICODE, st.sampled_from(PATHOLOGICAL), st.text("0123456789 ,;.\u00a0\u2009€²１", max_size=400))
CALLS = {"count": 0, "slowest": 0.0}


def timed(call: Callable[[], Any]) -> Any:
    """Run one call; fail if it took longer than BOUND. Returns its value or the Invalid it raised."""
    # CPU time of this thread: what a backtracking blow-up costs, whatever else the machine runs.
    start = time.thread_time()
    try:
        result = call()
    except Invalid as exc:
        result = exc
    elapsed = time.thread_time() - start
    CALLS["count"] += 1
    CALLS["slowest"] = max(CALLS["slowest"], elapsed)
    assert elapsed < BOUND, f"{elapsed:.2f} s for one call"
    return result


@pytest.fixture(scope="module")
def waiting(flow) -> dict[str, dict]:
    """A conversation waiting at each question of the flow, found by following every option. A
    question is walked on from again for each answer an `ask_if` reads (a one-off job and an
    ongoing contract both go on to the payment, then open different questions)."""
    engine = Engine(flow)
    read_by_ask_if = sorted({qid for q in flow.questions.values() for qid in q.ask_if})
    found: dict[str, dict] = {}
    walked: set[tuple] = set()
    typed = {"text": "Rossi", "number": "3", "money": "100"}
    todo = [engine.new()]
    while todo:
        state = todo.pop()
        q = engine.question(state)
        seen = (q.id if q else None, *(str(state.answers.get(k)) for k in read_by_ask_if))
        if q is None or seen in walked:
            continue
        walked.add(seen)
        found.setdefault(q.id, state)
        values = [o.id if q.kind == "single" else [o.id] for o in q.options] if q.is_choice else [typed[q.kind]]
        for value in values:
            try:
                todo.append(engine.answer(state, value))
            except Invalid:
                todo.append(engine.skip(state))
    assert set(found) == set(flow.questions), "every question is reachable"
    return found


def assert_valid(q: Question, value: Any) -> None:
    """A value the question can hold."""
    if q.kind == "single":
        assert value in q.option_index
    elif q.kind == "multi":
        assert value and set(value) <= set(q.option_index)
        assert len(value) == 1 or not any(q.option_index[v].exclusive for v in value)
    elif q.kind == "text":
        assert isinstance(value, str) and 0 < len(value) <= q.validate.get("max_length", 500)
        assert value == value.strip() and not set(value) & set(
            "\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x00"
        )
    else:
        assert q.accepts(value)
        top = 10**8
        if q.units:  # an amount with its unit: the amount is checked below, within the unit's bound
            unit = next(u for u in q.units if u.id == value["unit"])
            top = unit.max if unit.max is not None else top
            value = value["amount"]
        assert isinstance(value, (int, float)) and not isinstance(value, bool)
        assert q.validate.get("min", 0) <= value <= min(q.validate.get("max", 10**8), top)


# -- every question, through the engine's public entry point -------------------------------------------


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(raw=HOSTILE, pick=st.integers(0, 10_000))
@example(raw="\u00a0\u00a0\u00a0\u00a01" * 20, pick=0)
def test_any_text_at_any_question_is_refused_or_read_in_bounded_time(engine, waiting, raw, pick):
    states = list(waiting.values())
    state = states[pick % len(states)]
    q = engine.question(state)
    result = timed(lambda: engine.answer(state, raw))
    if not isinstance(result, Invalid):
        assert_valid(q, result.answers[q.id])
        assert result.mode in ("asking", "done")


@pytest.mark.parametrize("raw", PATHOLOGICAL)
def test_the_pathological_strings_at_every_question(engine, waiting, raw):
    for state in waiting.values():
        q = engine.question(state)
        result = timed(lambda state=state: engine.answer(state, raw))
        if not isinstance(result, Invalid):
            assert_valid(q, result.answers[q.id])


def test_the_string_that_froze_the_bot_is_answered_at_once(engine, waiting):
    multi = next(s for s in waiting.values() if engine.question(s).kind == "multi")
    for repeats in (12, 20, 1000):
        result = timed(lambda n=repeats: engine.answer(multi, "\u00a0\u00a0\u00a0\u00a01" * n))
        assert isinstance(result, Invalid) or result.answers


# -- the parsers on their own ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(raw=HOSTILE)
def test_parse_money_is_bounded_and_reads_only_amounts(raw):
    result = timed(lambda: parse_money(raw))
    if not isinstance(result, Invalid):
        assert isinstance(result, Decimal) and result.is_finite() and 0 <= result <= 10**8
        assert result == result.quantize(Decimal("0.01"))


@settings(max_examples=200, deadline=None)
@given(raw=HOSTILE)
def test_the_input_helpers_are_bounded(raw):
    cleaned = timed(lambda: clean_text(raw))
    assert len(cleaned) <= MAX_RAW_INPUT
    items = timed(lambda: split_list(raw))
    assert items is None or all(item.isascii() and item.isdigit() for item in items)
    index = timed(lambda: as_index(raw))
    assert index is None or 0 <= index < 10**6


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@settings(max_examples=200, deadline=None)
@given(raw=HOSTILE)
def test_the_case_book_parsers_are_bounded(raw):
    zone = local_zone("Europe/Rome")
    for parse in (parse_case_no, parse_status, clean_note, lambda r: parse_when(r, NOW, zone)):
        result = timed(lambda parse=parse: parse(raw))
        if isinstance(result, Invalid):
            continue
        if parse is parse_case_no:
            assert isinstance(result, int) and result >= 1
        elif isinstance(result, datetime):
            assert result > NOW
        else:
            assert isinstance(result, str) and result


# -- the answers that used to be mangled or crash ------------------------------------------------------


def _waiting_kind(engine, waiting, kind: str) -> tuple[Question, dict]:
    state = next(s for s in waiting.values() if engine.question(s).kind == kind)
    return engine.question(state), state


def test_a_unicode_digit_at_a_choice_is_read_or_reprompted_never_a_crash(engine, waiting):
    q, state = _waiting_kind(engine, waiting, "single")
    assert engine.answer(state, "２").answers[q.id] == q.options[1].id, "full-width digits are digits"
    assert engine.answer(state, "²").answers[q.id] == q.options[1].id, "NFKC reads ² as 2"
    for raw in ("٣", "¹²³", "1\u200d2", "⑴", "Ⅲ"):
        with pytest.raises(Invalid) as caught:
            engine.answer(state, raw)
        assert caught.value.key == "not_an_option"


def test_joiners_are_kept_and_invisible_tricks_dropped(engine, waiting):
    q, state = _waiting_kind(engine, waiting, "text")
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "I want", with its zero-width non-joiner
    assert engine.answer(state, f"Rossi {family}").answers[q.id] == f"Rossi {family}"
    assert engine.answer(state, persian).answers[q.id] == persian
    assert engine.answer(state, "\ufeffRossi").answers[q.id] == "Rossi", "a BOM is not part of the name"
    assert engine.answer(state, "Ros\u202esi\u2066").answers[q.id] == "Rossi", "no bidi override or isolate"
    assert engine.answer(state, "Caf\u0065\u0301 Roma").answers[q.id] == "Café Roma", "NFC"
    assert engine.answer(state, "Studio\u00a0\u2009Rossi").answers[q.id] == "Studio Rossi", "any space is one space"


@pytest.mark.parametrize("raw", ["1 1 1", "1 12", "12 34 5", "1 2000", "1 200 00"])
def test_loose_digits_are_not_an_amount(raw):
    with pytest.raises(Invalid) as caught:
        parse_money(raw)
    assert caught.value.key == "not_money"


@pytest.mark.parametrize(
    ("raw", "amount"),
    [("1 200", "1200.00"), ("1\u00a0200,50 €", "1200.50"), ("€ 12 345", "12345.00"), ("１.２００", "1200.00")],
)
def test_amounts_grouped_by_spaces_are_read(raw, amount):
    assert parse_money(raw) == Decimal(amount)


def test_at_the_money_question_loose_digits_are_refused(engine, waiting):
    q, state = _waiting_kind(engine, waiting, "money")
    with pytest.raises(Invalid) as caught:
        engine.answer(state, "1 1 1")
    assert caught.value.key == "not_money"
    assert engine.answer(state, "1 100").answers[q.id] == 1100.0


def test_a_multiple_choice_list_is_split_by_any_separator(engine, waiting):
    q, state = _waiting_kind(engine, waiting, "multi")
    plain = [i for i, o in enumerate(q.options, 1) if not o.exclusive][:3]
    typed = f"{plain[0]}\u00a0\u00a0,{plain[1]} ;\u2009{plain[2]}"
    assert engine.answer(state, typed).answers[q.id] == [q.options[i - 1].id for i in plain]


def test_an_overlong_list_of_numbers_is_refused_not_cut(engine, waiting):
    _, state = _waiting_kind(engine, waiting, "multi")
    with pytest.raises(Invalid) as caught:
        engine.answer(state, "1 " * 150 + "99")
    assert caught.value.key == "not_an_option"


def test_figures(capsys):
    """Not a check: how many calls the fuzz made and the slowest one, for the README (run with -s)."""
    with capsys.disabled():
        print(f"\nfuzz: {CALLS['count']} calls, slowest {CALLS['slowest'] * 1000:.1f} ms (bound {BOUND * 1000:.0f} ms)")
