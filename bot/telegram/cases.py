"""The case book on Telegram: /storico, /caso, /cerca, /nota, /esito, /promemoria, /rivaluta,
/esporta, /cancella, /cancellatutto, /statistiche, their buttons, and reminders on the JobQueue.

Thin handlers over bot.casebook.CaseBook; every call is scoped by the Telegram user id.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from telegram import InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from ..casebook import CaseBook, CaseBookError, DueReminder
from ..render import Screen
from ..store import parse_time
from .context import CoachContext
from .dialog import show
from .messages import (
    answer_query,
    button_data,
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
# Case-book buttons; other x:... data (more of a result, on demand) is the Coach's, see dialog.on_extra.
CASE_ACTIONS = r"^((h|c|o):|x:(\d+|all|no)(:yes)?(@[0-9a-f]*)?$)"
_HUGE_NUMBER = re.compile(r"\d{10,}")

COMMANDS = {
    "it": [
        ("storico", "I tuoi casi"),
        ("caso", "Apri un caso: /caso N"),
        ("cerca", "Cerca nei casi: /cerca testo"),
        ("nota", "Aggiungi una nota: /nota N testo"),
        ("esito", "Com'è finita: /esito N"),
        ("promemoria", "Ricordamelo: /promemoria N 3g"),
        ("rivaluta", "Rivaluta un cliente: /rivaluta N"),
        ("esporta", "Esporta i casi (CSV e JSON)"),
        ("statistiche", "Grafico dei tuoi casi"),
        ("cancella", "Cancella un caso: /cancella N"),
        ("cancellatutto", "Cancella tutti i tuoi dati"),
    ],
    "en": [
        ("storico", "Your cases"),
        ("caso", "Open a case: /caso N"),
        ("cerca", "Search your cases: /cerca text"),
        ("nota", "Add a note: /nota N text"),
        ("esito", "How it ended: /esito N"),
        ("promemoria", "Remind me: /promemoria N 3d"),
        ("rivaluta", "Re-assess a client: /rivaluta N"),
        ("esporta", "Export your cases (CSV and JSON)"),
        ("statistiche", "Chart of your cases"),
        ("cancella", "Delete a case: /cancella N"),
        ("cancellatutto", "Delete all your data"),
    ],
}


# -- pure helpers ------------------------------------------------------------------------------


def stamp_destructive(action: str, now: float | None = None) -> str:
    """x:<n>:yes and x:all:yes carry the time they were offered."""
    if action.startswith("x:") and action.endswith(":yes"):
        return f"{action}@{int(now if now is not None else time.time()):x}"
    return action


def unstamp(data: str, now: float | None = None) -> str | None:
    """The action of a case-book button; None when a stamped confirmation has expired or is forged."""
    action, sep, stamp = data.partition("@")
    if action.startswith("x:") and action.endswith(":yes"):
        try:
            offered = int(stamp, 16) if sep else -1
        except ValueError:
            return None
        if not 0 <= (now if now is not None else time.time()) - offered <= CONFIRM_TTL:
            return None
    return action


def case_keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    """A case-book screen's keyboard; destructive confirmations are stamped with the time."""
    return keyboard(screen, stamp_destructive)


def _usage(name: str) -> Callable[[str], Screen]:
    def missing(lang: str) -> Screen:
        raise CaseBookError("usage", command=name)

    return missing


# -- showing -----------------------------------------------------------------------------------


async def _send_all(update: Update, context: CoachContext, screens: list[Screen]) -> None:
    for screen in screens:
        await send(context.bot, update.effective_chat.id, screen, case_keyboard(screen))


async def _guarded(update: Update, context: CoachContext, call: Callable[[str], Screen | list[Screen]]) -> None:
    """Run a case-book call; its refusal (bad number, unknown case...) is shown, nothing changes."""
    lang = context.lang(update)
    try:
        screens = call(lang)
    except CaseBookError as exc:
        screens = [context.casebook.error_screen(lang, exc)]
    await _send_all(update, context, screens if isinstance(screens, list) else [screens])


# -- handlers ----------------------------------------------------------------------------------


async def on_history(update: Update, context: CoachContext) -> None:
    """/storico: the user's cases, newest first."""
    uid = update.effective_user.id
    await _guarded(update, context, lambda lang: context.casebook.list_cases(uid, 1, lang))


async def on_case(update: Update, context: CoachContext) -> None:
    """/caso N: one case in full, with its advice and scripts."""
    uid, args = update.effective_user.id, context.clean_args
    if not args:
        await _guarded(update, context, _usage("caso"))
        return
    book = context.casebook
    await _guarded(update, context, lambda lang: book.case_view(uid, args[0], lang))


async def on_search(update: Update, context: CoachContext) -> None:
    """/cerca testo: search aliases, notes and typed answers."""
    uid, text = update.effective_user.id, " ".join(context.clean_args)
    await _guarded(update, context, lambda lang: context.casebook.search(uid, text, lang))


async def on_note(update: Update, context: CoachContext) -> None:
    """/nota N testo: add a note to a case."""
    uid, args = update.effective_user.id, context.clean_args
    if len(args) < 2:
        await _guarded(update, context, _usage("nota"))
        return
    # The note keeps the user's own line breaks: take it from the message, not the split args.
    typed = update.effective_message.text
    text = clean_text(typed).split(maxsplit=2)[2] if typed else " ".join(args[1:])
    await _guarded(update, context, lambda lang: context.casebook.add_note(uid, args[0], text, lang))


async def on_outcome(update: Update, context: CoachContext) -> None:
    """/esito N: buttons for the case's outcome (or /esito N risolto)."""
    uid, args, book = update.effective_user.id, context.clean_args, context.casebook
    if not args:
        await _guarded(update, context, _usage("esito"))
    elif len(args) >= 2:
        await _guarded(update, context, lambda lang: book.set_outcome(uid, args[0], "_".join(args[1:]), lang))
    else:
        await _guarded(update, context, lambda lang: book.outcome_choices(uid, args[0], lang))


async def on_remind(update: Update, context: CoachContext) -> None:
    """/promemoria N 3g | 1s | a date: a reminder that survives restarts."""
    uid, args = update.effective_user.id, context.clean_args
    if len(args) < 2:
        await _guarded(update, context, _usage("promemoria"))
        return

    def remind(lang: str) -> Screen:
        screen = context.casebook.remind(uid, args[0], " ".join(args[1:]), lang)
        schedule(context.application, screen.meta["reminder"])
        return screen

    await _guarded(update, context, remind)


async def on_reassess(update: Update, context: CoachContext) -> None:
    """/rivaluta N: the questionnaire again for the same client, pre-filled."""
    uid, args = update.effective_user.id, context.clean_args
    if not args:
        await _guarded(update, context, _usage("rivaluta"))
        return
    book, lang = context.casebook, context.lang(update)
    try:
        case_no = book.case(uid, args[0])["case_no"]
    except CaseBookError as exc:
        await _send_all(update, context, [book.error_screen(lang, exc)])
        return
    await show(update, context, context.coach.reassess(uid, case_no, lang, update.update_id))


async def on_export(update: Update, context: CoachContext) -> None:
    """/esporta: all the user's cases as CSV and JSON documents."""
    uid, lang = update.effective_user.id, context.lang(update)
    for fmt in ("csv", "json"):
        export = context.casebook.export(uid, fmt, lang)
        await context.bot.send_document(
            update.effective_chat.id, InputFile(export.data, filename=export.filename), caption=export.filename
        )


async def on_delete(update: Update, context: CoachContext) -> None:
    """/cancella N: delete one case, after confirmation."""
    uid, args = update.effective_user.id, context.clean_args
    if not args:
        await _guarded(update, context, _usage("cancella"))
        return
    await _guarded(update, context, lambda lang: context.casebook.confirm_delete(uid, args[0], lang))


async def on_delete_all(update: Update, context: CoachContext) -> None:
    """/cancellatutto: erase everything of this user, after confirmation."""
    uid = update.effective_user.id
    await _guarded(update, context, lambda lang: context.casebook.confirm_delete_all(uid, lang))


async def on_stats(update: Update, context: CoachContext) -> None:
    """/statistiche: counts by profile and outcome, and a chart over time."""
    uid, book, lang = update.effective_user.id, context.casebook, context.lang(update)
    screen = book.stats(uid, lang)
    await _send_all(update, context, [screen])
    if screen.meta.get("total"):
        from ..charts import monthly_bars_png  # matplotlib only when a chart is drawn

        # Drawing takes a while (the first time, importing matplotlib): off the loop, so other users go on.
        png = await asyncio.to_thread(monthly_bars_png, *book.chart_data(uid, lang))
        await context.bot.send_photo(update.effective_chat.id, InputFile(png, filename="statistiche.png"))


async def on_case_button(update: Update, context: CoachContext) -> None:
    """A case-book button: page, open, outcome, delete."""
    query = update.callback_query
    uid, lang = update.effective_user.id, context.lang(update)
    action = unstamp(clean_text(query.data))
    if action is None or _HUGE_NUMBER.search(action):  # expired, forged, or a number no case has
        await answer_query(query, context.coach.ui(lang, "stale_button"))
        return
    await answer_query(query)
    screens = context.casebook.act(uid, action, lang)
    message = tapped_message(query)
    tapped_a_list = any(data.startswith("c:") for data in button_data(message))
    if action.startswith("h:") and screens and tapped_a_list:
        try:  # paging edits the list in place; from a case's page the list comes as a new message
            await edit(message, screens[0], case_keyboard(screens[0]))
            return
        except BadRequest:
            pass  # the list can't be edited: it comes as a new message
    if action.startswith("x:") and message is not None:  # a confirmation is used once
        await strip_keyboard(context.bot, message.chat_id, message.message_id)
    await _send_all(update, context, screens)


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
    """Send a due reminder, and mark it sent only once Telegram has accepted it: a failed send
    (or a kill in between) leaves it pending, to be sent at the next start."""
    reminder: DueReminder = context.job.data
    book = context.casebook
    if not _still_due(book, reminder):
        return
    try:
        screen = book.reminder_message(reminder.user_id, reminder.id)
        await send(context.bot, reminder.user_id, screen, case_keyboard(screen))
    except CaseBookError:
        return  # the case was deleted meanwhile
    except Forbidden:
        log.info("reminder %s not delivered: the user blocked the bot", reminder.id)
    except TelegramError as exc:
        log.warning("reminder %s not delivered, kept for the next start: %s", reminder.id, exc)
        return
    book.mark_fired(reminder.id, reminder.user_id, reminder.due)


def schedule(application: Application, reminder: DueReminder) -> None:
    """Arm one reminder on the JobQueue; one already due fires at once."""
    soon = datetime.now(timezone.utc) + timedelta(seconds=1)
    when = max(reminder.due, soon)
    application.job_queue.run_once(fire_reminder, when=when, data=reminder, name=f"reminder-{reminder.id}")


def arm_reminders(application: Application) -> int:
    """Re-arm every reminder not yet sent (at start, so they survive restarts)."""
    pending = CoachContext(application).casebook.pending_reminders()
    for reminder in pending:
        schedule(application, reminder)
    return len(pending)


def add_case_handlers(application: Application) -> None:
    """Register the case-book commands and buttons."""
    private = filters.ChatType.PRIVATE
    for names, handler in (
        (["storico", "history"], on_history),
        (["caso", "case"], on_case),
        (["cerca", "search"], on_search),
        (["nota", "note"], on_note),
        (["esito", "outcome"], on_outcome),
        (["promemoria", "remind"], on_remind),
        (["rivaluta", "reassess"], on_reassess),
        (["esporta", "export"], on_export),
        (["cancella", "delete"], on_delete),
        (["cancellatutto", "deleteall"], on_delete_all),
        (["statistiche", "stats"], on_stats),
    ):
        application.add_handler(CommandHandler(names, handler, filters=private))
    application.add_handler(CallbackQueryHandler(on_case_button, pattern=CASE_ACTIONS))
