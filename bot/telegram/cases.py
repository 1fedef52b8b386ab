"""The case book on Telegram: /storico, /caso, /cerca, /nota, /esito, /promemoria, /piano, /inviato,
/rivaluta, /esporta, /cancella, /cancellatutto, /statistiche, their buttons, and reminders (a plan's
checks among them) on the JobQueue.

Thin handlers over bot.casebook.CaseBook, each taking the update unpacked once (context.Request);
every call is scoped by the Telegram user id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from telegram import InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler

from ..actions import Action, CaseAction, Confirmation, Deletion, ListPage, OpenCase, decode
from ..casebook import CaseBook, CaseBookError, DueReminder
from ..render import Screen
from ..store import parse_time
from .context import CoachContext, Request, handles, job_queue
from .dialog import show
from .messages import (
    answer_query,
    button_actions,
    clean_text,
    edit,
    keyboard,
    send,
    strip_keyboard,
    tapped_message,
)

log = logging.getLogger("clientcoach.cases")

# A destructive confirmation is only honoured for this long: an old "yes" can't erase new cases.
CONFIRM_TTL = 600
# A reminder whose send was begun this many times without being recorded (kills in between) is not
# sent again: the user may have every copy already.
MAX_UNRECORDED_SENDS = 2


# -- pure helpers ------------------------------------------------------------------------------


def stamp_destructive(action: Action, now: float | None = None) -> Action:
    """A destructive confirmation carries the time it was offered; other actions go as they are."""
    if isinstance(action, Confirmation):
        return action.stamped(now if now is not None else time.time())
    return action


def honoured(action: CaseAction, now: float | None = None) -> bool:
    """False for a confirmation offered more than CONFIRM_TTL ago, in the future, or never (no stamp)."""
    if not isinstance(action, Confirmation):
        return True
    offered = action.stamp
    return offered is not None and 0 <= (now if now is not None else time.time()) - offered <= CONFIRM_TTL


def is_case_button(data: object) -> bool:
    """Whether a button's data is the case book's (the pattern of its handler; the rest is the dialogue's)."""
    return isinstance(decode(data), CaseAction)


def case_keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    """A case-book screen's keyboard; destructive confirmations are stamped with the time."""
    return keyboard(screen, stamp_destructive)


def _usage(name: str) -> Callable[[str], Screen]:
    def missing(lang: str) -> Screen:
        raise CaseBookError("usage", command=name)

    return missing


# -- showing -----------------------------------------------------------------------------------


async def _send_all(req: Request, screens: list[Screen]) -> None:
    for screen in screens:
        if "reminder" in screen.meta:  # a reminder or a plan's check was set: armed on the JobQueue
            schedule(req.context.application, screen.meta["reminder"])
        await send(req.bot, req.chat_id, screen, case_keyboard(screen))


async def _guarded(req: Request, call: Callable[[str], Screen | list[Screen]]) -> None:
    """Run a case-book call; its refusal (bad number, unknown case...) is shown, nothing changes."""
    try:
        screens = call(req.lang)
    except CaseBookError as exc:
        screens = [req.casebook.error_screen(req.lang, exc)]
    await _send_all(req, screens if isinstance(screens, list) else [screens])


# -- handlers ----------------------------------------------------------------------------------


@handles
async def on_history(req: Request) -> None:
    """/storico: the user's cases, newest first."""
    await _guarded(req, lambda lang: req.casebook.list_cases(req.user_id, 1, lang))


@handles
async def on_case(req: Request) -> None:
    """/caso N: one case in full, with its advice and scripts."""
    args = req.args
    if not args:
        await _guarded(req, _usage("caso"))
        return
    await _guarded(req, lambda lang: req.casebook.case_view(req.user_id, args[0], lang))


@handles
async def on_search(req: Request) -> None:
    """/cerca testo: search aliases, notes and typed answers."""
    text = " ".join(req.args)
    await _guarded(req, lambda lang: req.casebook.search(req.user_id, text, lang))


@handles
async def on_note(req: Request) -> None:
    """/nota N testo: add a note to a case."""
    args = req.args
    if len(args) < 2:
        await _guarded(req, _usage("nota"))
        return
    # The note keeps the user's own line breaks: take it from the message, not the split args.
    typed = req.message.text
    text = clean_text(typed).split(maxsplit=2)[2] if typed else " ".join(args[1:])
    await _guarded(req, lambda lang: req.casebook.add_note(req.user_id, args[0], text, lang, req.update_id) or [])


@handles
async def on_outcome(req: Request) -> None:
    """/esito N: buttons for the case's outcome (or /esito N risolto)."""
    uid, args, book = req.user_id, req.args, req.casebook
    if not args:
        await _guarded(req, _usage("esito"))
    elif len(args) >= 2:
        await _guarded(req, lambda lang: book.set_outcome(uid, args[0], "_".join(args[1:]), lang))
    else:
        await _guarded(req, lambda lang: book.outcome_choices(uid, args[0], lang))


@handles
async def on_remind(req: Request) -> None:
    """/promemoria N 3g | 1s | a date: a reminder that survives restarts."""
    args = req.args
    if len(args) < 2:
        await _guarded(req, _usage("promemoria"))
        return

    await _guarded(req, lambda lang: req.casebook.remind(req.user_id, args[0], " ".join(args[1:]), lang))


@handles
async def on_plan(req: Request) -> None:
    """/piano N: the case's plan and where it stands; /piano N 10g moves the check of the step waiting."""
    args, book = req.args, req.casebook
    if not args:
        await _guarded(req, _usage("piano"))
    elif len(args) >= 2:
        await _guarded(req, lambda lang: book.change_wait(req.user_id, args[0], " ".join(args[1:]), lang))
    else:
        await _guarded(req, lambda lang: book.plan_view(req.user_id, args[0], lang))


@handles
async def on_sent(req: Request) -> None:
    """/inviato N [K]: message K of the case went out (without K, the step the plan is at)."""
    args, book = req.args, req.casebook
    if not args or (len(args) >= 2 and not args[1].isdecimal()):
        await _guarded(req, _usage("inviato"))
        return
    which = args[1] if len(args) > 1 else None
    await _guarded(req, lambda lang: book.mark_sent(req.user_id, args[0], which, lang=lang))


@handles
async def on_reassess(req: Request) -> None:
    """/rivaluta N: the questionnaire again for the same client, pre-filled."""
    uid, args = req.user_id, req.args
    if not args:
        await _guarded(req, _usage("rivaluta"))
        return
    book, lang = req.casebook, req.lang
    try:
        case_no = book.case(uid, args[0]).case_no
        reply = req.coach.reassess(uid, case_no, lang, req.update_id)
        if reply is None:  # deleted between the look-up and the reassessment
            raise CaseBookError("unknown_case", no=case_no)
    except CaseBookError as exc:
        await _send_all(req, [book.error_screen(lang, exc)])
        return
    await show(req, reply)


@handles
async def on_export(req: Request) -> None:
    """/esporta: all the user's cases as CSV and JSON documents."""
    for fmt in ("csv", "json"):
        export = req.casebook.export(req.user_id, fmt, req.lang)
        await req.bot.send_document(
            req.chat_id, InputFile(export.data, filename=export.filename), caption=export.filename
        )


@handles
async def on_delete(req: Request) -> None:
    """/cancella N: delete one case, after confirmation."""
    args = req.args
    if not args:
        await _guarded(req, _usage("cancella"))
        return
    await _guarded(req, lambda lang: req.casebook.confirm_delete(req.user_id, args[0], lang))


@handles
async def on_delete_all(req: Request) -> None:
    """/cancellatutto: erase everything of this user, after confirmation."""
    await _guarded(req, lambda lang: req.casebook.confirm_delete_all(req.user_id, lang))


@handles
async def on_stats(req: Request) -> None:
    """/statistiche: counts by profile and outcome, what followed each message sent, and charts."""
    uid, book, lang = req.user_id, req.casebook, req.lang
    screen = book.stats(uid, lang)
    await _send_all(req, [screen])
    if screen.meta.get("total"):
        from ..charts import monthly_bars_png  # matplotlib only when a chart is drawn

        # Drawing takes a while (the first time, importing matplotlib): off the loop, so other users go on.
        png = await asyncio.to_thread(monthly_bars_png, *book.chart_data(uid, lang))
        await req.bot.send_photo(req.chat_id, InputFile(png, filename="statistiche.png"))
        plans = book.plans_chart(uid, lang)
        if plans is not None:  # what followed each message the user marked sent
            from ..charts import stacked_rows_png

            png = await asyncio.to_thread(stacked_rows_png, *plans)
            await req.bot.send_photo(req.chat_id, InputFile(png, filename="messaggi.png"))


@handles
async def on_case_button(req: Request) -> None:
    """A case-book button: page, open, outcome, delete."""
    query, action, lang = req.button, req.action, req.lang
    if not isinstance(action, CaseAction) or not honoured(action):  # expired or forged
        await answer_query(query, req.coach.ui(lang, "stale_button"))
        return
    await answer_query(query)
    screens = req.casebook.act(req.user_id, action, lang)
    message = tapped_message(query)
    tapped_a_list = any(isinstance(shown, OpenCase) for shown in button_actions(message))
    if isinstance(action, ListPage) and screens and tapped_a_list and message is not None:
        try:  # paging edits the list in place; from a case's page the list comes as a new message
            await edit(message, screens[0], case_keyboard(screens[0]))
            return
        except BadRequest:
            pass  # the list can't be edited: it comes as a new message
    if isinstance(action, Deletion) and message is not None:  # a confirmation is used once
        await strip_keyboard(req.bot, message.chat_id, message.message_id)
    await _send_all(req, screens)


# -- reminders ---------------------------------------------------------------------------------


def _still_due(book: CaseBook, reminder: DueReminder) -> bool:
    """The reminder a job was armed with is still there and not sent (its id may have been reused)."""
    row = book.store.reminder(reminder.user_id, reminder.id)
    return row is not None and not row.get("fired") and _same_time(row.get("due"), reminder.due)


def _same_time(stored: Any, due: datetime) -> bool:
    if isinstance(stored, str):
        stored = parse_time(stored)
    return isinstance(stored, datetime) and stored.replace(microsecond=0) == due.replace(microsecond=0)


async def fire_reminder(context: CoachContext) -> None:
    """Send a due reminder, recorded around the send: the intent before, the message id after.

    A failed send leaves it pending, to be sent at the next start. A kill between the two records
    sends it once more at the next start (the user may then get it twice); a reminder whose send
    was begun twice and never recorded is not sent a third time: at most one extra copy.
    """
    if context.job is None or not isinstance(context.job.data, DueReminder):
        raise RuntimeError("fire_reminder runs only as a job armed by schedule()")
    reminder = context.job.data
    book = context.casebook
    if not _still_due(book, reminder):
        return
    begun = book.store.begin_reminder_send(reminder.id, reminder.user_id)
    if begun is None:
        return
    if begun >= MAX_UNRECORDED_SENDS:
        log.info("reminder %s not sent again: its earlier sends may have reached the user", reminder.id)
        book.store.mark_fired(reminder.id, reminder.user_id, reminder.due)
        return
    message_id = None
    try:
        screen = book.reminder_message(reminder.user_id, reminder.id)
        message_id = await send(context.bot, reminder.user_id, screen, case_keyboard(screen))
    except CaseBookError:
        return  # the case was deleted meanwhile
    except Forbidden:
        log.info("reminder %s not delivered: the user blocked the bot", reminder.id)
    except TelegramError as exc:
        log.warning("reminder %s not delivered, kept for the next start: %s", reminder.id, exc)
        book.store.abort_reminder_send(reminder.id)
        return
    book.store.mark_fired(reminder.id, reminder.user_id, reminder.due, message_id)


def schedule(application: Application, reminder: DueReminder) -> None:
    """Arm one reminder on the JobQueue; one already due fires at once."""
    soon = datetime.now(timezone.utc) + timedelta(seconds=1)
    when = max(reminder.due, soon)
    job_queue(application).run_once(fire_reminder, when=when, data=reminder, name=f"reminder-{reminder.id}")


def arm_reminders(application: Application) -> int:
    """Re-arm every reminder not yet sent (at start, so they survive restarts)."""
    pending = CoachContext(application).casebook.pending_reminders()
    for reminder in pending:
        schedule(application, reminder)
    return len(pending)


def add_case_handlers(application: Application) -> None:
    """Register the case-book buttons (its commands come from the table of `bot.commands`)."""
    application.add_handler(CallbackQueryHandler(on_case_button, pattern=is_case_button))
