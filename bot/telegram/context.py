"""Typed services for the handlers: `context.coach`, `context.casebook`, `context.settings`.

python-telegram-bot builds every handler's context from `CONTEXT_TYPES` (the model is its
contexttypesbot.py example), so no handler digs in `bot_data` by name.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from ..casebook import CaseBook, local_zone
from ..coach import Coach
from ..config import Settings
from ..languages import load_languages
from .messages import clean_text


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
        return self.coach.lang(update.effective_user.id, user_lang(update))


CONTEXT_TYPES = ContextTypes(context=CoachContext)


def install_services(application: Application, coach: Coach, settings: Settings) -> None:
    """Put the services where CoachContext finds them."""
    application.bot_data["coach"] = coach
    application.bot_data["settings"] = settings
    application.bot_data["casebook"] = CaseBook(coach.store, coach.flow, coach.renderer, zone=local_zone(settings.tz))
