"""Reading what the user typed for the case book: case numbers, outcomes, notes, reminder times, time zones.

Pure functions: text in, a value or `CaseBookError` out (its `key` names the message in
`<lang>/cases/messages.html.j2`), so a refused input changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..engine import MAX_RAW_INPUT, Invalid, clean_text
from ..languages import load_languages
from ..store import STATUSES

MAX_NOTE = 2000
MAX_REMINDER_DAYS = 730
# A reminder for a date without a time comes at this hour, local time.
REMINDER_HOUR = 9
DEFAULT_TIMEZONE = "Europe/Rome"
# What a duration's unit word means ("3g", "3 giorni", "3d", "1w", "2 ore": the words are in each
# language's `words: durations`, and every language's words work).
DURATIONS = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
}
_DURATION = re.compile(r"([0-9]{1,4}) ?([a-z]+)")
_ITALIAN_DATE = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})(?: ([0-9]{1,2})[:.]([0-9]{2}))?")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ t]([0-9]{1,2}):([0-9]{2}))?")
_CASE_NO = re.compile(r"#?([0-9]{1,9})")


class CaseBookError(Invalid):
    """Input the case book refuses; `key` names the message in `<lang>/cases/messages.html.j2`."""


def _shown(raw: Any) -> str:
    """A piece of bad input, short enough to quote back."""
    text = clean_text(str(raw))
    return text if len(text) <= 20 else text[:19] + "…"


def parse_case_no(raw: int | str) -> int:
    """A case number as typed ("3", "#3") or carried by a button."""
    match = _CASE_NO.fullmatch(str(raw).strip())
    if match is None or int(match.group(1)) < 1:
        raise CaseBookError("bad_case_no", raw=_shown(raw))
    return int(match.group(1))


def parse_status(raw: str) -> str:
    """An outcome: a stored status (aperto, risolto, cliente_tenuto, cliente_lasciato) or a word of any
    language's `words: outcomes` ("kept", "lasciato")."""
    key = "_".join(str(raw).casefold().replace("-", " ").split())
    status = key if key in STATUSES else load_languages().words("outcomes").get(key)
    if status is None:
        raise CaseBookError("bad_status", raw=_shown(raw))
    return status


def parse_when(raw: str, now: datetime, zone: tzinfo) -> datetime:
    """When a reminder is due, in UTC: after a duration ("3g", "1s", "2h"; "3d", "1w") or on a
    date ("25/12/2026", "2026-12-25", optionally with a time "15:30"; 9:00 otherwise)."""
    text = " ".join(str(raw)[:100].casefold().split())
    if match := _DURATION.fullmatch(text):
        unit = load_languages().words("durations").get(match.group(2))
        if unit is None:
            raise CaseBookError("bad_when")
        due = now + int(match.group(1)) * DURATIONS[unit]
    else:
        if match := _ITALIAN_DATE.fullmatch(text):
            day, month, year, hour, minute = match.groups()
        elif match := _ISO_DATE.fullmatch(text):
            year, month, day, hour, minute = match.groups()
        else:
            raise CaseBookError("bad_when")
        try:
            due = datetime(int(year), int(month), int(day), int(hour or REMINDER_HOUR), int(minute or 0), tzinfo=zone)
        except ValueError:
            raise CaseBookError("bad_date", raw=_shown(raw)) from None
    if due <= now:
        raise CaseBookError("when_past")
    if due - now > timedelta(days=MAX_REMINDER_DAYS):
        raise CaseBookError("when_too_far", days=MAX_REMINDER_DAYS)
    return due.astimezone(timezone.utc)


def clean_note(raw: str) -> str:
    """A note's text, cleaned like a typed answer; refused when empty or too long."""
    text = clean_text(raw)
    if not text:
        raise CaseBookError("note_empty")
    length = len(text) if len(raw) <= MAX_RAW_INPUT else len(raw)
    if length > MAX_NOTE:
        raise CaseBookError("note_too_long", max=MAX_NOTE, length=length)
    return text


def local_zone(name: str | None = None) -> tzinfo:
    """The time zone dates are shown in: `name` (CLIENTCOACH_TZ, from `config.read_environment`), else
    Italy's; UTC for a name no time zone has."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


__all__ = ["CaseBookError", "clean_note", "local_zone", "parse_case_no", "parse_status", "parse_when"]
