"""The schema, grown by migrations (sqlite-utils' `Migrations`), one function per version.

A migration is never edited once released: databases written by earlier releases have run it and
are recorded by its name. A new table or column is a new function at the end, marked `@migration`;
the schema version (SQLite's `user_version`, written after migrating) is how many there are.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Callable

from .index import index_texts

if TYPE_CHECKING:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

# sqlite-utils' `Migrations.migrations_table` (a test checks they agree), named here so that opening
# a current database never imports sqlite-utils, which imports numpy when it is installed.
MIGRATIONS_TABLE = "_sqlite_migrations"
Step = Callable[["Database"], None]
# The steps and their names, in order: ours, so the schema version never reads sqlite-utils' privates.
STEPS: list[Step] = []
MIGRATION_NAMES: list[str] = []


def migration(step: Step) -> Step:
    """Register the next schema step (after every one before it in this file)."""
    STEPS.append(step)
    MIGRATION_NAMES.append(step.__name__)
    return step


@cache
def schema_migrations() -> Migrations:
    """sqlite-utils' migration set with every step, in order; built when a database is behind (or
    asked about), so a current one opens without importing sqlite-utils."""
    from sqlite_utils.migrations import Migrations

    migrations = Migrations("clientcoach")
    for step in STEPS:
        migrations()(step)
    return migrations


def schema_version() -> int:
    """The schema this program migrates every database to."""
    return len(MIGRATION_NAMES)


@migration
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


@migration
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
        index_texts(db.conn, case_id, user_id, (t for t in texts if isinstance(t, str)))


@migration
def m003_sender_and_leases(db: Database) -> None:
    """The sender's own profile (JSON, one row per user) and one-owner leases on conversations."""
    db.table("sender_profiles").create(
        {"user_id": int, "profile": str, "updated": str}, pk="user_id", not_null={"profile"}
    )
    db.table("conversation_leases").create(
        {"user_id": int, "owner": str, "expires": float}, pk="user_id", not_null={"owner", "expires"}
    )
    db.table("processed_updates").create_index(["at"])


@migration
def m004_case_conversation(db: Database) -> None:
    """Which questionnaire a case came from, so a late "see the result" tap can find its result."""
    db.table("cases").add_column("conversation", str)
    db.table("cases").create_index(["user_id", "conversation"])


@migration
def m005_update_inbox(db: Database) -> None:
    """Updates confirmed to Telegram before they were handled (a crowd, a webhook), until handled."""
    db.table("update_inbox").create({"update_id": int, "body": str, "at": str}, pk="update_id", not_null={"body"})


@migration
def m006_reminder_channel(db: Database) -> None:
    """Which front end a reminder belongs to ("console" or "telegram"): the bot sends only its own,
    the console shows only its own. Earlier reminders: the console user's (id 0 and below, never a
    Telegram id) are the console's, the rest the bot's."""
    db.table("reminders").add_column("channel", str)
    db.execute("UPDATE reminders SET channel = CASE WHEN user_id <= 0 THEN 'console' ELSE 'telegram' END")


@migration
def m007_case_numbers(db: Database) -> None:
    """The last case number given to each user, so that a deleted case's number is never given again
    (a note or a reminder about "case 3" must never come to mean another client)."""
    db.table("case_numbers").create({"user_id": int, "last": int}, pk="user_id", not_null={"last"})
    db.execute("INSERT INTO case_numbers (user_id, last) SELECT user_id, MAX(case_no) FROM cases GROUP BY user_id")


@migration
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


@migration
def m009_plans(db: Database) -> None:
    """Plans followed case by case: where each case's plan stands (`case_plans`, see bot.store.plans),
    and which reminders are a plan's checks (`reminders.step`, the step they ask about)."""
    db.table("case_plans").create(
        {"case_id": int, "user_id": int, "step": str, "does": str, "state": str, "updated": str},
        pk="case_id",
        not_null={"user_id", "state", "updated"},
        foreign_keys=[("case_id", "cases", "id")],
    )
    db.table("case_plans").create_index(["user_id"])
    db.table("reminders").add_column("step", str)
