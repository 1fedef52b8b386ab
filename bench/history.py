"""History at scale: a generated case book of a million cases, read the way the front ends read it.

The database is built with the real schema (`open_db` runs the migrations) and filled in bulk:
users, clients, cases (answers along a real branch of the flow, assessed by the real classifier),
notes, status changes, reminders and the per-user search index, each index row made by the
store's own `index_terms` from the texts the bot gives the store: the alias, the flow's
`search_texts` of the answers, then the notes. Cases arrive in time order
with users interleaved, as they would in production, so one user's cases are spread over the file.
Generation runs with `synchronous=OFF`, `journal_mode=OFF` and a large page cache on its own
connection; the file is then switched back to WAL and measured through a fresh `Store.open`,
with the default page cache, as the bot runs.

Each operation is timed twice: through the CaseBook (what a front end calls, rendering included)
and as the bare store call(s) beneath it. The statements the store runs are caught with a trace
callback and their query plans checked for full scans. For reference, sqlite-utils'
`Table.search()` over an ordinary FTS table of the same texts is timed once: it ranks every match
in the whole table before the user filter applies.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from bot.casebook import CaseBook
from bot.classifier import classify
from bot.engine import END, Conversation, Engine
from bot.flow import Flow, load_flow
from bot.paths import default_flow
from bot.store import STATUSES, Store, alias_key, index_terms, match_query, open_db

from .common import Row, percentile, timed

SECTION = "history"
GOAL_MS = 2.0
CASES_PER_USER = 100
COMMON, RARE = "pagamento", "ingiunzione"
CHUNK = 20_000
POOL = 3000  # distinct questionnaire walks (answers along a branch) the cases draw from
# Per size: users (of CASES_PER_USER cases each), lookups measured, lookups to warm up, distinct walks.
SIZES = {"full": (10_000, 1000, 300, POOL), "quick": (500, 300, 100, POOL), "tiny": (5, 20, 5, 100)}
SPAN = timedelta(days=730)

SURNAMES = (
    "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti De Luca Mancini "
    "Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani Rinaldi Caruso Ferrara Galli "
    "Martini Leone Longo Gentile Martinelli Vitale Lombardo Serra Coppola De Santis D'Angelo Marchetti Parisi "
    "Villa Conte Ferraro Ferri Fabbri Bianco Marini Grasso Valentini Messina Sala De Angelis Gatti Pellegrini "
    "Palumbo Sanna Farina Rizzi Monti Cattaneo Morelli Amato Silvestri Mazza Testa Grassi Pellegrino Carbone "
    "Giuliani Benedetti Barone Rossetti Caputo Montanari Guerra Palmieri Bernardi Martino Fiore De Rosa "
    "Ferretti Bellini Basile Riva Donati Piras Vitali Battaglia Sartori Neri Costantini Milani Pagano Ruggiero "
    "Sorrentino D'Amico Orlando Damico Negri Fumagalli Brambilla Zanetti Bassi Tedesco Cirillo Niccolò"
).split()
FIRST_NAMES = (
    "Mario Luca Marco Giuseppe Francesco Alessandro Andrea Matteo Lorenzo Davide Paolo Giovanni Roberto "
    "Stefano Antonio Giulia Francesca Chiara Sara Martina Valentina Elena Anna Laura Federica Silvia Alessia "
    "Paola Simona Ilaria Nicolò Tommaso Gabriele Riccardo Emanuele Beatrice Giorgia Noemi Rosa Carla"
).split()
ALIAS_FORMS = (
    "{s}",
    "Studio {s}",
    "{s} Srl",
    "{s} S.p.A.",
    "{s} & Figli",
    "Dott. {s}",
    "Dott.ssa {s}",
    "Avv. {s}",
    "Ing. {s}",
    "Arch. {s}",
    "Geom. {s}",
    "Sig.ra {s}",
    "{f} {s}",
    "Pizzeria Da {f}",
    "Trattoria Da {f}",
    "Bar {f}",
    "Caffè {s}",
    "Ferramenta {s}",
    "Agenzia {s}",
    "Hotel {s}",
    "Officina {s}",
    "Farmacia {s}",
    "{s} Costruzioni",
    "Immobiliare {s}",
    "Panificio {s}",
    "Caseificio {s}",
    "Cantina {s}",
    "Ristorante {s}",
    "Boutique {f}",
    "Società Agricola {s}",
    "Autoscuola {s}",
    "Palestra {f}Fit",
    "il cognato di {f}",
)
SERVICES = (
    "sito web",
    "logo e immagine coordinata",
    "consulenza fiscale",
    "dichiarazione dei redditi",
    "tenuta della contabilità",
    "manutenzione caldaia",
    "ristrutturazione bagno",
    "impianto elettrico",
    "traduzioni tecniche",
    "servizio fotografico",
    "gestione dei social",
    "catering per eventi",
    "consulenza legale",
    "progetto d'interni",
    "lezioni private di matematica",
    "revisione auto",
    "pulizie uffici",
    "sviluppo app",
    "campagne pubblicitarie",
    "perizia tecnica",
    "corso di formazione",
    "buste paga",
    "video aziendale",
    "traslochi",
    "giardinaggio",
    "copywriting",
    "SEO e posizionamento",
)
SIGNATURES = (
    "{f} {s}",
    "{f}",
    "Studio {s}",
    "{s} Consulting",
    "Atelier {f}",
    "{f} – grafica e web",
    "Geom. {f} {s}",
)
# Notes: about half speak of the payment (the common word), some of the quote; RARE is ~1 case a user.
NOTE_OPENINGS = (
    ("Sollecitato il pagamento della fattura n. {n}, ancora nessuna risposta.", 5),
    ("Il pagamento è arrivato con {d} giorni di ritardo.", 4),
    ("Chiede di dividere il pagamento in {k} rate.", 3),
    ("Promette il pagamento entro fine mese, come il mese scorso.", 3),
    ("Pagamento parziale di {amt} €, manca il saldo.", 3),
    ("Nessun pagamento dopo la consegna del {dd}/{mm}.", 2),
    ("Ha chiesto un nuovo preventivo, più basso del {p}%.", 3),
    ("Contesta il preventivo già firmato a {mese}.", 2),
    ("Telefonata di {d} minuti alle {h} di sera.", 3),
    ("Mi ha scritto su WhatsApp di domenica alle {h}.", 3),
    ("Vuole l'ennesima modifica al lavoro già consegnato.", 3),
    ("Riunione spostata per la terza volta.", 2),
    ("Si lamenta dei tempi ma non ha ancora mandato i materiali.", 2),
    ("Mi ha ringraziato, per una volta. Lavoro approvato senza storie.", 2),
    ("Minaccia una recensione negativa su Google.", 1),
    ("Ha chiesto lo sconto davanti ai suoi colleghi.", 2),
    ("Email dal tono aggressivo; ho risposto con calma e per iscritto.", 2),
)
NOTE_FOLLOWUPS = (
    "Da ricordare alla prossima riunione.",
    "Ne parlo con il commercialista.",
    "Aspetto la sua risposta.",
    "Prossimo passo: mail riassuntiva con le condizioni di pagamento.",
    "Ho fissato un limite chiaro.",
    "Valuto se conviene continuare.",
    "Gli ho mandato il preventivo aggiornato.",
)
RARE_NOTE = "Il legale propone un'ingiunzione di pagamento per la fattura n. {n}."
MONTHS = ("gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre").split()
STATUS_WEIGHTS = (45, 20, 15, 20)  # aperto, risolto, cliente_tenuto, cliente_lasciato


# -- generation ----------------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """JSON as the store writes it (compact, UTF-8 kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _stamp(ts: float) -> str:
    """A timestamp the way the store writes it (utcnow())."""
    return datetime.fromtimestamp(int(ts), timezone.utc).isoformat(timespec="seconds")


def _walk(engine: Engine, flow: Flow, rng: random.Random) -> dict[str, Any]:
    """One finished questionnaire: random valid answers along the branch they lead to, through
    the real engine (text answers are placeholders, filled per case)."""
    state = engine.new("it")
    while not engine.complete(state):
        q = engine.question(state)
        if q.optional and q.kind == "money" and rng.random() < 0.35:
            state = engine.skip(state)
            continue
        if q.kind == "single":
            raw: Any = rng.choice(q.options).id
        elif q.kind == "multi":
            plain = [o.id for o in q.options if not o.exclusive]
            exclusive = [o.id for o in q.options if o.exclusive]
            if exclusive and rng.random() < 0.15:
                raw = [exclusive[0]]
            else:
                raw = rng.sample(plain, rng.choice((1, 1, 2, 2, 3)))
        elif q.kind == "number":
            raw = str(rng.choice((1, 1, 2, 3, 3, 4, 5, 6, 8, 10, 12, 20)))
        elif q.kind == "money":
            raw = rng.choice(("150", "350,50", "800", "1.200", "2.500", "4.000", "12.000", "90"))
        else:
            raw = "x"
        state = engine.answer(state, raw)
    return state.answers


def _answer_pool(flow: Flow, rng: random.Random, walks: int) -> list[tuple[dict[str, Any], str, str, str | None, str]]:
    """(answers, assessment JSON, main, secondary, confidence) for `walks` distinct walks; the
    classifier runs once per distinct answer set (text answers do not weigh)."""
    engine = Engine(flow)
    assessed: dict[str, Any] = {}
    pool = []
    for _ in range(walks):
        answers = _walk(engine, flow, rng)
        signature = to_json({k: v for k, v in answers.items() if flow.questions[k].kind != "text"})
        if signature not in assessed:
            assessment = classify(flow, answers)
            assessed[signature] = (
                to_json(assessment.to_dict()),
                assessment.main,
                assessment.secondary,
                assessment.confidence,
            )
        pool.append((answers, *assessed[signature]))
    return pool


def _note(rng: random.Random, rare: bool) -> str:
    values = {
        "n": rng.randint(1, 240),
        "d": rng.randint(2, 95),
        "k": rng.randint(2, 6),
        "amt": f"{rng.randint(1, 40) * 50:,}".replace(",", "."),
        "dd": rng.randint(1, 28),
        "mm": rng.randint(1, 12),
        "p": rng.choice((10, 15, 20, 30, 50)),
        "mese": rng.choice(MONTHS),
        "h": rng.randint(20, 23),
    }
    if rare:
        text = RARE_NOTE.format(**values)
    else:
        text = rng.choices(_OPENINGS, _OPENING_WEIGHTS)[0].format(**values)
    if rng.random() < 0.4:
        text += " " + rng.choice(NOTE_FOLLOWUPS)
    return text


_OPENINGS = [t for t, _ in NOTE_OPENINGS]
_OPENING_WEIGHTS = [w for _, w in NOTE_OPENINGS]


def _alias(rng: random.Random) -> str:
    return rng.choice(ALIAS_FORMS).format(s=rng.choice(SURNAMES), f=rng.choice(FIRST_NAMES))


def build(path: Path, users: int, per_user: int, seed: int = 11, pool: int = POOL) -> dict[str, Any]:
    """Fill a new database at `path`; returns what was built and how long it took."""
    rng = random.Random(seed)
    began = time.perf_counter()
    flow = load_flow(default_flow())
    pool = _answer_pool(flow, rng, pool)
    pool_seconds = time.perf_counter() - began

    db = open_db(path)  # the real schema, through the migrations
    conn = db.conn
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")  # this connection only: ~1 GB while building

    now = time.time() - 86400
    start = now - SPAN.total_seconds()
    user_ids = rng.sample(range(10**8, 8 * 10**9), users)  # Telegram-like ids
    profiles = {}
    for uid in user_ids:
        clients = [_alias(rng) for _ in range(rng.randint(15, 60))]
        signature = rng.choice(SIGNATURES).format(f=rng.choice(FIRST_NAMES), s=rng.choice(SURNAMES))
        profiles[uid] = (clients, signature if rng.random() < 0.7 else None)
    # Every user gets `per_user` cases, arriving interleaved over SPAN: one user's cases spread out.
    order = [uid for uid in user_ids for _ in range(per_user)]
    rng.shuffle(order)
    total = len(order)
    step = SPAN.total_seconds() / total
    rare_p = 1 / (per_user * 1.35)  # ~one rare note per user

    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO users (id, lang, created) VALUES (?, 'it', ?)", [(uid, _stamp(start - 3600)) for uid in user_ids]
    )
    client_ids: dict[tuple[int, str], int] = {}
    next_case_no = dict.fromkeys(user_ids, 0)
    counts = {"notes": 0, "events": 0, "reminders": 0, "clients": 0, "index_rows": 0}
    insert_seconds = 0.0
    statuses = list(STATUSES)
    case_id = 0
    for offset in range(0, total, CHUNK):
        clients_rows, cases_rows, notes_rows, events_rows, reminders_rows, index_rows = [], [], [], [], [], []
        for uid in order[offset : offset + CHUNK]:
            case_id += 1
            t = start + case_id * step
            created = _stamp(t)
            next_case_no[uid] += 1
            clients, signature = profiles[uid]
            # Some clients come back often: the first of the list most of all.
            alias = None if rng.random() < 0.08 else clients[min(int(rng.expovariate(1 / 8)), len(clients) - 1)]
            key = alias_key(alias)
            client_id = client_ids.get((uid, key))
            if client_id is None:
                client_id = client_ids[(uid, key)] = len(client_ids) + 1
                clients_rows.append((client_id, uid, alias, key, created))
            template, assessment_json, main, secondary, confidence = rng.choice(pool)
            answers = dict(template)
            answers["alias"] = alias
            if "service" in answers:
                answers["service"] = rng.choice(SERVICES) if rng.random() < 0.7 else None
            if "sender" in answers:
                answers["sender"] = signature
            updated = t
            written = sorted(
                (min(t + rng.uniform(3600, 60 * 86400), now), _note(rng, rng.random() < rare_p))
                for _ in range(rng.choices((0, 1, 2, 3), (25, 30, 30, 15))[0])
            )
            notes = [text for _, text in written]
            notes_rows += [(at, uid, case_id, text) for at, text in written]
            if written:
                updated = max(updated, written[-1][0])
            status = rng.choices(statuses, STATUS_WEIGHTS)[0]
            if status != "aperto":
                at = min(t + rng.uniform(86400, 120 * 86400), now)
                events_rows.append((uid, case_id, "aperto", status, _stamp(at)))
                updated = max(updated, at)
            if rng.random() < 0.04:
                due = t + rng.uniform(3, 30) * 86400
                reminders_rows.append((uid, case_id, _stamp(due), _stamp(t + 60), _stamp(due) if due < now else None))
            cases_rows.append(
                (
                    case_id,
                    uid,
                    next_case_no[uid],
                    client_id,
                    flow.id,
                    flow.version,
                    "it",
                    to_json(answers),
                    assessment_json,
                    main,
                    secondary,
                    confidence,
                    status,
                    created,
                    _stamp(updated),
                )
            )
            # The same texts, in the same order, as the Coach and the case book give the store.
            texts = [alias, *flow.search_texts(answers), *notes]
            terms = index_terms(uid, (x for x in texts if isinstance(x, str)))
            if terms:
                index_rows.append((case_id, terms))
        notes_rows.sort(key=lambda r: r[0])  # notes are written later than their case, interleaved
        tick = time.perf_counter()
        conn.executemany(
            "INSERT INTO clients (id, user_id, alias, alias_key, created) VALUES (?, ?, ?, ?, ?)", clients_rows
        )
        conn.executemany(
            "INSERT INTO cases (id, user_id, case_no, client_id, flow, flow_version, lang, answers, assessment, "
            "main, secondary, confidence, status, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cases_rows,
        )
        conn.executemany(
            "INSERT INTO notes (user_id, case_id, text, created) VALUES (?, ?, ?, ?)",
            [(uid, cid, text, _stamp(at)) for at, uid, cid, text in notes_rows],
        )
        conn.executemany(
            "INSERT INTO case_events (user_id, case_id, kind, before, after, at) VALUES (?, ?, 'status', ?, ?, ?)",
            events_rows,
        )
        conn.executemany(
            "INSERT INTO reminders (user_id, case_id, due, created, fired) VALUES (?, ?, ?, ?, ?)", reminders_rows
        )
        conn.executemany("INSERT INTO case_search (rowid, terms) VALUES (?, ?)", index_rows)
        insert_seconds += time.perf_counter() - tick
        counts["notes"] += len(notes_rows)
        counts["events"] += len(events_rows)
        counts["reminders"] += len(reminders_rows)
        counts["clients"] += len(clients_rows)
        counts["index_rows"] += len(index_rows)
    conn.execute("COMMIT")
    counts["fts_segments"] = conn.execute("SELECT count(DISTINCT segid) FROM case_search_idx").fetchone()[0]
    # Back to how production runs before anything is measured.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.close()
    seconds = time.perf_counter() - began
    return {
        "users": users,
        "cases": total,
        **counts,
        "seconds": seconds,
        "answer_pool_seconds": round(pool_seconds, 2),
        "sqlite_insert_seconds": round(insert_seconds, 1),
        "distinct_walks": len(pool),
        "user_ids": user_ids,
    }


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _check_sample(store: Store, flow: Flow, rng: random.Random, total: int, k: int = 25) -> dict[str, Any]:
    """Generated rows against the real code: the same case and notes saved through a real store give
    the same index row, and the answers walk the real engine to the end of the flow."""
    engine = Engine(flow)
    conn = store.conn
    replay = Store.open(":memory:")
    same = complete = 0
    for case_id in rng.sample(range(1, total + 1), k):
        user_id, case_no, before = conn.execute(
            "SELECT c.user_id, c.case_no, s.terms FROM cases c LEFT JOIN case_search s ON s.rowid = c.id "
            "WHERE c.id = ?",
            (case_id,),
        ).fetchone()
        case = store.case(user_id, case_no)
        answers = case.stored_answers
        state = Conversation(flow=flow.id, flow_version=flow.version, lang=case.lang, at=END, answers=answers)
        number = replay.save_case(
            user_id, state, case.stored_assessment, case.alias, search_texts=flow.search_texts(answers)
        )
        for note in store.notes(user_id, case_no):
            replay.add_note(user_id, number, note["text"])
        after = replay.conn.execute(
            "SELECT s.terms FROM cases c JOIN case_search s ON s.rowid = c.id WHERE c.user_id = ? AND c.case_no = ?",
            (user_id, number),
        ).fetchone()
        same += before == (after[0] if after else None)
        complete += engine.path(answers)[1] == END
    replay.close()
    return {"sampled": k, "index_row_as_store_writes_it": same, "answers_reach_end_of_flow": complete}


# -- measuring -----------------------------------------------------------------------------------


def _traced(store: Store, call: Callable[[], Any]) -> list[str]:
    """The statements (with their values) a store call runs."""
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        store.conn.set_trace_callback(None)
    return [s for s in dict.fromkeys(seen) if s.lstrip().upper().startswith(("SELECT", "WITH"))]


_SCAN = re.compile(r"^SCAN (\S+)")


def _plans(store: Store, statements: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """EXPLAIN QUERY PLAN of each statement, and the plan lines that read a whole table (or a
    whole index, or the FTS table without MATCH)."""
    plans, scans = [], []
    for sql in statements:
        lines = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql)]
        plans.append({"sql": sql if len(sql) < 400 else sql[:400] + "…", "plan": lines})
        for line in lines:
            if not _SCAN.match(line) or "subquery" in line or "CONSTANT ROW" in line:
                continue
            if "VIRTUAL TABLE" in line and re.search(r"INDEX \d+:M", line):
                continue  # an FTS5 MATCH: the index answers it
            scans.append(line)
    return plans, scans


def _sample(fn: Callable[..., Any], args: list[tuple], warm: int) -> list[float]:
    for arg in args[:warm]:
        fn(*arg)
    samples = []
    for arg in args[warm:]:
        tick = time.perf_counter()
        fn(*arg)
        samples.append((time.perf_counter() - tick) * 1000)
    return samples


def _rare_users(store: Store, user_ids: list[int], rng: random.Random) -> tuple[int, int]:
    """How many of a sample of users have the rare word in 0 and in exactly 1 case."""
    none = one = 0
    for uid in rng.sample(user_ids, min(200, len(user_ids))):
        count, _ = store.search_cases(uid, RARE, 1)
        none += count == 0
        one += count == 1
    return none, one


def run(size: str) -> list[Row]:
    users, samples, warm, pool = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="clientcoach-history-") as tmp:
        path = Path(tmp) / "history.db"
        print(f"  building {users * CASES_PER_USER:,} cases over {users:,} users...", file=sys.stderr, flush=True)
        built = build(path, users, CASES_PER_USER, pool=pool)
        rows = measure(path, built, samples, warm)
    return rows


def measure(path: Path, built: dict[str, Any], samples: int, warm: int) -> list[Row]:
    """The rows for a database `build` made at `path`."""
    rng = random.Random(5)
    rows: list[Row] = []
    users = built["users"]
    user_ids = built.pop("user_ids")
    size = _db_bytes(path)
    # Warm the OS cache with the whole file, as on a server that has been running: what is left
    # is SQLite's own (default, small) page cache going cold between random users.
    tick = time.perf_counter()
    with open(path, "rb") as file:
        while file.read(1 << 23):
            pass
    built["file_pre_read_s"] = round(time.perf_counter() - tick, 2)
    store = Store.open(path)  # a fresh connection, as the bot opens it: WAL, NORMAL, default cache
    book = CaseBook(store)
    mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = store.conn.execute("PRAGMA synchronous").fetchone()[0]
    built["checked"] = _check_sample(store, book.flow, rng, built["cases"])
    built["journal_mode"], built["synchronous"] = mode, {1: "NORMAL"}.get(sync, sync)
    rows.append(
        Row(
            SECTION,
            f"build {built['cases']:,} cases, {built['notes']:,} notes, {users:,} users",
            built["seconds"],
            "s",
            "",
            None,
            built,
        )
    )
    rows.append(
        Row(
            SECTION,
            "database size",
            size / 1e6,
            "MB",
            "",
            None,
            {"bytes": size, "per_case_bytes": round(size / built["cases"])},
        )
    )

    def args_users(n: int) -> list[tuple[int]]:
        return [(rng.choice(user_ids),) for _ in range(n)]

    def args_cases(n: int) -> list[tuple[int, int]]:
        return [(rng.choice(user_ids), rng.randint(1, CASES_PER_USER)) for _ in range(n)]

    def store_show(uid: int, no: int) -> None:
        store.case(uid, no)
        store.timeline(uid, no)
        store.reminders(uid, no)

    # (name, front-end call, store call(s) beneath it, argument maker)
    operations = [
        (
            "list newest 10",
            lambda u: book.list_cases(u, 1, page_size=10),
            lambda u: (store.count_cases(u), store.cases(u, limit=10)),
            args_users,
        ),
        ("show one case", lambda u, n: book.show_case(u, n), store_show, args_cases),
        (
            f"search common word «{COMMON}»",
            lambda u: book.search(u, COMMON),
            lambda u: store.search_cases(u, COMMON, 10),
            args_users,
        ),
        (
            f"search rare word «{RARE}»",
            lambda u: book.search(u, RARE),
            lambda u: store.search_cases(u, RARE, 10),
            args_users,
        ),
        ("stats", lambda u: book.stats(u), lambda u: store.case_summaries(u), args_users),
    ]
    all_scans: list[str] = []
    measured = []
    for name, front, bare, make_args in operations:
        probe = make_args(1)[0]
        plans, scans = _plans(store, _traced(store, lambda bare=bare, probe=probe: bare(*probe)))
        all_scans += scans
        for level, fn in (("store", bare), ("casebook", front)):
            times = _sample(fn, make_args(warm + samples), warm)
            measured.append((name, level, times, plans if level == "store" else None))
    # The index lookup alone, without the join that orders the matches by date.
    match_only = {
        word: _sample(
            lambda u, w=word: store.conn.execute(
                "SELECT rowid FROM case_search WHERE case_search MATCH ?", (match_query(u, w),)
            ).fetchall(),
            args_users(warm + samples),
            warm,
        )
        for word in (COMMON, RARE)
    }
    matches = [store.search_cases(u, COMMON, 1)[0] for (u,) in args_users(200)]
    rare_none, rare_one = _rare_users(store, user_ids, rng)

    for name, level, times, plans in measured:
        p50, p95 = percentile(times, 50), percentile(times, 95)
        detail: dict[str, Any] = {
            "samples": len(times),
            "p50_ms": round(p50, 4),
            "p95_ms": round(p95, 4),
            "p99_ms": round(percentile(times, 99), 4),
            "max_ms": round(max(times), 3),
        }
        if plans is not None:
            detail["query_plans"] = plans
        if "common" in name:
            detail["matching_cases_per_user_mean"] = round(sum(matches) / len(matches), 1)
        if "rare" in name:
            detail["users_with_0_or_1_match_of_200"] = [rare_none, rare_one]
        for word, only in match_only.items():
            if plans is not None and word in name:
                detail["fts_match_only_p50_p95_ms"] = [round(percentile(only, 50), 4), round(percentile(only, 95), 4)]
        label = "CaseBook (rendered)" if level == "casebook" else "store query"
        rows.append(Row(SECTION, f"{name}: {label} p50", p50, "ms", "", None, {}))
        rows.append(Row(SECTION, f"{name}: {label} p95", p95, "ms", f"≤ {GOAL_MS:g} ms", p95 <= GOAL_MS, detail))
    rows.append(Row(SECTION, "full scans in query plans", len(all_scans), "", "0", not all_scans, {"lines": all_scans}))

    rows.append(_naive_reference(store, path, rng.choice(user_ids)))
    store.close()
    return rows


def _naive_reference(store: Store, path: Path, user_id: int) -> Row:
    """sqlite-utils' own Table.search() over an ordinary FTS5 table of the same texts, filtered
    by user: built after the measurements (not part of the product), timed once, warm."""
    db = store.db
    tick = time.perf_counter()
    db.execute("CREATE TABLE ref_docs (id INTEGER PRIMARY KEY, user_id INTEGER, text TEXT)")
    with store.conn:
        store.conn.execute(
            "INSERT INTO ref_docs (id, user_id, text) SELECT c.id, c.user_id, "
            "coalesce(cl.alias, '') || ' ' || coalesce(json_extract(c.answers, '$.service'), '') || ' ' || "
            "coalesce(json_extract(c.answers, '$.sender'), '') || ' ' || "
            "coalesce((SELECT group_concat(n.text, ' ') FROM notes n WHERE n.case_id = c.id), '') "
            "FROM cases c LEFT JOIN clients cl ON cl.id = c.client_id"
        )
    db["ref_docs"].enable_fts(["text"])
    build_seconds = time.perf_counter() - tick

    def search() -> list:
        return list(db["ref_docs"].search(COMMON, where="user_id = :user", where_args={"user": user_id}, limit=10))

    first, _ = timed(search)
    once, found = timed(search)
    everyone = db.execute(f"SELECT count(*) FROM ref_docs_fts WHERE ref_docs_fts MATCH '{COMMON}'").fetchone()[0]
    return Row(
        SECTION,
        f"reference: sqlite-utils Table.search('{COMMON}') then user filter (once, warm)",
        once * 1000,
        "ms",
        "",
        None,
        {
            "cold_first_call_ms": round(first * 1000, 1),
            "matches_ranked_all_users": everyone,
            "shown": len(found),
            "reference_index_build_s": round(build_seconds, 1),
            "sql": db["ref_docs"].search_sql(where="user_id = :user", limit=10),
        },
    )
