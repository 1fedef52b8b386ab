"""The console front end: `clientcoach chat` with piped stdin, one line per answer, run in-process through
`cli.main`; what only a real process shows (Ctrl-C, a terminal, the modules it imports) runs `python -m bot`.

The answer lines come from walking today's flow (tests/answer_lines.py), and the texts checked are
read from the flow and the templates, so these tests follow the questionnaire as it changes.
"""

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

from bot.render import Renderer, to_plain

from answer_lines import question_ids, typed_lines
from helpers import FLOW, clean_environment, run_cli

CONSOLE = Renderer(surface="console")
Q = FLOW.questions
# A free client, answered the way a user types it: option numbers, text, Enter at the review.
FREE = {"alias": "Rossi", "payment": "3", "free_attitude": "1", "service": "il sito web", "price": "1.200", "who": "3"}
FREE_CLIENT_LINES = typed_lines(FREE)
# The relationship as a user types it, by its number: an ongoing contract (the notice is asked).
ONGOING = str([o.id for o in Q["relationship"].options].index("ongoing") + 1)


def ui(lang: str, name: str, *args) -> str:
    return to_plain(CONSOLE.ui(lang, name, *args))


def error(lang: str, key: str, **params) -> str:
    return to_plain(CONSOLE.ui(lang, "error", key, params))


WORDS = {
    "it": {"back": "indietro", "skip": "salta", "cancel": "annulla", "review": "rivedi", "help": "aiuto"},
    "en": {"back": "back", "skip": "skip", "cancel": "cancel", "review": "review", "help": "help"},
}


def chat(db: Path, lang: str, lines: list[str], *extra: str, cwd: Path | None = None):
    result = run_cli("chat", "--create", "--db", str(db), "--lang", lang, *extra, stdin=lines, cwd=cwd)
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
def test_a_whole_questionnaire_saves_a_case_and_shows_the_result(tmp_path, workdir, lang):
    db = tmp_path / "cc.db"
    result = chat(db, lang, typed_lines(FREE, lang), cwd=workdir)
    assert result.returncode == 0
    out = result.stdout
    in_order(out, Q["alias"].text[lang], Q["payment"].text[lang], ui(lang, "saved", 1))
    assert "<b>" not in out and "</i>" not in out, "the console shows plain text"
    (case,) = cases(db)
    assert (case["user_id"], case["case_no"], case["main"], case["lang"]) == (0, 1, "gratis", lang)
    assert f"{ui(lang, 'profile_short', 'gratis')}" in out.split(ui(lang, "saved", 1))[1]
    answers = json.loads(case["answers"])
    assert answers["alias"] == "Rossi" and answers["payment"] == "free"
    if "price" in question_ids(FREE, lang):
        assert answers["price"] == {"amount": 1200.0, "unit": "once"}, "no unit typed: for the whole job"
    assert open_conversations(db) == 0
    assert ui(lang, "db_first_saved", str(db)) in out, "the first case says where cases are kept"
    assert not (workdir / "data").exists(), "--db was used, not the default path"


def test_a_second_questionnaire_is_case_two_and_another_user_starts_at_one(tmp_path):
    db = tmp_path / "cc.db"
    assert chat(db, "it", FREE_CLIENT_LINES).returncode == 0
    second = chat(db, "it", FREE_CLIENT_LINES)
    assert "Caso n. 2 salvato." in second.stdout and "I tuoi casi sono salvati" not in second.stdout
    other = chat(db, "it", FREE_CLIENT_LINES, "--user", "42")
    assert "Caso n. 1 salvato." in other.stdout
    assert sorted((c["user_id"], c["case_no"]) for c in cases(db)) == [(0, 1), (0, 2), (42, 1)]


# -- typed commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_back_skip_review_and_cancel_typed_as_words(tmp_path, lang):
    db, w = tmp_path / "cc.db", WORDS[lang]
    lines = [
        w["skip"],  # alias skipped
        ONGOING,  # the relationship
        w["skip"],  # payment cannot be skipped
        "3",  # payment: free -> the free-work question joins
        w["back"],  # back to payment
        w["back"],  # back to the relationship
        w["back"],  # back to alias
        w["back"],  # nothing to undo
        "Rossi",
        ONGOING,
        "1",  # payment: full price
        w["review"],  # the answers so far
        "3",  # change payment (alias, relationship, payment)
        "3",  # ... to free: the free-work question is asked
        "1",
        w["help"],
        w["cancel"],
        "altro",  # after cancelling, typed text says how to start again
    ]
    result = chat(db, lang, lines)
    assert result.returncode == 0
    full = to_plain(Q["payment"].options[0].label[lang])
    in_order(
        result.stdout,
        Q["relationship"].text[lang],  # after skipping the alias
        Q["payment"].text[lang],
        error(lang, "cannot_skip"),
        Q["free_attitude"].text[lang],  # free work asked
        Q["payment"].text[lang],  # back
        Q["relationship"].text[lang],  # back
        Q["alias"].text[lang],  # back
        error(lang, "nothing_to_undo"),
        Q["payment"].text[lang],
        full,  # in the review
        Q["free_attitude"].text[lang],  # the question the change brought in
        ui(lang, "console_help"),
        ui(lang, "cancelled"),
        ui(lang, "stray_message"),
    )
    assert "/nuovo" not in result.stdout and "/aiuto" not in result.stdout, "the console names its own words"
    assert cases(db) == [], "a cancelled questionnaire saves nothing"
    assert open_conversations(db) == 0


def test_enter_skips_an_optional_question_and_the_review_accepts_a_change_at_the_end(tmp_path):
    db = tmp_path / "cc.db"
    # Enter skips the alias; at the review, change the alias (answer 1) to "Bianchi"; Enter shows the result.
    lines = ["", *FREE_CLIENT_LINES[1:-1], "1", "Bianchi", ""]
    result = chat(db, "it", lines)
    assert result.returncode == 0
    in_order(
        result.stdout,
        Q["payment"].text["it"],
        "Riepilogo delle tue risposte",
        "Riepilogo delle tue risposte",
        "Caso n. 1 salvato.",
    )
    (case,) = cases(db)
    answers = json.loads(case["answers"])
    assert answers["alias"] == "Bianchi" and answers["payment"] == "free", "the change was made, the rest kept"


# -- wrong input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_invalid_input_gets_one_clear_reprompt(tmp_path, lang):
    result = chat(tmp_path / "cc.db", lang, ["Rossi", ONGOING, "9", "3"])
    assert result.returncode == 0
    out = result.stdout
    wrong = error(lang, "not_an_option", count=len(Q["payment"].options))
    assert out.count(wrong) == 1
    assert out.count(Q["payment"].text[lang]) == 2, "the same question, asked again once"
    in_order(out, Q["payment"].text[lang], wrong, Q["free_attitude"].text[lang])


@pytest.mark.parametrize("lang", ["it", "en"])
def test_an_exclusive_option_combined_with_others_is_explained(tmp_path, lang):
    asked = question_ids(FREE, lang)
    lines, at = typed_lines(FREE, lang), asked.index("behaviours")
    options = Q["behaviours"].options
    none = next(i for i, o in enumerate(options, 1) if o.exclusive)
    result = chat(tmp_path / "cc.db", lang, [*lines[:at], f"1 {none}", lines[at]])
    message = error(lang, "exclusive_option", option=to_plain(options[none - 1].label[lang]))
    assert result.stdout.count(message) == 1
    in_order(result.stdout, message, Q[asked[asked.index("behaviours") + 1]].text[lang])


def test_too_long_text_and_wrong_money_are_reprompted(tmp_path):
    longest = Q["alias"].validate["max_length"]
    asked = question_ids(FREE)
    lines = typed_lines(FREE)
    if "price" in asked:
        lines.insert(asked.index("price"), "dodici")
    result = chat(tmp_path / "cc.db", "it", ["x" * (longest + 1), *lines])
    out = result.stdout
    assert out.count(error("it", "too_long", max=longest)) == 1
    if "price" in asked:
        assert out.count("Non riesco a leggere l'importo") == 1
    assert "Caso n. 1 salvato." in out


def test_a_unicode_digit_at_a_choice_and_at_the_review_is_a_number(tmp_path):
    db = tmp_path / "cc.db"
    ongoing = "⁰¹²³⁴⁵⁶⁷⁸⁹"[int(ONGOING)]  # a superscript digit, at the relationship too
    result = chat(db, "it", ["Rossi", ongoing, "³", "rivedi", "¹", "Verdi", "𝟑", ""])
    assert result.returncode == 0
    in_order(result.stdout, Q["free_attitude"].text["it"], "Riepilogo delle tue risposte")
    state = json.loads(next(iter(sqlite_utils.Database(db)["conversations"].rows))["state"])
    assert state["answers"]["alias"] == "Verdi" and state["answers"]["payment"] == "free"
    assert state["answers"]["relationship"] == "ongoing"


# -- ending without finishing -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["it", "en"])
def test_eof_in_the_middle_keeps_the_questionnaire_and_says_how_to_resume(tmp_path, lang):
    db = tmp_path / "cc.db"
    result = chat(db, lang, ["Rossi", ONGOING, "3"])
    assert result.returncode == 0
    assert result.stderr == ""
    in_order(result.stdout, ui(lang, "console_kept"), ui(lang, "console_goodbye"))
    assert "--resume" in ui(lang, "console_kept")
    assert open_conversations(db) == 1 and cases(db) == []

    resumed = chat(db, lang, ["1"], "--resume")
    assert resumed.returncode == 0
    asked = question_ids({**FREE, "free_attitude": "1"}, lang)
    in_order(
        resumed.stdout,
        ui(lang, "resumed"),
        Q["free_attitude"].text[lang],
        Q[asked[asked.index("free_attitude") + 1]].text[lang],
    )


def test_piped_input_never_replaces_an_unfinished_questionnaire_unasked(tmp_path):
    db = tmp_path / "cc.db"
    chat(db, "it", ["Rossi", ONGOING, "3"])
    refused = chat(db, "it", ["Bianchi"])
    assert refused.returncode == 1
    assert ui("it", "console_unfinished") in refused.stdout and "--new" in ui("it", "console_unfinished")
    state = json.loads(next(iter(sqlite_utils.Database(db)["conversations"].rows))["state"])
    assert state["answers"]["alias"] == "Rossi", "nothing was replaced"
    again = chat(db, "it", ["Bianchi"], "--new")
    assert again.returncode == 0 and "Riprendiamo" not in again.stdout
    state = json.loads(next(iter(sqlite_utils.Database(db)["conversations"].rows))["state"])
    assert state["answers"] == {"alias": "Bianchi"}


def test_quit_words_leave_and_keep_the_questionnaire(tmp_path):
    for word in ("esci", "quit", "exit"):
        db = tmp_path / f"{word}.db"
        result = chat(db, "it", ["Rossi", word, ONGOING])
        assert result.returncode == 0
        in_order(result.stdout, ui("it", "console_kept"), "A presto.")
        state = json.loads(next(iter(sqlite_utils.Database(db)["conversations"].rows))["state"])
        assert state["answers"] == {"alias": "Rossi"}, "nothing after the quit word was read"


def test_ctrl_c_while_waiting_for_input_ends_without_a_traceback(tmp_path, workdir):
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--create", "--db", str(tmp_path / "cc.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=clean_environment(),
        # Ctrl-C as in a terminal, whatever the test runner's worker did with SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        proc.stdin.write(b"Rossi\n")
        proc.stdin.flush()
        seen, deadline = b"", time.monotonic() + 30
        while seen.count(b"\n> ") < 2:  # the second prompt: it is waiting for the relationship answer
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no prompt within 30 s; got {seen!r}"
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the chat ended early: {seen!r}"
            seen += chunk
        assert Q["relationship"].text["it"].encode() in seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)  # stdin still open: only the Ctrl-C can end the chat, never an end of input
        rest, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = (seen + rest).decode("utf-8")
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
    assert proc.returncode == 130
    assert out.rstrip().endswith("A presto.")


# -- settings from the environment -----------------------------------------------------------------


def test_the_database_comes_from_clientcoach_db(tmp_path, workdir):
    db = tmp_path / "from-env.db"
    result = run_cli(
        "chat", "--create", stdin=FREE_CLIENT_LINES, cwd=workdir, env=clean_environment(CLIENTCOACH_DB=str(db))
    )
    assert result.returncode == 0, result.stderr
    assert [c["main"] for c in cases(db)] == ["gratis"]


def test_the_database_comes_from_a_dot_env_file_in_the_current_folder(tmp_path, workdir):
    db = tmp_path / "from-dotenv.db"
    (workdir / ".env").write_text(f"CLIENTCOACH_DB={db}\nCLIENTCOACH_LANG=en\n", encoding="utf-8")
    result = run_cli("chat", "--create", stdin=["Rossi"], cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert db.is_file() and Q[Q["alias"].next].text["en"] in result.stdout


def test_db_on_the_command_line_wins_over_the_environment(tmp_path, workdir):
    env_db, arg_db = tmp_path / "env.db", tmp_path / "arg.db"
    result = run_cli(
        "chat",
        "--create",
        "--db",
        str(arg_db),
        stdin=FREE_CLIENT_LINES,
        cwd=workdir,
        env=clean_environment(CLIENTCOACH_DB=str(env_db)),
    )
    assert result.returncode == 0
    assert len(cases(arg_db)) == 1 and not env_db.exists()


def test_without_any_setting_the_database_is_in_the_user_data_folder(tmp_path, workdir):
    data = tmp_path / "xdg-data"
    result = run_cli("chat", stdin=["Rossi"], cwd=workdir, env=clean_environment(XDG_DATA_HOME=str(data)))
    assert result.returncode == 0, result.stderr
    db = data / "clientcoach" / "clientcoach.db"
    assert db.is_file() and not (workdir / "data").exists()
    assert db.stat().st_mode & 0o077 == 0 and db.parent.stat().st_mode & 0o077 == 0, "private to the user"


def test_the_language_comes_from_clientcoach_lang(tmp_path, workdir):
    result = run_cli(
        "chat",
        "--create",
        "--db",
        str(tmp_path / "cc.db"),
        stdin=[],
        cwd=workdir,
        env=clean_environment(CLIENTCOACH_LANG="en"),
    )
    assert Q["alias"].text["en"] in result.stdout and "Goodbye." in result.stdout


# -- the console never needs telegram --------------------------------------------------------------

NO_TELEGRAM = """
import sys
from bot import cli
status = cli.main(sys.argv[1:])
print("TELEGRAM MODULES:", sorted(m for m in sys.modules if m == "telegram" or m.startswith("telegram.")))
sys.exit(status)
"""


def test_the_console_path_never_imports_telegram(tmp_path, workdir):
    db = tmp_path / "cc.db"
    result = subprocess.run(
        [sys.executable, "-c", NO_TELEGRAM, "chat", "--create", "--db", str(db), "--lang", "it"],
        input="\n".join(FREE_CLIENT_LINES) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=workdir,
        env=clean_environment(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Caso n. 1 salvato." in result.stdout, "the chat really ran to the end"
    assert "TELEGRAM MODULES: []" in result.stdout
    assert len(cases(db)) == 1


def test_in_a_terminal_an_unfinished_questionnaire_is_resumed_by_itself(tmp_path):
    import pty

    db = tmp_path / "cc.db"
    chat(db, "it", ["Rossi", ONGOING])
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--create", "--db", str(db)],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_environment(),
    )
    os.close(slave)
    try:
        os.write(master, b"3\n\x04")  # an answer, then Ctrl-D at the start of a line
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    in_order(
        text, ui("it", "resumed"), Q["payment"].text["it"], Q["free_attitude"].text["it"], ui("it", "console_kept")
    )


def test_a_script_version_without_a_form_keeps_the_form_of_the_case(store, flow):
    """«1 fermo» on a case answered with Lei stays in the Lei form (the console's default form)."""
    import io

    from bot.coach import Coach
    from bot.console import Console

    lei = str([o.id for o in flow.questions["who"].options].index("woman_lei") + 1)
    lines = typed_lines({"alias": "Rossi", "payment": "3", "who": lei})
    coach = Coach(store, flow, Renderer(surface="console"))
    out = io.StringIO()
    Console(coach, 0, "it", stdin=io.StringIO("\n".join(lines) + "\n1 fermo\n\n"), stdout=out).run(new=True)
    shown = out.getvalue()
    versions = [line for line in shown.splitlines() if line.startswith(("più morbido ·", "più fermo ·"))]
    assert versions[-1] == "più fermo · Lei", versions


@pytest.mark.parametrize("lang", ["en", "it"])
def test_restart_keeps_the_language_of_the_chat(tmp_path, lang):
    """`ricomincia`/`restart` in a `--lang en` chat goes on in English (no language is stored for it)."""
    restart = {"it": "ricomincia", "en": "restart"}[lang]
    other = "it" if lang == "en" else "en"
    db = tmp_path / "cc.db"
    chat(db, other, FREE_CLIENT_LINES)  # an earlier chat in the other language
    result = chat(db, lang, ["Rossi", restart, "Bianchi"])
    after = result.stdout.split(restart, 1)[-1] if restart in result.stdout else result.stdout
    first = Q[FLOW.start].text[lang]
    assert result.stdout.count(first) >= 2, result.stdout[-2000:]
    assert Q[FLOW.start].text[other] not in result.stdout
    assert Q[FLOW.questions[FLOW.start].next].text[lang] in after
