"""The case book: saved cases to look up, search, annotate, follow up, export and delete.

One concern per module, each importing only those before it: `parsing` (what the user typed),
`texts` (how a case reads back), `export` (CSV and JSON), `stats` (counts and chart data), `book`
(the `CaseBook` service: its screens and button dispatch).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .parsing import CaseBookError, clean_note, local_zone, parse_case_no, parse_status, parse_when

if TYPE_CHECKING:
    from ..store import DueReminder
    from .book import CaseBook, open_casebook
    from .export import ExportFile

# The case book's service and documents load on first use: `clientcoach chat` needs only the time
# zone at start, and the store, the renderer and the exports are not its to pay for.
_LAZY = {"CaseBook": ".book", "open_casebook": ".book", "ExportFile": ".export", "DueReminder": "..store"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CaseBook",
    "CaseBookError",
    "DueReminder",
    "ExportFile",
    "clean_note",
    "local_zone",
    "open_casebook",
    "parse_case_no",
    "parse_status",
    "parse_when",
]
