"""The case book: saved cases to look up, search, annotate, follow up, export and delete.

One concern per module, each importing only those before it: `parsing` (what the user typed),
`texts` (how a case reads back), `export` (CSV and JSON), `stats` (counts and chart data), `book`
(the `CaseBook` service: its screens and button dispatch).
"""

from ..store import DueReminder
from .book import CaseBook, open_casebook
from .export import ExportFile
from .parsing import CaseBookError, clean_note, local_zone, parse_case_no, parse_status, parse_when

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
