"""The bot's commands, one table: names, Telegram handler, menu order and the same on the command line.

The Telegram front end registers a handler per entry (`bot.telegram.app.add_handlers`) and publishes
the menus in this order; every language gives each command one text in its `language.yaml` `menu`
(checked at load), which is both its menu entry and its line of the help. `tests/test_commands.py`
checks that nothing is left out: every registered command is here, every entry is in the menus and
the help of every language, and every console equivalent exists in the CLI. Pure data: importing
this costs nothing at start.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One command of the bot."""

    # The name the menus and the help show (the default language's), then the names it also answers
    # to in the other languages ("/nuovo" and "/new").
    names: tuple[str, ...]
    # The Telegram handler: "<module of bot.telegram>.<function>", resolved when the bot is wired.
    handler: str
    # The same thing on the command line: `clientcoach <console>` (a command and its options).
    console: str
    # In `clientcoach chat`, the word typed for it: a meaning of the `commands` word table.
    word: str | None = None

    @property
    def name(self) -> str:
        return self.names[0]


# In menu order.
COMMANDS: tuple[Command, ...] = (
    Command(("nuovo", "new"), "dialog.on_new", "chat --new", "restart"),
    Command(("rivedi", "review"), "dialog.on_navigation", "chat", "review"),
    Command(("indietro", "back"), "dialog.on_navigation", "chat", "back"),
    Command(("annulla", "cancel"), "dialog.on_navigation", "chat", "cancel"),
    Command(("profilo", "profile"), "dialog.on_profile", "profile"),
    Command(("lingua", "language"), "dialog.on_language", "chat --lang"),
    Command(("privacy",), "dialog.on_privacy", "privacy"),
    Command(("aiuto", "help"), "dialog.on_help", "chat", "help"),
    Command(("start",), "dialog.on_start", "chat"),
    Command(("storico", "history"), "cases.on_history", "cases list"),
    Command(("caso", "case"), "cases.on_case", "cases show"),
    Command(("cerca", "search"), "cases.on_search", "cases search"),
    Command(("nota", "note"), "cases.on_note", "cases note"),
    Command(("esito", "outcome"), "cases.on_outcome", "cases outcome"),
    Command(("promemoria", "remind"), "cases.on_remind", "cases remind"),
    Command(("piano", "plan"), "cases.on_plan", "cases plan"),
    Command(("inviato", "sent"), "cases.on_sent", "cases sent"),
    Command(("rivaluta", "reassess"), "cases.on_reassess", "chat --reassess"),
    Command(("esporta", "export"), "cases.on_export", "cases export"),
    Command(("statistiche", "stats"), "cases.on_stats", "cases stats"),
    Command(("cancella", "delete"), "cases.on_delete", "cases delete"),
    Command(("cancellatutto", "deleteall"), "cases.on_delete_all", "cases delete --all"),
)


def named(name: str, commands: tuple[Command, ...] = COMMANDS) -> Command | None:
    """The command answering to `name` (any of its names), or None."""
    return next((c for c in commands if name in c.names), None)


__all__ = ["COMMANDS", "Command", "named"]
