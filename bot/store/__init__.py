"""Storage on SQLite through sqlite-utils: users, conversations in progress, and saved cases.

The schema grows by migrations (`schema`). Every method takes the user id and every query is
scoped by it here, so no front end can reach another user's rows. Conversations in progress are
one small JSON row per user, written in one transaction per turn, in WAL mode.

Saved cases carry their history: notes, reminders, status changes (`case_events`) and a full-text
index (`case_search`, FTS5) over the texts the caller gives: the client's alias and the answers the
flow marks searchable (`Flow.search_texts`) when a case is saved, then each note. The index row
grows in the same transaction as the write that brings the text.

One module per concern, each a mixin on `StoreBase` composed into `Store` here. A new concern is
a module with its own mixin (`class PlanStore(StoreBase)`, or on `ClaimsStore` if an update's
redelivery must be refused), added to `Store`'s bases below; its tables come by a new migration
at the end of `schema`, and its rows of a user go in `ErasureStore.delete_user`.
"""

from __future__ import annotations

from ..choices import STATUSES
from ..errors import StoreError
from .backup import FileStore, backup_database, inspect_database, online_copy
from .base import StoreBase, parse_time, utcnow
from .cases import CaseStore, alias_key
from .claims import PROCESSED_UPDATES_MAX_AGE, ClaimsStore
from .connection import (
    BUSY_TIMEOUT,
    OWN_TABLES,
    closest_file,
    missing_database,
    open_connection,
    open_db,
    open_existing,
)
from .conversations import ConversationStore
from .erasure import ErasureStore
from .guard import guard_public_methods, store_error
from .inbox import InboxStore
from .index import MAX_INDEXED_WORD, MAX_QUERY_WORDS, index_terms, match_query, search_words, user_term_prefix
from .leases import LeaseStore
from .notes import NoteStore
from .plans import PlanStore
from .reminders import DueReminder, ReminderStore
from .schema import MIGRATION_NAMES, schema_migrations, schema_version
from .search import SearchStore
from .senders import SenderStore


class Store(
    InboxStore,
    ConversationStore,
    SearchStore,
    CaseStore,
    NoteStore,
    PlanStore,
    ReminderStore,
    LeaseStore,
    SenderStore,
    ErasureStore,
    FileStore,
    ClaimsStore,
    StoreBase,
):
    """All reads and writes of clientcoach, each scoped by user."""


guard_public_methods(Store)

__all__ = [
    "BUSY_TIMEOUT",
    "MAX_INDEXED_WORD",
    "MAX_QUERY_WORDS",
    "MIGRATION_NAMES",
    "OWN_TABLES",
    "PROCESSED_UPDATES_MAX_AGE",
    "STATUSES",
    "DueReminder",
    "Store",
    "StoreError",
    "alias_key",
    "backup_database",
    "closest_file",
    "index_terms",
    "inspect_database",
    "match_query",
    "schema_migrations",
    "missing_database",
    "online_copy",
    "open_connection",
    "open_db",
    "open_existing",
    "parse_time",
    "schema_version",
    "search_words",
    "store_error",
    "user_term_prefix",
    "utcnow",
]
