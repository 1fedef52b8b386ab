"""One conversation owner: two `clientcoach chat` runs for the same user, started together on a new
database, never mix their answers into one case, and never fail on a lock.

Reduced in CI; `CLIENTCOACH_FULL_CAMPAIGN=1 python -m pytest -n 0 -s tests/test_concurrent_console.py`
runs the 50 pairs the README reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import sqlite_utils

from bot.render import Renderer, to_plain

from answer_lines import typed_lines
from helpers import ROOT, clean_environment, run_cli

FULL = os.environ.get("CLIENTCOACH_FULL_CAMPAIGN") == "1"
PAIRS = 50 if FULL else 4
BUSY = to_plain(Renderer(surface="console").ui("it", "console_busy", 30))
# Each run answers with its own tag and its own branch: a mixed case shows at once.
RUNS = {
    "A": {"payment": "3", "expected": "free"},
    "B": {"payment": "1", "expected": "full"},
}


def chat(db: Path, tag: str, pair: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--create", "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_environment(),
        cwd=ROOT,
    )


def answers_for(tag: str, pair: int) -> bytes:
    lines = typed_lines({"alias": f"{tag}{pair}", "payment": RUNS[tag]["payment"], "service": f"lavoro {tag}{pair}"})
    return ("\n".join(lines) + "\n\n").encode()


@pytest.mark.slow  # real processes, pair after pair
def test_two_chats_for_the_same_user_never_mix_and_never_hit_a_lock(tmp_path):
    outcomes: Counter[str] = Counter()
    mixed, lock_errors, tracebacks = [], [], []
    for pair in range(PAIRS):
        db = tmp_path / f"pair{pair}.db"  # a new database: the two first runs also race the migrations
        procs = {tag: chat(db, tag, pair) for tag in RUNS}
        results: dict[str, tuple[bytes, bytes]] = {}

        def talk(tag: str, procs=procs, results=results, pair=pair) -> None:
            results[tag] = procs[tag].communicate(answers_for(tag, pair), timeout=120)

        threads = [threading.Thread(target=talk, args=(tag,)) for tag in procs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = {tag: procs[tag].returncode for tag in procs}
        for tag, (out, err) in results.items():
            text = out.decode() + err.decode()
            if "Traceback" in text:
                tracebacks.append((pair, tag, err.decode()[-500:]))
            if "locked" in text or "occupato" in text:
                lock_errors.append((pair, tag, err.decode()[-300:]))
            if codes[tag] == 1:
                assert BUSY in out.decode(), f"pair {pair} {tag}: refused without saying why: {text[-300:]}"
            else:
                assert codes[tag] == 0, f"pair {pair} {tag}: exit {codes[tag]}: {text[-300:]}"
        saved = list(sqlite_utils.Database(db)["cases"].rows)
        assert len(saved) == sum(code == 0 for code in codes.values()), f"pair {pair}: {codes}, {len(saved)} cases"
        for case in saved:
            answers = json.loads(case["answers"])
            tag = answers["alias"][0]
            if (
                answers["alias"] != f"{tag}{pair}"
                or answers.get("service") != f"lavoro {tag}{pair}"
                or answers["payment"] != RUNS[tag]["expected"]
            ):
                mixed.append((pair, answers))
        outcomes["one refused" if 1 in codes.values() else "one after the other"] += 1
    print(
        f"\nconcurrent console pairs: {PAIRS}, mixed cases: {len(mixed)}, lock errors: {len(lock_errors)}, "
        f"tracebacks: {len(tracebacks)}, outcomes: {dict(outcomes)}"
    )
    assert not mixed, mixed
    assert not lock_errors, lock_errors
    assert not tracebacks, tracebacks


def test_a_second_chat_is_told_the_questionnaire_is_open_elsewhere(tmp_path):
    """The lease in slow motion: the first run waits at a question, the second is refused and changes nothing."""
    db = tmp_path / "cc.db"
    first = chat(db, "A", 0)
    try:
        first.stdin.write(b"Rossi\n")
        first.stdin.flush()
        seen = b""
        while seen.count(b"> ") < 2:  # waiting at the second question, holding the questionnaire
            chunk = os.read(first.stdout.fileno(), 65536)
            assert chunk, seen
            seen += chunk
        second = run_cli("chat", "--create", "--db", str(db), "--new", stdin=["Bianchi"])  # this process: another owner
        assert second.returncode == 1 and BUSY in second.stdout, second.stdout
        state = json.loads(next(iter(sqlite_utils.Database(db)["conversations"].rows))["state"])
        assert state["answers"] == {"alias": "Rossi"}, "the refused run changed nothing"
    finally:
        first.stdin.close()
        first.wait(timeout=60)
    assert first.returncode == 0


# -- taking over after the lease runs out (in-process, with a short lease) ----------------------------


class ScriptedInput:
    """Lines for a console; `between` runs while the console waits for the line of that number."""

    def __init__(self, lines: list[str], between: dict):
        self.lines, self.between, self.calls = lines, between, 0

    def readline(self) -> str:
        self.calls += 1
        if self.calls in self.between:
            self.between[self.calls]()
        return self.lines.pop(0) + "\n" if self.lines else ""


def consoles(tmp_path, monkeypatch):
    import io

    from bot import console as console_module
    from bot.coach import Coach
    from bot.console import Console
    from bot.store import Store

    monkeypatch.setattr(console_module, "LEASE_SECONDS", 0.2)
    db = tmp_path / "cc.db"

    def make() -> Coach:
        return Coach(Store.open(db), renderer=Renderer(surface="console"))

    return make(), make(), Console, io


def test_a_run_whose_questionnaire_moved_on_elsewhere_shows_it_and_applies_nothing(tmp_path, monkeypatch):
    coach_a, coach_b, Console, io = consoles(tmp_path, monkeypatch)

    def other_run_takes_over():
        import time

        time.sleep(0.3)  # A has been idle past its lease
        assert Console(coach_b, 0, "it", stdin=io.StringIO("3\n"), stdout=io.StringIO()).run(resume=True) == 0

    out = io.StringIO()
    # A types "1" meant for the payment question, after B has answered it ("3") and left.
    lines = ScriptedInput(["Rossi", "ongoing", "1"], {3: other_run_takes_over})
    status = Console(coach_a, 0, "it", stdin=lines, stdout=out).run(new=True)
    assert status == 0
    ui = Renderer(surface="console")
    assert to_plain(ui.ui("it", "console_changed_elsewhere")) in out.getvalue()
    state, _ = coach_a.load(0)
    assert state.answers == {"alias": "Rossi", "relationship": "ongoing", "payment": "free"}, (
        "A's stale line was not applied"
    )


def test_a_run_whose_questionnaire_was_taken_over_stops_without_touching_it(tmp_path, monkeypatch):
    coach_a, coach_b, Console, io = consoles(tmp_path, monkeypatch)

    def other_run_holds_it():
        import time

        time.sleep(0.3)
        assert coach_b.store.lease_conversation(0, "another console", 30)

    out = io.StringIO()
    status = Console(coach_a, 0, "it", stdin=ScriptedInput(["Rossi", "1"], {2: other_run_holds_it}), stdout=out).run(
        new=True
    )
    assert status == 1
    assert to_plain(Renderer(surface="console").ui("it", "console_taken_over")) in out.getvalue()
    state, _ = coach_a.load(0)
    assert state.answers == {"alias": "Rossi"}
