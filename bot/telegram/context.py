"""Typed services for the handlers, and each update unpacked once into a `Request`.

python-telegram-bot builds every handler's context from `CONTEXT_TYPES` (the model is its
contexttypesbot.py example), so no handler digs in `bot_data` by name. A handler takes a `Request`
(`@handles` turns it into the callback python-telegram-bot calls): the sender, the chat, the
language and the tapped button's action, read from the update once and passed down to whatever
the handler calls.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from ..actions import Action, decode
from ..casebook import CaseBook, local_zone
from ..coach import Coach
from ..config import Settings
from ..languages import load_languages
from .messages import clean_text


def job_queue(application: Application) -> JobQueue:
    """The application's JobQueue (always there: the job-queue extra is a dependency)."""
    if application.job_queue is None:
        raise RuntimeError("the application has no JobQueue: install python-telegram-bot[job-queue]")
    return application.job_queue


def user_lang(update: Update) -> str:
    """The language serving the user's Telegram client (`telegram:` of a language.yaml), else the default."""
    return load_languages().for_telegram(update.effective_user.language_code if update.effective_user else None)


class CoachContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """A handler's context with the bot's services as typed properties."""

    @property
    def coach(self) -> Coach:
        return self.bot_data["coach"]

    @property
    def casebook(self) -> CaseBook:
        return self.bot_data["casebook"]

    @property
    def settings(self) -> Settings:
        return self.bot_data["settings"]


CONTEXT_TYPES = ContextTypes(context=CoachContext)


@dataclass(frozen=True)
class Request:
    """One update as the handlers need it, read once: who sent it, in which chat, the language of
    their Telegram client, the tapped button's query and action (None for a message).

    python-telegram-bot types every part of an update as Optional; the gatekeeper (a sender in a
    private chat) and each handler's filters guarantee the parts a handler uses, so they are narrowed
    here once. A missing one means a handler was registered for updates it can't handle: a
    RuntimeError says which.
    """

    update: Update
    context: CoachContext
    user_id: int
    chat_id: int
    client_lang: str
    query: CallbackQuery | None
    action: Action | None  # the button's data decoded; None for a message, or data no button of ours wrote

    @classmethod
    def of(cls, update: Update, context: CoachContext) -> Request:
        if update.effective_user is None:
            raise RuntimeError(f"update {update.update_id} has no sender")
        if update.effective_chat is None:
            raise RuntimeError(f"update {update.update_id} has no chat")
        query = update.callback_query
        return cls(
            update,
            context,
            update.effective_user.id,
            update.effective_chat.id,
            user_lang(update),
            query,
            decode(clean_text(query.data)) if query is not None else None,
        )

    @property
    def update_id(self) -> int:
        return self.update.update_id

    @property
    def coach(self) -> Coach:
        return self.context.coach

    @property
    def casebook(self) -> CaseBook:
        return self.context.casebook

    @property
    def bot(self) -> ExtBot[Any]:
        return self.context.bot

    @cached_property
    def lang(self) -> str:
        """The language the user chose (/lingua), else their client's (read from the store once)."""
        return self.coach.lang(self.user_id, self.client_lang)

    @property
    def message(self) -> Message:
        """The update's message (command and message handlers only get updates with one)."""
        if self.update.effective_message is None:
            raise RuntimeError(f"update {self.update_id} has no message")
        return self.update.effective_message

    @property
    def button(self) -> CallbackQuery:
        """The tapped button's query (callback query handlers only get updates with one)."""
        if self.query is None:
            raise RuntimeError(f"update {self.update_id} has no callback query")
        return self.query

    @property
    def args(self) -> list[str]:
        """The command's arguments, lone surrogates replaced."""
        return [clean_text(arg) for arg in self.context.args or []]


Handler = Callable[[Request], Awaitable[None]]
Callback = Callable[[Update, CoachContext], Coroutine[Any, Any, None]]


def handles(handler: Handler) -> Callback:
    """The callback python-telegram-bot calls for a handler of a Request: the update is unpacked here."""

    @functools.wraps(handler)
    async def callback(update: Update, context: CoachContext) -> None:
        await handler(Request.of(update, context))

    return callback


def install_services(application: Application, coach: Coach, settings: Settings) -> None:
    """Put the services where CoachContext finds them."""
    application.bot_data["coach"] = coach
    application.bot_data["settings"] = settings
    application.bot_data["casebook"] = CaseBook(coach.store, coach.flow, coach.renderer, zone=local_zone(settings.tz))
