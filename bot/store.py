"""Storage on SQLite through sqlite-utils: users, conversations in progress, and saved cases.

The schema grows by migrations (sqlite-utils' `Migrations`). Every method takes the user id and
every query is scoped by it here, so no front end can reach another user's rows. Conversations
in progress are one small JSON row per user, written in one transaction per turn, in WAL mode.

Saved cases carry their history: notes, reminders, status changes (`case_events`) and a full-text
index (`case_search`, FTS5) over the texts the caller gives: the client's alias and the answers the
flow marks searchable (`Flow.search_texts`) when a case is saved, then each note. The index row
grows in the same transaction as the write that brings the text.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import sqlite3
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, NoReturn, TypeVar

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .choices import STATUSES
from .errors import StoreError
from .outfile import write_file
from .paths import default_db_path
from .plan_store import PlanStore

BUSY_TIMEOUT = 5.0  # seconds a write waits for another connection's lock before giving up
# Redelivery claims older than this are forgotten (Telegram redelivers within hours, not weeks).
PROCESSED_UPDATES_MAX_AGE = 7 * 24 * 3600.0
PRUNE_EVERY = 3600.0
CLAIMS_KEPT = 10_000  # updates recorded by their turn, remembered until their front end is done with them
# A database is ours when it has these tables; a non-empty file without them belongs to someone else.
OWN_TABLES = {"conversations", "cases"}
# Words longer than this are indexed (and searched) by their first letters only.
MAX_INDEXED_WORD = 40
MAX_QUERY_WORDS = 8
_WORD = re.compile(r"[^\W_]+")
migrations = Migrations("clientcoach")


# SQLite's primary result codes (Python 3.11+ `sqlite_errorname`) and errno values, as StoreError keys.
_SQLITE_KEYS = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
    "SQLITE_READONLY": "read_only",
    "SQLITE_NOTADB": "not_a_database",
    "SQLITE_CORRUPT": "not_a_database",
    "SQLITE_CANTOPEN": "cannot_open",
    "SQLITE_PERM": "read_only",
    "SQLITE_IOERR": "cannot_open",
}
_ERRNO_KEYS = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "read_only",
    errno.EPERM: "read_only",
    errno.EISDIR: "is_directory",
    errno.ENOENT: "missing_folder",
}


def store_error(exc: BaseException, path: str | Path | None = None) -> StoreError | None:
    """The StoreError for a sqlite3 or OS error, or None for one that is a bug rather than a condition."""
    if isinstance(exc, StoreError):
        return exc
    key = None
    if isinstance(exc, sqlite3.Error):
        # Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED) count as their primary code.
        primary = "_".join((getattr(exc, "sqlite_errorname", "") or "").split("_")[:2])
        key = _SQLITE_KEYS.get(primary)
        if key is None and isinstance(exc, sqlite3.OperationalError):
            message = str(exc).lower()
            key = (
                "disk_full"
                if "full" in message
                else "locked"
                if "locked" in message or "busy" in message
                else "read_only"
                if "readonly" in message
                else "cannot_open"
                if "unable to open" in message
                else None
            )
    elif isinstance(exc, OSError):
        key = _ERRNO_KEYS.get(exc.errno or 0, "cannot_open")
    if key is None:
        return None
    return StoreError(key, path=str(path) if path is not None else "", detail=str(exc))


_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(method: _F) -> _F:
    """Run a store method, turning disk-full, lock and similar conditions into StoreError."""

    @functools.wraps(method)
    def run(self: "Store", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            error = store_error(exc, self.path)
            if error is None:
                raise
            raise error from exc

    return run  # type: ignore[return-value]


class DueReminder(NamedTuple):
    """A reminder not yet sent, as the scheduler needs it."""

    id: int
    user_id: int
    case_no: int
    due: datetime


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_time(value: str) -> datetime:
    """A stored timestamp (ISO 8601, UTC) as an aware datetime."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- search terms ------------------------------------------------------------------------------
#
# One FTS5 table serves every user, yet a search must touch only the searching user's postings
# (a million cases, ten thousand users: a common word must not drag in everyone's matches). So
# each word is indexed as a per-user term, `u<user id>x<word>`: "Rossi" of user 42 becomes
# `u42xrossi`, and user 42's search for "ross" is the prefix query `"u42xross"*`, which walks only
# the terms starting with `u42x`. The user id is all digits and ends at the first "x", so no two
# users' terms can share that prefix. Words are normalised the same way on both sides: casefolded,
# accents removed, split on anything that is not a letter or digit. The table uses FTS5's `ascii`
# tokenizer, for which every non-ASCII character is part of a token: a term we write is therefore
# always exactly one token, whatever Unicode tables SQLite was built with, and can never be split
# into a piece without the user prefix. No positions are kept (`detail=none`): queries are single
# terms joined by AND. The FTS rowid is the case id.


def search_words(text: str) -> list[str]:
    """The normalised words of a text: casefolded, without accents, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return [word[:MAX_INDEXED_WORD] for word in _WORD.findall(bare)]


def user_term_prefix(user_id: int) -> str:
    return f"u{user_id}x".replace("-", "n")


def index_terms(user_id: int, texts: Iterable[str | None]) -> str:
    """The indexed text of one case: each distinct word once, as a term of this user."""
    prefix = user_term_prefix(user_id)
    words = dict.fromkeys(w for text in texts if text for w in search_words(text))
    return " ".join(prefix + word for word in words)


def match_query(user_id: int, text: str) -> str | None:
    """The FTS5 query for a user's search: every word as a prefix of one of their terms, ANDed."""
    prefix = user_term_prefix(user_id)
    words = list(dict.fromkeys(search_words(text)))[:MAX_QUERY_WORDS]
    return " AND ".join(f'"{prefix}{word}"*' for word in words) or None


def _index_texts(conn: sqlite3.Connection, case_id: int, user_id: int, texts: Iterable[str | None]) -> None:
    """Add the words of `texts` to one case's row of the search index (made if the case has none)."""
    row = conn.execute("SELECT terms FROM case_search WHERE rowid = ?", (case_id,)).fetchone()
    terms = " ".join(dict.fromkeys([*(row[0].split() if row else ()), *index_terms(user_id, texts).split()]))
    if row:
        conn.execute("DELETE FROM case_search WHERE rowid = ?", (case_id,))
    if terms:
        conn.execute("INSERT INTO case_search (rowid, terms) VALUES (?, ?)", (case_id, terms))


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made (sqlite3 types it Optional: no INSERT yet on that cursor)."""
    if cursor.lastrowid is None:
        raise RuntimeError("the cursor has made no row")
    return cursor.lastrowid


def _purge_search_index(conn: sqlite3.Connection) -> None:
    """Merge the index into one segment, so deleted terms are gone from its storage, not just hidden.

    FTS5 deletes by writing tombstones; the old postings stay in earlier segments until they are
    merged. `optimize` merges everything (about a second for a million cases); deletions are rare.
    """
    conn.execute("INSERT INTO case_search (case_search) VALUES ('optimize')")


@migrations()
def m001_initial(db: Database) -> None:
    db.table("users").create({"id": int, "lang": str, "created": str}, pk="id", not_null={"created"})
    db.table("conversations").create(
        {"user_id": int, "flow": str, "state": str, "meta": str, "updated": str},
        pk="user_id",
        not_null={"state", "updated"},
    )
    db.table("clients").create(
        {"id": int, "user_id": int, "alias": str, "alias_key": str, "created": str},
        pk="id",
        not_null={"user_id", "alias_key", "created"},
    )
    db.table("clients").create_index(["user_id", "alias_key"], unique=True)
    db.table("cases").create(
        {
            "id": int,
            "user_id": int,
            "case_no": int,
            "client_id": int,
            "flow": str,
            "flow_version": int,
            "lang": str,
            "answers": str,
            "assessment": str,
            "main": str,
            "secondary": str,
            "confidence": str,
            "status": str,
            "created": str,
            "updated": str,
        },
        pk="id",
        not_null={"user_id", "case_no", "answers", "assessment", "main", "status", "created", "updated"},
        foreign_keys=[("client_id", "clients", "id")],
        defaults={"status": "aperto"},
    )
    db.table("cases").create_index(["user_id", "case_no"], unique=True)
    db.table("cases").create_index(["user_id", "created"])
    db.table("notes").create(
        {"id": int, "user_id": int, "case_id": int, "text": str, "created": str},
        pk="id",
        not_null={"user_id", "case_id", "text", "created"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db.table("notes").create_index(["case_id"])
    db.table("reminders").create(
        {"id": int, "user_id": int, "case_id": int, "due": str, "created": str, "fired": str},
        pk="id",
        not_null={"user_id", "case_id", "due", "created"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db.table("reminders").create_index(["fired", "due"])
    db.table("processed_updates").create({"update_id": int, "at": str}, pk="update_id")


@migrations()
def m002_case_history(db: Database) -> None:
    """Status changes as events, reminder lookups by case, and the per-user search index."""
    db.table("case_events").create(
        {"id": int, "user_id": int, "case_id": int, "kind": str, "before": str, "after": str, "at": str},
        pk="id",
        not_null={"user_id", "case_id", "kind", "at"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db.table("case_events").create_index(["case_id"])
    db.table("reminders").create_index(["case_id"])
    db.execute("CREATE VIRTUAL TABLE case_search USING fts5(terms, tokenize = 'ascii', detail = none, columnsize = 0)")
    # The cases saved before this migration, with the flow's text answers as they were then: a
    # migration replays history, it does not follow today's flow.
    text_answers = ("alias", "concession_offer", "attention", "service", "address")
    cases = db.execute(
        "SELECT c.id, c.user_id, c.answers, cl.alias FROM cases c LEFT JOIN clients cl ON cl.id = c.client_id"
    ).fetchall()
    for case_id, user_id, answers_json, alias in cases:
        answers = json.loads(answers_json)
        notes = [text for (text,) in db.execute("SELECT text FROM notes WHERE case_id = ? ORDER BY id", (case_id,))]
        texts = [alias, *(answers.get(key) for key in text_answers), *notes]
        _index_texts(db.conn, case_id, user_id, (t for t in texts if isinstance(t, str)))


@migrations()
def m003_sender_and_leases(db: Database) -> None:
    """The sender's own profile (JSON, one row per user) and one-owner leases on conversations."""
    db.table("sender_profiles").create(
        {"user_id": int, "profile": str, "updated": str}, pk="user_id", not_null={"profile"}
    )
    db.table("conversation_leases").create(
        {"user_id": int, "owner": str, "expires": float}, pk="user_id", not_null={"owner", "expires"}
    )
    db.table("processed_updates").create_index(["at"])


@migrations()
def m004_case_conversation(db: Database) -> None:
    """Which questionnaire a case came from, so a late "see the result" tap can find its result."""
    db.table("cases").add_column("conversation", str)
    db.table("cases").create_index(["user_id", "conversation"])


@migrations()
def m005_update_inbox(db: Database) -> None:
    """Updates confirmed to Telegram before they were handled (a crowd, a webhook), until handled."""
    db.table("update_inbox").create({"update_id": int, "body": str, "at": str}, pk="update_id", not_null={"body"})


@migrations()
def m006_reminder_channel(db: Database) -> None:
    """Which front end a reminder belongs to ("console" or "telegram"): the bot sends only its own,
    the console shows only its own. Earlier reminders: the console user's (id 0 and below, never a
    Telegram id) are the console's, the rest the bot's."""
    db.table("reminders").add_column("channel", str)
    db.execute("UPDATE reminders SET channel = CASE WHEN user_id <= 0 THEN 'console' ELSE 'telegram' END")


@migrations()
def m007_case_numbers(db: Database) -> None:
    """The last case number given to each user, so that a deleted case's number is never given again
    (a note or a reminder about "case 3" must never come to mean another client)."""
    db.table("case_numbers").create({"user_id": int, "last": int}, pk="user_id", not_null={"last"})
    db.execute("INSERT INTO case_numbers (user_id, last) SELECT user_id, MAX(case_no) FROM cases GROUP BY user_id")


@migrations()
def m008_result_sends(db: Database) -> None:
    """Which result messages of a case reached the chat (their message ids), and a reminder's send
    recorded around it (attempts before, the message id after), so nothing is delivered twice."""
    db.table("result_sends").create(
        {"case_id": int, "part": int, "message_id": int, "at": str},
        pk=("case_id", "part"),
        not_null={"message_id", "at"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db.table("reminders").add_column("attempts", int, not_null_default=0)
    db.table("reminders").add_column("message_id", int)


@migrations()
def m009_plans(db: Database) -> None:
    """Plans followed case by case: where each case's plan stands (`case_plans`, see bot.plan_store),
    and which reminders are a plan's checks (`reminders.step`, the step they ask about)."""
    db.table("case_plans").create(
        {"case_id": int, "user_id": int, "step": str, "does": str, "state": str, "updated": str},
        pk="case_id",
        not_null={"user_id", "state", "updated"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db.table("case_plans").create_index(["user_id"])
    db.table("reminders").add_column("step", str)


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only; SQLite gives -wal and -shm its mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it first: it did so the same way


def _resolve(path: str | Path | None) -> tuple[Path, bool]:
    """The database file and whether it is the default location (the only one whose folders we create)."""
    if path is None:
        return default_db_path(), True
    if str(path).strip() == "":
        raise StoreError("empty_path")
    return Path(path), False


def _connect(path: Path, default: bool, timeout: float) -> sqlite3.Connection:
    """A connection to an existing database file or a new private one, after the checks a path needs."""
    if path.is_dir():
        raise StoreError("is_directory", path=str(path))
    folder = path.parent
    if not folder.is_dir():
        if not default:
            raise StoreError("missing_folder", path=str(path), folder=str(folder))
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    if not path.exists():
        _create_private(path)
    return sqlite3.connect(str(path), timeout=timeout)


def _check_owner(conn: sqlite3.Connection, path: Path | str, newer: bool = False) -> int:
    """The schema version of a database we may use; refuse another application's or (unless `newer`,
    for reading it as it is) a newer one."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables - {Migrations.migrations_table} and not OWN_TABLES <= tables:
        raise StoreError("foreign_database", path=str(path))
    if version > len(migrations._migrations) and not newer:
        raise StoreError("newer_schema", path=str(path), found=version, known=len(migrations._migrations))
    return version


def _migrate(db: Database, path: Path | str) -> None:
    """Bring the schema up to date under one write lock, so concurrent first runs take turns."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the lock: another process may have migrated (or refused) meanwhile.
        if _check_owner(db.conn, path) < len(migrations._migrations):
            migrations.apply(db)
            db.conn.execute(f"PRAGMA user_version = {len(migrations._migrations)}")
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


def _switch_to_wal(conn: sqlite3.Connection, target: Path, timeout: float) -> None:
    """Put the file in WAL mode, waiting while another process holds it (a first run beside another).

    The switch needs the file to itself; SQLite then answers with the old mode instead of waiting,
    so the wait is ours, bounded by the same busy timeout as every other lock.
    """
    deadline = time.monotonic() + timeout
    while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        if conn.execute("PRAGMA journal_mode = wal").fetchone()[0] == "wal":
            return
        if time.monotonic() > deadline:
            raise StoreError("locked", path=str(target))
        time.sleep(0.02)


def open_db(path: str | Path | None = None, timeout: float = BUSY_TIMEOUT) -> Database:
    """Open (creating if needed) the database with durable WAL settings and the latest schema.

    `None` is the default location in the user's data folder (callers pass `$CLIENTCOACH_DB` from
    `config.read_environment()`); ":memory:" is a private in-memory database. Raises StoreError
    (never a raw sqlite3 or OS error) for a path that cannot be used, another application's
    database, a newer schema, a lock, a full disk.
    """
    target, default = _resolve(path)
    conn: sqlite3.Connection | None = None
    try:
        memory = str(target) == ":memory:"
        conn = sqlite3.connect(":memory:") if memory else _connect(target, default, timeout)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        # Checked before anything is written: a foreign or newer file is left exactly as it was.
        version = _check_owner(conn, target)
        # No sqlite-utils plugins are used; skipping them spares scanning every installed package.
        db = Database(conn, execute_plugins=False)
        if version < len(migrations._migrations):
            _migrate(db, target)
        if not memory:
            _switch_to_wal(conn, target, timeout)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten with zeros, not left in free pages (SQLite's default keeps them).
        conn.execute("PRAGMA secure_delete = ON")
        return db
    except BaseException as exc:
        _fail_closed(conn, exc, target)


def _fail_closed(conn: sqlite3.Connection | None, exc: BaseException, target: Path) -> NoReturn:
    """Close a connection that failed to open and raise why: a StoreError where one says it better."""
    if conn is not None:
        conn.close()
    error = store_error(exc, target) if isinstance(exc, Exception) else None
    if error is None or error is exc:
        raise exc
    raise error from exc


def schema_version() -> int:
    """The schema this program migrates every database to."""
    return len(migrations._migrations)


def open_existing(path: str | Path | None, timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """A connection to a database file as it is: nothing created, nothing migrated, any schema version
    (for `db check` and `db backup`). Another application's file or a file that is not SQLite is
    refused with StoreError, as is a file that does not exist."""
    target, _ = _resolve(path)
    if str(target) == ":memory:":
        raise StoreError("empty_path")
    if target.is_dir():
        raise StoreError("is_directory", path=str(target))
    if not target.is_file():
        raise missing_database(target)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(str(target), timeout=timeout)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        _check_owner(conn, target, newer=True)
        return conn
    except BaseException as exc:
        _fail_closed(conn, exc, target)


def inspect_database(path: str | Path | None) -> dict[str, Any]:
    """Integrity, the schema version found and the one it would be migrated to, size and path;
    the file is only read."""
    conn = open_existing(path)
    try:
        messages = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        file = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    except (sqlite3.Error, OSError) as exc:
        error = store_error(exc, path)
        if error is None:
            raise
        raise error from exc
    finally:
        conn.close()
    return {
        "integrity": "ok" if messages == ["ok"] else "; ".join(messages[:5]),
        "schema_version": found,
        "schema_target": schema_version(),
        "size_bytes": os.path.getsize(file),
        "path": file,
    }


def online_copy(conn: sqlite3.Connection, target: str | Path, database: str | Path | None, force: bool) -> Path:
    """Copy the database behind `conn` to `target` (0600) with SQLite's online backup, safe while the
    bot runs, as one self-contained file; the target is checked and written as every output file is
    (`bot.outfile`): never `database` itself, never over an existing file unless `force`."""

    def copy_into(temp: Path) -> None:
        copy = sqlite3.connect(str(temp))
        try:
            conn.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # no -wal beside it
        finally:
            copy.close()

    return write_file(target, copy_into, database=database, force=force)


def backup_database(source: str | Path | None, target: str | Path, force: bool = False) -> Path:
    """Copy a database as it is (its schema untouched, whichever release wrote it) to a new file,
    mode 0600, with SQLite's online backup: safe while the bot runs. See `bot.outfile` for the target."""
    conn = open_existing(source)
    try:
        database = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
        try:
            return online_copy(conn, target, database or None, force)
        except (sqlite3.Error, OSError) as exc:
            error = store_error(exc, target)
            if error is None:
                raise
            raise error from exc
    finally:
        conn.close()


def closest_file(path: Path) -> Path | None:
    """The existing file in `path`'s folder whose name is closest to its name (a typo's intended file)."""
    import difflib

    try:
        names = [p.name for p in path.parent.iterdir() if p.is_file() and not p.name.endswith(("-wal", "-shm"))]
    except OSError:
        return None
    found = difflib.get_close_matches(path.name, names, n=1, cutoff=0.5)
    return path.parent / found[0] if found else None


def missing_database(path: Path) -> StoreError:
    """The one-line refusal for a database file that does not exist, naming the closest one there is."""
    closest = closest_file(path)
    return StoreError("missing_database", path=str(path), closest=str(closest) if closest else "")


def alias_key(alias: str | None) -> str:
    """How two spellings of one client's alias are recognised as the same client."""
    return " ".join((alias or "").casefold().split())


class Store(PlanStore):
    """All reads and writes of clientcoach, each scoped by user."""

    def __init__(self, db: Database):
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.path = (
            ""
            if db.memory
            else next((row[2] for row in self.conn.execute("PRAGMA database_list") if row[1] == "main"), "")
        )
        self._pruned_at = float("-inf")
        self._later: list[tuple[str, int, str]] = []  # meta patches for the next write
        self._claimed: set[int] = set()  # updates a turn recorded as handled, until the front end asks

    @classmethod
    def open(cls, path: str | Path | None = None, timeout: float = BUSY_TIMEOUT) -> "Store":
        """The store on `path` (see `open_db`); raises StoreError when the file cannot be used."""
        return cls(open_db(path, timeout))

    def close(self) -> None:
        self.conn.close()

    # -- users ---------------------------------------------------------------------------------

    def user_lang(self, user_id: int) -> str | None:
        row = self.conn.execute("SELECT lang FROM users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def set_user_lang(self, user_id: int, lang: str) -> None:
        with self.conn:
            self._ensure_user(user_id, lang)
            self.conn.execute("UPDATE users SET lang = ? WHERE id = ?", (lang, user_id))

    def _ensure_user(self, user_id: int, lang: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO users (id, lang, created) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (user_id, lang, utcnow()),
        )

    # -- conversations in progress -------------------------------------------------------------

    def load_conversation(self, user_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The stored state and front-end meta of the user's open conversation, if any."""
        row = self.conn.execute("SELECT state, meta FROM conversations WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return None
        state, meta = json.loads(row[0]), json.loads(row[1] or "{}")
        for patch, owner, cid in self._later:  # meta still to be written is already part of what is read
            if owner == user_id and cid == state.get("cid"):
                later = json.loads(patch)
                if (meta.get("message_id") or 0) <= (later.get("message_id") or 0):
                    meta.update(later)
        return state, meta

    def save_conversation(
        self, user_id: int, state: dict[str, Any], meta: dict[str, Any] | None = None, update_id: int | None = None
    ) -> bool:
        """Store a turn in one transaction; with an update id, a second delivery of it is refused."""
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return False
            self._ensure_user(user_id, state.get("lang"))
            self.conn.execute(
                "INSERT INTO conversations (user_id, flow, state, meta, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET flow = excluded.flow, state = excluded.state, "
                "meta = excluded.meta, updated = excluded.updated",
                (user_id, state.get("flow"), _json(state), _json(meta or {}), utcnow()),
            )
            self._write_later()
        return True

    def update_meta(self, user_id: int, meta: dict[str, Any]) -> None:
        """Merge front-end data into the open conversation's meta, in one statement."""
        with self.conn:
            self.conn.execute(
                "UPDATE conversations SET meta = json_patch(COALESCE(meta, '{}'), ?) WHERE user_id = ?",
                (_json(meta), user_id),
            )

    def update_meta_later(self, user_id: int, conversation: str, meta: dict[str, Any]) -> None:
        """`update_meta` for the conversation `conversation` (its id; if it is still the open one),
        written with the next write (a turn, or the record of handled updates): no transaction of its own."""
        self._later.append((_json(meta), user_id, conversation))

    def drop_conversation(self, user_id: int, update_id: int | None = None) -> bool:
        """Throw away the open conversation (a cancel): its answers leave the WAL too."""
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return False
            self.conn.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
        self._checkpoint()
        return True

    def claim_update(self, update_id: int) -> bool:
        """Record an update as handled; False if it was handled before (a redelivery)."""
        with self.conn:
            return self._claim_update(update_id)

    def _claim_update(self, update_id: int) -> bool:
        # Inside the caller's transaction: old claims go at most once an hour, so the table stays small.
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            self._prune_updates(PROCESSED_UPDATES_MAX_AGE)
            self._pruned_at = time.monotonic()
        cursor = self.conn.execute(
            "INSERT INTO processed_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (update_id, utcnow()),
        )
        if cursor.rowcount != 1:
            return False
        if len(self._claimed) < CLAIMS_KEPT:
            self._claimed.add(update_id)
        return True

    # -- the update inbox ----------------------------------------------------------------------
    # Telegram forgets an update once it is confirmed (a getUpdates offset past it, or a webhook's
    # 200). One confirmed before it was handled is kept here until it is, so a kill -9 loses none.

    def hold_updates(self, updates: list[tuple[int, str]], finished: Iterable[int] = ()) -> None:
        """Keep (update id, its JSON) until released (an update already held stays as it is); in the
        same transaction, record the `finished` ones as handled and release them."""
        with self.conn:
            self._finish_updates(finished)
            self.conn.executemany(
                "INSERT INTO update_inbox (update_id, body, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(update_id, body, utcnow()) for update_id, body in updates],
            )

    def take_updates(self, updates: list[tuple[int, str]], finished: Iterable[int] = ()) -> set[int]:
        """In one transaction: recognise the updates handled before among `updates` (id, JSON) and
        hold the others until handled; record the `finished` ones as handled and release them.
        Returns the ids handled before (Telegram sent them again)."""
        ids = [update_id for update_id, _ in updates]
        with self.conn:
            self._finish_updates(finished)
            handled = self._handled(ids)
            self.conn.executemany(
                "INSERT INTO update_inbox (update_id, body, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(update_id, body, utcnow()) for update_id, body in updates if update_id not in handled],
            )
        return handled

    def finish_updates(self, update_ids: Iterable[int]) -> None:
        """Record updates as handled (a second delivery is then recognised) and release them from the
        inbox, with the meta written later (`update_meta_later`); no transaction if there is nothing."""
        ids = list(update_ids)
        if ids or self._later:
            with self.conn:
                self._finish_updates(ids)

    def claimed_here(self, update_id: int) -> bool:
        """Whether a turn of this process recorded the update as handled (asked once: then forgotten)."""
        if update_id in self._claimed:
            self._claimed.discard(update_id)
            return True
        return False

    def handled_updates(self, update_ids: Iterable[int]) -> set[int]:
        """Which of these updates were handled before (one read, no transaction)."""
        return self._handled(list(update_ids))

    def _handled(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        sql = f"SELECT update_id FROM processed_updates WHERE update_id IN ({marks})"
        return {row[0] for row in self.conn.execute(sql, ids)}

    def _write_later(self) -> None:
        """Inside the caller's transaction: the meta patches waiting for a write (`update_meta_later`),
        each only on its conversation, and never bringing its message id back to an older one."""
        if self._later:
            later, self._later = self._later, []
            self.conn.executemany(
                "UPDATE conversations SET meta = json_patch(COALESCE(meta, '{}'), :patch) "
                "WHERE user_id = :user AND json_extract(state, '$.cid') = :cid "
                "AND COALESCE(json_extract(meta, '$.message_id'), 0) <= "
                "COALESCE(json_extract(:patch, '$.message_id'), 0)",
                [{"patch": patch, "user": user_id, "cid": cid} for patch, user_id, cid in later],
            )

    def _finish_updates(self, update_ids: Iterable[int]) -> None:
        self._write_later()
        rows = [(update_id,) for update_id in update_ids]
        if rows:
            now = utcnow()
            self.conn.executemany(
                "INSERT INTO processed_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(update_id, now) for (update_id,) in rows],
            )
            self.conn.executemany("DELETE FROM update_inbox WHERE update_id = ?", rows)

    def held_updates(self) -> list[tuple[int, str]]:
        """The updates held and not yet released, oldest first (to handle them after a restart)."""
        return self.conn.execute("SELECT update_id, body FROM update_inbox ORDER BY update_id").fetchall()

    def release_update(self, update_id: int) -> None:
        """The update has been handled: forget its JSON (it holds what the user typed)."""
        with self.conn:
            self.conn.execute("DELETE FROM update_inbox WHERE update_id = ?", (update_id,))

    def prune_processed_updates(self, max_age_seconds: float) -> int:
        """Forget redelivery claims older than `max_age_seconds`; returns how many went."""
        with self.conn:
            return self._prune_updates(max_age_seconds)

    def _prune_updates(self, max_age_seconds: float) -> int:
        cutoff = (datetime.now(timezone.utc) - timedelta(seconds=max_age_seconds)).isoformat(timespec="seconds")
        return self.conn.execute("DELETE FROM processed_updates WHERE at < ?", (cutoff,)).rowcount

    # -- one owner per conversation ------------------------------------------------------------

    def lease_conversation(self, user_id: int, owner: str, ttl: float = 30.0) -> bool:
        """Take or renew the user's conversation lease for `owner`; False while someone else holds it."""
        now = time.time()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # read and write under one lock: two owners cannot both win
            row = self.conn.execute(
                "SELECT owner, expires FROM conversation_leases WHERE user_id = ?", (user_id,)
            ).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            self.conn.execute(
                "INSERT INTO conversation_leases (user_id, owner, expires) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET owner = excluded.owner, expires = excluded.expires",
                (user_id, owner, now + ttl),
            )
        return True

    def release_conversation(self, user_id: int, owner: str) -> None:
        """Give the lease back (only if `owner` holds it)."""
        with self.conn:
            self.conn.execute("DELETE FROM conversation_leases WHERE user_id = ? AND owner = ?", (user_id, owner))

    # -- the sender's own profile ----------------------------------------------------------------

    def sender_profile(self, user_id: int) -> dict[str, str]:
        """What the user said about themselves (name, signature, business, voice...); {} if nothing."""
        row = self.conn.execute("SELECT profile FROM sender_profiles WHERE user_id = ?", (user_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def set_sender_profile(self, user_id: int, profile: dict[str, str]) -> None:
        """Replace the user's sender profile (the keys are the caller's business)."""
        with self.conn:
            self._ensure_user(user_id)
            self.conn.execute(
                "INSERT INTO sender_profiles (user_id, profile, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET profile = excluded.profile, updated = excluded.updated",
                (user_id, _json(dict(profile)), utcnow()),
            )

    # -- the file as a whole -----------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Integrity ("ok" or SQLite's first complaint), schema version, size in bytes and path."""
        messages = [row[0] for row in self.conn.execute("PRAGMA integrity_check")]
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        return {
            "integrity": "ok" if messages == ["ok"] else "; ".join(messages[:5]),
            "schema_version": self.conn.execute("PRAGMA user_version").fetchone()[0],
            "size_bytes": os.path.getsize(self.path) if self.path else page_size * pages,
            "path": self.path,
        }

    def backup(self, target: str | Path, force: bool = False) -> None:
        """Copy the database to a new file with SQLite's online backup (see `online_copy`)."""
        online_copy(self.conn, target, self.path or None, force)

    def _checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it, so erased rows leave no copy in -wal.

        A reader in the middle of a transaction can block the truncation; it is retried briefly,
        then left to the next erasure or the next automatic checkpoint.
        """
        if self.db.memory:
            return
        # A TRUNCATE checkpoint waits for readers through the busy handler: keep that wait short
        # here (about 0.3 s in all), an erasure must not hold the bot for the full lock timeout.
        timeout = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        self.conn.execute("PRAGMA busy_timeout = 50")
        try:
            for _ in range(6):
                busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")

    # -- cases ---------------------------------------------------------------------------------

    def save_case(
        self,
        user_id: int,
        state: dict[str, Any],
        assessment: dict[str, Any],
        alias: str | None,
        update_id: int | None = None,
        *,
        search_texts: Iterable[str] = (),
    ) -> int | None:
        """Save a finished questionnaire as the user's next case and close the conversation; the
        alias and `search_texts` (the flow's `search_texts` of the answers) go into the search index.

        Returns the per-user case number, or None if this update was already handled.
        """
        now = utcnow()
        with self.conn:
            if update_id is not None and not self._claim_update(update_id):
                return None
            self._ensure_user(user_id, state.get("lang"))
            client_id = self._client_id(user_id, alias, now)
            case_no = self.conn.execute(
                "SELECT MAX(COALESCE((SELECT MAX(case_no) FROM cases WHERE user_id = :user), 0), "
                "COALESCE((SELECT last FROM case_numbers WHERE user_id = :user), 0)) + 1",
                {"user": user_id},
            ).fetchone()[0]
            self.conn.execute(
                "INSERT INTO case_numbers (user_id, last) VALUES (?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET last = excluded.last",
                (user_id, case_no),
            )
            cursor = self.conn.execute(
                "INSERT INTO cases (user_id, case_no, client_id, flow, flow_version, lang, answers, assessment, "
                "main, secondary, confidence, status, created, updated, conversation) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'aperto', ?, ?, ?)",
                (
                    user_id,
                    case_no,
                    client_id,
                    state["flow"],
                    state["flow_version"],
                    state["lang"],
                    _json(state["answers"]),
                    _json(assessment),
                    assessment["main"],
                    assessment["secondary"],
                    assessment["confidence"],
                    now,
                    now,
                    state.get("cid"),
                ),
            )
            _index_texts(self.conn, _inserted_id(cursor), user_id, [alias, *search_texts])
            self.conn.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
        return case_no

    def result_sends(self, user_id: int, case_no: int) -> dict[int, int]:
        """Which result messages of one of the user's cases reached the chat: {part: message id}."""
        rows = self.conn.execute(
            "SELECT r.part, r.message_id FROM result_sends r JOIN cases c ON c.id = r.case_id "
            "WHERE c.user_id = ? AND c.case_no = ?",
            (user_id, case_no),
        )
        return dict(rows.fetchall())

    def record_result_send(self, user_id: int, case_no: int, part: int, message_id: int) -> None:
        """One result message of the user's case reached the chat (a redelivered finish skips it)."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO result_sends (case_id, part, message_id, at) "
                "SELECT id, ?, ?, ? FROM cases WHERE user_id = ? AND case_no = ? "
                "ON CONFLICT DO UPDATE SET message_id = excluded.message_id, at = excluded.at",
                (part, message_id, utcnow(), user_id, case_no),
            )

    def _client_id(self, user_id: int, alias: str | None, now: str) -> int:
        key = alias_key(alias)
        row = self.conn.execute("SELECT id FROM clients WHERE user_id = ? AND alias_key = ?", (user_id, key)).fetchone()
        if row:
            return row[0]
        cursor = self.conn.execute(
            "INSERT INTO clients (user_id, alias, alias_key, created) VALUES (?, ?, ?, ?)",
            (user_id, alias, key, now),
        )
        return _inserted_id(cursor)

    def case(self, user_id: int, case_no: int) -> dict[str, Any] | None:
        """One of the user's cases by its number, decoded; None if the user has no such case."""
        found = self._select_cases("c.user_id = ? AND c.case_no = ?", (user_id, case_no))
        return found[0] if found else None

    def case_from_conversation(self, user_id: int, conversation: str) -> dict[str, Any] | None:
        """The user's case saved by the questionnaire `conversation` (its id); None if none was."""
        found = self._select_cases("c.user_id = ? AND c.conversation = ?", (user_id, conversation))
        return found[0] if found else None

    def cases(self, user_id: int, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        """The user's cases, newest first."""
        return self._select_cases(
            "c.user_id = ? ORDER BY c.created DESC, c.case_no DESC LIMIT ? OFFSET ?", (user_id, limit, offset)
        )

    def count_cases(self, user_id: int) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM cases WHERE user_id = ?", (user_id,)).fetchone()[0]

    def _select_cases(self, where: str, params: tuple) -> list[dict[str, Any]]:
        cases = self._rows(
            "SELECT c.*, cl.alias AS alias FROM cases c LEFT JOIN clients cl ON cl.id = c.client_id WHERE " + where,
            params,
        )
        for case in cases:
            case["answers"] = json.loads(case["answers"])
            case["assessment"] = json.loads(case["assessment"])
        return cases

    def _case_id(self, user_id: int, case_no: int) -> int | None:
        row = self.conn.execute("SELECT id FROM cases WHERE user_id = ? AND case_no = ?", (user_id, case_no)).fetchone()
        return row[0] if row else None

    def _rows(self, sql: str, params: tuple | dict[str, Any]) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    # -- case history: notes, status, reminders, timeline ----------------------------------------

    def add_note(self, user_id: int, case_no: int, text: str, update_id: int | None = None) -> int | None:
        """Add a note to one of the user's cases (and to its search entry); None if no such case, 0 if
        `update_id` was already handled (a redelivered /nota after a crash adds nothing: the update is
        claimed in the note's own transaction)."""
        now = utcnow()
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            if case_id is None:
                return None
            if update_id is not None and not self._claim_update(update_id):
                return 0
            cursor = self.conn.execute(
                "INSERT INTO notes (user_id, case_id, text, created) VALUES (?, ?, ?, ?)", (user_id, case_id, text, now)
            )
            self.conn.execute("UPDATE cases SET updated = ? WHERE id = ? AND user_id = ?", (now, case_id, user_id))
            _index_texts(self.conn, case_id, user_id, [text])
        return cursor.lastrowid

    def notes(self, user_id: int, case_no: int) -> list[dict[str, Any]]:
        """The notes of one of the user's cases, oldest first."""
        return self._rows(
            "SELECT n.id, n.text, n.created FROM notes n JOIN cases c ON c.id = n.case_id "
            "WHERE c.user_id = ? AND c.case_no = ? AND n.user_id = ? ORDER BY n.id",
            (user_id, case_no, user_id),
        )

    def set_status(self, user_id: int, case_no: int, status: str) -> str | None:
        """Record how a case went, as an event too; returns the previous status, None if no such case."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        now = utcnow()
        with self.conn:
            row = self.conn.execute(
                "SELECT id, status FROM cases WHERE user_id = ? AND case_no = ?", (user_id, case_no)
            ).fetchone()
            if row is None:
                return None
            case_id, before = row
            if before != status:
                self.conn.execute(
                    "UPDATE cases SET status = ?, updated = ? WHERE id = ? AND user_id = ?",
                    (status, now, case_id, user_id),
                )
                self.conn.execute(
                    "INSERT INTO case_events (user_id, case_id, kind, before, after, at) "
                    "VALUES (?, ?, 'status', ?, ?, ?)",
                    (user_id, case_id, before, status, now),
                )
        return before

    def add_reminder(self, user_id: int, case_no: int, due: datetime, channel: str = "telegram") -> int | None:
        """Set a reminder on one of the user's cases for a front end ("telegram" or "console"); None if
        no such case. The same reminder not yet sent (case, time, front end) is not set twice: its id
        comes back (negated, so the caller knows nothing new was armed)."""
        stamp = due.astimezone(timezone.utc).isoformat(timespec="seconds")
        with self.conn:
            case_id = self._case_id(user_id, case_no)
            if case_id is None:
                return None
            same = self.conn.execute(
                "SELECT id FROM reminders WHERE case_id = ? AND user_id = ? AND substr(due, 1, 16) = substr(?, 1, 16) "
                "AND channel = ? "
                "AND fired IS NULL",
                (case_id, user_id, stamp, channel),
            ).fetchone()
            if same:
                return -same[0]
            cursor = self.conn.execute(
                "INSERT INTO reminders (user_id, case_id, due, created, channel) VALUES (?, ?, ?, ?, ?)",
                (user_id, case_id, stamp, utcnow(), channel),
            )
        return cursor.lastrowid

    def reminders(self, user_id: int, case_no: int) -> list[dict[str, Any]]:
        """The reminders of one of the user's cases, soonest first."""
        return self._rows(
            "SELECT r.id, r.due, r.created, r.fired FROM reminders r JOIN cases c ON c.id = r.case_id "
            "WHERE c.user_id = ? AND c.case_no = ? AND r.user_id = ? ORDER BY r.due, r.id",
            (user_id, case_no, user_id),
        )

    def reminder(self, user_id: int, reminder_id: int) -> dict[str, Any] | None:
        """One of the user's reminders with its case number; None if it is not theirs or is gone."""
        found = self._rows(
            "SELECT r.id, r.due, r.created, r.fired, r.step, c.case_no FROM reminders r "
            "JOIN cases c ON c.id = r.case_id WHERE r.id = ? AND r.user_id = ? AND c.user_id = ?",
            (reminder_id, user_id, user_id),
        )
        return found[0] if found else None

    def pending_reminders(self, channel: str | None = None) -> list[DueReminder]:
        """Every reminder not yet sent, across all users, soonest first (for the scheduler at start);
        with `channel`, only that front end's ("telegram" or "console")."""
        rows = self.conn.execute(
            "SELECT r.id, r.user_id, c.case_no, r.due FROM reminders r "
            "JOIN cases c ON c.id = r.case_id AND c.user_id = r.user_id WHERE r.fired IS NULL "
            "AND (? IS NULL OR r.channel = ?) ORDER BY r.due, r.id",
            (channel, channel),
        ).fetchall()
        return [DueReminder(rid, user_id, case_no, parse_time(due)) for rid, user_id, case_no, due in rows]

    def begin_reminder_send(self, reminder_id: int, user_id: int) -> int | None:
        """Record the intent to send a reminder, before the send; returns how many sends were begun
        before and never recorded (a crash in between: the user may have it), None if it is not due."""
        with self.conn:
            row = self.conn.execute(
                "SELECT attempts FROM reminders WHERE id = ? AND user_id = ? AND fired IS NULL", (reminder_id, user_id)
            ).fetchone()
            if row is None:
                return None
            self.conn.execute("UPDATE reminders SET attempts = attempts + 1 WHERE id = ?", (reminder_id,))
        return row[0]

    def abort_reminder_send(self, reminder_id: int) -> None:
        """The send begun was refused by Telegram: it never reached the user, so it does not count."""
        with self.conn:
            self.conn.execute(
                "UPDATE reminders SET attempts = MAX(attempts - 1, 0) WHERE id = ? AND fired IS NULL", (reminder_id,)
            )

    def mark_fired(
        self,
        reminder_id: int,
        user_id: int | None = None,
        due: datetime | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Record a reminder as sent; False if it was sent before or no longer exists.

        The scheduler calls this with ids from `pending_reminders`, never with ids a user typed.
        Given the user and due time it was armed with, a reminder that is no longer that one is
        left alone: once the highest reminder is deleted, SQLite hands its id to the next one
        (anybody's), and the job armed for the deleted reminder must not consume the new one.
        """
        with self.conn:
            row = self.conn.execute(
                "SELECT user_id, due FROM reminders WHERE id = ? AND fired IS NULL", (reminder_id,)
            ).fetchone()
            if row is None or (user_id is not None and row[0] != user_id):
                return False
            if due is not None and parse_time(row[1]).replace(microsecond=0) != due.replace(microsecond=0):
                return False
            cursor = self.conn.execute(
                "UPDATE reminders SET fired = ?, message_id = ? WHERE id = ? AND fired IS NULL",
                (utcnow(), message_id, reminder_id),
            )
        return cursor.rowcount == 1

    def timeline(self, user_id: int, case_no: int) -> list[dict[str, Any]]:
        """What happened to one of the user's cases, oldest first.

        Each entry has `at`, `kind` (created | note | status | reminder_set | reminder_fired, and a
        plan's sent | answer | skipped | paused | resumed | wait | check_fired, see bot.plan_store)
        and, as the kind needs, `text` (a note), `before`/`after` (statuses; a plan's step and what
        it did) or `due` (a reminder).
        """
        case_id = self._case_id(user_id, case_no)
        if case_id is None:
            return []
        return self._rows(
            "SELECT at, kind, text, before, after, due FROM ("
            " SELECT created AS at, 'created' AS kind, NULL AS text, NULL AS before, NULL AS after, NULL AS due,"
            "  0 AS rank, id AS seq FROM cases WHERE id = :case AND user_id = :user"
            " UNION ALL SELECT created, 'note', text, NULL, NULL, NULL, 1, id FROM notes"
            "  WHERE case_id = :case AND user_id = :user"
            " UNION ALL SELECT at, kind, NULL, before, after, NULL, 1, id FROM case_events"
            "  WHERE case_id = :case AND user_id = :user"
            " UNION ALL SELECT created, 'reminder_set', NULL, NULL, NULL, due, 1, id FROM reminders"
            "  WHERE case_id = :case AND user_id = :user AND step IS NULL"
            " UNION ALL SELECT fired, CASE WHEN step IS NULL THEN 'reminder_fired' ELSE 'check_fired' END,"
            "  NULL, step, NULL, due, 2, id FROM reminders"
            "  WHERE case_id = :case AND user_id = :user AND fired IS NOT NULL"
            ") ORDER BY at, rank, seq",
            {"case": case_id, "user": user_id},
        )

    # -- search, export, statistics ---------------------------------------------------------------

    def search_cases(self, user_id: int, text: str, limit: int = 10) -> tuple[int, list[dict[str, Any]]]:
        """The user's cases whose alias, text answers or notes have words starting with the typed ones.

        Returns how many match and the newest `limit` of them. Only this user's index terms are read.
        """
        query = match_query(user_id, text)
        if query is None:
            return 0, []
        ids = [
            row[0]
            for row in self.conn.execute(
                "SELECT c.id FROM case_search s JOIN cases c ON c.id = s.rowid "
                "WHERE case_search MATCH ? AND c.user_id = ? ORDER BY c.created DESC, c.case_no DESC",
                (query, user_id),
            )
        ]
        shown = ids[:limit]
        if not shown:
            return len(ids), []
        marks = ",".join("?" * len(shown))
        # `+c.user_id`: still checked, but not used as an index, so SQLite fetches the shown ids by
        # primary key instead of walking every case of the user to find them.
        cases = self._select_cases(
            f"+c.user_id = ? AND c.id IN ({marks}) ORDER BY c.created DESC, c.case_no DESC", (user_id, *shown)
        )
        return len(ids), cases

    def case_history(self, user_id: int) -> list[dict[str, Any]]:
        """All the user's cases, oldest first, each with its `notes`, `reminders` and `events`."""
        cases = self._select_cases("c.user_id = ? ORDER BY c.case_no", (user_id,))
        by_id = {case["id"]: {**case, "notes": [], "reminders": [], "events": []} for case in cases}
        related = (
            ("notes", "SELECT case_id, text, created FROM notes WHERE user_id = ? ORDER BY id"),
            ("reminders", "SELECT case_id, due, created, fired FROM reminders WHERE user_id = ? ORDER BY due, id"),
            ("events", "SELECT case_id, kind, before, after, at FROM case_events WHERE user_id = ? ORDER BY id"),
        )
        for key, sql in related:
            for row in self._rows(sql, (user_id,)):
                case = by_id.get(row.pop("case_id"))
                if case is not None:
                    case[key].append(row)
        return list(by_id.values())

    def case_summaries(self, user_id: int) -> list[tuple[str, str, str]]:
        """(created, main profile, status) of each of the user's cases, for statistics."""
        return self.conn.execute(
            "SELECT created, main, status FROM cases WHERE user_id = ? ORDER BY created", (user_id,)
        ).fetchall()

    # -- deletion ----------------------------------------------------------------------------------

    def delete_case(self, user_id: int, case_no: int) -> bool:
        """Delete one of the user's cases with its notes, reminders, events, index entry and, if it
        was the client's last case, the client; a re-assessment of it in progress goes too.
        False if the user has no such case."""
        with self.conn:
            if self._case_id(user_id, case_no) is None:
                return False
            self._erase_cases(user_id, "case_no = ?", (case_no,))
            self.conn.execute(
                "DELETE FROM conversations WHERE user_id = ? AND json_extract(state, '$.previous') = ?",
                (user_id, case_no),
            )
        self._checkpoint()
        return True

    def delete_user(self, user_id: int) -> None:
        """Delete everything kept about a user: cases and all that hangs off them, clients, the open
        conversation, its lease, the sender profile, their updates in the inbox and the user row; the
        search index is purged of their terms, and the WAL is truncated so no copy stays behind."""
        with self.conn:
            self._erase_cases(user_id, "1 = 1", ())
            for table in ("conversations", "conversation_leases", "sender_profiles", "case_numbers"):
                self.conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            # The user's updates waiting in the inbox (their JSON holds what they typed and who they are).
            self.conn.execute(
                "DELETE FROM update_inbox WHERE ? IN (json_extract(body, '$.message.from.id'), "
                "json_extract(body, '$.callback_query.from.id'))",
                (user_id,),
            )
            self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
        self._checkpoint()

    def _erase_cases(self, user_id: int, condition: str, params: tuple) -> None:
        """Inside a transaction: delete the user's cases matching `condition` and what belongs to them."""
        chosen = f"SELECT id FROM cases WHERE user_id = ? AND {condition}"
        case_ids = [row[0] for row in self.conn.execute(chosen, (user_id, *params))]
        if not case_ids:
            return
        for table in ("notes", "reminders", "case_events", "case_plans"):  # result_sends below: it has no user_id
            self.conn.execute(
                f"DELETE FROM {table} WHERE user_id = ? AND case_id IN ({chosen})", (user_id, user_id, *params)
            )
        self.conn.execute(f"DELETE FROM result_sends WHERE case_id IN ({chosen})", (user_id, *params))
        # One lookup per rowid: FTS5 answers `rowid = ?` directly, where `IN (...)` could scan it all.
        self.conn.executemany("DELETE FROM case_search WHERE rowid = ?", [(case_id,) for case_id in case_ids])
        self.conn.execute(f"DELETE FROM cases WHERE user_id = ? AND {condition}", (user_id, *params))
        self.conn.execute(
            "DELETE FROM clients WHERE user_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM cases WHERE cases.user_id = clients.user_id AND cases.client_id = clients.id)",
            (user_id,),
        )
        _purge_search_index(self.conn)


# Every public operation (the mixins' too) answers a full disk, a lock or a vanished file with StoreError.
for _owner in reversed(Store.__mro__[:-1]):
    for _name, _method in list(vars(_owner).items()):
        if not _name.startswith("_") and callable(_method) and not isinstance(_method, (classmethod, staticmethod)):
            setattr(Store, _name, _guarded(_method))
