"""The case book on Telegram: /storico, /caso, /cerca, /nota, /esito, /promemoria, /rivaluta,
/esporta, /cancella, /cancellatutto, /statistiche, their buttons, and reminders on the JobQueue.

Thin handlers over bot.casebook.CaseBook; every call is scoped by the Telegram user id.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timedelta, timezone

from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from .casebook import CaseBook, CaseBookError, DueReminder
from .store import parse_time
from .render import TELEGRAM_LIMIT, Screen, split_message

log = logging.getLogger("clientcoach.cases")

# A destructive confirmation is only honoured for this long: an old "yes" can't erase new cases.
CONFIRM_TTL = 600
# Case-book buttons; other x:... data (more of a result, on demand) is the Coach's, see telegram_app.
CASE_ACTIONS = r"^((h|c|o):|x:(\d+|all|no)(:yes)?(@[0-9a-f]*)?$)"
_SURROGATE = re.compile("[\ud800-\udfff]")
_HUGE_NUMBER = re.compile(r"\d{10,}")


# -- pure helpers ------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """A text's length as Telegram counts it: UTF-16 code units (an emoji is usually two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def telegram_parts(text: str) -> list[str]:
    """split_message, but every part within Telegram's 4096 UTF-16 units (split_message counts
    code points, which undercounts emoji): the cut limit shrinks until every part fits."""
    limit = TELEGRAM_LIMIT
    while True:
        parts = split_message(text, limit)
        worst = max(utf16_len(part) for part in parts)
        if worst <= TELEGRAM_LIMIT or limit <= 256:
            return parts
        limit -= max(worst - TELEGRAM_LIMIT, 16)


def clean_text(text: str | None) -> str:
    """Typed text with lone surrogates (invalid Unicode a client can send) replaced."""
    return _SURROGATE.sub("\ufffd", text or "")


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


def _button_data(message) -> list[str]:
    markup = message.reply_markup
    return [b.callback_data for row in (markup.inline_keyboard if markup else ()) for b in row if b.callback_data]


def case_keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    if not screen.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=stamp_destructive(b.action)) for b in row] for row in screen.buttons]
    )


# -- showing -----------------------------------------------------------------------------------


def _book(context: ContextTypes.DEFAULT_TYPE) -> CaseBook:
    return context.application.bot_data["casebook"]


def _lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    from .telegram_app import user_lang

    return context.application.bot_data["coach"].lang(update.effective_user.id, user_lang(update))


async def send_case_screen(context: ContextTypes.DEFAULT_TYPE, chat_id: int, screen: Screen) -> None:
    parts = telegram_parts(screen.text)
    for i, part in enumerate(parts):
        await context.bot.send_message(
            chat_id, part, parse_mode=ParseMode.HTML, reply_markup=case_keyboard(screen) if i == len(parts) - 1 else None
        )


async def _send_all(update: Update, context: ContextTypes.DEFAULT_TYPE, screens: list[Screen]) -> None:
    for screen in screens:
        await send_case_screen(context, update.effective_chat.id, screen)


async def _guarded(update: Update, context: ContextTypes.DEFAULT_TYPE, call) -> None:
    """Run a case-book call; its refusal (bad number, unknown case...) is shown, nothing changes."""
    lang = _lang(update, context)
    try:
        screens = call(lang)
    except CaseBookError as exc:
        screens = [_book(context).error_screen(lang, exc)]
    await _send_all(update, context, screens if isinstance(screens, list) else [screens])


def _args(context: ContextTypes.DEFAULT_TYPE) -> list[str]:
    return [clean_text(arg) for arg in context.args or []]


def _usage(name: str):
    def missing(lang: str) -> Screen:
        raise CaseBookError("usage", command=name)

    return missing


async def _answer(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a tap; a late answer ("query is too old") is one log line, and what follows still runs."""
    try:
        await query.answer(text)
    except (BadRequest, NetworkError) as exc:
        log.info("callback answer not delivered: %s", exc)


# -- handlers ----------------------------------------------------------------------------------


async def on_history(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/storico: the user's cases, newest first."""
    uid = update.effective_user.id
    await _guarded(update, context, lambda lang: _book(context).list_cases(uid, 1, lang))


async def on_case(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/caso N: one case in full, with its advice and scripts."""
    uid, args = update.effective_user.id, _args(context)
    if not args:
        await _guarded(update, context, _usage("caso"))
        return
    book, coach = _book(context), context.application.bot_data["coach"]

    def show(lang: str) -> list[Screen]:
        screens = book.show_case(uid, args[0], lang)
        return screens + coach.case_advice_screens(uid, int(book.case(uid, args[0])["case_no"]))

    await _guarded(update, context, show)


async def on_search(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cerca testo: search aliases, notes and typed answers."""
    uid, text = update.effective_user.id, " ".join(_args(context))
    await _guarded(update, context, lambda lang: _book(context).search(uid, text, lang))


async def on_note(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/nota N testo: add a note to a case."""
    uid, args = update.effective_user.id, _args(context)
    if len(args) < 2:
        await _guarded(update, context, _usage("nota"))
        return
    # The note keeps the user's own line breaks: take it from the message, not the split args.
    text = clean_text(update.effective_message.text).split(maxsplit=2)[2] if update.effective_message.text else " ".join(args[1:])
    await _guarded(update, context, lambda lang: _book(context).add_note(uid, args[0], text, lang))


async def on_outcome(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/esito N: buttons for the case's outcome (or /esito N risolto)."""
    uid, args = update.effective_user.id, _args(context)
    if not args:
        await _guarded(update, context, _usage("esito"))
        return
    book = _book(context)
    if len(args) >= 2:
        await _guarded(update, context, lambda lang: book.set_outcome(uid, args[0], "_".join(args[1:]), lang))
    else:
        await _guarded(update, context, lambda lang: book.outcome_choices(uid, args[0], lang))


async def on_remind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/promemoria N 3g | 1s | a date: a reminder that survives restarts."""
    uid, args = update.effective_user.id, _args(context)
    if len(args) < 2:
        await _guarded(update, context, _usage("promemoria"))
        return

    def remind(lang: str) -> Screen:
        screen = _book(context).remind(uid, args[0], " ".join(args[1:]), lang)
        schedule(context.application, screen.meta["reminder"])
        return screen

    await _guarded(update, context, remind)


async def on_reassess(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/rivaluta N: the questionnaire again for the same client, pre-filled."""
    from .telegram_app import show

    uid, args = update.effective_user.id, _args(context)
    if not args:
        await _guarded(update, context, _usage("rivaluta"))
        return
    coach, book, lang = context.application.bot_data["coach"], _book(context), _lang(update, context)
    try:
        case_no = book.case(uid, args[0])["case_no"]
    except CaseBookError as exc:
        await _send_all(update, context, [book.error_screen(lang, exc)])
        return
    await show(update, context, coach.reassess(uid, case_no, lang, update.update_id))


async def on_export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/esporta: all the user's cases as CSV and JSON documents."""
    uid, book, lang = update.effective_user.id, _book(context), _lang(update, context)
    for fmt in ("csv", "json"):
        export = book.export(uid, fmt, lang)
        await context.bot.send_document(
            update.effective_chat.id, InputFile(export.data, filename=export.filename), caption=export.filename
        )


async def on_delete(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancella N: delete one case, after confirmation."""
    uid, args = update.effective_user.id, _args(context)
    if not args:
        await _guarded(update, context, _usage("cancella"))
        return
    await _guarded(update, context, lambda lang: _book(context).confirm_delete(uid, args[0], lang))


async def on_delete_all(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancellatutto: erase everything of this user, after confirmation."""
    uid = update.effective_user.id
    await _guarded(update, context, lambda lang: _book(context).confirm_delete_all(uid, lang))


async def on_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/statistiche: counts by profile and outcome, and a chart over time."""
    uid, book, lang = update.effective_user.id, _book(context), _lang(update, context)
    screen = book.stats(uid, lang)
    await send_case_screen(context, update.effective_chat.id, screen)
    if screen.meta.get("total"):
        from .charts import monthly_bars_png

        # Drawing takes a while (the first time, importing matplotlib): off the loop, so other users go on.
        png = await asyncio.to_thread(monthly_bars_png, *book.chart_data(uid, lang))
        await context.bot.send_photo(update.effective_chat.id, InputFile(png, filename="statistiche.png"))


async def on_case_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A case-book button: page, open, outcome, delete."""
    query = update.callback_query
    uid, lang = update.effective_user.id, _lang(update, context)
    action = unstamp(clean_text(query.data))
    if action is None or _HUGE_NUMBER.search(action):  # expired, forged, or a number no case has
        await _answer(query, context.application.bot_data["coach"].ui(lang, "stale_button"))
        return
    await _answer(query)
    screens = _book(context).act(uid, action, lang)
    if action.startswith("c:") and action[2:].isdigit() and len(screens) > 1:  # the same full view as /caso N
        screens += context.application.bot_data["coach"].case_advice_screens(uid, int(action[2:]))
    tapped_a_list = isinstance(query.message, Message) and any((d or "").startswith("c:") for d in _button_data(query.message))
    if action.startswith("h:") and screens and tapped_a_list:
        try:  # paging edits the list in place; from a case's page the list comes as a new message
            await query.message.edit_text(screens[0].text, parse_mode=ParseMode.HTML, reply_markup=case_keyboard(screens[0]))
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
    if action.startswith("x:") and isinstance(query.message, Message):
        try:  # a confirmation is used once
            await query.message.edit_reply_markup(reply_markup=None)
        except BadRequest:
            pass
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


async def fire_reminder(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a due reminder, and mark it sent only once Telegram has accepted it: a failed send
    (or a kill in between) leaves it pending, to be sent at the next start."""
    reminder: DueReminder = context.job.data
    book = context.application.bot_data["casebook"]
    if not _still_due(book, reminder):
        return
    try:
        screen = book.reminder_message(reminder.user_id, reminder.id)
        await send_case_screen(context, reminder.user_id, screen)
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
    pending = application.bot_data["casebook"].pending_reminders()
    for reminder in pending:
        schedule(application, reminder)
    return len(pending)


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
