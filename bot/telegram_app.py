"""The Telegram front end: thin async handlers over the Coach, on python-telegram-bot 22.

Each handler turns an update into one Coach call and shows the Reply: the questionnaire is one
message edited in place, results and scripts are new messages. Buttons carry a nonce (the
conversation id and step) so an old or repeated tap changes nothing.

Under faults (issue 10): only the update types the bot handles are fetched; an update the library
cannot parse is logged without its content and skipped; a polled update is confirmed to Telegram
only once it has been handled, so a kill -9 loses nothing (a redelivery is recognised by the store
and shows where the user is); a callback query is answered first and a failed answer never skips
the edit; the token never reaches a log line; a 401 while running ends the process non-zero.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import json
import logging
import os
import re
import secrets
import signal
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import tornado.httpserver
import tornado.web
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import BaseRequest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    Updater,
    filters,
)

from .casebook import CaseBook
from .coach import Coach, Reply
from .config import Settings
from .render import Screen
from .telegram_cases import COMMANDS as CASE_COMMANDS
from .telegram_cases import add_case_handlers, arm_reminders, clean_text, telegram_parts, utf16_len
from .telegram_throughput import ChatOrderedProcessor, FairRateLimiter
from .telegram_throughput import expected_delay  # how long the chat's send queue is

log = logging.getLogger("clientcoach.telegram")

CALLBACK_LIMIT = 64
# Only what the handlers use: edits, channel posts, polls... are never fetched (a poison update of a
# type nobody handles cannot stop the bot, and an edited message can't be taken as an answer).
ALLOWED_UPDATES = ["message", "callback_query"]
# A Telegram update is a few KB; anything far bigger on the webhook is refused before it is read.
WEBHOOK_BODY_LIMIT = 1 << 20
# A user outside the allowlist is told so at most once in this many seconds (never in groups).
REFUSAL_PERIOD = 3600.0
# While only updates still being handled are pending, look for new ones this often.
HOLD_POLL = 0.2
# At most this many updates in hand are held back from confirmation (see UpdateLedger.offset).
HOLD_LIMIT = 50
EXIT_UNAUTHORIZED = 3
# A step whose edit will wait longer than this (the chat's pace) says so in the callback answer.
LATE_REPLY = 2.0

COMMANDS = {
    "it": [
        ("nuovo", "Nuovo questionario su un cliente"),
        ("rivedi", "Rivedi e cambia le risposte"),
        ("indietro", "Annulla l'ultima risposta"),
        ("annulla", "Interrompi il questionario"),
        ("profilo", "Il tuo profilo: /profilo campo valore"),
        ("lingua", "Lingua: it | en"),
        ("privacy", "Cosa conservo e come cancellarlo"),
        ("aiuto", "Cosa posso fare"),
        ("start", "Presentazione"),
    ],
    "en": [
        ("nuovo", "New questionnaire about a client"),
        ("rivedi", "Review and change your answers"),
        ("indietro", "Undo the last answer"),
        ("annulla", "Stop the questionnaire"),
        ("profilo", "Your profile: /profilo field value"),
        ("lingua", "Language: it | en"),
        ("privacy", "What I keep and how to delete it"),
        ("aiuto", "What I can do"),
        ("start", "Introduction"),
    ],
}
NAVIGATION = {"annulla": "cancel", "indietro": "back", "rivedi": "review", "cancel": "cancel", "back": "back", "review": "review"}
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


# -- pure helpers ------------------------------------------------------------------------------


def dialog_data(nonce: tuple[str, int], action: str) -> str:
    """callback_data of a questionnaire button: q:<conversation>:<step>:<action>."""
    return f"q:{nonce[0]}:{nonce[1]}:{action}"


def parse_dialog_data(data: str) -> tuple[str, int, str] | None:
    parts = data.split(":", 3)
    if len(parts) != 4 or parts[0] != "q" or not parts[2].isdigit() or len(parts[2]) > 9:
        return None
    return parts[1], int(parts[2]), parts[3]


def keyboard(screen: Screen, nonce: tuple[str, int] | None = None) -> InlineKeyboardMarkup | None:
    """A screen's buttons as an inline keyboard; dialogue actions get the nonce."""
    if not screen.buttons:
        return None
    raw = bool(screen.meta.get("raw_actions")) or screen.kind == "script"
    rows = []
    for row in screen.buttons:
        buttons = []
        for button in row:
            if raw:
                data = button.action  # already complete, e.g. s:<case>:<index>:<variant>:<form>
            else:
                data = dialog_data(nonce, button.action) if nonce else f"r:{button.action}"
            if len(data.encode()) > CALLBACK_LIMIT:
                raise ValueError(f"callback_data over {CALLBACK_LIMIT} bytes: {data!r}")
            buttons.append(InlineKeyboardButton(button.label, callback_data=data))
        rows.append(buttons)
    return InlineKeyboardMarkup(rows)


def user_lang(update: Update) -> str:
    code = (update.effective_user.language_code or "it") if update.effective_user else "it"
    return "en" if code.lower().startswith("en") else "it"


# -- API outcomes that are expected: one log line each, never a traceback ------------------------


async def answer_query(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a callback query (stop the spinner); a late or failed answer is logged and ignored,
    so the edit or the result that follows is never skipped."""
    try:
        await query.answer(text, show_alert=alert)
    except (BadRequest, NetworkError) as exc:  # "query is too old", timeouts
        log.info("callback answer not delivered: %s", exc)


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in str(exc).lower()


# -- showing replies ---------------------------------------------------------------------------


def _coach(context: ContextTypes.DEFAULT_TYPE) -> Coach:
    return context.application.bot_data["coach"]


async def send_screen(context: ContextTypes.DEFAULT_TYPE, chat_id: int, screen: Screen, nonce=None) -> Message:
    """Send a screen, split at paragraphs when over Telegram's limit; buttons go on the last part."""
    parts = telegram_parts(screen.text)
    message = None
    for i, part in enumerate(parts):
        markup = keyboard(screen, nonce) if i == len(parts) - 1 else None
        message = await context.bot.send_message(
            chat_id, part, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )
    assert message is not None
    return message


async def edit_screen(message: Message, screen: Screen, nonce=None) -> None:
    """Replace a message's text and buttons; an identical edit is not an error."""
    try:
        await message.edit_text(
            telegram_parts(screen.text)[0],
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard(screen, nonce),
            link_preview_options=NO_PREVIEW,
        )
    except BadRequest as exc:
        if not _not_modified(exc):
            raise
        log.debug("edit skipped: message is not modified")


async def strip_keyboard(context: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int | None) -> None:
    """Take the buttons off an old dialogue message so it can't be tapped any more."""
    if not message_id:
        return
    try:
        await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
    except BadRequest as exc:  # already gone or already without buttons
        log.debug("keyboard not removed: %s", exc)


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply, *, in_place: Message | None = None) -> None:
    """Show a Reply: the dialog (edited in place or sent anew), then the new messages.

    A step costs one throttled call: the edit, or (after a typed answer or a command) the new
    question. The old question's buttons are left as they are: their nonce makes them stale.
    """
    coach, user_id, chat_id = _coach(context), update.effective_user.id, update.effective_chat.id
    if reply.dialog is not None:
        if in_place is not None:
            await edit_screen(in_place, reply.dialog, reply.nonce)
        else:
            sent = await send_screen(context, chat_id, reply.dialog, reply.nonce)
            coach.remember(user_id, message_id=sent.message_id)
    elif reply.ended and in_place is not None:
        await strip_keyboard(context, chat_id, in_place.message_id)
    for screen in reply.messages:
        await send_screen(context, chat_id, screen)


# -- handlers ----------------------------------------------------------------------------------


def _refuse_now(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool:
    """True at most once per REFUSAL_PERIOD for one user (a flood gets one refusal, not one each)."""
    refused: dict[int, float] = context.application.bot_data.setdefault("refused", {})
    now = time.monotonic()
    if now - refused.get(user_id, -REFUSAL_PERIOD) < REFUSAL_PERIOD:
        return False
    if len(refused) > 10_000:  # many strangers: forget the ones whose period is over
        for uid in [u for u, at in refused.items() if now - at >= REFUSAL_PERIOD]:
            del refused[uid]
    refused[user_id] = now
    return True


async def gatekeeper(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before any other handler: let through only new input from a known sender in a private chat;
    refuse users outside the allowlist (a toast on a button, a message at most once per period)."""
    if not isinstance(update, Update):
        raise ApplicationHandlerStop
    user, chat, query = update.effective_user, update.effective_chat, update.callback_query
    private = chat is not None and chat.type == ChatType.PRIVATE
    if query is not None and (user is None or not private):  # a group's or an inline message's button
        await answer_query(query)
        raise ApplicationHandlerStop
    if user is None or not private or (update.message is None and query is None):
        raise ApplicationHandlerStop  # edits, channel posts, groups, no sender: nothing to act on
    settings: Settings = context.application.bot_data["settings"]
    if settings.allows(user.id):
        return
    text = _coach(context).ui(user_lang(update), "not_allowed")
    if query is not None:
        await answer_query(query, text, alert=True)
    elif _refuse_now(context, user.id):
        await context.bot.send_message(chat.id, text)
    raise ApplicationHandlerStop


def _lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    return _coach(context).lang(update.effective_user.id, user_lang(update))


def _command(update: Update) -> str:
    return (update.effective_message.text or "").split()[0].lstrip("/").split("@")[0].lower()


async def _notice(update: Update, context: ContextTypes.DEFAULT_TYPE, name: str, *args: Any, lang: str | None = None) -> None:
    text = _coach(context).ui(lang or _lang(update, context), name, *args)
    await send_screen(context, update.effective_chat.id, Screen("notice", text))


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot does and, if a questionnaire is open, offer to go on with it."""
    coach, lang = _coach(context), _lang(update, context)
    await _notice(update, context, "welcome", lang=lang)
    state, _ = coach.load(update.effective_user.id)
    if state is not None:
        await show(update, context, coach.show(update.effective_user.id, lang))


async def on_new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start a new questionnaire."""
    coach = _coach(context)
    await show(update, context, coach.start(update.effective_user.id, _lang(update, context), update.update_id))


async def on_navigation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/annulla, /indietro, /rivedi: the navigation buttons as commands."""
    coach, user_id = _coach(context), update.effective_user.id
    reply = coach.act(user_id, NAVIGATION[_command(update)], update_id=update.update_id, fallback_lang=user_lang(update))
    if reply.toast and reply.dialog is not None:
        reply = Reply(dialog=reply.dialog, nonce=reply.nonce)  # the error is inside the re-sent question
    await show(update, context, reply)


async def on_text_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/aiuto and /privacy: fixed texts."""
    await _notice(update, context, {"aiuto": "help", "help": "help", "privacy": "privacy"}[_command(update)])


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lingua it|en: remember the user's language."""
    choice = (context.args or [""])[0].lower()
    if choice not in ("it", "en"):
        await _notice(update, context, "language_usage")
        return
    _coach(context).set_language(update.effective_user.id, choice)
    await _notice(update, context, "language_set", lang=choice)


async def on_profile(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/profilo: the user's own profile; /profilo <field> <value...> changes one field."""
    coach, user_id, lang = _coach(context), update.effective_user.id, _lang(update, context)
    if not hasattr(coach, "profile_screen"):  # the Coach side is not there yet
        await _notice(update, context, "unknown_command", lang=lang)
        return
    words = clean_text(update.effective_message.text).split(maxsplit=2)
    if len(words) < 2:
        screen = coach.profile_screen(user_id, lang)
    else:
        screen = coach.set_profile_field(user_id, words[1], words[2] if len(words) > 2 else "", lang)
    await send_screen(context, update.effective_chat.id, screen)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text: the answer to the current question, or a hint when nothing is open."""
    coach = _coach(context)
    text = clean_text(update.effective_message.text)
    reply = coach.text(update.effective_user.id, text, update_id=update.update_id, fallback_lang=user_lang(update))
    await show(update, context, reply)


async def on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes...: explain what the bot understands."""
    state, _ = _coach(context).load(update.effective_user.id)
    await _notice(update, context, "use_buttons" if state is not None else "stray_message")


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know: point to /aiuto."""
    await _notice(update, context, "unknown_command")


def _tapped(query: CallbackQuery) -> Message | None:
    """The message a button was on, if the bot can still edit it (not inline, not inaccessible)."""
    return query.message if isinstance(query.message, Message) else None


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tapped button: a questionnaire step, a script variant, more of a result, or a restart offer.
    The callback query is always answered before anything else is sent."""
    query = update.callback_query
    coach, user_id, data = _coach(context), update.effective_user.id, clean_text(query.data)
    dialog = parse_dialog_data(data)
    if dialog is not None:
        await on_dialog_button(update, context, *dialog)
    elif data.startswith("s:"):
        await on_script_variant(update, context)
    elif data.startswith("x:") and hasattr(coach, "extra"):
        await on_extra(update, context)
    elif data in ("r:restart", "r:new"):
        await answer_query(query)
        message = _tapped(query)
        await show(update, context, coach.start(user_id, _lang(update, context), update.update_id), in_place=message)
        if message is not None:
            coach.remember(user_id, message_id=message.message_id)
    else:
        await answer_query(query, coach.ui(_lang(update, context), "stale_button"))


async def on_dialog_button(update: Update, context: ContextTypes.DEFAULT_TYPE, conversation: str, step: int, action: str) -> None:
    """One questionnaire step: apply it, answer the tap, edit the question in place (one call)."""
    query, coach, user_id = update.callback_query, _coach(context), update.effective_user.id
    reply = coach.act(
        user_id, action, conversation=conversation, step=step, update_id=update.update_id, fallback_lang=user_lang(update)
    )
    if reply.dialog is None and reply.toast is not None:
        await on_stale_tap(update, context, conversation, action, reply.toast)
        return
    await answer_query(query, reply.toast or _late_notice(update, context, reply.dialog))
    if reply.toast is None:  # a toast means "not allowed here": the question stays as it is
        await show(update, context, reply, in_place=_tapped(query))


async def on_stale_tap(update: Update, context: ContextTypes.DEFAULT_TYPE, conversation: str, action: str, toast: str) -> None:
    """A tap that no longer matches the conversation's step.

    A question of the open questionnaire left behind what was saved (a restart between saving
    and editing, an older question above a typed answer) is brought up to date; a finish handled
    before a restart sends its result again; another questionnaire's buttons are switched off; a
    double tap on the current question just gets the toast.
    """
    query, coach, user_id = update.callback_query, _coach(context), update.effective_user.id
    message = _tapped(query)
    state, _ = coach.load(user_id)
    shown = _shown_nonce(message)
    result = coach.result_again(user_id, conversation) if state is None and action == "finish" else None
    if result is not None and shown is not None and shown[0] == conversation:
        # The review still on screen: the result never reached it (a restart), so it comes now.
        await answer_query(query)
        await show(update, context, result, in_place=message)
        return
    now = (state.get("cid"), state["step"]) if state is not None else None
    if shown is not None and now is not None and shown != now and shown[0] == now[0]:
        # Any question of this questionnaire (a restart may have left a copy) shows where it is now.
        await answer_query(query)
        await show(update, context, coach.show(user_id, user_lang(update)), in_place=message)
        return
    await answer_query(query, toast)
    if shown is not None and shown != now:
        await strip_keyboard(context, message.chat_id, message.message_id)


def _shown_nonce(message: Message | None) -> tuple[str, int] | None:
    """The (conversation, step) the questionnaire buttons of a message carry, if it has any."""
    markup = message.reply_markup if message is not None else None
    for row in markup.inline_keyboard if markup else ():
        for button in row:
            parsed = parse_dialog_data(button.callback_data or "") if isinstance(button.callback_data, str) else None
            if parsed:
                return parsed[0], parsed[1]
    return None


def _late_notice(update: Update, context: ContextTypes.DEFAULT_TYPE, dialog: Screen | None) -> str | None:
    """A toast saying the reply will be late, when the chat's send queue is long (else None)."""
    if dialog is None:
        return None
    delay = expected_delay(context.bot, update.effective_chat.id)
    if delay < LATE_REPLY:
        return None
    return _coach(context).ui(dialog_lang(update, context), "reply_late", max(1, round(delay)))


def dialog_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    state, _ = _coach(context).load(update.effective_user.id)
    return state["lang"] if state else _lang(update, context)


def _small_int(text: str) -> int | None:
    """A case or script number from a button; None for anything else (e.g. 10**40)."""
    return int(text) if text.isdigit() and len(text) <= 9 else None


async def on_script_variant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Switch one script message to another variant or form of address, in place."""
    query, coach = update.callback_query, _coach(context)
    parts = clean_text(query.data).split(":")
    screen = None
    if len(parts) == 5 and (case_no := _small_int(parts[1])) is not None and (index := _small_int(parts[2])) is not None:
        screen = coach.script_variant(update.effective_user.id, case_no, index, parts[3], parts[4])
    message = _tapped(query)
    if screen is None or message is None:
        await answer_query(query, coach.ui(_lang(update, context), "stale_button"))
        return
    await answer_query(query)
    await edit_screen(message, screen)


async def on_extra(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """More of a result on demand (the rest of the scripts, the guide...), as new messages."""
    query, coach = update.callback_query, _coach(context)
    screens = coach.extra(update.effective_user.id, clean_text(query.data))
    if screens is None:
        await answer_query(query, coach.ui(_lang(update, context), "stale_button"))
        return
    await answer_query(query)
    for screen in screens:
        await send_screen(context, update.effective_chat.id, screen)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (no token, no case text) and tell the user what to do next.

    Expected API outcomes get one line and no traceback: a blocked bot, a 429 the rate limiter
    gave up on, a revoked token (which also stops the bot so its supervisor restarts it).
    """
    error = context.error
    update_id = getattr(update, "update_id", "?")
    if isinstance(error, InvalidToken):
        log.error("the Bot API no longer accepts the token (401): stopping")
        _fatal(context.application)
        return
    if isinstance(error, Forbidden):
        log.info("update %s: the user blocked the bot", update_id)
        return
    if isinstance(error, RetryAfter):
        log.warning("update %s: Telegram asked to wait %s; the reply was dropped", update_id, error.retry_after)
    else:
        log.error("update %s failed: %s", update_id, type(error).__name__, exc_info=error)
    if isinstance(update, Update) and update.effective_chat and update.effective_user:
        try:
            if update.callback_query:
                await answer_query(update.callback_query)
            await context.bot.send_message(update.effective_chat.id, _coach(context).ui(user_lang(update), "internal_error"))
        except Exception:  # the user cannot be told; the log above is what remains
            log.warning("could not tell the user about the failure")


async def post_init(application: Application) -> None:
    """Register the command menus in Italian and English; re-arm the reminders not yet sent."""
    for lang in COMMANDS:
        menu = [BotCommand(c, d) for c, d in COMMANDS[lang] + CASE_COMMANDS[lang]]
        await application.bot.set_my_commands(menu, language_code=lang)
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["it"] + CASE_COMMANDS["it"]])
    armed = arm_reminders(application)
    log.info("bot started; %d reminders armed", armed)


# -- fetching updates under faults -------------------------------------------------------------


class UpdateLedger:
    """Which polled updates are still being handled.

    getUpdates confirms every update below its offset, so the offset asked for is the oldest update
    still in hand: after a kill -9 Telegram delivers again what was fetched but not yet handled
    (the store recognises what had been applied). Poison updates are skipped past.
    """

    def __init__(self) -> None:
        self.in_hand: set[int] = set()
        self.seen = 0  # the newest update id handed out or skipped
        self.changed = asyncio.Event()

    def offset(self) -> int | None:
        if self.in_hand and len(self.in_hand) < HOLD_LIMIT:
            return min(self.in_hand)
        # Past HOLD_LIMIT (a crowd) serving new updates comes first: Telegram returns at most 100
        # from the offset, and held ones would hide the new taps whose answers can't wait.
        return self.seen + 1 if self.seen else None

    def parse(self, raw: Sequence[Any], bot: Any) -> tuple[list[Update], bool]:
        """The new updates of a getUpdates answer, and whether some were still in hand."""
        updates, waiting = [], False
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                continue  # Telegram never sends one; nothing to confirm it with
            if update_id in self.in_hand:
                waiting = True
                continue
            if update_id <= self.seen:
                continue  # handled already, below the offset asked for
            self.seen = update_id
            try:
                update = Update.de_json(item, bot)
            except Exception as exc:  # the library can't read it: say so once, without its content
                log.warning("update %s skipped: it could not be read (%s)", update_id, type(exc).__name__)
                continue
            self.in_hand.add(update_id)
            updates.append(update)
        return updates, waiting

    def done(self, update_id: int) -> None:
        self.in_hand.discard(update_id)
        self.changed.set()


class PollingBot:
    """The bot as the Updater sees it: getUpdates through the ledger; everything else as is."""

    def __init__(self, bot: Any, ledger: UpdateLedger, on_unauthorized) -> None:
        self._bot, self.ledger, self._on_unauthorized = bot, ledger, on_unauthorized
        self.closed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bot, name)

    async def get_updates(self, offset=None, limit=None, timeout=None, allowed_updates=None, **_: Any) -> tuple[Update, ...]:
        wait = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else float(timeout or 0)
        deadline = time.monotonic() + wait
        while not self.closed:
            self.ledger.changed.clear()
            remaining = max(0, int(deadline - time.monotonic()))
            raw = await self.fetch(self.ledger.offset(), limit, remaining, allowed_updates)
            updates, waiting = self.ledger.parse(raw, self._bot)
            if updates or time.monotonic() >= deadline or (not raw and not self.closed):
                return tuple(updates)
            if waiting:  # only updates still in hand are pending: look again when one is done
                try:
                    await asyncio.wait_for(self.ledger.changed.wait(), HOLD_POLL)
                except TimeoutError:
                    pass
        return ()

    async def fetch(self, offset: int | None, limit: int | None, timeout: int, allowed_updates) -> list[Any]:
        """One getUpdates call, its JSON as is; a 401 stops the bot instead of retrying forever."""
        data = {"timeout": timeout, "offset": offset, "limit": limit, "allowed_updates": allowed_updates}
        try:
            read_timeout = (self._bot._request[0].read_timeout or 0) + timeout
            return list(await self._bot._post("getUpdates", data, read_timeout=read_timeout) or [])
        except InvalidToken:
            self.closed = True
            log.error("the Bot API no longer accepts the token (401): stopping")
            self._on_unauthorized()
            return []


class CoachApplication(Application):
    """The Application, telling the ledger when each update has been handled."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger = UpdateLedger()
        self.handling = 0  # updates being handled right now

    @property
    def busy(self) -> bool:
        """Updates queued or being handled (tests and a graceful stop wait for this to clear)."""
        return self.handling > 0 or self.update_queue.qsize() > 0

    async def process_update(self, update: object) -> None:
        self.handling += 1
        try:
            await super().process_update(update)
        finally:
            self.handling -= 1
            if isinstance(update, Update):
                self.ledger.done(update.update_id)


def _fatal(application: Application) -> None:
    """The token was refused while running: stop, and exit non-zero so a supervisor restarts."""
    application.bot_data["exit_code"] = EXIT_UNAUTHORIZED
    stop = application.bot_data.get("stop")
    if stop is not None:
        stop.set()


# -- the webhook ---------------------------------------------------------------------------------


@tornado.web.stream_request_body
class _WebhookHandler(tornado.web.RequestHandler):
    """POST /<path>: the secret is checked and the size capped before the body is read."""

    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    def initialize(self, bot_app: Application, secret: str) -> None:
        self.application_ = bot_app
        self.secret = secret.encode()
        self.body = bytearray()

    def prepare(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, self.secret):
            raise tornado.web.HTTPError(403)
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > WEBHOOK_BODY_LIMIT):
            raise tornado.web.HTTPError(413)
        self.request.connection.set_max_body_size(WEBHOOK_BODY_LIMIT)  # chunked bodies too

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk

    async def post(self) -> None:
        try:
            data = json.loads(self.body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
        except ValueError:
            raise tornado.web.HTTPError(400) from None
        try:
            update = Update.de_json(data, self.application_.bot)
        except Exception as exc:  # answered 200 all the same, or Telegram would send it forever
            log.warning("update %s skipped: it could not be read (%s)", data["update_id"], type(exc).__name__)
        else:
            await self.application_.update_queue.put(update)
        self.finish("ok")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(str(status_code))  # never a traceback page

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[no-untyped-def]
        if not isinstance(value, tornado.web.HTTPError):
            log.warning("webhook request failed: %s", type(value).__name__)


class _HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: 200 "ok" while the bot runs (for a load balancer or a supervisor)."""

    def get(self) -> None:
        self.finish("ok")


class _WebhookApp(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """No access log: one line per update would drown the useful ones."""


def start_webhook_server(application: Application, *, listen: str, port: int, url_path: str, secret: str) -> tornado.httpserver.HTTPServer:
    """Serve the webhook (POST /<url_path>) and GET /healthz on the running event loop."""
    app = _WebhookApp(
        [
            (rf"/{re.escape(url_path.strip('/'))}/?", _WebhookHandler, {"bot_app": application, "secret": secret}),
            (r"/healthz", _HealthHandler),
        ]
    )
    server = tornado.httpserver.HTTPServer(app, max_body_size=WEBHOOK_BODY_LIMIT, max_buffer_size=WEBHOOK_BODY_LIMIT)
    server.listen(port, address=listen)
    return server


# -- building and running ------------------------------------------------------------------------


def build_application(
    settings: Settings,
    coach: Coach,
    *,
    rate_limit: bool = True,
    request: BaseRequest | None = None,
    limiter: FairRateLimiter | None = None,
) -> Application:
    """The python-telegram-bot Application with every handler wired to the coach.

    `request` replaces the HTTP client (the benchmarks use one that answers at once); `limiter`
    replaces Telegram's own pace (the end-to-end tests keep the limiter, at a faster pace per chat).
    """
    builder = ApplicationBuilder().application_class(CoachApplication).token(settings.token).post_init(post_init)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        # A second connection for the last getUpdates at a stop: under load the cancelled long
        # poll can hold the only one past the pool timeout, and the stop then logs an error.
        builder = builder.get_updates_connection_pool_size(2)
    if settings.base_url:
        builder = builder.base_url(settings.base_url).base_file_url(settings.base_file_url)
    # Updates in parallel, each user's in order; Telegram's limits kept per chat (telegram_throughput).
    builder = builder.concurrent_updates(ChatOrderedProcessor())
    if rate_limit:
        builder = builder.rate_limiter(limiter or FairRateLimiter())
    application = builder.build()
    if application.updater is not None:  # polling through the ledger (see UpdateLedger)
        poller = PollingBot(application.bot, application.ledger, lambda: _fatal(application))
        application.updater = Updater(poller, application.update_queue)
    application.bot_data["coach"] = coach
    application.bot_data["settings"] = settings
    application.bot_data["casebook"] = CaseBook(coach.store, coach.flow, coach.renderer)
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(object, gatekeeper), group=-1)
    application.add_handler(CommandHandler("start", on_start, filters=private))
    application.add_handler(CommandHandler(["nuovo", "new"], on_new, filters=private))
    application.add_handler(CommandHandler(list(NAVIGATION), on_navigation, filters=private))
    application.add_handler(CommandHandler(["aiuto", "help", "privacy"], on_text_command, filters=private))
    application.add_handler(CommandHandler(["lingua", "language"], on_language, filters=private))
    application.add_handler(CommandHandler(["profilo", "profile"], on_profile, filters=private))
    add_case_handlers(application)
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(filters.COMMAND & private, on_unknown_command))
    application.add_handler(MessageHandler(filters.TEXT & private, on_text))
    application.add_handler(MessageHandler(private & ~filters.TEXT, on_other_message))
    application.add_error_handler(on_error)
    return application


async def serve(
    application: Application,
    *,
    webhook_url: str | None = None,
    listen: str = "127.0.0.1",
    port: int = 8443,
    secret: str | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or a revoked token); returns the exit status.

    A stop finishes the updates in hand, then confirms to Telegram exactly those handled.
    """
    loop = asyncio.get_running_loop()
    stop = application.bot_data["stop"] = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await application.initialize()
    except InvalidToken:
        log.error("the Bot API refused the token (401 Unauthorized): check TELEGRAM_BOT_TOKEN")
        return EXIT_UNAUTHORIZED
    except TelegramError as exc:
        log.error("cannot reach the Bot API: %s", exc)
        return 1
    server = None
    try:
        await post_init(application)
        if webhook_url:
            path = urlparse(webhook_url).path
            server = start_webhook_server(application, listen=listen, port=port, url_path=path, secret=secret or "")
            await application.bot.set_webhook(webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        else:
            await application.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, error_callback=lambda exc: log.warning("polling: %s", exc)
            )
        await application.start()
        log.info("bot running (%s)", "webhook" if webhook_url else "long polling")
        await stop.wait()
    except InvalidToken:
        log.error("the Bot API refused the token (401 Unauthorized): check TELEGRAM_BOT_TOKEN")
        application.bot_data["exit_code"] = EXIT_UNAUTHORIZED
    finally:
        await _stop(application, server)
    return application.bot_data.get("exit_code", 0)


async def _stop(application: Application, server: tornado.httpserver.HTTPServer | None) -> None:
    """Stop taking updates, finish the ones in hand, confirm what was handled, shut down."""
    poller = application.updater.bot if application.updater is not None else None
    if isinstance(poller, PollingBot):
        poller.closed = True  # the Updater's last getUpdates would confirm updates not yet handled
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if server is not None:
        server.stop()
    if application.running:
        await application.stop()  # handles what is queued, waits for the updates in hand
    if isinstance(poller, PollingBot) and not application.bot_data.get("exit_code"):
        offset = poller.ledger.offset()
        if offset is not None:
            try:
                await poller.fetch(offset, 1, 0, ALLOWED_UPDATES)
            except TelegramError as exc:  # they come again at the next start; the store skips them
                log.info("handled updates not confirmed: %s", exc)
    await application.shutdown()
    log.info("bot stopped")


def run(settings: Settings, coach: Coach, *, webhook_url: str | None = None, listen: str = "127.0.0.1", port: int = 8443) -> None:
    """Run the bot until interrupted: long polling, or a webhook with a secret token.

    Exits non-zero (SystemExit) when the token is refused, so a supervisor notices and restarts.
    """
    application = build_application(settings, coach)
    secret = getattr(settings, "webhook_secret", None) or os.environ.get("CLIENTCOACH_WEBHOOK_SECRET") or secrets.token_urlsafe(32)
    status = asyncio.run(serve(application, webhook_url=webhook_url, listen=listen, port=port, secret=secret))
    if status:
        raise SystemExit(status)


__all__ = [
    "ALLOWED_UPDATES",
    "build_application",
    "dialog_data",
    "keyboard",
    "parse_dialog_data",
    "run",
    "serve",
    "start_webhook_server",
    "telegram_parts",
    "utf16_len",
]
