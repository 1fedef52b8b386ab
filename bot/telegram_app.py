"""The Telegram front end: thin async handlers over the Coach, on python-telegram-bot 22.

Each handler turns an update into one Coach call and shows the Reply: the questionnaire is one
message edited in place, results and scripts are new messages. Buttons carry a nonce (the
conversation id and step) so an old or repeated tap changes nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.request import BaseRequest
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from .casebook import CaseBook
from .coach import Coach, Reply
from .config import Settings
from .render import Screen, split_message
from .telegram_cases import COMMANDS as CASE_COMMANDS
from .telegram_cases import add_case_handlers, arm_reminders

log = logging.getLogger("clientcoach.telegram")

CALLBACK_LIMIT = 64
COMMANDS = {
    "it": [
        ("nuovo", "Nuovo questionario su un cliente"),
        ("rivedi", "Rivedi e cambia le risposte"),
        ("indietro", "Annulla l'ultima risposta"),
        ("annulla", "Interrompi il questionario"),
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
    if len(parts) != 4 or parts[0] != "q" or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2]), parts[3]


def keyboard(screen: Screen, nonce: tuple[str, int] | None = None) -> InlineKeyboardMarkup | None:
    """A screen's buttons as an inline keyboard; dialogue actions get the nonce."""
    if not screen.buttons:
        return None
    rows = []
    for row in screen.buttons:
        buttons = []
        for button in row:
            if screen.kind == "script":
                data = button.action  # already s:<case>:<index>:<variant>:<form>
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


# -- showing replies ---------------------------------------------------------------------------


def _coach(context: ContextTypes.DEFAULT_TYPE) -> Coach:
    return context.application.bot_data["coach"]


async def send_screen(context: ContextTypes.DEFAULT_TYPE, chat_id: int, screen: Screen, nonce=None) -> Message:
    """Send a screen, split at paragraphs when over Telegram's limit; buttons go on the last part."""
    parts = split_message(screen.text)
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
            split_message(screen.text)[0],
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard(screen, nonce),
            link_preview_options=NO_PREVIEW,
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def strip_keyboard(context: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int | None) -> None:
    """Take the buttons off an old dialogue message so it can't be tapped any more."""
    if not message_id:
        return
    try:
        await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
    except BadRequest:
        pass  # already gone or already without buttons


async def show(update: Update, context: ContextTypes.DEFAULT_TYPE, reply: Reply, *, in_place: Message | None = None) -> None:
    """Show a Reply: the dialog (edited in place or sent anew), then the new messages."""
    coach, user_id, chat_id = _coach(context), update.effective_user.id, update.effective_chat.id
    if reply.dialog is not None:
        if in_place is not None:
            await edit_screen(in_place, reply.dialog, reply.nonce)
        else:
            _, meta = coach.load(user_id)
            await strip_keyboard(context, chat_id, meta.get("message_id"))
            sent = await send_screen(context, chat_id, reply.dialog, reply.nonce)
            coach.remember(user_id, message_id=sent.message_id)
    elif reply.ended and in_place is not None:
        await strip_keyboard(context, chat_id, in_place.message_id)
    for screen in reply.messages:
        await send_screen(context, chat_id, screen)


# -- handlers ----------------------------------------------------------------------------------


async def gatekeeper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Refuse users outside the allowlist, politely, before any other handler runs."""
    settings: Settings = context.application.bot_data["settings"]
    user = update.effective_user
    if user is None or settings.allows(user.id):
        return
    text = _coach(context).ui(user_lang(update), "not_allowed")
    if update.callback_query:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_chat:
        await context.bot.send_message(update.effective_chat.id, text)
    raise ApplicationHandlerStop


def _lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    return _coach(context).lang(update.effective_user.id, user_lang(update))


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot does and, if a questionnaire is open, offer to go on with it."""
    coach, lang = _coach(context), _lang(update, context)
    await send_screen(context, update.effective_chat.id, Screen("notice", coach.ui(lang, "welcome")))
    state, _ = coach.load(update.effective_user.id)
    if state is not None:
        await show(update, context, coach.show(update.effective_user.id, lang))


async def on_new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start a new questionnaire."""
    coach = _coach(context)
    await show(update, context, coach.start(update.effective_user.id, _lang(update, context), update.update_id))


async def on_navigation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/annulla, /indietro, /rivedi: the navigation buttons as commands."""
    command = update.effective_message.text.split()[0].lstrip("/").split("@")[0].lower()
    coach, user_id = _coach(context), update.effective_user.id
    reply = coach.act(user_id, NAVIGATION[command], update_id=update.update_id, fallback_lang=user_lang(update))
    if reply.toast and reply.dialog is not None:
        reply = Reply(dialog=reply.dialog, nonce=reply.nonce)  # the error is inside the re-sent question
    await show(update, context, reply)


async def on_text_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/aiuto and /privacy: fixed texts."""
    name = {"aiuto": "help", "help": "help", "privacy": "privacy"}[update.effective_message.text.split()[0].lstrip("/").split("@")[0].lower()]
    await send_screen(context, update.effective_chat.id, Screen("notice", _coach(context).ui(_lang(update, context), name)))


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lingua it|en: remember the user's language."""
    coach = _coach(context)
    choice = (context.args or [""])[0].lower()
    if choice not in ("it", "en"):
        await send_screen(context, update.effective_chat.id, Screen("notice", coach.ui(_lang(update, context), "language_usage")))
        return
    coach.set_language(update.effective_user.id, choice)
    await send_screen(context, update.effective_chat.id, Screen("notice", coach.ui(choice, "language_set")))


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text: the answer to the current question, or a hint when nothing is open."""
    coach = _coach(context)
    text = update.effective_message.text or ""
    reply = coach.text(update.effective_user.id, text, update_id=update.update_id, fallback_lang=user_lang(update))
    await show(update, context, reply)


async def on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes...: explain what the bot understands."""
    coach, user_id = _coach(context), update.effective_user.id
    state, _ = coach.load(user_id)
    name = "use_buttons" if state is not None else "stray_message"
    await send_screen(context, update.effective_chat.id, Screen("notice", coach.ui(_lang(update, context), name)))


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know: point to /aiuto."""
    await send_screen(context, update.effective_chat.id, Screen("notice", _coach(context).ui(_lang(update, context), "unknown_command")))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tapped button: a questionnaire step, a script variant, or a restart offer."""
    query = update.callback_query
    coach, user_id, data = _coach(context), update.effective_user.id, query.data or ""
    dialog = parse_dialog_data(data)
    if dialog is not None:
        # The conversation knows its language: no lookup on the hot path.
        conversation, step, action = dialog
        reply = coach.act(
            user_id, action, conversation=conversation, step=step, update_id=update.update_id, fallback_lang=user_lang(update)
        )
        await query.answer(reply.toast)
        if reply.toast is None:
            await show(update, context, reply, in_place=query.message)
        return
    if data.startswith("s:"):
        await on_script_variant(update, context)
        return
    lang = _lang(update, context)
    if data in ("r:restart", "r:new"):
        await query.answer()
        await strip_keyboard(context, update.effective_chat.id, query.message.message_id)
        await show(update, context, coach.start(user_id, lang, update.update_id))
        return
    await query.answer(coach.ui(lang, "stale_button"))


async def on_script_variant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Switch one script message to another variant or form of address, in place."""
    query = update.callback_query
    coach = _coach(context)
    parts = (query.data or "").split(":")
    screen = None
    if len(parts) == 5 and parts[1].isdigit() and parts[2].isdigit():
        screen = coach.script_variant(update.effective_user.id, int(parts[1]), int(parts[2]), parts[3], parts[4])
    if screen is None:
        await query.answer(coach.ui(_lang(update, context), "stale_button"))
        return
    await query.answer()
    await edit_screen(query.message, screen)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (no token, no case text) and tell the user what to do next."""
    error = context.error
    log.error("update %s failed: %s", getattr(update, "update_id", "?"), type(error).__name__, exc_info=error)
    if isinstance(update, Update) and update.effective_chat and not isinstance(error, Forbidden):
        lang = user_lang(update)
        try:
            if update.callback_query:
                await update.callback_query.answer()
            await context.bot.send_message(update.effective_chat.id, _coach(context).ui(lang, "internal_error"))
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


def build_application(
    settings: Settings, coach: Coach, *, rate_limit: bool = True, request: BaseRequest | None = None
) -> Application:
    """The python-telegram-bot Application with every handler wired to the coach.

    `request` replaces the HTTP client (the benchmarks use one that answers at once).
    """
    builder = ApplicationBuilder().token(settings.token).post_init(post_init)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if settings.base_url:
        builder = builder.base_url(settings.base_url).base_file_url(settings.base_file_url)
    if rate_limit:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application = builder.build()
    application.bot_data["coach"] = coach
    application.bot_data["settings"] = settings
    application.bot_data["casebook"] = CaseBook(coach.store, coach.flow, coach.renderer)
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, gatekeeper), group=-1)
    application.add_handler(CommandHandler("start", on_start, filters=private))
    application.add_handler(CommandHandler(["nuovo", "new"], on_new, filters=private))
    application.add_handler(CommandHandler(list(NAVIGATION), on_navigation, filters=private))
    application.add_handler(CommandHandler(["aiuto", "help", "privacy"], on_text_command, filters=private))
    application.add_handler(CommandHandler(["lingua", "language"], on_language, filters=private))
    add_case_handlers(application)
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(filters.COMMAND & private, on_unknown_command))
    application.add_handler(MessageHandler(filters.TEXT & private, on_text))
    application.add_handler(MessageHandler(private & ~filters.TEXT, on_other_message))
    application.add_error_handler(on_error)
    return application


def run(settings: Settings, coach: Coach, *, webhook_url: str | None = None, listen: str = "127.0.0.1", port: int = 8443) -> None:
    """Run the bot until interrupted: long polling, or a webhook with a secret token."""
    application = build_application(settings, coach)
    if webhook_url:
        # Telegram sends the secret with every update; anything without it is refused by PTB.
        application.run_webhook(
            listen=listen,
            port=port,
            url_path=urlparse(webhook_url).path.lstrip("/"),
            webhook_url=webhook_url,
            secret_token=os.environ.get("CLIENTCOACH_WEBHOOK_SECRET") or secrets.token_urlsafe(32),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


__all__ = ["build_application", "run", "keyboard", "dialog_data", "parse_dialog_data"]
