"""Issue 19, points 1 and 2: every earlier database opens whole, and there is a real way back.

The databases in tests/fixtures/ were written by earlier releases' own code (make_old_dbs.py): three
cases with a note, an outcome and a reminder, and two questionnaires left unfinished (part way, and
at the review). Today's code opens copies of them: every stored answer is in each case's view and
CSV (mapped to today's question, or shown as stored and labelled), the messages today's rules offer
are offered, an unfinished questionnaire resumes at the right question with its answers; `db
backup` copies a file as it is, `db check` changes nothing, and the README's upgrade steps work as
written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot import result as results
from bot.case import Case
from bot.render import Renderer
from bot.store import schema_version
from bot.upgrade import earlier_answers, earlier_reading, read_case, upgrade_answers

from answer_lines import typed_lines
from helpers import FLOW, ROOT, clean_environment, run_cli, run_process

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RELEASES = sorted(p.stem for p in FIXTURES.glob("*.db"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
CASES = [(0, 1), (0, 2), (7, 1)]  # (user, case number) in every fixture
PART_WAY, AT_REVIEW = 3, 4  # the users whose questionnaires were left unfinished


def env(**extra: str) -> dict[str, str]:
    return clean_environment(CLIENTCOACH_TZ="Europe/Rome", **extra)


def clientcoach(
    *args: str, stdin: str | list[str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return run_cli(*args, stdin=stdin, env=env(), cwd=cwd)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def content(path: Path) -> str:
    """A database's schema version and every row (its bytes may differ: journal mode in the header)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return f"{version}\n" + hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def stored(path: Path, sql: str, *params: Any) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture(params=RELEASES)
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    copy = tmp_path / f"{request.param}.db"
    shutil.copy(FIXTURES / f"{request.param}.db", copy)
    return copy


def test_the_fixtures_come_from_earlier_releases():
    versions = {stored(FIXTURES / f"{name}.db", "PRAGMA user_version")[0][0] for name in RELEASES}
    flows = {
        v for name in RELEASES for (v,) in stored(FIXTURES / f"{name}.db", "SELECT DISTINCT flow_version FROM cases")
    }
    assert len(RELEASES) >= 5 and min(versions) == 2 and max(versions) == schema_version() - 1, "up to the last release"
    assert flows == set(range(1, FLOW.version + 1)), "every flow version, the last release's included"


# -- point 1: every earlier schema opens whole ------------------------------------------------------------------


def expected_readings(case: Case, lang: str) -> list[str]:
    """Every stored answer as it must read back: today's question's reading, or the stored value."""
    renderer = Renderer(surface="console")
    answers = read_case(case, FLOW).answers
    texts = [
        renderer.answer_text(q, answers[qid], lang)
        for qid, q in FLOW.questions.items()
        if answers.get(qid) is not None and q.accepts(answers[qid])
    ]
    return texts + [earlier_reading(k, v, lang)[1] for k, v in earlier_answers(answers, FLOW).items()]


def stored_case(db: Path, user: int, no: int) -> Case:
    """The case as the release that wrote `db` stored it (read with SQL, not with the store under test)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            "SELECT c.*, cl.alias AS alias FROM cases c LEFT JOIN clients cl ON cl.id = c.client_id "
            "WHERE c.user_id = ? AND c.case_no = ?",
            (user, no),
        ).fetchone()
        return Case.from_row(dict(row))
    finally:
        conn.close()


def test_every_stored_answer_is_in_every_cases_view_and_csv(old_db):
    for user, no in CASES:
        case = stored_case(old_db, user, no)
        view = ok(clientcoach("--db", str(old_db), "cases", "show", str(no), "--user", str(user), "--lang", "it"))
        exported = ok(clientcoach("--db", str(old_db), "cases", "export", "--user", str(user), "--lang", "it"))
        row = next(r for r in csv.reader(io.StringIO(exported.lstrip("\ufeff"))) if r[0] == str(no))
        cells = "\n".join(row)
        for given in (v for v in case.stored_answers.values() if isinstance(v, str) and v not in ("",)):
            if not re.fullmatch(r"[a-z_]+", given):  # typed text, not an option id: verbatim
                assert given in view and given in cells, (user, no, given)
        for reading in expected_readings(case, "it"):
            assert reading in view, (user, no, reading, view)
            assert reading in cells, (user, no, reading, row)


def copy_of(release: str, tmp_path: Path) -> Path:
    copy = tmp_path / f"{release}.db"
    shutil.copy(FIXTURES / f"{release}.db", copy)
    return copy


def reading(qid: str, value: Any) -> str:
    """How today's flow words question `qid` and an answer to it in the case view."""
    q = FLOW.questions[qid]
    return f"{q.short['it']}: {Renderer(surface='console').answer_text(q, value, 'it')}"


def test_the_answers_merged_since_read_as_todays_questions(tmp_path):
    """The issue's list: the «recensioni offensive» conflict, the price, the signature, tu/Lei; each
    read as today's question (its words from today's flow) or shown as stored, labelled."""
    v1 = copy_of("v1_schema2_f001671", tmp_path)
    view = ok(clientcoach("--db", str(v1), "cases", "show", "1"))
    answers = read_case(stored_case(v1, 0, 1), FLOW).answers
    assert "review_posted" in answers["conflict"], "«recensioni offensive»: a review posted"
    assert reading("conflict", answers["conflict"]) in view
    assert answers["price"]["amount"] == 1200 and reading("price", answers["price"]) in view
    assert "Firma (risposta a una versione precedente del questionario): Mario Bianchi" in view
    assert "Tu o Lei (risposta a una versione precedente del questionario): Del Lei" in view
    assert "Volte in tre mesi (risposta a una versione precedente del questionario): 5" in view
    assert answers["pattern"] == "often" and reading("pattern", "often") in view
    v2 = copy_of("v2_schema4_47969bb", tmp_path)
    view = ok(clientcoach("--db", str(v2), "cases", "show", "1"))
    answers = read_case(stored_case(v2, 0, 1), FLOW).answers
    assert answers["price"] == {"amount": 1200.0, "unit": "month"} and reading("price", answers["price"]) in view
    assert reading("who", answers["who"]) in view and "lei" in answers["who"]
    assert {"review_posted", "review_threatened"} <= set(answers["conflict"])
    assert reading("conflict", answers["conflict"]) in view


def test_an_upgraded_case_offers_what_todays_rules_offer(old_db, tmp_path):
    for user, no in CASES:
        case = read_case(stored_case(old_db, user, no), FLOW)
        offered = results.scripts_for(case.assessment, case.answers)
        view = ok(clientcoach("--db", str(old_db), "cases", "show", str(no), "--user", str(user)))
        if offered:
            assert f"1/{len(offered)}" in view, (user, no, [s for s in offered])
    # The review posted under flow 1 («recensioni offensive») still brings the public reply.
    v1 = copy_of("v1_schema2_f001671", tmp_path)
    assert "Risposta pubblica a una recensione" in ok(clientcoach("--db", str(v1), "cases", "show", "1"))


def resumes_at(db: Path, user: int) -> str:
    """The first words of the question an unfinished questionnaire must resume at: the first its
    branch has not answered, by today's flow (the review when it has them all)."""
    from bot.engine import END, Engine

    (state,) = stored(db, "SELECT state FROM conversations WHERE user_id = ?", user)[0]
    state = json.loads(state)
    answers = upgrade_answers(state["answers"], state["flow_version"], FLOW)
    valid = {k: v for k, v in answers.items() if k in FLOW.questions and FLOW.questions[k].accepts(v)}
    _, at = Engine(FLOW).path(valid)
    return "Riepilogo delle tue risposte" if at == END else FLOW.questions[at].text["it"][:40]


@pytest.mark.parametrize("user", [PART_WAY, AT_REVIEW])
def test_an_unfinished_questionnaire_resumes_at_the_right_question_with_its_answers(old_db, user):
    (before,) = stored(old_db, "SELECT state FROM conversations WHERE user_id = ?", user)[0]
    given = json.loads(before)["answers"]
    expected = resumes_at(old_db, user)
    for resume in (["--resume"], []):  # piped input without --resume must not replace it either
        done = clientcoach("--db", str(old_db), "chat", "--user", str(user), *resume, stdin="")
        assert "Traceback" not in done.stderr
    shown = ok(clientcoach("--db", str(old_db), "chat", "--user", str(user), "--resume", stdin=""))
    assert "Domanda 1 di" not in shown and "aggiornato" not in shown, shown
    assert expected in shown, (expected, shown)
    (after,) = stored(old_db, "SELECT state FROM conversations WHERE user_id = ?", user)[0]
    kept = json.loads(after)["answers"]
    mapped = upgrade_answers(given, json.loads(before)["flow_version"], FLOW)
    assert kept["alias"] == "Rossi Srl" and kept["payment"] == mapped["payment"]
    assert kept == json.loads(before)["answers"], "nothing is written until the user answers"


def test_a_questionnaire_stored_with_the_old_flags_loads_with_its_mode_and_is_saved_without_them(old_db):
    """Rows written before the mode was one field carry `review`/`editing` flags (flow 1's lack `mode`):
    they load with the mode those flags meant, and a save keeps `editing` (read by older code) but
    no `review`, which the mode now says."""
    from bot.engine import Engine
    from bot.state import MODES
    from bot.store import Store

    store = Store.open(old_db)
    try:
        for user, expected in ((PART_WAY, "asking"), (AT_REVIEW, "done")):
            row = json.loads(
                store.conn.execute("SELECT state FROM conversations WHERE user_id = ?", (user,)).fetchone()[0]
            )
            assert "review" in row and "editing" in row
            state, meta = store.load_conversation(user)
            assert state.mode == row.get("mode", expected) == expected and not state.changing
            store.save_conversation(user, state, meta)
            saved = json.loads(
                store.conn.execute("SELECT state FROM conversations WHERE user_id = ?", (user,)).fetchone()[0]
            )
            assert "review" not in saved and saved["mode"] == expected and saved["editing"] is False
            assert {k: v for k, v in saved.items() if k != "mode"} == {
                k: v for k, v in row.items() if k not in ("mode", "review")
            }
        # A change left at the review by a release before modes: reviewing, and leaving the review
        # goes back to the change.
        row = json.loads(
            store.conn.execute("SELECT state FROM conversations WHERE user_id = ?", (AT_REVIEW,)).fetchone()[0]
        )
        old = {k: v for k, v in row.items() if k != "mode"} | {"review": True, "editing": True, "at": row["history"][0]}
        store.conn.execute("UPDATE conversations SET state = ? WHERE user_id = ?", (json.dumps(old), AT_REVIEW))
        store.conn.commit()
        state, _ = store.load_conversation(AT_REVIEW)
        assert state.mode == "reviewing" and state.changing and state.mode in MODES
        assert Engine(FLOW).leave_review(state).mode == "editing"
    finally:
        store.close()


def test_where_the_first_releases_questionnaires_resume():
    """Flow 1 asked the price near the end and had no stage of free work: a questionnaire part
    way (after the balance) resumes at a question flow 1 had not asked yet, not at the balance's
    successor; one at flow 1's review resumes at a question flow 1 did not have."""
    v1 = FIXTURES / "v1_schema2_f001671.db"
    asked_by_v1 = set(json.loads(stored(v1, "SELECT state FROM conversations WHERE user_id = 4")[0][0])["answers"])
    for user in (PART_WAY, AT_REVIEW):
        words = resumes_at(v1, user)
        qid = next(q.id for q in FLOW.questions.values() if q.text["it"].startswith(words))
        assert qid not in asked_by_v1 or qid == "price" and user == PART_WAY, (user, qid)


def finishing_lines(db: Path, user: int) -> list[str]:
    """Console lines that take an upgraded questionnaire to its end with plain answers, then Enter at
    the review: walked on today's engine from where the upgrade resumes it."""
    from bot.engine import Engine
    from bot.state import Conversation
    from bot.upgrade import upgrade_state

    row = json.loads(stored(db, "SELECT state FROM conversations WHERE user_id = ?", user)[0][0])
    state = upgrade_state(Engine(FLOW), Conversation.from_stored(row))
    assert state is not None
    return typed_lines(state=state)


def test_an_upgraded_questionnaire_finishes_with_every_answer_in_the_case(tmp_path):
    """Flow 1's questionnaire at its review: today's flow asks what it lacks, then saves a case that
    keeps what flow 1 asked and today's does not (the signature)."""
    db = copy_of("v1_schema2_f001671", tmp_path)
    done = clientcoach(
        "--db", str(db), "chat", "--user", str(AT_REVIEW), "--resume", stdin=finishing_lines(db, AT_REVIEW)
    )
    assert "salvato" in ok(done), done.stdout[-2000:]
    (answers,) = stored(db, "SELECT answers FROM cases WHERE user_id = ?", AT_REVIEW)[0]
    answers = json.loads(answers)
    assert answers["sender"] == "Mario Bianchi" and "review_posted" in answers["conflict"]
    assert answers["alias"] == "Rossi Srl" and answers["free_attitude"] == "demands"
    view = ok(clientcoach("--db", str(db), "cases", "show", "1", "--user", str(AT_REVIEW)))
    assert "Firma (risposta a una versione precedente del questionario): Mario Bianchi" in view


def test_every_earlier_flow_version_has_its_step():
    """Each flow version before today's has a step in bot.upgrade.STEPS: a new version of the flow
    without one fails here (add `vN_to_vN1` beside the others)."""
    from bot.upgrade import STEPS

    assert set(STEPS) == set(range(1, FLOW.version)), f"steps {sorted(STEPS)} for flow version {FLOW.version}"


def test_notes_outcomes_and_reminders_come_through(old_db):
    view = ok(clientcoach("--db", str(old_db), "cases", "show", "1"))
    assert "ha pagato metà, il resto a fine mese" in view and "Promemoria in attesa" in view
    assert "risolto" in ok(clientcoach("--db", str(old_db), "cases", "show", "2"))


# -- point 2: a real way back --------------------------------------------------------------------------------------


def test_backup_copies_an_earlier_database_as_it_is(old_db, tmp_path):
    before = content(old_db)
    copy = tmp_path / "before-upgrade.db"
    ok(clientcoach("--db", str(old_db), "db", "backup", str(copy)))
    assert content(copy) == before, "the copy is not migrated"
    assert content(old_db) == before, "nor is the source"
    assert copy.stat().st_mode & 0o777 == 0o600


def test_db_check_shows_both_versions_and_migrates_nothing(old_db):
    before = content(old_db)
    found = int(before.split("\n")[0])
    report = ok(clientcoach("--db", str(old_db), "db", "check", "--lang", "en"))
    assert f"Schema version: {found}, this version would migrate it to {schema_version()}" in report
    assert "clientcoach db migrate" in report
    assert content(old_db) == before
    done = ok(clientcoach("--db", str(old_db), "db", "migrate", "--lang", "en"))
    assert f"migrated from schema version {found} to {schema_version()}" in done
    assert f"Schema version: {schema_version()} (up to date)" in ok(
        clientcoach("--db", str(old_db), "db", "check", "--lang", "en")
    )
    assert "already at schema version" in ok(clientcoach("--db", str(old_db), "db", "migrate", "--lang", "en"))


def test_db_check_migrate_migrates(old_db):
    assert "(aggiornata)" in ok(clientcoach("--db", str(old_db), "db", "check", "--migrate"))
    assert stored(old_db, "PRAGMA user_version")[0][0] == schema_version()


def upgrade_block(which: int) -> list[str]:
    section = README[README.index("## Upgrading") : README.index("## The case book")]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line for line in blocks[which].splitlines() if line.strip()]


def run_line(line: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """One README line: `clientcoach ...` through the checkout's code in a real process; a shell line as it is."""
    words = shlex.split(line)
    extra = {"HOME": str(home), "XDG_DATA_HOME": ""}  # the README's ~/.local/share
    if words[0] == "clientcoach":
        return run_process(*words[1:], cwd=cwd, env=env(**extra))
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env(**extra), capture_output=True, text=True)


def test_the_readmes_upgrade_from_the_first_release_word_for_word(tmp_path):
    """Followed as written in a folder where the first release ran (its data/clientcoach.db); only
    the installation line is left to tests/test_package.py."""
    folder, home = tmp_path / "checkout", tmp_path / "home"
    (folder / "data").mkdir(parents=True)
    home.mkdir()
    shutil.copy(FIXTURES / "v1_schema2_f001671.db", folder / "data" / "clientcoach.db")
    original = content(folder / "data" / "clientcoach.db")
    lines = upgrade_block(1)
    assert lines[0].startswith("python3 -m venv .venv") and "pip install --upgrade" in lines[0]
    outputs = []
    for line in lines[1:]:
        done = run_line(line, folder, home)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        outputs.append(done.stdout)
    assert content(folder / "data" / "before-upgrade.db") == original, "the backup is the database as it was"
    assert "Versione dello schema: 2, questa versione la porterebbe alla" in outputs[1]
    assert "dalla versione 2 dello schema" in outputs[2]
    moved = home / ".local" / "share" / "clientcoach" / "clientcoach.db"
    assert moved.is_file() and not (folder / "data" / "clientcoach.db").exists()
    assert "Rossi Srl" in outputs[-1] and "Bar Verdi" in outputs[-1]


def test_the_readmes_service_upgrade_word_for_word(tmp_path):
    """The service's steps, with the service's folders in a temporary one; systemctl and pip are the
    system's business."""
    data, home = tmp_path / "var-lib-clientcoach", tmp_path / "home"
    data.mkdir()
    home.mkdir()
    shutil.copy(FIXTURES / "v3_schema4_a9af5eb.db", data / "clientcoach.db")
    original = content(data / "clientcoach.db")
    ran = 0
    for line in upgrade_block(0):
        if line.startswith(("systemctl ", "/opt/clientcoach/bin/pip ")):
            continue
        prefix = "sudo -u clientcoach /opt/clientcoach/bin/clientcoach "
        assert line.startswith(prefix), line
        line = "clientcoach " + line[len(prefix) :].replace("/var/lib/clientcoach", str(data))
        done = run_line(line, tmp_path, home)
        assert done.returncode == 0, (line, done.stderr)
        ran += 1
    assert ran == 3
    assert content(data / "before-upgrade.db") == original
    assert stored(data / "clientcoach.db", "PRAGMA user_version")[0][0] == schema_version()


def test_a_new_flow_version_is_one_step_function(monkeypatch):
    """How the next flow version plugs in: one function in bot.upgrade.STEPS; saved cases and
    questionnaires in progress of every earlier version then go through every step in turn."""
    import dataclasses

    from bot import upgrade
    from bot.engine import Engine

    def next_step(answers):  # e.g. an option renamed
        return {**answers, "payment": "free_work" if answers.get("payment") == "free" else answers.get("payment")}

    monkeypatch.setitem(upgrade.STEPS, FLOW.version, next_step)
    free = dataclasses.replace(FLOW.questions["payment"].option_index["free"], id="free_work")
    payment = FLOW.questions["payment"]
    options = tuple(free if o.id == "free" else o for o in payment.options)
    renamed = dataclasses.replace(payment, options=options, option_index={o.id: o for o in options})
    later = dataclasses.replace(FLOW, version=FLOW.version + 1, questions={**FLOW.questions, "payment": renamed})
    assert upgrade.upgrade_answers({"payment": "free"}, FLOW.version, later)["payment"] == "free_work"
    assert upgrade.upgrade_answers({"payment": "free"}, later.version, later)["payment"] == "free", "already current"
    if set(upgrade.STEPS) >= set(range(1, later.version)):  # every step there: flow 1 goes through them all
        assert upgrade.upgrade_answers({"payment": "discounted"}, 1, later)["payment"] == "below_price"
        assert upgrade.upgrade_answers({"payment": "free"}, 1, later)["payment"] == "free_work"
    answers = {"alias": "Rossi", "payment": "free"}
    history, at = Engine(FLOW).path(answers)
    state = Engine(FLOW).new("it").but(answers=answers, history=history, at=at)
    carried = upgrade.upgrade_state(Engine(later), state)
    assert carried is not None and carried.answers["payment"] == "free_work"
    assert carried.flow_version == later.version


def test_the_stage_of_free_work_under_flow_3_becomes_the_relationships_shape():
    """A flow 3 case of free work keeps where the work stood, as today's relationship question reads it."""
    stored = {"payment": "free", "free_attitude": "demands", "stage": "ongoing", "who": "man_tu"}
    answers = upgrade_answers(stored, 3, FLOW)
    assert answers["relationship"] == "one_off_in_progress" and "stage" not in answers
    assert not earlier_answers(answers, FLOW), "nothing left over to show as an earlier answer"
    for stage, shape in (("not_started", "one_off_not_started"), ("finished", "one_off_finished")):
        moved = upgrade_answers({**stored, "stage": stage}, 3, FLOW)
        assert moved["relationship"] == shape


# -- issue 22: plans on a database from before them -------------------------------------------------------------


def test_an_earlier_database_keeps_every_row_and_its_cases_follow_a_plan(old_db):
    tables = [name for (name,) in stored(old_db, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    kept = [t for t in tables if not t.startswith(("case_search", "_sqlite_migrations"))]  # the index, the log
    before = {t: stored(old_db, f'SELECT * FROM "{t}" ORDER BY 1') for t in kept}
    view = ok(clientcoach("--db", str(old_db), "cases", "show", "1"))
    assert "🗺 Il piano" in view, "a case saved before plans has its plan"
    for table, rows in before.items():  # migrated: every earlier row is still there, as it was (new columns apart)
        width = len(rows[0]) if rows else 0
        assert [row[:width] for row in stored(old_db, f'SELECT * FROM "{table}" ORDER BY 1')] == rows, table
    assert stored(old_db, "SELECT COUNT(*) FROM reminders WHERE step IS NOT NULL") == [(0,)], (
        "no reminder became a check"
    )
    sent = ok(clientcoach("--db", str(old_db), "cases", "sent", "1", "1"))
    assert sent.startswith("✅ Segnato nel caso n. 1: inviato «")
    assert "✉️ inviato: «" in ok(clientcoach("--db", str(old_db), "cases", "show", "1"))
    assert "ha pagato metà, il resto a fine mese" in ok(clientcoach("--db", str(old_db), "cases", "show", "1"))
