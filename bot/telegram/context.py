"""Typed services for the handlers: `context.coach`, `context.casebook`, `context.settings`.

python-telegram-bot builds every handler's context from `CONTEXT_TYPES` (the model is its
contexttypesbot.py example), so no handler digs in `bot_data` by name. The parts of an update a
handler is guaranteed (`sender_id`, `private_chat_id`, `incoming_message`, `button_query`) are
narrowed from python-telegram-bot's Optional types here, once.
"""

from __future__ import annotations

from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from ..casebook import CaseBook, local_zone
from ..coach import Coach
from ..config import Settings
from ..languages import load_languages
from .messages import clean_text

# -- what the registered handlers are guaranteed to have ---------------------------------------
# python-telegram-bot types every part of an update as Optional; the gatekeeper (a sender in a
# private chat) and each handler's filters guarantee the parts below, so they are narrowed here once.
# A missing one means a handler was registered for updates it can't handle: a RuntimeError says which.


def sender_id(update: Update) -> int:
    """The sender's Telegram id (the gatekeeper lets through only updates with a sender)."""
    if update.effective_user is None:
        raise RuntimeError(f"update {update.update_id} has no sender")
    return update.effective_user.id


def private_chat_id(update: Update) -> int:
    """The chat's id (the gatekeeper lets through only updates from a private chat)."""
    if update.effective_chat is None:
        raise RuntimeError(f"update {update.update_id} has no chat")
    return update.effective_chat.id


def incoming_message(update: Update) -> Message:
    """The update's message (command and message handlers only get updates with one)."""
    if update.effective_message is None:
        raise RuntimeError(f"update {update.update_id} has no message")
    return update.effective_message


def button_query(update: Update) -> CallbackQuery:
    """The tapped button's query (callback query handlers only get updates with one)."""
    if update.callback_query is None:
        raise RuntimeError(f"update {update.update_id} has no callback query")
    return update.callback_query


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

    @property
    def clean_args(self) -> list[str]:
        """The command's arguments, lone surrogates replaced."""
        return [clean_text(arg) for arg in self.args or []]

    def lang(self, update: Update) -> str:
        """The language the user chose (/lingua), else their client's."""
        return self.coach.lang(sender_id(update), user_lang(update))


CONTEXT_TYPES = ContextTypes(context=CoachContext)


def install_services(application: Application, coach: Coach, settings: Settings) -> None:
    """Put the services where CoachContext finds them."""
    application.bot_data["coach"] = coach
    application.bot_data["settings"] = settings
    application.bot_data["casebook"] = CaseBook(coach.store, coach.flow, coach.renderer, zone=local_zone(settings.tz))
