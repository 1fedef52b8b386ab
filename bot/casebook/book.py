"""The case book service: saved cases to look up, search, annotate, follow up, export and delete.

Front-end neutral, like the Coach: every method takes the user id and what the user gave, checks
it, calls the store (which scopes every query by that user) and returns data or rendered
`Screen`s. Bad input raises `CaseBookError` with a message key (rendered by `error_text`), and
then nothing has changed. Buttons carry the case book's actions (`bot.actions.CaseAction`: a page
of the list, a case, an outcome, a deletion and its confirmation), which `act` carries out.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Callable, overload

from ..actions import (
    AnswerCheck,
    AskDelete,
    AskDeleteAll,
    CaseAction,
    ChooseOutcome,
    ConfirmDelete,
    ConfirmDeleteAll,
    KeepCases,
    ListPage,
    MarkSent,
    OpenCase,
    PlanControl,
    SetOutcome,
)
from ..case import Case
from ..classifier import Assessment
from ..engine import clean_text
from ..flow import Flow, load_flow
from ..paths import default_flow
from ..plans import BY_ACTION
from ..render import TELEGRAM_LIMIT, Button, Renderer, Screen
from ..result import DEFAULT_VARIANT, advice_screens, case_script, profile_card, script
from ..scripts import BY_ID as SCRIPTS
from ..sender import clean_profile
from ..store import STATUSES, DueReminder, Store, search_words
from ..upgrade import read_case
from .export import EXPORT_FORMATS, ExportFile, cases_csv, cases_json
from .follow import FollowUps
from .outcomes import message_outcomes
from .parsing import CaseBookError, clean_note, local_zone, parse_case_no, parse_status, parse_when
from .stats import chart_data, plan_chart_data, stats_screen
from .texts import CaseTexts

PAGE_SIZE = 5
SEARCH_LIMIT = 10
MAX_NOTES_PER_CASE = 200
MAX_PENDING_REMINDERS = 10
MAX_SEARCH_INPUT = 200
BUTTON_LABEL_MAX = 40


def _button_label(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL_MAX else text[: BUTTON_LABEL_MAX - 1] + "…"


class CaseBook(FollowUps, CaseTexts):
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
        super().__init__(flow or load_flow(default_flow()), renderer or Renderer(), zone or local_zone())
        self.store = store
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def lang_for(self, user_id: int, lang: str | None = None) -> str:
        """The language to answer in: the one asked for, else the user's, else the default language."""
        languages = self.renderer.languages
        return lang if lang is not None and lang in languages else languages.pick(self.store.user_lang(user_id))

    def _notice(self, text: str, *buttons: Button) -> Screen:
        return Screen("notice", text, (tuple(buttons),) if buttons else ())

    def _open_button(self, lang: str, case_no: int) -> Button:
        return Button(self.label(lang, "button_open", case_no), OpenCase(case_no))

    # -- lookups -----------------------------------------------------------------------------

    def case(self, user_id: int, case_no: int | str) -> Case:
        """One of the user's cases as the current flow reads it; CaseBookError if the number is bad or not theirs."""
        number = parse_case_no(case_no)
        case = self.store.case(user_id, number)
        if case is None:
            raise CaseBookError("unknown_case", no=number)
        return read_case(case, self.flow)

    def _case_button(self, lang: str, case: Case) -> Button:
        client = case.alias or self.label(lang, "no_alias")
        profile = self.renderer.ui(lang, "profile_short", case.main)
        return Button(_button_label(f"{case.case_no}. {client} · {profile}"), OpenCase(case.case_no))

    def _list_screen(self, kind: str, lang: str, cases: list[Case], nav: list[Button], **context: Any) -> Screen:
        """The list and the search results share one template and one layout of buttons."""
        text = self.renderer.render(f"{lang}/cases/list.html.j2", cases=[self.summary(c) for c in cases], **context)
        rows: list[tuple[Button, ...]] = [(self._case_button(lang, c),) for c in cases]
        if nav:
            rows.append(tuple(nav))
        meta = {**context, "case_nos": [c.case_no for c in cases]}
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
            nav.append(Button(self.label(lang, "button_prev"), ListPage(page - 1)))
        if page < pages:
            nav.append(Button(self.label(lang, "button_next"), ListPage(page + 1)))
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
        buttons = [Button(self.label(lang, "status_button", s), SetOutcome(case_no, s)) for s in STATUSES]
        return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))

    def show_case(self, user_id: int, case_no: int | str, lang: str | None = None) -> list[Screen]:
        """A case's record in three messages: the answers, the profile with its reasons, and its
        history (reminders waiting, timeline) with the outcome, delete and back-to-list buttons."""
        return self._record(user_id, self.lang_for(user_id, lang), self.case(user_id, case_no))

    def case_view(self, user_id: int, case_no: int | str, lang: str | None = None) -> list[Screen]:
        """The whole case, the same on every front end: its record (`show_case`), then its advice and
        first script with the variants' navigation, as the result showed them (in a terminal the
        second profile's advice follows at once). The advice and script keep the case's own
        language, like the extras and variants their buttons open."""
        case = self.case(user_id, case_no)
        sender = clean_profile(self.store.sender_profile(user_id))
        advice = advice_screens(
            self.renderer,
            case.lang,
            case.case_no,
            case.answers,
            case.assessment,
            sender,
            # Printed once in a terminal, where no button or prompt can open it later.
            second_below=self.renderer.surface == "console",
        )
        return self._record(user_id, self.lang_for(user_id, lang), case) + advice

    def message(
        self,
        user_id: int,
        case_no: int | str,
        index: int,
        variant: str = DEFAULT_VARIANT,
        form: str | None = None,
        lang: str | None = None,
    ) -> Screen:
        """Message `index` (1, 2, ...) of a saved case in a version (softer, firmer, shorter) and form
        (tu or lei; by default the case's own), as the result's ‹ › and version buttons show it."""
        case = self.case(user_id, case_no)
        sender = clean_profile(self.store.sender_profile(user_id))
        screen, count = case_script(
            self.renderer, case.lang, case.case_no, case.answers, case.assessment, index, variant, form, sender
        )
        if screen is None:
            raise CaseBookError("unknown_message", no=case.case_no, index=index, count=count)
        return screen

    def _record(self, user_id: int, lang: str, case: Case) -> list[Screen]:
        no, answers = case.case_no, case.answers
        lines = [{"question": q.short[lang], "answer": text} for q, text in self.readings(lang, answers)]
        lines += [{"question": label, "answer": text} for label, text in self.earlier(lang, answers)]
        card = self.renderer.render(
            f"{lang}/cases/case.html.j2",
            **self.summary(case),
            updated=self.local(case.updated),
            secondary=case.secondary,
            answers=lines,
        )
        result = profile_card(self.renderer, lang, self.answered(answers), answers, case.assessment)
        buttons = (
            *self._outcome_rows(lang, no),
            (
                Button(self.label(lang, "button_delete"), AskDelete(no)),
                Button(self.label(lang, "button_list"), ListPage(1)),
            ),
        )
        history = Screen("history", self._history_text(user_id, lang, case), buttons, {"case_no": no})
        return [Screen("case", card, meta={"case_no": no}), result, history]

    def _history_text(self, user_id: int, lang: str, case: Case) -> str:
        """Reminders waiting and the timeline; the oldest entries give way when it would not fit."""
        no = case.case_no
        entries = []
        plan = self.case_plan(case)
        for event in self.store.timeline(user_id, no):
            event = {**event, "due": self.local(event["due"]) if event["due"] else None}
            event = self.plan_event(lang, case, plan, event)
            when = self.label(lang, "moment", self.local(event["at"]))
            entries.append({"when": when, "text": self.text(lang, "timeline_entry", event)})
        waiting = [self.local(r["due"]) for r in self.store.reminders(user_id, no) if r["fired"] is None]

        def render(shown: int) -> str:
            return self.renderer.render(
                f"{lang}/cases/history.html.j2",
                no=no,
                status=case.status,
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

    @overload
    def add_note(self, user_id: int, case_no: int | str, text: str, lang: str | None = None) -> Screen: ...

    @overload
    def add_note(
        self, user_id: int, case_no: int | str, text: str, lang: str | None, update_id: int | None
    ) -> Screen | None: ...

    def add_note(
        self, user_id: int, case_no: int | str, text: str, lang: str | None = None, update_id: int | None = None
    ) -> Screen | None:
        """Add a note (at most MAX_NOTE characters) to one of the user's cases; None when `update_id`
        was already handled (the note is there: nothing to add or to say again)."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        note = clean_note(text)
        self.case(user_id, number)
        if len(self.store.notes(user_id, number)) >= MAX_NOTES_PER_CASE:
            raise CaseBookError("too_many_notes", max=MAX_NOTES_PER_CASE)
        added = self.store.add_note(user_id, number, note, update_id)
        if added is None:
            raise CaseBookError("unknown_case", no=number)
        if added == 0:
            return None
        return self._notice(self.text(lang, "note_added", number), self._open_button(lang, number))

    def outcome_choices(self, user_id: int, case_no: int | str, lang: str | None = None) -> Screen:
        """The question "how did it go?" with a button per outcome."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        text = self.text(lang, "outcome_question", case.case_no, case.alias, case.status)
        return Screen("outcome", text, self._outcome_rows(lang, case.case_no), {"case_no": case.case_no})

    def set_outcome(self, user_id: int, case_no: int | str, status: str, lang: str | None = None) -> Screen:
        """Record how one of the user's cases went; the change joins its timeline."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        new = parse_status(status)
        before = self.store.set_status(user_id, number, new)
        if before is None:
            raise CaseBookError("unknown_case", no=number)
        return self._notice(self.text(lang, "outcome_set", number, new, before != new), self._open_button(lang, number))

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
        reminder_id = self.store.add_reminder(user_id, number, due, self.channel)
        if reminder_id is None:
            raise CaseBookError("unknown_case", no=number)
        if reminder_id < 0:  # the same reminder is already set: nothing new to arm
            return Screen("notice", self.text(lang, "reminder_exists", number, due.astimezone(self.zone)))
        text = self.text(lang, "reminder_set", number, due.astimezone(self.zone))
        return Screen("notice", text, meta={"reminder": DueReminder(reminder_id, user_id, number, due)})

    @property
    def channel(self) -> str:
        """The front end this case book's reminders belong to: the console's and the bot's are never
        shared (the bot does not send the console's, nor the console show the bot's)."""
        return "console" if self.renderer.surface == "console" else "telegram"

    def pending_reminders(self) -> list[DueReminder]:
        """Every reminder of this front end not yet sent, across users, soonest first (to arm the
        scheduler at start)."""
        return self.store.pending_reminders(self.channel)

    def deliver_due(self, user_id: int, lang: str | None = None) -> list[Screen]:
        """The user's reminders that have fallen due, as their messages, each then marked as sent
        (the console's way of delivering them; on Telegram the scheduler does it)."""
        now = self.clock()
        screens = []
        for reminder in self.store.pending_reminders(self.channel):
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
        found = self.store.case(user_id, reminder["case_no"]) if reminder else None
        if reminder is None or found is None:
            raise CaseBookError("unknown_reminder")
        case = read_case(found, self.flow)
        no = case.case_no
        if reminder["step"]:  # a plan's check: how the step went, with the answers that fit it
            screen = self.check_message(user_id, case, reminder["step"], lang)
            return Screen(screen.kind, screen.text, screen.buttons, {**screen.meta, "reminder_id": reminder_id})
        text = self.renderer.render(f"{lang}/cases/reminder.html.j2", **self.summary(case))
        buttons = (*self._outcome_rows(lang, no), (self._open_button(lang, no),))
        return Screen("reminder", text, buttons, {"case_no": no, "reminder_id": reminder_id})

    # -- export and statistics ---------------------------------------------------------------

    def export(self, user_id: int, fmt: str = "csv", lang: str | None = None) -> ExportFile:
        """All the user's cases with notes, reminders and outcome changes, as CSV (for people: one
        row per case, readable answers, headers in the user's language) or JSON (for programs:
        stored values and their readings)."""
        lang = self.lang_for(user_id, lang)
        fmt = str(fmt).casefold()
        if fmt not in EXPORT_FORMATS:
            raise CaseBookError("bad_format")
        cases = [read_case(case, self.flow) for case in self.store.case_history(user_id)]
        data = cases_csv(self, lang, cases) if fmt == "csv" else cases_json(self, lang, cases, self.clock())
        stamp = self.clock().astimezone(self.zone).strftime("%Y%m%d")
        return ExportFile(f"clientcoach-{stamp}.{fmt}", EXPORT_FORMATS[fmt], data, len(cases))

    def stats(self, user_id: int, lang: str | None = None) -> Screen:
        """How many of the user's cases have each profile and each outcome, how each profile's cases
        ended, and what followed each message the user sent (their own cases only)."""
        lang = self.lang_for(user_id, lang)
        messages = message_outcomes(self.store.plan_history(user_id))
        titles = self.message_titles(lang, [m.does for m in messages])
        return stats_screen(self, lang, self.store.case_summaries(user_id), messages, titles)

    def message_titles(self, lang: str, ids: list[str]) -> dict[str, str]:
        """What each message (or action) is called, for the statistics."""
        blank = Assessment({}, "gratis", None, "low", (), False, False, False, True, False)
        return {
            i: self.renderer.ui(lang, "action_short", i)
            if i in BY_ACTION
            else script(self.renderer, lang, i, {}, blank, DEFAULT_VARIANT, "tu")[0]
            for i in ids
            if i in BY_ACTION or i in SCRIPTS
        }

    def plans_chart(self, user_id: int, lang: str | None = None) -> tuple[Any, ...] | None:
        """The arguments of charts.stacked_rows_png for what followed each message the user sent; None
        when none was marked sent."""
        lang = self.lang_for(user_id, lang)
        messages = message_outcomes(self.store.plan_history(user_id))
        if not messages:
            return None
        return plan_chart_data(self, lang, messages, self.message_titles(lang, [m.does for m in messages]))

    def chart_data(self, user_id: int, lang: str | None = None) -> tuple[Any, ...]:
        """The arguments of charts.monthly_bars_png for the user's chart (see `stats.chart_data`)."""
        lang = self.lang_for(user_id, lang)
        rows = self.store.case_summaries(user_id)
        if not rows:
            raise CaseBookError("no_cases")
        return chart_data(self, lang, rows)

    def stats_chart(self, user_id: int, lang: str | None = None) -> bytes:
        """A PNG: the user's cases per month (the last CHART_MONTHS), by profile and by outcome."""
        from ..charts import monthly_bars_png  # matplotlib only when a chart is drawn

        return monthly_bars_png(*self.chart_data(user_id, lang))

    # -- deletion ----------------------------------------------------------------------------

    def confirm_delete(self, user_id: int, case_no: int | str, lang: str | None = None) -> Screen:
        """Ask before deleting a case: buttons to delete it and to keep it."""
        lang = self.lang_for(user_id, lang)
        case = self.case(user_id, case_no)
        no = case.case_no
        buttons = (
            Button(self.label(lang, "button_confirm_delete"), ConfirmDelete(no)),
            Button(self.label(lang, "button_keep"), KeepCases()),
        )
        return Screen("confirm", self.text(lang, "confirm_delete", no, case.alias), (buttons,), {"case_no": no})

    def delete_case(self, user_id: int, case_no: int | str, lang: str | None = None) -> Screen:
        """Delete one of the user's cases with its notes, reminders, history and index entry."""
        lang = self.lang_for(user_id, lang)
        number = parse_case_no(case_no)
        if not self.store.delete_case(user_id, number):
            raise CaseBookError("unknown_case", no=number)
        return self._notice(self.text(lang, "deleted", number), Button(self.label(lang, "button_list"), ListPage(1)))

    def confirm_delete_all(self, user_id: int, lang: str | None = None) -> Screen:
        """Ask before erasing everything about the user: buttons to erase it and to keep it."""
        lang = self.lang_for(user_id, lang)
        count = self.store.count_cases(user_id)
        buttons = (
            Button(self.label(lang, "button_confirm_delete_all"), ConfirmDeleteAll()),
            Button(self.label(lang, "button_keep"), KeepCases()),
        )
        return Screen("confirm", self.text(lang, "confirm_delete_all", count), (buttons,), {"count": count})

    def delete_all(self, user_id: int, lang: str | None = None) -> Screen:
        """Erase everything kept about the user (cases, notes, reminders, clients, the open
        questionnaire, preferences, search terms)."""
        lang = self.lang_for(user_id, lang)
        self.store.delete_user(user_id)
        return self._notice(self.text(lang, "all_deleted"))

    def delete_cancelled(self, user_id: int, lang: str | None = None) -> Screen:
        return self._notice(self.text(self.lang_for(user_id, lang), "delete_cancelled"))

    # -- buttons -----------------------------------------------------------------------------

    def act(self, user_id: int, action: CaseAction, lang: str | None = None) -> list[Screen]:
        """Carry out a case-book button's action; a bad or stale one (a case that is not the user's,
        an unknown outcome) gives an error screen instead of raising. A confirmation's stamp is the
        front end's business: here a "yes" is a yes."""
        try:
            match action:
                case ListPage(page):
                    return [self.list_cases(user_id, page, lang)]
                case OpenCase(case_no):
                    return self.case_view(user_id, case_no, lang)
                case ChooseOutcome(case_no):
                    return [self.outcome_choices(user_id, case_no, lang)]
                case SetOutcome(case_no, status):
                    return [self.set_outcome(user_id, case_no, status, lang)]
                case AskDelete(case_no):
                    return [self.confirm_delete(user_id, case_no, lang)]
                case ConfirmDelete(case_no):
                    return [self.delete_case(user_id, case_no, lang)]
                case AskDeleteAll():
                    return [self.confirm_delete_all(user_id, lang)]
                case ConfirmDeleteAll():
                    return [self.delete_all(user_id, lang)]
                case KeepCases():
                    return [self.delete_cancelled(user_id, lang)]
                case MarkSent(case_no, message, variant, form):
                    return [self.mark_sent(user_id, case_no, message, variant, form, lang)]
                case AnswerCheck(case_no, step, answer):
                    return self.answer_check(user_id, case_no, step, answer, lang)
                case PlanControl(case_no, what):
                    return self.control_plan(user_id, case_no, what, lang)
            raise CaseBookError("unknown_action")
        except CaseBookError as exc:
            return [self.error_screen(self.lang_for(user_id, lang), exc)]


def open_casebook(
    db_path: str | Path | None = None,
    flow_path: str | Path | None = None,
    *,
    surface: str = "telegram",
    tz: str | None = None,
) -> CaseBook:
    """A CaseBook on the given database and flow (defaults: the default database, the bundled flow),
    its dates in time zone `tz` (CLIENTCOACH_TZ); `surface` is the front end its texts are for."""
    return CaseBook(
        Store.open(db_path), load_flow(flow_path) if flow_path else None, Renderer(surface=surface), zone=local_zone(tz)
    )


__all__ = ["CaseBook", "open_casebook"]
