"""The console front end, in real subprocesses: `python -m bot chat` with piped stdin, one line per answer."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils

# A free client, answered the way a user types it: option numbers, text, Enter at the review.
FREE_CLIENT_LINES = [
    "Rossi",  # alias
    "3",  # payment: nothing, free or almost free
    "1",  # free_attitude: demands, disputes and judges as if paying top price
    "3",  # balance: takes far more than they pay for
    "8",  # behaviours: none of these
    "3",  # origin: no specific mistake
    "3",  # prestige: no
    "1",  # feelings: I think about them at night
    "5",  # occurrences
    "il sito web",  # service
    "1.200",  # price
    "Studio Bianchi",  # sender
    "2",  # form: Lei / formal
    "",  # the review: Enter shows the result
]

TEXTS = {
    "it": {
        "saved": "Caso n. 1 salvato.",
        "profile": "profilo Gratis",
        "why": "Perché lo penso",
        "reason": "Come paga → Niente, lavoro gratis o quasi",
        "price": "1.200,00 €",
        "greeting": "Gentile Rossi",
        "q": "Domanda {} di {}",
        "payment": "Come ti paga questo cliente?",
        "cannot_skip": "Questa domanda non si può saltare",
        "nothing_to_undo": "Sei già alla prima domanda",
        "review": "Riepilogo delle tue risposte",
        "current": "Risposta attuale: Il prezzo pieno, puntuale",
        "cancelled": "Questionario annullato",
        "not_an_option": "Non ho capito: scegli una delle opzioni (da 1 a 4).",
        "goodbye": "A presto.",
        "resumed": "Riprendiamo da dove eri rimasto.",
        "help": "Comandi: indietro",
        "exclusive": "«Nessuno di questi» non si può combinare con altre risposte.",
        "words": {"back": "indietro", "skip": "salta", "cancel": "annulla", "review": "rivedi", "help": "aiuto"},
    },
    "en": {
        "saved": "Case no. 1 saved.",
        "profile": "profile Gratis",
        "why": "Why I think so",
        "reason": "How they pay → Nothing: free or almost free work",
        "price": "€1,200.00",
        "greeting": "Dear Rossi",
        "q": "Question {} of {}",
        "payment": "How does this client pay you?",
        "cannot_skip": "This question can't be skipped",
        "nothing_to_undo": "You are at the first question",
        "review": "Your answers so far",
        "current": "Current answer: Full price, on time",
        "cancelled": "Questionnaire cancelled",
        "not_an_option": "I didn't get that: pick one of the options (1 to 4).",
        "goodbye": "Goodbye.",
        "resumed": "Let's pick up where you left off.",
        "help": "Commands: back",
        "exclusive": '"None of these" can\'t be combined with other answers.',
        "words": {"back": "back", "skip": "skip", "cancel": "cancel", "review": "review", "help": "help"},
    },
}


def chat(run_bot, db: Path, lang: str, lines: list[str], *extra: str, cwd: Path | None = None):
    result = run_bot("chat", "--db", str(db), "--lang", lang, *extra, lines=lines, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def cases(db: Path) -> list[dict]:
    return list(sqlite_utils.Database(db)["cases"].rows)


def open_conversations(db: Path) -> int:
    return sqlite_utils.Database(db)["conversations"].count


def in_order(text: str, *parts: str) -> None:
    """Every part appears in the text, in this order."""
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} missing (or out of order) after position {position}"
        position = found + len(part)


# -- a whole questionnaire ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_a_whole_questionnaire_saves_a_case_and_shows_profile_reasons_and_scripts(run_bot, tmp_path, workdir, lang):
    db, t = tmp_path / "cc.db", TEXTS[lang]
    result = chat(run_bot, db, lang, FREE_CLIENT_LINES, cwd=workdir)
    assert result.returncode == 0
    out = result.stdout
    in_order(out, t["q"].format(1, 12), t["q"].format(3, 13), t["q"].format(13, 13), t["saved"], t["profile"], t["why"], t["reason"], "✉️ 1.")
    assert t["price"] in out.split(t["saved"])[1], "the scripts carry the price, written for the language"
    assert t["greeting"] in out, "the formal form was used"
    assert "<b>" not in out and "</i>" not in out, "the console shows plain text"

    saved = cases(db)
    assert len(saved) == 1
    case = saved[0]
    assert (case["user_id"], case["case_no"], case["main"], case["lang"]) == (0, 1, "gratis", lang)
    answers = json.loads(case["answers"])
    assert answers["alias"] == "Rossi" and answers["price"] == 1200.0 and answers["form"] == "lei"
    assert json.loads(case["assessment"])["main"] == "gratis"
    assert open_conversations(db) == 0
    assert not (workdir / "data").exists(), "--db was used, not the default path"


def test_a_second_questionnaire_is_case_two_and_another_user_starts_at_one(run_bot, tmp_path):
    db = tmp_path / "cc.db"
    assert chat(run_bot, db, "it", FREE_CLIENT_LINES).returncode == 0
    second = chat(run_bot, db, "it", FREE_CLIENT_LINES)
    assert "Caso n. 2 salvato." in second.stdout
    other = chat(run_bot, db, "it", FREE_CLIENT_LINES, "--user", "42")
    assert "Caso n. 1 salvato." in other.stdout
    assert sorted((c["user_id"], c["case_no"]) for c in cases(db)) == [(0, 1), (0, 2), (42, 1)]


# -- typed commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_back_skip_review_and_cancel_typed_as_words(run_bot, tmp_path, lang):
    db, t = tmp_path / "cc.db", TEXTS[lang]
    w = t["words"]
    lines = [
        w["skip"],  # alias skipped
        w["skip"],  # payment cannot be skipped
        "3",  # payment: free -> the free-work question joins
        w["back"],  # back to payment
        w["back"],  # back to alias
        w["back"],  # nothing to undo
        "Rossi",
        "1",  # payment: full price
        w["review"],  # the answers so far
        "2",  # change payment
        "3",  # ... to free: the free-work question is asked
        "1",
        w["help"],
        w["cancel"],
    ]
    result = chat(run_bot, db, lang, lines)
    assert result.returncode == 0
    q = t["q"]
    in_order(
        result.stdout,
        q.format(1, 12),
        q.format(2, 12),  # after skipping the alias
        t["cannot_skip"],
        q.format(3, 13),  # free work asked
        q.format(2, 12),  # back: payment, the branch is gone from the count
        q.format(1, 12),  # back: alias
        t["nothing_to_undo"],
        q.format(2, 12),
        q.format(3, 12),  # full price: balance is next
        t["review"],
        "Rossi",
        t["current"],  # changing payment shows the current answer
        q.format(3, 13),  # the free-work question the change brought in
        q.format(4, 13),  # and back to where the user was: balance
        t["help"],
        t["cancelled"],
    )
    assert cases(db) == [], "a cancelled questionnaire saves nothing"
    assert open_conversations(db) == 0


def test_enter_skips_an_optional_question_and_the_review_accepts_a_change_at_the_end(run_bot, tmp_path):
    db = tmp_path / "cc.db"
    # Enter skips the alias; at the end, change payment (answer 2) to full price (1): the free-work
    # answer goes, nothing else is asked, the review comes back; Enter shows the result.
    lines = ["", *FREE_CLIENT_LINES[1:-1], "2", "1", ""]
    result = chat(run_bot, db, "it", lines)
    assert result.returncode == 0
    out = result.stdout
    in_order(out, "Domanda 2 di 12", "Riepilogo delle tue risposte", "Risposta attuale: Niente, lavoro gratis o quasi",
             "Riepilogo delle tue risposte", "Caso n. 1 salvato.")
    (case,) = cases(db)
    answers = json.loads(case["answers"])
    assert answers["alias"] is None and answers["payment"] == "full"
    assert "free_attitude" not in answers, "the answer off the new branch was dropped"
    assert answers["sender"] == "Studio Bianchi" and answers["price"] == 1200.0, "the rest was kept"


# -- wrong input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_invalid_input_gets_one_clear_reprompt(run_bot, tmp_path, lang):
    t = TEXTS[lang]
    result = chat(run_bot, tmp_path / "cc.db", lang, ["Rossi", "9", "3"])
    assert result.returncode == 0
    out = result.stdout
    assert out.count(t["not_an_option"]) == 1
    assert out.count(t["payment"]) == 2, "the same question, asked again once"
    in_order(out, t["payment"], t["not_an_option"], t["q"].format(3, 13))


@pytest.mark.parametrize("lang", ["it", "en"])
def test_an_exclusive_option_combined_with_others_is_explained(run_bot, tmp_path, lang):
    t = TEXTS[lang]
    result = chat(run_bot, tmp_path / "cc.db", lang, ["Rossi", "1", "2", "1 8", "1 3"])
    assert result.stdout.count(t["exclusive"]) == 1
    in_order(result.stdout, t["exclusive"], t["q"].format(5, 12))


def test_wrong_numbers_money_and_too_long_text_are_reprompted(run_bot, tmp_path):
    lines = ["x" * 61, "Rossi", "1", "2", "8", "4", "3", "5", "tre", "2,5", "3", "", "dodici", "1.200,50", "", "1", ""]
    result = chat(run_bot, tmp_path / "cc.db", "it", lines)
    out = result.stdout
    for message in ("È troppo lungo: al massimo 60 caratteri.", "Mi serve un numero, per esempio 3.",
                    "Mi serve un numero intero, per esempio 3.", "Non riesco a leggere l'importo"):
        assert out.count(message) == 1, message
    assert "Caso n. 1 salvato." in out


# -- ending without finishing -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_eof_in_the_middle_ends_cleanly_and_the_conversation_can_be_resumed(run_bot, tmp_path, lang):
    db, t = tmp_path / "cc.db", TEXTS[lang]
    result = chat(run_bot, db, lang, ["Rossi", "3"])
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.rstrip().endswith(t["goodbye"])
    assert open_conversations(db) == 1 and cases(db) == []

    resumed = chat(run_bot, db, lang, ["1"], "--resume")
    assert resumed.returncode == 0
    in_order(resumed.stdout, t["resumed"], t["q"].format(3, 13), t["q"].format(4, 13))


def test_without_resume_piped_input_starts_a_new_questionnaire(run_bot, tmp_path):
    db = tmp_path / "cc.db"
    chat(run_bot, db, "it", ["Rossi", "3"])
    again = chat(run_bot, db, "it", [])
    assert "Domanda 1 di 12" in again.stdout and "Riprendiamo" not in again.stdout


def test_ctrl_c_while_waiting_for_input_ends_without_a_traceback(child_env, tmp_path, workdir):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--db", str(tmp_path / "cc.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=child_env(),
    )
    try:
        proc.stdin.write(b"Rossi\n")
        proc.stdin.flush()
        seen, deadline = b"", time.monotonic() + 30
        while seen.count(b"\n> ") < 2:  # the second prompt: it is waiting for the payment answer
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no prompt within 30 s; got {seen!r}"
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the chat ended early: {seen!r}"
            seen += chunk
        assert b"Come ti paga questo cliente?" in seen
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = (seen + rest).decode("utf-8")
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
    assert proc.returncode == 130
    assert out.rstrip().endswith("A presto.")


# -- settings from the environment -----------------------------------------------------------------


def test_the_database_comes_from_clientcoach_db(run_bot, child_env, tmp_path, workdir):
    db = tmp_path / "from-env.db"
    result = run_bot("chat", lines=FREE_CLIENT_LINES, cwd=workdir, env=child_env(CLIENTCOACH_DB=str(db)))
    assert result.returncode == 0, result.stderr
    assert [c["main"] for c in cases(db)] == ["gratis"]
    assert not (workdir / "data").exists(), "the default data/ path was not used"


def test_db_on_the_command_line_wins_over_the_environment(run_bot, child_env, tmp_path, workdir):
    env_db, arg_db = tmp_path / "env.db", tmp_path / "arg.db"
    result = run_bot("chat", "--db", str(arg_db), lines=FREE_CLIENT_LINES, cwd=workdir,
                     env=child_env(CLIENTCOACH_DB=str(env_db)))
    assert result.returncode == 0
    assert len(cases(arg_db)) == 1 and not env_db.exists()


def test_without_any_setting_the_database_is_data_clientcoach_db(run_bot, workdir):
    result = run_bot("chat", lines=["Rossi"], cwd=workdir)
    assert result.returncode == 0
    assert (workdir / "data" / "clientcoach.db").is_file()


def test_the_language_comes_from_clientcoach_lang(run_bot, child_env, tmp_path, workdir):
    result = run_bot("chat", "--db", str(tmp_path / "cc.db"), lines=[], cwd=workdir, env=child_env(CLIENTCOACH_LANG="en"))
    assert "Question 1 of 12" in result.stdout and "Goodbye." in result.stdout


# -- the console never needs telegram --------------------------------------------------------------

NO_TELEGRAM = """
import sys
from bot import cli
status = cli.main(sys.argv[1:])
print("TELEGRAM MODULES:", sorted(m for m in sys.modules if m == "telegram" or m.startswith("telegram.")))
sys.exit(status)
"""


def test_the_console_path_never_imports_telegram(child_env, tmp_path, workdir):
    db = tmp_path / "cc.db"
    result = subprocess.run(
        [sys.executable, "-c", NO_TELEGRAM, "chat", "--db", str(db), "--lang", "it"],
        input="\n".join(FREE_CLIENT_LINES) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=workdir,
        env=child_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Caso n. 1 salvato." in result.stdout, "the chat really ran to the end"
    assert "TELEGRAM MODULES: []" in result.stdout
    assert len(cases(db)) == 1


@pytest.mark.parametrize("lang, request_line, header", [("it", "2 breve tu", "più breve · tu"), ("en", "2 shorter informal", "shorter · informal")])
def test_after_the_result_a_script_is_shown_in_another_version(run_bot, tmp_path, lang, request_line, header):
    result = chat(run_bot, tmp_path / "cc.db", lang, FREE_CLIENT_LINES + [request_line, "7 boh", ""])
    assert result.returncode == 0
    tail = result.stdout.rsplit("✉️ 2.", 1)[-1]
    assert tail.splitlines()[1].strip() == header, "the last script shown is the one asked for, in that version"
    assert ("Non ho capito" if lang == "it" else "I didn't get that") in result.stdout
