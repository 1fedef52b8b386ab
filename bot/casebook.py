"""The case book: saved cases to look up, search, annotate, follow up, export and delete.

Front-end neutral, like the Coach: every method takes the user id and what the user gave, checks
it, calls the store (which scopes every query by that user) and returns data or rendered
`Screen`s. Bad input raises `CaseBookError` with a message key (rendered by `error_text`), and
then nothing has changed. Buttons carry short actions that `act` turns back into calls:

    h:<page>                a page of the list        c:<case_no>           open a case
    o:<case_no>             choose an outcome         o:<case_no>:<status>  record an outcome
    x:<case_no>             ask to delete a case      x:<case_no>:yes       delete it
    x:all                   ask to delete everything  x:all:yes             delete it all
    x:no                    keep everything
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup

from .classifier import Assessment
from .engine import MAX_RAW_INPUT, Invalid, clean_text
from .flow import LANGS, PROFILES, Flow, Question, load_flow
from .paths import default_flow
from .render import TELEGRAM_LIMIT, Button, Renderer, Screen, to_plain
from .store import STATUSES, DueReminder, Store, parse_time, search_words

PAGE_SIZE = 5
SEARCH_LIMIT = 10
MAX_NOTE = 2000
MAX_NOTES_PER_CASE = 200
MAX_PENDING_REMINDERS = 10
MAX_REMINDER_DAYS = 730
MAX_SEARCH_INPUT = 200
# A reminder for a date without a time comes at this hour, local time.
REMINDER_HOUR = 9
CHART_MONTHS = 24
BUTTON_LABEL_MAX = 40
STATUS_COLOURS = {"aperto": "#E69F00", "risolto": "#009E73", "cliente_tenuto": "#0072B2", "cliente_lasciato": "#999999"}
DEFAULT_TIMEZONE = "Europe/Rome"
EXPORT_FORMATS = {"csv": "text/csv", "json": "application/json"}
# Other ways to name an outcome (English, short Italian) -> the stored status.
OUTCOME_WORDS = {
    "open": "aperto",
    "resolved": "risolto",
    "tenuto": "cliente_tenuto",
    "kept": "cliente_tenuto",
    "client_kept": "cliente_tenuto",
    "lasciato": "cliente_lasciato",
    "let_go": "cliente_lasciato",
    "client_let_go": "cliente_lasciato",
    "dropped": "cliente_lasciato",
}
_HOUR, _DAY, _WEEK, _MONTH = timedelta(hours=1), timedelta(days=1), timedelta(weeks=1), timedelta(days=30)
# "3g", "3 giorni", "3d", "1s", "1w", "2h", "2 ore", "1 mese": Italian and English units alike.
DURATION_UNITS = {
    **dict.fromkeys(("h", "ora", "ore", "hour", "hours"), _HOUR),
    **dict.fromkeys(("g", "gg", "giorno", "giorni", "d", "day", "days"), _DAY),
    **dict.fromkeys(("s", "sett", "settimana", "settimane", "w", "week", "weeks"), _WEEK),
    **dict.fromkeys(("mese", "mesi", "month", "months"), _MONTH),
}
_DURATION = re.compile(r"([0-9]{1,4}) ?([a-z]+)")
_ITALIAN_DATE = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})(?: ([0-9]{1,2})[:.]([0-9]{2}))?")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ t]([0-9]{1,2}):([0-9]{2}))?")
_CASE_NO = re.compile(r"#?([0-9]{1,9})")
_PAGE = re.compile(r"[0-9]{1,6}")
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CaseBookError(Invalid):
    """Input the case book refuses; `key` names the message in `<lang>/cases/messages.html.j2`."""


@dataclass(frozen=True)
class ExportFile:
    """An export ready to save or send."""

    filename: str
    media_type: str
    data: bytes
    count: int


# -- reading what the user typed ---------------------------------------------------------------


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
    """An outcome: a stored status (aperto, risolto, cliente_tenuto, cliente_lasciato) or a synonym."""
    key = "_".join(str(raw).casefold().replace("-", " ").split())
    status = key if key in STATUSES else OUTCOME_WORDS.get(key)
    if status is None:
        raise CaseBookError("bad_status", raw=_shown(raw))
    return status


def parse_when(raw: str, now: datetime, zone: tzinfo) -> datetime:
    """When a reminder is due, in UTC: after a duration ("3g", "1s", "2h"; "3d", "1w") or on a
    date ("25/12/2026", "2026-12-25", optionally with a time "15:30"; 9:00 otherwise)."""
    text = " ".join(str(raw)[:100].casefold().split())
    if match := _DURATION.fullmatch(text):
        unit = DURATION_UNITS.get(match.group(2))
        if unit is None:
            raise CaseBookError("bad_when")
        due = now + int(match.group(1)) * unit
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
    """The time zone dates are shown in: `name`, else $CLIENTCOACH_TZ, else Italy's."""
    if name is None:
        from .config import read_environment

        name = read_environment().tz
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _readable(q: Question, value: Any) -> bool:
    """Whether a stored answer still reads back in the current flow (options may have changed)."""
    if value is None or not q.is_choice:
        return True
    picked = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and v in q.option_index for v in picked)


def _button_label(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL_MAX else text[: BUTTON_LABEL_MAX - 1] + "…"


def _csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_CSV_FORMULA_START) else text


# -- the service -------------------------------------------------------------------------------


class CaseBook:
    """Saved cases for one flow: each method is scoped by the user id it is given."""

    def __init__(
        self,
        store: Store,
        flow: Flow | None = None,
        renderer: Renderer | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        zone: tzinfo | None = None,
    ):
        self.store = store
        self.flow = flow or load_flow(default_flow())
        self.renderer = renderer or Renderer()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.zone = zone or local_zone()
        self._messages: dict[str, Any] = {}

    # -- texts -------------------------------------------------------------------------------

    def lang_for(self, user_id: int, lang: str | None = None) -> str:
        """The language to answer in: the one asked for, else the user's, else Italian."""
        if lang in LANGS:
            return lang
        stored = self.store.user_lang(user_id)
        return stored if stored in LANGS else "it"

    def text(self, lang: str, name: str, *args: Any) -> Markup:
        """A short text of the case book (a macro of `<lang>/cases/messages.html.j2`), as safe HTML."""
        module = self._messages.get(lang)
        if module is None:
            module = self._messages[lang] = self.renderer.template(f"{lang}/cases/messages.html.j2").module
        return Markup(str(getattr(module, name)(*args)).strip())

    def label(self, lang: str, name: str, *args: Any) -> str:
        """A short text as plain characters (button labels, chart labels, console prompts)."""
        return to_plain(self.text(lang, name, *args))

    def error_text(self, lang: str, exc: CaseBookError) -> str:
        return str(self.text(lang, "error", exc.key, exc.params))

    def error_screen(self, lang: str, exc: CaseBookError) -> Screen:
        return Screen("error", "⚠️ " + self.error_text(lang, exc), meta={"error": exc.key})

    def _local(self, stamp: str) -> datetime:
        return parse_time(stamp).astimezone(self.zone)

    def _notice(self, text: str, *buttons: Button) -> Screen:
        return Screen("notice", text, (tuple(buttons),) if buttons else ())

    # -- lookups -----------------------------------------------------------------------------

    def case(self, user_id: int, case_no: int | str) -> dict[str, Any]:
        """One of the user's cases as stored; CaseBookError if the number is bad or not theirs."""
        number = parse_case_no(case_no)
        case = self.store.case(user_id, number)
        if case is None:
            raise CaseBookError("unknown_case", no=number)
        return case

    def _answered(self, answers: dict[str, Any]) -> dict[str, Question]:
        """The flow's questions whose stored answers still read back, in the flow's order."""
        return {qid: q for qid, q in self.flow.questions.items() if qid in answers and _readable(q, answers[qid])}

    def _readings(self, lang: str, answers: dict[str, Any]) -> list[tuple[Question, str]]:
        """Each readable answer with how it reads back in the language."""
        return [(q, self.renderer.answer_text(q, answers[qid], lang)) for qid, q in self._answered(answers).items()]

    def _summary(self, case: dict[str, Any]) -> dict[str, Any]:
        return {
            "no": case["case_no"],
            "client": case["alias"],
            "created": self._local(case["created"]),
            "main": case["main"],
            "status": case["status"],
        }

    def _case_button(self, lang: str, case: dict[str, Any]) -> Button:
        client = case["alias"] or self.label(lang, "no_alias")
        profile = self.renderer.ui(lang, "profile_short", case["main"])
        return Button(_button_label(f"{case['case_no']}. {client} · {profile}"), f"c:{case['case_no']}")

    def _list_screen(
        self, kind: str, lang: str, cases: list[dict[str, Any]], nav: list[Button], **context: Any
    ) -> Screen:
        """The list and the search results share one template and one layout of buttons."""
        text = self.renderer.render(f"{lang}/cases/list.html.j2", cases=[self._summary(c) for c in cases], **context)
        rows: list[tuple[Button, ...]] = [(self._case_button(lang, c),) for c in cases]
        if nav:
            rows.append(tuple(nav))
        meta = {**context, "case_nos": [c["case_no"] for c in cases]}
        return Screen(kind, text, tuple(rows), meta)

    def list_cases(self, user_id: int, page: int = 1, lang: str | None = None, page_size: int = PAGE_SIZE) -> Screen:
        """A page of the user's cases, newest first, with a button per case and prev/next buttons."""
        lang = self.lang_for(user_id, lang)
        total = self.store.count_cases(user_id)
        pages = max(1, math.ceil(total / page_size))
        page = min(max(int(page), 1), pages)
        cases = self.store.cases(user_id, limit=page_size, offset=(page - 1) * page_size)
        nav = []
        if page > 1:
            nav.append(Button(self.label(lang, "button_prev"), f"h:{page - 1}"))
        if page < pages:
            nav.append(Button(self.label(lang, "button_next"), f"h:{page + 1}"))
        return self._list_screen("cases", lang, cases, nav, query=None, total=total, page=page, pages=pages)

    def search(self, user_id: int, text: str, lang: str | None = None, limit: int = SEARCH_LIMIT) -> Screen:
        """The user's cases whose client name, typed answers or notes contain words starting with
        the typed ones (all of them), newest first."""
        lang = self.lang_for(user_id, lang)
        if len(text) > MAX_SEARCH_INPUT:
            raise CaseBookError("search_too_long", max=MAX_SEARCH_INPUT)
        query = clean_text(text)
        if not search_words(query):
            raise CaseBookError("search_empty")
        total, cases = self.store.search_cases(user_id, query, limit)
        return self._list_screen("search", lang, cases, [], query=query, total=total, page=1, pages=1)

    # -- one case ----------------------------------------------------------------------------

    def _outcome_rows(self, lang: str, case_no: int) -> tuple[tuple[Button, ...], ...]:
        buttons = [Button(self.label(lang, "status_button", s), f"o:{case_no}:{s}") for s in STATUSES]
        return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))

    def show_case(self, user_id: int, case_no: int | str, lang: str | None = None) -> list[Screen]:
        """A case in three messages: the answers, the profile with its reasons, and its history
        (reminders waiting, timeline) with the outcome, delete and back-to-list buttons."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        no, answers = case["case_no"], case["answers"]
        lines = [{"question": q.short[lang], "answer": text} for q, text in self._readings(lang, answers)]
        card = self.renderer.render(
            f"{lang}/cases/case.html.j2",
            **self._summary(case),
            updated=self._local(case["updated"]),
            secondary=case["secondary"],
            answers=lines,
        )
        result = self.renderer.result(lang, self._answered(answers), answers, Assessment.from_dict(case["assessment"]))
        buttons = (
            *self._outcome_rows(lang, no),
            (Button(self.label(lang, "button_delete"), f"x:{no}"), Button(self.label(lang, "button_list"), "h:1")),
        )
        history = Screen("history", self._history_text(user_id, lang, case), buttons, {"case_no": no})
        return [Screen("case", card, meta={"case_no": no}), result, history]

    def _history_text(self, user_id: int, lang: str, case: dict[str, Any]) -> str:
        """Reminders waiting and the timeline; the oldest entries give way when it would not fit."""
        no = case["case_no"]
        entries = []
        for event in self.store.timeline(user_id, no):
            event = {**event, "due": self._local(event["due"]) if event["due"] else None}
            entries.append({"when": self.label(lang, "moment", self._local(event["at"])), "text": self.text(lang, "timeline_entry", event)})
        waiting = [self._local(r["due"]) for r in self.store.reminders(user_id, no) if r["fired"] is None]

        def render(shown: int) -> str:
            return self.renderer.render(
                f"{lang}/cases/history.html.j2",
                no=no,
                status=case["status"],
                reminders=waiting,
                entries=entries[len(entries) - shown :],
                hidden=len(entries) - shown,
            )

        # Keep the newest entries whose estimated size fits, then trim further if the estimate was short.
        room = TELEGRAM_LIMIT - len(render(0))
        shown = 0
        for entry in reversed(entries):
            room -= len(entry["when"]) + len(entry["text"]) + 16
            if room < 0:
                break
            shown += 1
        text = render(shown)
        while len(text) > TELEGRAM_LIMIT and shown:
            shown -= 1
            text = render(shown)
        return text

    def add_note(self, user_id: int, case_no: int | str, text: str, lang: str | None = None) -> Screen:
        """Add a note (at most MAX_NOTE characters) to one of the user's cases."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        note = clean_note(text)
        self.case(user_id, number)
        if len(self.store.notes(user_id, number)) >= MAX_NOTES_PER_CASE:
            raise CaseBookError("too_many_notes", max=MAX_NOTES_PER_CASE)
        if self.store.add_note(user_id, number, note) is None:
            raise CaseBookError("unknown_case", no=number)
        return self._notice(self.text(lang, "note_added", number), Button(self.label(lang, "button_open", number), f"c:{number}"))

    def outcome_choices(self, user_id: int, case_no: int | str, lang: str | None = None) -> Screen:
        """The question "how did it go?" with a button per outcome (o:<case_no>:<status>)."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        text = self.text(lang, "outcome_question", case["case_no"], case["alias"], case["status"])
        return Screen("outcome", text, self._outcome_rows(lang, case["case_no"]), {"case_no": case["case_no"]})

    def set_outcome(self, user_id: int, case_no: int | str, status: str, lang: str | None = None) -> Screen:
        """Record how one of the user's cases went; the change joins its timeline."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        new = parse_status(status)
        before = self.store.set_status(user_id, number, new)
        if before is None:
            raise CaseBookError("unknown_case", no=number)
        text = self.text(lang, "outcome_set", number, new, before != new)
        return self._notice(text, Button(self.label(lang, "button_open", number), f"c:{number}"))

    # -- reminders ---------------------------------------------------------------------------

    def remind(self, user_id: int, case_no: int | str, when: str, lang: str | None = None) -> Screen:
        """Set a reminder on one of the user's cases. The screen's meta["reminder"] is the
        DueReminder for the front end to schedule."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        due = parse_when(when, self.clock(), self.zone)
        self.case(user_id, number)
        waiting = [r for r in self.store.reminders(user_id, number) if r["fired"] is None]
        if len(waiting) >= MAX_PENDING_REMINDERS:
            raise CaseBookError("too_many_reminders", max=MAX_PENDING_REMINDERS)
        reminder_id = self.store.add_reminder(user_id, number, due)
        if reminder_id is None:
            raise CaseBookError("unknown_case", no=number)
        text = self.text(lang, "reminder_set", number, due.astimezone(self.zone))
        return Screen("notice", text, meta={"reminder": DueReminder(reminder_id, user_id, number, due)})

    def pending_reminders(self) -> list[DueReminder]:
        """Every reminder not yet sent, across users, soonest first (to arm the scheduler at start)."""
        return self.store.pending_reminders()

    def deliver_due(self, user_id: int, lang: str | None = None) -> list[Screen]:
        """The user's reminders that have fallen due, as their messages, each then marked as sent
        (the console's way of delivering them; on Telegram the scheduler does it)."""
        now = self.clock()
        screens = []
        for reminder in self.store.pending_reminders():
            if reminder.user_id != user_id or reminder.due > now:
                continue
            try:
                screen = self.reminder_message(user_id, reminder.id, lang)
            except CaseBookError:  # its case was deleted meanwhile
                continue
            if self.mark_fired(reminder.id, user_id, reminder.due):
                screens.append(screen)
        return screens

    def mark_fired(self, reminder_id: int, user_id: int | None = None, due: datetime | None = None) -> bool:
        """Record a reminder as sent; False if it was already sent or its case is gone (or, given
        the user and due time it was armed with, if the id now belongs to another reminder)."""
        return self.store.mark_fired(reminder_id, user_id, due)

    def reminder_message(self, user_id: int, reminder_id: int, lang: str | None = None) -> Screen:
        """What a reminder says when it comes: the case, its outcome so far, and outcome buttons."""
        lang = self.lang_for(user_id, lang)
        reminder = self.store.reminder(user_id, reminder_id)
        case = self.store.case(user_id, reminder["case_no"]) if reminder else None
        if case is None:
            raise CaseBookError("unknown_reminder")
        no = case["case_no"]
        text = self.renderer.render(f"{lang}/cases/reminder.html.j2", **self._summary(case))
        buttons = (*self._outcome_rows(lang, no), (Button(self.label(lang, "button_open", no), f"c:{no}"),))
        return Screen("reminder", text, buttons, {"case_no": no, "reminder_id": reminder_id})

    # -- export ------------------------------------------------------------------------------

    def export(self, user_id: int, fmt: str = "csv", lang: str | None = None) -> ExportFile:
        """All the user's cases with notes, reminders and outcome changes, as CSV (for people: one
        row per case, readable answers, headers in the user's language) or JSON (for programs:
        stored values and their readings)."""
        lang = self.lang_for(user_id, lang)
        fmt = str(fmt).casefold()
        if fmt not in EXPORT_FORMATS:
            raise CaseBookError("bad_format")
        cases = self.store.case_history(user_id)
        data = self._csv(lang, cases) if fmt == "csv" else self._json(lang, cases)
        stamp = self.clock().astimezone(self.zone).strftime("%Y%m%d")
        return ExportFile(f"clientcoach-{stamp}.{fmt}", EXPORT_FORMATS[fmt], data, len(cases))


    def _csv(self, lang: str, cases: list[dict[str, Any]]) -> bytes:
        fixed = ("case_no", "created", "updated", "status", "client", "profile", "secondary", "confidence")
        questions = list(self.flow.questions.values())
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            [self.label(lang, "csv_header", k) for k in fixed]
            + [q.short[lang] for q in questions]
            + [self.label(lang, "csv_header", k) for k in ("notes", "reminders")]
        )
        stamp = lambda value: self._local(value).strftime("%Y-%m-%d %H:%M")  # noqa: E731
        for case in cases:
            readings = {q.id: text for q, text in self._readings(lang, case["answers"])}
            row = [
                case["case_no"],
                stamp(case["created"]),
                stamp(case["updated"]),
                self.label(lang, "status_name", case["status"]),
                case["alias"],
                self.renderer.ui(lang, "profile_short", case["main"]),
                self.renderer.ui(lang, "profile_short", case["secondary"]) if case["secondary"] else "",
                self.renderer.ui(lang, "confidence_name", case["confidence"]),
                *(readings.get(q.id, "") for q in questions),
                "\n".join(f"[{stamp(n['created'])}] {n['text']}" for n in case["notes"]),
                "; ".join(stamp(r["due"]) for r in case["reminders"]),
            ]
            writer.writerow([_csv_cell(value) for value in row])
        return buffer.getvalue().encode("utf-8-sig")  # the BOM lets spreadsheets see UTF-8

    def _json(self, lang: str, cases: list[dict[str, Any]]) -> bytes:
        exported = [
            {
                "case_no": case["case_no"],
                "client": case["alias"],
                "created": case["created"],
                "updated": case["updated"],
                "status": case["status"],
                "profile": case["main"],
                "secondary": case["secondary"],
                "confidence": case["confidence"],
                "flow": case["flow"],
                "flow_version": case["flow_version"],
                "lang": case["lang"],
                "answers": case["answers"],
                "readings": [
                    {"id": q.id, "question": q.short[lang], "answer": text}
                    for q, text in self._readings(lang, case["answers"])
                ],
                "assessment": case["assessment"],
                "notes": case["notes"],
                "reminders": case["reminders"],
                "events": case["events"],
            }
            for case in cases
        ]
        document = {
            "format": "clientcoach-cases",
            "version": 1,
            "exported": self.clock().astimezone(timezone.utc).isoformat(timespec="seconds"),
            "cases": exported,
        }
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    # -- deletion ----------------------------------------------------------------------------

    def confirm_delete(self, user_id: int, case_no: int | str, lang: str | None = None) -> Screen:
        """Ask before deleting a case: buttons x:<case_no>:yes and x:no."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        no = case["case_no"]
        buttons = (Button(self.label(lang, "button_confirm_delete"), f"x:{no}:yes"), Button(self.label(lang, "button_keep"), "x:no"))
        return Screen("confirm", self.text(lang, "confirm_delete", no, case["alias"]), (buttons,), {"case_no": no})

    def delete_case(self, user_id: int, case_no: int | str, lang: str | None = None) -> Screen:
        """Delete one of the user's cases with its notes, reminders, history and index entry."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        if not self.store.delete_case(user_id, number):
            raise CaseBookError("unknown_case", no=number)
        return self._notice(self.text(lang, "deleted", number), Button(self.label(lang, "button_list"), "h:1"))

    def confirm_delete_all(self, user_id: int, lang: str | None = None) -> Screen:
        """Ask before erasing everything about the user: buttons x:all:yes and x:no."""
        lang = self.lang_for(user_id, lang)
        count = self.store.count_cases(user_id)
        buttons = (Button(self.label(lang, "button_confirm_delete_all"), "x:all:yes"), Button(self.label(lang, "button_keep"), "x:no"))
        return Screen("confirm", self.text(lang, "confirm_delete_all", count), (buttons,), {"count": count})

    def delete_all(self, user_id: int, lang: str | None = None) -> Screen:
        """Erase everything kept about the user (cases, notes, reminders, clients, the open
        questionnaire, preferences, search terms)."""
        lang = self.lang_for(user_id, lang)
        self.store.delete_user(user_id)
        return self._notice(self.text(lang, "all_deleted"))

    def delete_cancelled(self, user_id: int, lang: str | None = None) -> Screen:
        return self._notice(self.text(self.lang_for(user_id, lang), "delete_cancelled"))

    # -- statistics --------------------------------------------------------------------------

    def stats(self, user_id: int, lang: str | None = None) -> Screen:
        """How many of the user's cases have each profile and each outcome."""
        lang = self.lang_for(user_id, lang)
        rows = self.store.case_summaries(user_id)
        by_profile = Counter(main for _, main, _ in rows)
        by_status = Counter(status for _, _, status in rows)
        text = self.renderer.render(
            f"{lang}/cases/stats.html.j2",
            total=len(rows),
            first=self._local(rows[0][0]) if rows else None,
            profiles=[{"key": p, "count": by_profile[p]} for p in PROFILES if by_profile[p]],
            statuses=[{"key": s, "count": by_status[s]} for s in STATUSES],
        )
        meta = {"total": len(rows), "by_profile": dict(by_profile), "by_status": dict(by_status)}
        return Screen("stats", text, meta=meta)

    def stats_chart(self, user_id: int, lang: str | None = None) -> bytes:
        """A PNG: the user's cases per month (the last CHART_MONTHS), by profile and by outcome."""
        from .charts import monthly_bars_png  # matplotlib only when a chart is drawn

        return monthly_bars_png(*self.chart_data(user_id, lang))

    def chart_data(self, user_id: int, lang: str | None = None) -> tuple:
        """The arguments of charts.monthly_bars_png for the user's chart: pure data, so the
        drawing can run off the event loop while the database stays on it."""
        lang = self.lang_for(user_id, lang)
        rows = self.store.case_summaries(user_id)
        if not rows:
            raise CaseBookError("no_cases")
        from .charts import Panel, Series

        stamps = [(self._local(created), main, status) for created, main, status in rows]
        first, last = min(s[0] for s in stamps), max(s[0] for s in stamps)
        span = (last.year - first.year) * 12 + last.month - first.month + 1
        months = [divmod(last.year * 12 + last.month - 1 - k, 12) for k in reversed(range(min(span, CHART_MONTHS)))]
        column = {(year, month0 + 1): i for i, (year, month0) in enumerate(months)}
        profiles = {p: [0] * len(months) for p in PROFILES}
        statuses = {s: [0] * len(months) for s in STATUSES}
        for moment, main, status in stamps:
            i = column.get((moment.year, moment.month))
            if i is not None:
                profiles[main][i] += 1
                statuses[status][i] += 1
        panels = (
            Panel(
                self.label(lang, "chart_profiles"),
                tuple(Series(self.renderer.ui(lang, "profile_short", p), tuple(v)) for p, v in profiles.items()),
            ),
            Panel(
                self.label(lang, "chart_outcomes"),
                tuple(Series(self.label(lang, "status_name", s), tuple(v), STATUS_COLOURS[s]) for s, v in statuses.items()),
            ),
        )
        labels = [self.label(lang, "month_label", year, month0 + 1) for year, month0 in months]
        return self.label(lang, "chart_title", len(rows)), labels, panels, self.label(lang, "chart_axis")

    # -- buttons -----------------------------------------------------------------------------

    def act(self, user_id: int, action: str, lang: str | None = None) -> list[Screen]:
        """Carry out a case-book button's action (see the module docstring); a bad or stale action
        gives an error screen instead of raising."""
        kind, _, rest = action.partition(":")
        target, _, arg = rest.partition(":")
        try:
            if kind == "h" and _PAGE.fullmatch(rest):
                return [self.list_cases(user_id, int(rest), lang)]
            if kind == "c":
                return self.show_case(user_id, rest, lang)
            if kind == "o":
                return [self.set_outcome(user_id, target, arg, lang) if arg else self.outcome_choices(user_id, target, lang)]
            if kind == "x" and arg in ("", "yes"):
                if target == "no" and not arg:
                    return [self.delete_cancelled(user_id, lang)]
                if target == "all":
                    return [self.delete_all(user_id, lang) if arg else self.confirm_delete_all(user_id, lang)]
                return [self.delete_case(user_id, target, lang) if arg else self.confirm_delete(user_id, target, lang)]
            raise CaseBookError("unknown_action")
        except CaseBookError as exc:
            return [self.error_screen(self.lang_for(user_id, lang), exc)]


def open_casebook(
    db_path: str | Path | None = None, flow_path: str | Path | None = None, *, surface: str = "telegram", tz: str | None = None
) -> CaseBook:
    """A CaseBook on the given database and flow (defaults: the default database, the bundled flow);
    `surface` is the front end its texts are for."""
    return CaseBook(Store.open(db_path), load_flow(flow_path) if flow_path else None, Renderer(surface=surface),
                    zone=local_zone(tz) if tz else None)


__all__ = [
    "CaseBook",
    "CaseBookError",
    "DueReminder",
    "ExportFile",
    "open_casebook",
    "parse_case_no",
    "parse_status",
    "parse_when",
]
