"""The one message manager: what the bot puts in a chat, and the text it takes from one.

A Screen goes out as HTML without link previews, split at paragraphs within Telegram's 4096
UTF-16 units, its buttons on the last part; an edit in place that changes nothing is not an error;
a keyboard is taken off so old buttons can't be tapped. The model is aiogram-dialog's message
manager. A button's action is encoded as its callback data (the caller may first wrap it, see
`keyboard`), and a tickable option gets its ✅ or ▫️ here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError

from ..actions import CALLBACK_LIMIT, Action, decode
from ..render import TELEGRAM_LIMIT, Button, Screen, split_message, to_plain
from .updates import LATE_UPDATE

log = logging.getLogger("clientcoach.telegram")

TICKS = {True: "✅ ", False: "▫️ "}  # an option of a multiple-choice question, ticked or not
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_SURROGATE = re.compile("[\ud800-\udfff]")


# -- text in and out ---------------------------------------------------------------------------


def clean_text(text: str | None) -> str:
    """Typed text with lone surrogates (invalid Unicode a client can send) replaced."""
    return _SURROGATE.sub("\ufffd", text or "")


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


def not_modified(exc: BadRequest) -> bool:
    """Telegram's answer to an edit that would leave the message as it is."""
    return "not modified" in str(exc).lower()


# -- keyboards ---------------------------------------------------------------------------------


def button_label(button: Button) -> str:
    """The label as Telegram shows it: a tickable option with its tick."""
    return button.label if button.checked is None else TICKS[button.checked] + button.label


def keyboard(screen: Screen, wrap: Callable[[Action], Action] | None = None) -> InlineKeyboardMarkup | None:
    """A screen's buttons as an inline keyboard; `wrap` completes an action first (a nonce, a stamp)."""
    if not screen.buttons:
        return None
    rows = []
    for row in screen.buttons:
        buttons = []
        for button in row:
            data = (wrap(button.action) if wrap else button.action).encode()
            if len(data.encode()) > CALLBACK_LIMIT:
                raise ValueError(f"callback_data over {CALLBACK_LIMIT} bytes: {data!r}")
            buttons.append(InlineKeyboardButton(button_label(button), callback_data=data))
        rows.append(buttons)
    return InlineKeyboardMarkup(rows)


def tapped_message(query: CallbackQuery) -> Message | None:
    """The message a button was on, if the bot can still edit it (not inline, not inaccessible)."""
    return query.message if isinstance(query.message, Message) else None


def button_actions(message: Message | None) -> list[Action]:
    """The actions of a message's buttons, in order (data the bot could not have written is left out)."""
    markup = message.reply_markup if message is not None else None
    rows = markup.inline_keyboard if markup else ()
    actions = (decode(b.callback_data) for row in rows for b in row)
    return [action for action in actions if action is not None]


# -- API calls ---------------------------------------------------------------------------------


async def answer_query(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a callback query (stop the spinner); a late or failed answer is logged and ignored,
    so the edit or the result that follows is never skipped (for a tap sent again or held across a
    restart, a late answer is expected: a DEBUG line)."""
    try:
        await query.answer(to_plain(text) if text else text, show_alert=alert)  # a toast is plain text
    except (BadRequest, NetworkError) as exc:  # "query is too old", timeouts
        log.log(logging.DEBUG if LATE_UPDATE.get() else logging.INFO, "callback answer not delivered: %s", exc)


async def _post(bot: Bot, method: str, screen_text: str, markup: InlineKeyboardMarkup | None, **target: int) -> int:
    """One message call through the bot (its rate limiter included), the answer left unparsed: only
    its message id is read (building a Message of a question's keyboard costs more than the call)."""
    data = {**target, "text": screen_text, "parse_mode": ParseMode.HTML, "link_preview_options": NO_PREVIEW}
    if markup is not None:
        data["reply_markup"] = markup
    result = await bot._post(method, data)
    return result["message_id"] if isinstance(result, dict) else target.get("message_id", 0)


async def send(bot: Bot, chat_id: int, screen: Screen, markup: InlineKeyboardMarkup | None = None) -> int:
    """Send a screen, split at paragraphs when over Telegram's limit; the keyboard goes on the last
    part. Returns the last part's message id."""
    parts = telegram_parts(screen.text)
    message_id = 0
    for i, part in enumerate(parts):
        message_id = await _post(bot, "sendMessage", part, markup if i == len(parts) - 1 else None, chat_id=chat_id)
    return message_id


async def edit(message: Message, screen: Screen, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace a message's text and keyboard; an identical edit is not an error (other refusals are raised)."""
    try:
        await _post(
            message.get_bot(),
            "editMessageText",
            telegram_parts(screen.text)[0],
            markup,
            chat_id=message.chat_id,
            message_id=message.message_id,
        )
    except BadRequest as exc:
        if not not_modified(exc):
            raise
        log.debug("edit skipped: message is not modified")


async def edit_in_chat(
    bot: Bot, chat_id: int, message_id: int, screen: Screen, markup: InlineKeyboardMarkup | None = None
) -> bool:
    """`edit` for a message known by its id; False if it can no longer be edited (gone, too old)."""
    try:
        text = telegram_parts(screen.text)[0]
        await _post(bot, "editMessageText", text, markup, chat_id=chat_id, message_id=message_id)
    except BadRequest as exc:
        if not not_modified(exc):
            log.debug("message %s not edited: %s", message_id, exc)
            return False
        log.debug("edit skipped: message is not modified")
    return True


async def strip_keyboard(bot: Bot, chat_id: int, message_id: int | None) -> None:
    """Take the buttons off a message so it can't be tapped any more."""
    if not message_id:
        return
    try:
        await bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
    except BadRequest as exc:  # already gone or already without buttons
        log.debug("keyboard not removed: %s", exc)
