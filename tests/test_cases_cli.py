"""`clientcoach cases ...` as a user runs it (in-process through `cli.main`) on a real database whose
cases were saved by the real console questionnaire."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import struct
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import cases_cli
from bot.render import Renderer, to_plain
from bot.store import Store

from answer_lines import question_ids, typed_lines
from helpers import FLOW, clean_environment, run_cli

OTHER_USER = 7
# A line per answer, as typed in `clientcoach chat`; an empty line skips an optional question,
# and the last one (at the review) asks for the result.
# The lines come from walking today's flow (answer_lines), so they follow its changes.
ROSSI_ANSWERS = {"alias": "Rossi Srl", "payment": "3", "service": "sito web", "price": "1.200"}
VERDI_ANSWERS = {"alias": "Caffè Verdi", "payment": "4"}
ROSSI = typed_lines(ROSSI_ANSWERS)
VERDI = typed_lines(VERDI_ANSWERS)
NERI = typed_lines({"alias": "Neri", "payment": "1", "service": "grafica"}, "en")


def clientcoach(*args: str, stdin: str | list[str] = "", **extra_env: str) -> subprocess.CompletedProcess:
    """`clientcoach ARGS` as the console user runs it, in Rome's time zone."""
    return run_cli(*args, stdin=stdin, env=clean_environment(CLIENTCOACH_TZ="Europe/Rome", **extra_env))


def chat(db: Path, lines: list[str], *options: str) -> None:
    done = clientcoach("chat", "--create", "--db", str(db), *options, stdin=lines)
    assert done.returncode == 0, done.stderr
    assert "salvato" in done.stdout or "saved" in done.stdout


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Console user 0: case 1 Rossi, case 2 Verdi. User 7: case 1 Neri (English)."""
    db = tmp_path_factory.mktemp("cases") / "template.db"
    chat(db, ROSSI)
    chat(db, VERDI)
    chat(db, NERI, "--user", str(OTHER_USER), "--lang", "en")
    return db


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "cases.db"
    for suffix in ("", "-wal"):
        if Path(f"{template_db}{suffix}").exists():
            shutil.copy(f"{template_db}{suffix}", f"{copy}{suffix}")
    return copy


def cases(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return clientcoach("cases", *args, "--db", str(db), stdin=stdin)


def out(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored_cases(db: Path, user: int = 0) -> list[dict]:
    """What the database holds for a user (read through the store, not the commands under test)."""
    store = Store.open(db)
    try:
        return store.case_history(user)
    finally:
        store.close()


# -- reading ----------------------------------------------------------------------------------------


def test_list_shows_the_cases_newest_first(db):
    text = out(cases(db, "list"))
    assert text.index("2. Caffè Verdi") < text.index("1. Rossi Srl")
    assert "clientcoach cases show N" in text and "Neri" not in text


def test_show_reads_back_a_case(db):
    text = out(cases(db, "show", "1"))
    (case, _) = stored_cases(db)
    profile = Renderer().ui("it", "profile_short", case.main)
    parts = [
        "Caso n. 1 · Rossi Srl",
        f"• {FLOW.questions['service'].short['it']}: sito web",
        f"profilo {profile}",
        "Storia del caso n. 1",
        "caso salvato",
    ]
    if "price" in question_ids(ROSSI_ANSWERS):
        parts.append(f"• {FLOW.questions['price'].short['it']}: 1.200,00 €")
    for part in parts:
        assert part in text
    assert "<b>" not in text


def test_english_output(db):
    assert "Your cases (2)" in out(cases(db, "list", "--lang", "en"))
    payment = FLOW.questions["payment"]
    assert f"• {payment.short['en']}: {payment.options[3].label['en']}" in out(cases(db, "show", "2", "--lang", "en"))


def test_search_is_by_word_prefix_and_scoped_by_user(db):
    assert "1. Rossi Srl" in out(cases(db, "search", "ross", "sito"))
    assert "1. Neri" in out(cases(db, "search", "grafica", "--user", str(OTHER_USER)))
    assert "No case contains" in out(cases(db, "search", "rossi", "--user", str(OTHER_USER)))


# -- writing --------------------------------------------------------------------------------------


def test_note_outcome_and_reminder_show_up_in_the_case(db):
    assert "Nota aggiunta al caso n. 2" in out(cases(db, "note", "2", "Ha", "pagato", "metà"))
    assert "ora risulta cliente lasciato andare" in out(cases(db, "outcome", "2", "cliente_lasciato"))
    assert "ti ricorderò il caso n. 2" in out(cases(db, "remind", "2", "3g"))
    text = out(cases(db, "show", "2"))
    assert "nota: Ha pagato metà" in text and "esito: aperto → cliente lasciato andare" in text
    assert "Promemoria in attesa" in text
    assert "2. Caffè Verdi" in out(cases(db, "search", "meta"))  # notes are searchable at once


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "abc"], "non è un numero di caso"),
        (["show", "9"], "non c'è il n. 9"),
        (["note", "1", "  "], "La nota è vuota"),
        (["note", "1", "x" * 2500], "al massimo 2000 caratteri"),
        (["outcome", "1", "forse"], "Non conosco l'esito «forse»"),
        (["remind", "1", "01/01/2020"], "già passato"),
        (["remind", "1", "presto"], "Non capisco quando"),
        (["search", "«»"], "Scrivi almeno una parola"),
        (["show", "1", "--user", str(OTHER_USER + 1)], "non c'è il n. 1"),
    ],
)
def test_bad_input_is_refused_on_stderr_and_changes_nothing(db, args, message):
    before = stored_cases(db)
    done = cases(db, *args)
    assert done.returncode == 1 and done.stdout == ""
    assert message in done.stderr
    assert stored_cases(db) == before


def test_errors_in_english(db):
    done = cases(db, "outcome", "1", "maybe", "--lang", "en")
    assert done.returncode == 1 and 'I don\'t know the outcome "maybe"' in done.stderr


@pytest.mark.parametrize(
    "args",
    [[], ["show"], ["delete"], ["delete", "1", "--all"], ["export", "--format", "xml"], ["list", "--user", "9" * 30]],
)
def test_usage_errors_exit_2(db, args):
    done = cases(db, *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--help" in done.stderr


# -- export ---------------------------------------------------------------------------------------


def test_export_csv_to_stdout_and_json_to_a_file(db, tmp_path):
    rows = list(csv.DictReader(io.StringIO(out(cases(db, "export")).lstrip("\ufeff"))))
    assert [(r["caso"], r["cliente"]) for r in rows] == [("1", "Rossi Srl"), ("2", "Caffè Verdi")]
    target = tmp_path / "cases.json"
    assert f"Ho esportato 2 casi in {target}" in out(cases(db, "export", "--format", "json", "--out", str(target)))
    document = json.loads(target.read_text(encoding="utf-8"))
    assert [c["client"] for c in document["cases"]] == ["Rossi Srl", "Caffè Verdi"]
    assert document["cases"][0]["answers"]["price"] == {"amount": 1200, "unit": "once"}


# -- deleting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["n\n", ""], ids=["no", "end-of-input"])
def test_delete_without_yes_refuses_unless_confirmed(db, answer):
    done = cases(db, "delete", "1", stdin=answer)
    assert done.returncode == 1
    assert "Vuoi davvero eliminare il caso n. 1 (Rossi Srl)?" in done.stdout
    assert "non ho eliminato niente" in done.stderr
    assert [c.case_no for c in stored_cases(db)] == [1, 2]


def test_delete_when_confirmed(db):
    assert "è stato eliminato" in out(cases(db, "delete", "1", stdin="Sì\n"))
    assert [c.case_no for c in stored_cases(db)] == [2]


@pytest.mark.parametrize(
    "answer, confirmed",
    [("s", True), ("SÌ", True), ("si", True), ("y", True), ("yes", True), ("n", False), ("forse", False), ("", False)],
)
def test_only_an_explicit_yes_confirms(answer, confirmed, monkeypatch, capsys):
    from bot.casebook import CaseBook

    monkeypatch.setattr(sys, "stdin", io.StringIO(answer + "\n" if answer else ""))
    book = CaseBook(Store.open(":memory:"))
    assert cases_cli._confirmed(book, "it") is confirmed
    assert "Confermi?" in capsys.readouterr().out


def test_delete_one_with_yes_is_scoped_by_user(db):
    assert "Case no. 1 has been deleted" in out(
        cases(db, "delete", "1", "--yes", "--user", str(OTHER_USER), "--lang", "en")
    )
    assert stored_cases(db, OTHER_USER) == []
    assert [c.case_no for c in stored_cases(db)] == [1, 2]


def test_delete_all(db):
    refused = cases(db, "delete", "--all")
    assert refused.returncode == 1 and "Eliminerò i tuoi 2 casi" in refused.stdout
    assert "cancellato tutti i tuoi dati" in out(cases(db, "delete", "--all", "--yes"))
    assert stored_cases(db) == []
    assert [c.alias for c in stored_cases(db, OTHER_USER)] == ["Neri"]


# -- statistics -----------------------------------------------------------------------------------


def test_stats_with_a_png_chart(db, tmp_path):
    import matplotlib.image

    chart = tmp_path / "chart.png"
    text = out(cases(db, "stats", "--png", str(chart)))
    assert "Casi salvati: 2" in text and "🟡 aperto: 2" in text and f"Grafico salvato in {chart}" in text
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (800, 600)
    assert matplotlib.image.imread(chart).std() > 0.05


def test_stats_chart_without_cases_is_an_error(db, tmp_path):
    done = cases(db, "stats", "--png", str(tmp_path / "none.png"), "--user", "99")
    assert done.returncode == 1 and "Non hai ancora casi salvati" in done.stderr
    assert not (tmp_path / "none.png").exists()


def test_the_database_comes_from_the_environment_by_default(db):
    done = clientcoach("cases", "list", CLIENTCOACH_DB=str(db))
    assert "1. Rossi Srl" in out(done)


# -- reminders that fall due, console wording, plurals ------------------------------------------------


def past_reminder(db: Path, user: int = 0, case_no: int = 1) -> None:
    from datetime import datetime, timedelta, timezone

    store = Store.open(db)
    try:
        assert store.add_reminder(user, case_no, datetime.now(timezone.utc) - timedelta(hours=1), "console") is not None
    finally:
        store.close()


def test_due_shows_the_reminders_that_fell_due_once(db):
    assert "Nessun promemoria in scadenza." in out(cases(db, "due"))
    past_reminder(db)
    past_reminder(db, OTHER_USER)
    text = out(cases(db, "due"))
    assert "Hai un promemoria arrivato a scadenza:" in text and "Promemoria: caso n. 1 · Rossi Srl" in text
    assert "pulsanti" not in text and "clientcoach cases outcome 1" in text, "console words, no buttons"
    assert "Nessun promemoria in scadenza." in out(cases(db, "due")), "delivered once"
    assert "promemoria arrivato" in out(cases(db, "show", "1"))
    assert "Promemoria: caso n. 1 · Neri" not in text, "only the user's own"
    assert "Reminder: case no. 1" in out(cases(db, "due", "--user", str(OTHER_USER), "--lang", "en"))


def test_the_console_shows_due_reminders_when_it_starts(db):
    past_reminder(db)
    done = clientcoach("chat", "--create", "--db", str(db), "--new", stdin="")
    text = out(done)
    assert text.index("Hai un promemoria arrivato a scadenza:") < text.index(FLOW.questions["alias"].text["it"])
    assert "Nessun promemoria in scadenza." in out(cases(db, "due"))


def test_a_case_page_in_the_console_names_the_command_not_buttons(db):
    for lang, word in (("it", "pulsanti"), ("en", "buttons")):
        text = out(cases(db, "show", "1", "--lang", lang))
        assert word not in text and "clientcoach cases outcome 1" in text


def test_export_counts_in_the_singular_and_the_plural(db, tmp_path):
    two = tmp_path / "two.csv"
    assert f"Ho esportato 2 casi in {two}." in out(cases(db, "export", "--out", str(two)))
    one = tmp_path / "one.csv"
    assert f"Exported 1 case to {one}." in out(
        cases(db, "export", "--out", str(one), "--user", str(OTHER_USER), "--lang", "en")
    )
    assert f"Ho esportato 1 caso in {one}." in out(
        cases(db, "export", "--out", str(one), "--user", str(OTHER_USER), "--lang", "it", "--force")
    )
    assert one.stat().st_mode & 0o777 == 0o600 and two.stat().st_mode & 0o777 == 0o600, "readable by the owner only"


def test_global_options_before_the_subcommand(db):
    assert "Your cases (2)" in out(clientcoach("--lang", "en", "cases", "--db", str(db), "list"))


# -- the database and privacy commands ---------------------------------------------------------------


def test_db_check_and_backup(db, tmp_path):
    report = out(clientcoach("db", "check", "--db", str(db)))
    assert f"Database: {db}" in report and "Integrità: ok" in report and "Versione dello schema:" in report
    copy = tmp_path / "backup.db"
    done = out(clientcoach("--db", str(db), "db", "backup", str(copy)))
    assert done.startswith(f"Copia di sicurezza scritta in {copy}")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert "1. Rossi Srl" in out(clientcoach("--db", str(copy), "cases", "list")), "the copy is a working database"
    again = clientcoach("--db", str(db), "db", "backup", str(copy), "--lang", "en")
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and str(copy) in again.stderr
    assert "Integrity: ok" in out(clientcoach("--lang", "en", "db", "check", "--db", str(copy)))


def test_privacy_is_the_bots_privacy_text_with_console_words():
    console, telegram = Renderer(surface="console"), Renderer()
    for lang in ("it", "en"):
        text = out(clientcoach("privacy", "--lang", lang))
        assert text.strip() == to_plain(console.ui(lang, "privacy"))
        first = to_plain(telegram.ui(lang, "privacy")).splitlines()[2]  # the same paragraph as on Telegram
        assert first in text and "clientcoach cases delete --all" in text and "/cancellatutto" not in text


def test_the_same_reminder_is_not_set_twice(db):
    """Issue 19: the same reminder could be set twice (and came twice)."""
    from datetime import date, timedelta

    day, next_day = (date.today() + timedelta(days=100)), (date.today() + timedelta(days=101))
    first = out(cases(db, "remind", "1", day.strftime("%d/%m/%Y"), "10:00"))
    assert "ti ricorderò il caso n. 1" in first
    again = out(cases(db, "remind", "1", day.strftime("%d/%m/%Y"), "10:00"))
    assert "c'è già" in again and "non lo duplico" in again
    assert len([r for r in stored_cases(db)[0].reminders if r["fired"] is None]) == 1
    assert "ti ricorderò" in out(cases(db, "remind", "1", next_day.strftime("%d/%m/%Y"), "10:00")), "another day"


def test_a_deleted_cases_number_is_never_given_again(db):
    """Issue 19: deleting the newest case gave its number to the next one."""
    assert "è stato eliminato" in out(cases(db, "delete", "2", "--yes"))
    chat(db, VERDI)
    assert [c.case_no for c in stored_cases(db)] == [1, 3]
    assert "3. Caffè Verdi" in out(cases(db, "list"))
    assert "Ho cancellato tutti i tuoi dati" in out(cases(db, "delete", "--all", "--yes"))
    chat(db, ROSSI)
    assert [c.case_no for c in stored_cases(db)] == [1], "after erasing everything, nothing of the user is kept"


def test_every_message_of_a_saved_case_and_its_versions(db):
    """Issue 19: a saved case showed only its first message ("1/3", no way to see 2 and 3)."""
    view = out(cases(db, "show", "1"))
    total = int(view.split("✉️ 1/")[1].split(" ")[0])
    assert total >= 2 and f"--message K [morbido|fermo|breve] [tu|lei], con K da 1 a {total}" in view
    seen = set()
    for k in range(1, total + 1):
        text = out(cases(db, "show", "1", "--message", str(k)))
        assert text.startswith(f"✉️ {k}/{total} · ") and "più morbido" in text
        seen.add(text)
        firmer = out(cases(db, "show", "1", "--message", str(k), "fermo", "lei"))
        assert firmer.startswith(f"✉️ {k}/{total} · ") and "più fermo · Lei" in firmer
        assert "più breve" in out(cases(db, "show", "1", "--message", str(k), "shorter", "--lang", "en"))
    assert len(seen) == total, "each number is another message"
    wrong = cases(db, "show", "1", "--message", str(total + 1))
    assert wrong.returncode == 1 and f"scegli un numero da 1 a {total}" in wrong.stderr
    assert cases(db, "show", "1", "--message", "2", "bah").returncode == 2


def test_a_case_is_reassessed_in_the_terminal_with_the_profiles_movement(db):
    """Issue 19: re-assessing a case existed only on Telegram, yet the console's reminder said to redo
    the questionnaire. `chat --reassess N`: pre-filled, the review, then how the profile moved."""
    past_reminder(db)
    assert "clientcoach chat --reassess 1" in out(cases(db, "due")), "the reminder names the command"
    done = clientcoach("chat", "--db", str(db), "--reassess", "1", stdin=["", ""])
    text = out(done)
    assert "Riepilogo delle tue risposte" in text and "Rossi Srl" in text
    assert "Caso n. 3 salvato." in text and "Com'è cambiato rispetto al caso n. 1" in text
    assert [c.case_no for c in stored_cases(db)] == [1, 2, 3]
    assert stored_cases(db)[2].answers["alias"] == "Rossi Srl"
    missing = clientcoach("chat", "--db", str(db), "--reassess", "9")
    assert missing.returncode == 1 and "non c'è il n. 9" in missing.stdout + missing.stderr


# -- a plan followed in the console (issue 22) ------------------------------------------------------

# A client who owes an invoice already overdue, not yet reminded: the plan starts with the reminder.
OVERDUE_ANSWERS = {
    "alias": "Bianchi Srl",
    "relationship": "5",  # ongoing
    "payment": "4",  # late
    "owed": "640",
    "owed_since": "2",  # overdue, not reminded yet
    "free_attitude": "5",  # neutral
    "balance": "2",  # even
    "behaviours": "5",  # calls back
    "origin": "5",  # no error of ours
    "pattern": "4",  # often
    "prestige": "3",  # not influential
    "feelings": "5",  # none
    "who": "6",  # a company, informal
}


def moved_forward(db: Path, days: int) -> None:
    """As if `days` had gone by: the checks waiting fall due now, and what was recorded happened earlier."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(timespec="seconds")
            conn.execute("UPDATE reminders SET due = ? WHERE step IS NOT NULL AND fired IS NULL", (past,))
            for table, column in (("case_events", "at"), ("cases", "created")):
                rows = conn.execute(f"SELECT rowid, {column} FROM {table}").fetchall()
                for rowid, stamp in rows:
                    earlier = datetime.fromisoformat(stamp) - timedelta(days=days)
                    conn.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (earlier.isoformat(), rowid))
    finally:
        conn.close()


def test_a_payment_case_walks_its_plan_in_the_console(tmp_path):
    db = tmp_path / "plan.db"
    chat(db, typed_lines(OVERDUE_ANSWERS))
    shown = out(cases(db, "show", "1"))
    assert "🗺 Il piano" in shown and "1. Manda «Sollecito di pagamento»" in shown
    assert "clientcoach cases sent 1 1" in shown and "Dopo 7 giorni" in shown

    sent = out(cases(db, "sent", "1", "1", "fermo"))
    assert "✅ Segnato nel caso n. 1: inviato «Sollecito di pagamento»" in sent
    assert "Nessun promemoria in scadenza." in out(cases(db, "due")), "the check waits its seven days"
    moved_forward(db, 8)
    check = out(cases(db, "due"))
    assert "🔔 Com'è andata? Caso n. 1 · Bianchi Srl" in check and "hai mandato «Sollecito di pagamento»" in check
    assert "clientcoach cases check 1" in check and "pagato (ha pagato)" in check
    assert "Nessun promemoria in scadenza." in out(cases(db, "due")), "a check is delivered once"

    following = out(cases(db, "check", "1", "nessuna"))
    assert "Fatto, caso n. 1: nessuna risposta. Ecco il passo successivo" in following
    assert "Secondo sollecito, più fermo" in following and "clientcoach cases sent 1" in following
    assert "640,00 €" in following, "the firmer reminder is written from the case's facts"
    assert "Il piano" in out(cases(db, "plan", "1")) and "il prossimo passo è «Secondo sollecito" in out(
        cases(db, "plan", "1")
    )

    assert "Secondo sollecito, più fermo" in out(cases(db, "sent", "1"))
    moved_forward(db, 11)
    assert "hai mandato «Secondo sollecito, più fermo»" in out(cases(db, "due"))
    paid = out(cases(db, "check", "1", "pagato"))
    assert "Ho segnato l'esito: risolto. Il piano è concluso." in paid
    assert "Nessun promemoria in scadenza." in out(cases(db, "due"))

    history = out(cases(db, "show", "1"))
    timeline = history[history.index("Storia del caso n. 1") :]
    for entry in (
        "✉️ inviato: «Sollecito di pagamento» (più fermo, tu)",
        "🔔 arrivato il controllo su «Sollecito di pagamento»",
        "💬 com'è andata dopo «Sollecito di pagamento»: Nessuna risposta",
        "✉️ inviato: «Secondo sollecito, più fermo» (più morbido, tu)",
        "💬 com'è andata dopo «Secondo sollecito, più fermo»: Ha pagato",
        "🔄 esito: aperto → risolto",
    ):
        assert entry in timeline, entry
    assert timeline.index("inviato: «Sollecito") < timeline.index("inviato: «Secondo") < timeline.index("esito: aperto")

    stats = out(cases(db, "stats", "--plans-png", str(tmp_path / "messaggi.png")))
    assert "✉️ «Sollecito di pagamento»: 1 volta; poi nessuna risposta 1. Casi chiusi: risolto 1" in stats
    assert "✉️ «Secondo sollecito, più fermo»: 1 volta; poi ha pagato 1. Casi chiusi: risolto 1" in stats
    assert "mediana di 19 giorni" in stats and "mediana di 11 giorni" in stats
    assert (tmp_path / "messaggi.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_plan_can_be_paused_resumed_skipped_and_its_wait_changed_in_the_console(tmp_path):
    db = tmp_path / "plan.db"
    chat(db, typed_lines(OVERDUE_ANSWERS))
    out(cases(db, "sent", "1", "1"))
    assert "ti chiederò com'è andata il" in out(cases(db, "plan", "1", "--wait", "3g"))
    assert "in pausa" in out(cases(db, "plan", "1", "--pause"))
    moved_forward(db, 10)
    assert "Nessun promemoria in scadenza." in out(cases(db, "due")), "no check while paused"
    assert "riparte" in out(cases(db, "plan", "1", "--resume"))
    skipped = out(cases(db, "plan", "1", "--skip"))
    assert "Passo saltato" in skipped and "Secondo sollecito, più fermo" in skipped
    refused = cases(db, "check", "1", "pagato")
    assert refused.returncode == 1 and "nessun passo aspetta un controllo" in refused.stderr
    wrong = cases(db, "check", "1", "boh")
    assert wrong.returncode == 2 and "boh" in wrong.stderr
