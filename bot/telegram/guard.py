"""Who may talk to the bot, and what a failed handler tells the user.

`gatekeeper` runs before every other handler: only new input from a known human sender in a
private chat gets through; an update handled before (see updates) only shows what is missing.
`on_error` logs a failure without the token or case text and tells the user; expected API outcomes
(a blocked bot, a 429 given up on, a revoked token) get one line, no traceback.
"""

from __future__ import annotations

import logging
import time

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import ApplicationHandlerStop

from .context import CoachContext, user_lang
from .dialog import on_redelivered
from .messages import answer_query
from .updates import stop_unauthorized

log = logging.getLogger("clientcoach.telegram")

# A user outside the allowlist is told so at most once in this many seconds (never in groups).
REFUSAL_PERIOD = 3600.0


def _refuse_now(context: CoachContext, user_id: int) -> bool:
    """True at most once per REFUSAL_PERIOD for one user (a flood gets one refusal, not one each)."""
    refused: dict[int, float] = context.bot_data.setdefault("refused", {})
    now = time.monotonic()
    if now - refused.get(user_id, -REFUSAL_PERIOD) < REFUSAL_PERIOD:
        return False
    if len(refused) > 10_000:  # many strangers: forget the ones whose period is over
        for uid in [u for u, at in refused.items() if now - at >= REFUSAL_PERIOD]:
            del refused[uid]
    refused[user_id] = now
    return True


async def gatekeeper(update: object, context: CoachContext) -> None:
    """Before any other handler: let through only new input from a known sender in a private chat;
    refuse users outside the allowlist (a toast on a button, a message at most once per period)."""
    if not isinstance(update, Update):
        raise ApplicationHandlerStop
    user, chat, query = update.effective_user, update.effective_chat, update.callback_query
    private_chat = chat if chat is not None and chat.type == ChatType.PRIVATE else None
    if query is not None and (user is None or private_chat is None):  # a group's or an inline message's button
        await answer_query(query)
        raise ApplicationHandlerStop
    if user is None or user.is_bot or private_chat is None or (update.message is None and query is None):
        raise ApplicationHandlerStop  # edits, channel posts, groups, bots, no sender: nothing to act on
    ledger = getattr(context.application, "ledger", None)
    if ledger is not None and update.update_id in ledger.redelivered:  # recognised before it is read
        if context.settings.allows(user.id):
            await on_redelivered(update, context)
        raise ApplicationHandlerStop
    if context.settings.allows(user.id):
        return
    text = context.coach.ui(user_lang(update), "not_allowed")
    if query is not None:
        await answer_query(query, text, alert=True)
    elif _refuse_now(context, user.id):
        await context.bot.send_message(private_chat.id, text)
    raise ApplicationHandlerStop


async def on_error(update: object, context: CoachContext) -> None:
    """Log the failure (no token, no case text) and tell the user what to do next."""
    error = context.error
    update_id = getattr(update, "update_id", "?")
    if isinstance(error, InvalidToken):
        log.error("the Bot API no longer accepts the token (401): stopping")
        stop_unauthorized(context.application)
        return
    if isinstance(error, Forbidden):
        log.info("update %s: the user blocked the bot", update_id)
        return
    if isinstance(error, RetryAfter):
        log.warning("update %s: Telegram asked to wait %s; the reply was dropped", update_id, error.retry_after)
    elif isinstance(error, TelegramError):  # a reply Telegram refused: one line, no traceback
        log.error("update %s: the reply failed: %s: %s", update_id, type(error).__name__, str(error)[:200])
    else:
        log.error("update %s failed: %s", update_id, type(error).__name__, exc_info=error)
    if isinstance(update, Update) and update.effective_chat and update.effective_user:
        try:
            if update.callback_query:
                await answer_query(update.callback_query)
            text = context.coach.ui(user_lang(update), "internal_error")
            await context.bot.send_message(update.effective_chat.id, text)
        except Exception:  # the user cannot be told; the log above is what remains
            log.warning("could not tell the user about the failure")
