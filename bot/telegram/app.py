"""The Telegram bot's wiring: build the Application, run it (long polling or a webhook), stop it.

Updates run in parallel, each chat's in order, within Telegram's limits (see throughput); only the
update types the handlers use are fetched, and a polled update is confirmed only once handled (see
updates). A stop (SIGTERM, SIGINT) finishes the updates in hand and confirms exactly those; a token
refused while running ends the process non-zero so a supervisor notices.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import signal
from collections.abc import Callable, Coroutine
from typing import Any, cast
from urllib.parse import urlparse

import tornado.httpserver
from telegram import Bot, BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    Updater,
    filters,
)
from telegram.request import BaseRequest

from ..coach import Coach
from ..commands import COMMANDS, Command
from ..config import Settings
from ..languages import load_languages
from . import cases, dialog
from .context import CONTEXT_TYPES, CoachContext, install_services
from .guard import gatekeeper, on_error
from .throughput import ChatOrderedProcessor, FairRateLimiter
from .updates import ALLOWED_UPDATES, EXIT_UNAUTHORIZED, CoachApplication, PollingBot, stop_unauthorized
from .webhook import start_webhook_server

log = logging.getLogger("clientcoach.telegram")
# The modules a command's handler (`bot.commands.Command.handler`) is looked up in.
HANDLER_MODULES = {"dialog": dialog, "cases": cases}
CommandCallback = Callable[[Update, CoachContext], Coroutine[Any, Any, None]]


class CommandError(LookupError):
    """A command of the table without its handler."""


async def post_init(application: Application) -> None:
    """Register the command menu of every language (each language.yaml's `menu`, for the Telegram codes it
    serves; the default language's for everyone else); re-arm the reminders not yet sent."""
    languages = load_languages()
    for language in languages:
        menu = [BotCommand(c, d) for c, d in languages.menu(language.code)]
        for code in language.telegram:
            await application.bot.set_my_commands(menu, language_code=code)
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in languages.menu(languages.default)])
    armed = cases.arm_reminders(application)
    held = application.ledger.held_at_start(application.bot) if isinstance(application, CoachApplication) else []
    for update in held:  # confirmed to Telegram before a stop, never handled: first in line now
        await application.update_queue.put(update)
    log.info("bot started; %d reminders armed, %d held updates to handle", armed, len(held))


def command_handler(command: Command) -> CommandCallback:
    """The function handling a command of the table (`Command.handler`: "<module>.<function>")."""
    module_name, _, function = command.handler.partition(".")
    module = HANDLER_MODULES.get(module_name)
    handler = getattr(module, function, None) if module is not None else None
    if not inspect.iscoroutinefunction(handler):
        raise CommandError(f"/{command.name}: no handler {command.handler} in bot.telegram (see bot/commands.py)")
    return cast(CommandCallback, handler)


def add_handlers(application: Application, commands: tuple[Command, ...] = COMMANDS) -> None:
    """Every handler, in the order they are tried: the gatekeeper first, the catch-alls last. Every
    command comes from the table of `bot.commands`, each a handler of its own."""
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(object, gatekeeper), group=-1)
    for command in commands:
        application.add_handler(CommandHandler(list(command.names), command_handler(command), filters=private))
    cases.add_case_handlers(application)  # case-book buttons before the catch-all button handler
    application.add_handler(CallbackQueryHandler(dialog.on_button))
    application.add_handler(MessageHandler(filters.COMMAND & private, dialog.on_unknown_command))
    application.add_handler(MessageHandler(filters.TEXT & private, dialog.on_text))
    application.add_handler(MessageHandler(private & ~filters.TEXT, dialog.on_other_message))
    application.add_error_handler(on_error)


def build_application(
    settings: Settings,
    coach: Coach,
    *,
    rate_limit: bool = True,
    request: BaseRequest | None = None,
    limiter: FairRateLimiter | None = None,
) -> CoachApplication:
    """The python-telegram-bot Application with every handler wired to the coach.

    `request` replaces the HTTP client (the benchmarks use one that answers at once); `limiter`
    replaces Telegram's own pace (the end-to-end tests keep the limiter, at a faster pace per chat).
    """
    # Annotated as any builder: rate_limiter() changes the bot's type parameter on the way.
    builder: ApplicationBuilder = (
        ApplicationBuilder()
        .application_class(CoachApplication)
        .context_types(CONTEXT_TYPES)
        .token(settings.token)
        .post_init(post_init)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        # A second connection for the last getUpdates at a stop: under load the cancelled long
        # poll can hold the only one past the pool timeout, and the stop then logs an error.
        builder = builder.get_updates_connection_pool_size(2)
    base_url, base_file_url = settings.base_url, settings.base_file_url  # both set, or neither (api_url)
    if base_url and base_file_url:
        builder = builder.base_url(base_url).base_file_url(base_file_url)
    # Updates in parallel, each user's in order; Telegram's limits kept per chat (see throughput).
    builder = builder.concurrent_updates(ChatOrderedProcessor())
    if rate_limit:
        builder = builder.rate_limiter(limiter or FairRateLimiter())
    application = builder.build()
    if not isinstance(application, CoachApplication):  # set by application_class; build() is typed as the base
        raise TypeError(f"expected a CoachApplication, built {type(application).__name__}")
    application.ledger.inbox = coach.store  # updates confirmed before they are handled wait there
    if application.updater is not None:  # polling through the ledger (see updates.UpdateLedger)
        poller = PollingBot(application.bot, application.ledger, lambda: stop_unauthorized(application))
        # PollingBot stands in for the Bot: it forwards every attribute but getUpdates to it.
        application.updater = Updater(cast(Bot, poller), application.update_queue)
    install_services(application, coach, settings)
    add_handlers(application)
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
        elif application.updater is None:
            raise RuntimeError("long polling needs the Application's Updater")
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
    if isinstance(application, CoachApplication):
        application.ledger.flush()  # what was handled is recorded as such, and leaves the inbox
    if isinstance(poller, PollingBot) and not application.bot_data.get("exit_code"):
        offset = poller.ledger.offset()
        if offset is not None:
            try:
                await poller.fetch(offset, 1, 0, ALLOWED_UPDATES)
            except TelegramError as exc:  # they come again at the next start; the store skips them
                log.info("handled updates not confirmed: %s", exc)
    await application.shutdown()
    log.info("bot stopped")


def run(
    settings: Settings, coach: Coach, *, webhook_url: str | None = None, listen: str = "127.0.0.1", port: int = 8443
) -> None:
    """Run the bot until interrupted: long polling, or a webhook with a secret token.

    Exits non-zero (SystemExit) when the token is refused, so a supervisor notices and restarts.
    """
    application = build_application(settings, coach)
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    status = asyncio.run(serve(application, webhook_url=webhook_url, listen=listen, port=port, secret=secret))
    if status:
        raise SystemExit(status)
