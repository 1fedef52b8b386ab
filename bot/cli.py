"""The `clientcoach` command line: chat in the console, the case book, the database, the bot.

Every failure a user can meet ends in one line in their language and exit code 1 (usage errors:
one line and exit code 2), never a traceback. Only the standard library is imported at the top, so
that Ctrl-C during start-up and `--help` stay instant and quiet; the rest comes when a command runs.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from . import cases_cli, sender_cli
from .cliwords import tr, use_language
from .languages import LanguageError, load_languages

TOKEN_REFUSED = 78  # exit code of `run` when Telegram refuses the token (sysexits' EX_CONFIG): no restart helps
STARTUP_ATTEMPTS = 3  # getMe tries before `run` gives up (1 s, then 2 s apart)
STARTUP_BACKOFF = 1.0
NETWORK_TIMEOUT = 10.0
TELEGRAM_ROOT = "https://api.telegram.org"


def wanted_language(argv: list[str]) -> str:
    """The language of the command line before it is parsed: --lang, else $CLIENTCOACH_LANG, else
    the default language."""
    languages = load_languages()
    given = [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "--lang"]
    given += [word.partition("=")[2] for word in argv if word.startswith("--lang=")]
    for chosen in [*reversed(given), os.environ.get("CLIENTCOACH_LANG", "")]:  # the last --lang wins
        if chosen.strip().casefold() in languages:
            return chosen.strip().casefold()
    return languages.default


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) and examples kept as written."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} {tr('(see {prog} --help)', prog=self.prog)}\n")


def package_version() -> str:
    """The installed package's version (its metadata, from pyproject.toml), never a copy of it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clientcoach")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """`--version`: the package metadata is read only when asked (it costs every start otherwise)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"clientcoach {package_version()}")
        parser.exit()


def _default_db() -> str:
    from .paths import default_db_path

    return str(default_db_path())


def global_options() -> argparse.ArgumentParser:
    """--db and --lang, accepted before or after any subcommand (`clientcoach cases --db X list`).

    SUPPRESS as default: a subcommand that was not given the option leaves the value given earlier.
    """
    common = argparse.ArgumentParser(add_help=False)
    languages = load_languages()
    common.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=tr("the SQLite database (default: $CLIENTCOACH_DB, else {path})", path=_default_db()),
    )
    common.add_argument(
        "--create",
        action="store_true",
        default=argparse.SUPPRESS,
        help="create the --db file if it does not exist (without it, a missing file is refused)",
    )
    common.add_argument(
        "--lang",
        choices=languages.codes,
        default=argparse.SUPPRESS,
        help=tr(
            "language: {languages}; also $CLIENTCOACH_LANG",
            languages=languages.help_text().replace(", the default", tr(", the default")),
        ),
    )
    return common


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    summary: str,
    examples: list[str],
    common: list,
    func: Callable[[argparse.Namespace], int] | None = None,
    details: str = "",
) -> argparse.ArgumentParser:
    """A subcommand with its description, examples and the global options (in the chosen language)."""
    summary, details = tr(summary), tr(details) if details else ""
    description = summary[0].upper() + summary[1:] + "." + (f"\n\n{details}" if details else "")
    epilog = tr("examples:") + "\n" + "\n".join(f"  {line}" for line in examples)
    parser = sub.add_parser(name, help=summary, description=description, epilog=epilog, parents=common)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


# -- texts -------------------------------------------------------------------------------------

_RENDERER: Any = None


def ui(lang: str, name: str, *args: Any) -> str:
    """An interface text as plain characters, for the console."""
    global _RENDERER
    try:
        from .render import Renderer, to_plain

        if _RENDERER is None:
            _RENDERER = Renderer(surface="console")
        return to_plain(_RENDERER.ui(lang, name, *args))
    except Exception:  # the templates themselves are broken: still one line, never a traceback
        return f"clientcoach: {name} {' '.join(map(str, args))}".strip()


def _lang(args: argparse.Namespace) -> str:
    return getattr(args, "lang", None) or load_languages().default


def fail(text: str) -> int:
    print(text, file=sys.stderr)
    return 1


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


# -- commands ----------------------------------------------------------------------------------


def cmd_chat(args: argparse.Namespace) -> int:
    """Run the questionnaire in the terminal."""
    from .casebook import local_zone
    from .coach import open_coach
    from .console import Console

    coach = open_coach(args.db, args.flow, surface="console")
    try:
        interactive = sys.stdin.isatty()
        console = Console(coach, user_id=args.user, lang=_lang(args), zone=local_zone(args.env.tz))
        if args.reassess is not None and args.resume:
            args.parser.error(tr("--reassess starts from a saved case: give --new to drop an unfinished questionnaire"))
        return console.run(resume=args.resume or interactive, new=args.new, reassess=args.reassess)
    finally:
        coach.store.close()


async def _get_me(settings: Any) -> Any:
    """getMe through python-telegram-bot's own Bot, against the configured API root."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    request = HTTPXRequest(connect_timeout=NETWORK_TIMEOUT, read_timeout=NETWORK_TIMEOUT)
    bot = Bot(
        settings.token,
        base_url=settings.base_url or f"{TELEGRAM_ROOT}/bot",
        base_file_url=settings.base_file_url or f"{TELEGRAM_ROOT}/file/bot",
        request=request,
    )
    async with bot:  # initialize() calls getMe
        return bot.bot


def check_token(settings: Any, lang: str, attempts: int = 1, quiet: bool = False) -> int:
    """Ask Telegram who the bot is: 0 and (unless quiet) its username, or 1 and one clear line.

    Network failures are retried with a growing pause; a refused token is not (it will not change).
    """
    import asyncio

    from telegram.error import InvalidToken, NetworkError, TelegramError

    url = settings.api_url or TELEGRAM_ROOT
    for attempt in range(1, attempts + 1):
        try:
            me = asyncio.run(_get_me(settings))
        except InvalidToken:
            fail(ui(lang, "run_token_refused"))
            return TOKEN_REFUSED
        except NetworkError:  # also TimedOut; never print it: PTB puts the token in some messages
            if attempt == attempts:
                return fail(ui(lang, "run_unreachable", url, attempts))
            import time

            time.sleep(STARTUP_BACKOFF * 2 ** (attempt - 1))
        except TelegramError as exc:
            return fail(ui(lang, "run_api_error", type(exc).__name__))
        else:
            if not quiet:
                print(ui(lang, "run_check_ok", me.username, me.first_name))
            return 0
    return 1


def cmd_run(args: argparse.Namespace) -> int:
    """Run the Telegram bot (long polling, or a webhook); with --check, only check the token."""
    from .config import ConfigError, configure_logging, load_settings

    try:
        settings = load_settings(api_url=args.api_url, environment=args.env)
    except ConfigError as exc:
        print(f"clientcoach: {tr(exc.template, **exc.params)}", file=sys.stderr)
        return 2
    # Polling or webhook, and where: the command line, else the environment (the service's env file).
    webhook_url = args.webhook_url or args.env.webhook_url
    listen = args.listen or args.env.listen or "127.0.0.1"
    port_text = str(args.port if args.port is not None else args.env.port or 8443)
    if webhook_url and not webhook_url.startswith(("https://", "http://")):
        print(
            f"clientcoach: {tr('--webhook-url (CLIENTCOACH_WEBHOOK_URL) must be a full http(s) URL.')}", file=sys.stderr
        )
        return 2
    if not port_text.isdecimal() or not 0 < int(port_text) < 65536:
        print(f"clientcoach: {tr('--port (CLIENTCOACH_PORT) must be a port number, 1 to 65535.')}", file=sys.stderr)
        return 2
    lang = _lang(args)
    if args.check:
        return check_token(settings, lang)
    # A wrong token or an unreachable API is one line here, not a traceback from the polling loop.
    status = check_token(settings, lang, attempts=STARTUP_ATTEMPTS, quiet=True)
    if status:
        return status
    configure_logging(settings.token)
    from .coach import open_coach
    from .telegram.app import run

    coach = open_coach(args.db, args.flow)
    try:
        run(settings, coach, webhook_url=webhook_url, listen=listen, port=int(port_text))
    finally:
        coach.store.close()
    return 0


def cmd_flows_check(args: argparse.Namespace) -> int:
    """Validate flow files; print one line per file."""
    from .flow import FlowError, load_flow
    from .paths import flows_dir

    files = [Path(f) for f in args.files] or sorted(flows_dir().glob("*.yaml"))
    status = 0
    for path in files:
        try:
            flow = load_flow(path)
        except FlowError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
        else:
            from .plans import plan_problems  # and so must the plans that follow them
            from .scripts import (
                check as check_scripts,  # the messages' conditions must fit this flow
            )

            problems = check_scripts(flow) + plan_problems() if flow.id == "cliente_difficile" else []
            for problem in problems:
                print(f"error: {path}: {problem}", file=sys.stderr)
            if problems:
                status = 1
            else:
                print(f"ok: {path} (flow {flow.id} v{flow.version}, {len(flow.questions)} questions)")
    return status


def cmd_flows_draw(args: argparse.Namespace) -> int:
    """Print the flow as a Mermaid diagram."""
    from .flow import FlowError, load_flow, mermaid
    from .paths import default_flow

    try:
        flow = load_flow(args.file or default_flow())
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(mermaid(flow, _lang(args)))
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    """Integrity, the schema version found and the one it would migrate to, size; exit 1 if SQLite
    finds damage. Only reads the file: `db migrate` (or `db check --migrate`) upgrades it."""
    from .store import inspect_database

    if getattr(args, "migrate", False):
        status = cmd_db_migrate(args)
        if status:
            return status
    report = inspect_database(args.db)
    print(
        ui(
            _lang(args),
            "db_report",
            report["path"],
            report["integrity"],
            report["schema_version"],
            report["schema_target"],
            human_size(report["size_bytes"]),
        )
    )
    return 0 if report["integrity"] == "ok" else 1


def cmd_db_migrate(args: argparse.Namespace) -> int:
    """Bring the database's schema (and the questionnaires in progress) up to this version."""
    from .store import Store, inspect_database

    before = inspect_database(args.db)["schema_version"]
    store = Store.open(args.db)
    try:
        after = store.check()["schema_version"]
        path = store.path
    finally:
        store.close()
    print(ui(_lang(args), "db_migrated", path, before, after))
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database as it is (not migrated), safe while the bot runs."""
    from .store import backup_database

    written = backup_database(args.db, args.file, force=args.force)
    print(ui(_lang(args), "db_backup_done", args.file, human_size(written.stat().st_size)))
    return 0


def cmd_privacy(args: argparse.Namespace) -> int:
    """What is kept and how to delete it: the same text as /privacy on Telegram."""
    print(ui(_lang(args), "privacy"))
    return 0


# -- the parser --------------------------------------------------------------------------------


def _environment_help() -> str:
    from .config import ENVIRONMENT

    width = max(len(name) for name, _ in ENVIRONMENT)
    lines = [f"  {name.ljust(width)}  {tr(text)}" for name, text in ENVIRONMENT]
    return tr("environment (also read from a .env file in the current folder):") + "\n" + "\n".join(lines)


def build_parser(lang: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, its help in `lang` (English when None)."""
    use_language(lang)
    common = global_options()
    parser = Parser(
        prog="clientcoach",
        parents=[common],
        description=tr(
            "Coaching through one difficult client: a short questionnaire, the client's profile, "
            "why, what to do, and ready-to-send messages. In the terminal or on Telegram."
        ),
        epilog=tr("examples:") + "\n  clientcoach chat\n  clientcoach --lang en chat\n  clientcoach cases list\n"
        "  clientcoach run --check\n\n" + tr("Each command has its own --help."),
    )
    parser.add_argument("--version", action=_VersionAction, help=tr("show program's version number and exit"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = [common]

    chat = add_command(
        sub,
        "chat",
        "answer the questionnaire in the terminal",
        [
            "clientcoach chat",
            "clientcoach chat --lang en --user 2",
            "printf 'Rossi\\n3\\n' | clientcoach chat --new",
        ],
        parents,
        cmd_chat,
        "Type the number of an option, several numbers for 'pick all that apply', or the answer itself.\n"
        "Words that work at any question: indietro/back, salta/skip, rivedi/review, annulla/cancel,\n"
        "ricomincia/restart, aiuto/help, and esci/quit/exit (or Ctrl-D) to leave; an unfinished\n"
        "questionnaire is kept. One chat at a time holds a user's questionnaire.",
    )
    chat.set_defaults(parser=chat)
    chat.add_argument(
        "--user",
        type=cases_cli.user_id_arg,
        default=cases_cli.CONSOLE_USER,
        metavar="ID",
        help="the local user the answers and cases belong to (default 0)",
    )
    choice = chat.add_mutually_exclusive_group()
    choice.add_argument(
        "--resume",
        action="store_true",
        help="go on with an unfinished questionnaire (automatic in an interactive terminal)",
    )
    choice.add_argument("--new", action="store_true", help="drop an unfinished questionnaire and start a new one")
    chat.add_argument(
        "--reassess",
        type=int,
        metavar="N",
        help="the questionnaire again for case N's client, pre-filled, then how the profile moved",
    )
    chat.add_argument("--flow", metavar="FILE", help="another flow file (default: the bundled cliente_difficile)")

    run = add_command(
        sub,
        "run",
        "run the Telegram bot",
        [
            "TELEGRAM_BOT_TOKEN=123456789:AA... clientcoach run",
            "clientcoach run --check",
            "clientcoach run --webhook-url https://bot.example.com/clientcoach --port 8443",
        ],
        parents,
        cmd_run,
        tr(
            "Long polling by default, or a webhook with --webhook-url. The token comes from\n"
            "TELEGRAM_BOT_TOKEN (environment or .env). Before starting, the token is checked with\n"
            "Telegram (getMe), retried a few times if the network is down."
        )
        + "\n\n"
        + _environment_help(),
    )
    run.add_argument("--check", action="store_true", help="only check the token and the API address (getMe), then exit")
    run.add_argument(
        "--webhook-url",
        metavar="URL",
        help="public https URL for webhook mode (or CLIENTCOACH_WEBHOOK_URL; default: long polling)",
    )
    run.add_argument(
        "--listen", metavar="HOST", help="webhook listen address (or CLIENTCOACH_LISTEN; default 127.0.0.1)"
    )
    run.add_argument("--port", type=int, help="webhook port (or CLIENTCOACH_PORT; default 8443)")
    run.add_argument(
        "--api-url", metavar="URL", help="Bot API server root, e.g. http://127.0.0.1:8081 (or TELEGRAM_API_URL)"
    )
    run.add_argument("--flow", metavar="FILE", help="another flow file (default: the bundled cliente_difficile)")

    flows = add_command(
        sub,
        "flows",
        "check or draw the questionnaire flows",
        ["clientcoach flows check", "clientcoach flows draw > flow.mmd"],
        parents,
    )
    flows_sub = flows.add_subparsers(dest="flows_command", required=True, metavar="COMMAND")
    check = add_command(
        flows_sub,
        "check",
        "validate flow files: questions, branches, translations",
        ["clientcoach flows check", "clientcoach flows check my_flow.yaml"],
        parents,
        cmd_flows_check,
    )
    check.add_argument(
        "files", nargs="*", metavar="FILE", help="flow files (YAML) to check (default: every bundled flow)"
    )
    draw = add_command(
        flows_sub,
        "draw",
        "print a flow as a Mermaid diagram",
        ["clientcoach flows draw", "clientcoach flows draw --lang en my_flow.yaml"],
        parents,
        cmd_flows_draw,
    )
    draw.add_argument("file", nargs="?", metavar="FILE", help="the flow file (default: the bundled cliente_difficile)")

    cases_cli.add_commands(sub, parents, add_command)

    db = add_command(
        sub,
        "db",
        "check, back up or migrate the database",
        ["clientcoach db check", "clientcoach db backup clientcoach-2026-11-29.db", "clientcoach db migrate"],
        parents,
    )
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    check_db = add_command(
        db_sub,
        "check",
        "integrity, schema version found and the one it would migrate to, size (changes nothing)",
        ["clientcoach db check", "clientcoach --db /srv/clientcoach/clientcoach.db db check"],
        parents,
        cmd_db_check,
    )
    check_db.add_argument("--migrate", action="store_true", help="migrate first, as `db migrate` does")
    add_command(
        db_sub,
        "migrate",
        "bring the database's schema up to this version (back it up first with `db backup`)",
        ["clientcoach db migrate", "clientcoach --db /srv/clientcoach/clientcoach.db db migrate"],
        parents,
        cmd_db_migrate,
        "Every other command migrates a database by itself when it opens it; this does only that.",
    )
    backup = add_command(
        db_sub,
        "backup",
        "copy the database as it is to a new file, safely even while the bot runs",
        [
            "clientcoach db backup backup.db",
            "clientcoach --db /srv/clientcoach/clientcoach.db db backup /backups/cc.db",
        ],
        parents,
        cmd_db_backup,
        "The copy keeps the schema it finds (a database from an earlier release is copied before any\n"
        "migration); it is readable by you alone. An existing file is not overwritten unless --force,\n"
        "and the database itself never is.",
    )
    backup.add_argument("file", metavar="FILE", help="the new file to write")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists (never the database)")

    add_command(
        sub,
        "privacy",
        "what clientcoach keeps about whom, and how to delete it",
        ["clientcoach privacy", "clientcoach privacy --lang en"],
        parents,
        cmd_privacy,
    )

    sender_cli.add_command(sub, parents, add_command)
    _translate_help(parser, set())
    return parser


def _translate_help(parser: argparse.ArgumentParser, done: set[int]) -> None:
    """Every argument's help in the chosen language (the texts are written in English beside them);
    an action shared by several parsers (the global options) is translated once."""
    for action in parser._actions:
        if id(action) in done:
            continue
        done.add(id(action))
        if action.help and action.help != argparse.SUPPRESS:
            action.help = tr(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _translate_help(child, done)


# -- running -----------------------------------------------------------------------------------

DATABASE_COMMANDS = {"chat", "run", "cases", "db", "profile"}  # the commands that open the database


def _database_ready(args: argparse.Namespace) -> None:
    """A database file that does not exist is created only on the first run of the default location
    or with --create; otherwise StoreError (one line naming the closest existing file). A database
    left at the earlier default location (`data/clientcoach.db` of the working folder) while the
    default one does not exist yet is named, with the command that moves it."""
    if args.command not in DATABASE_COMMANDS:
        return
    from .paths import default_db_path, earlier_db_path
    from .store import Store, StoreError, missing_database

    create = bool(getattr(args, "create", False))
    if args.db is None:
        target, earlier = default_db_path(), earlier_db_path()
        if not target.exists() and earlier.is_file() and not create:
            raise StoreError("earlier_location", path=str(earlier), target=str(target), folder=str(target.parent))
        return
    if str(args.db).strip() in ("", ":memory:"):
        return  # the store words these
    path = Path(args.db).expanduser()
    if path.exists() or path.is_symlink():
        return
    if not path.parent.is_dir():
        return  # the store names the missing folder
    if not create:
        raise missing_database(path)
    Store.open(path).close()


def _tolerant_streams() -> None:
    """Bytes that are not UTF-8 on stdin reach the console as marked characters it refuses (never a
    crash), and output a terminal cannot show becomes '?' rather than an error."""
    for stream, errors in ((sys.stdin, "surrogateescape"), (sys.stdout, "replace"), (sys.stderr, "replace")):
        if isinstance(stream, io.TextIOWrapper):
            try:
                stream.reconfigure(errors=errors)
            except (ValueError, OSError):
                pass


def _not_utf8(args: argparse.Namespace) -> str | None:
    """The first text argument holding bytes that are not UTF-8 (decoded by Python as surrogates)."""
    for name in ("text", "when", "status", "case", "file", "out", "png", "db"):
        value = getattr(args, name, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and any("\udc80" <= c <= "\udcff" for c in item):
                return name
    return None


def _dispatch(args: argparse.Namespace) -> int:
    try:
        _database_ready(args)
        return args.func(args)
    except (KeyboardInterrupt, BrokenPipeError, SystemExit):
        raise
    except Exception as exc:
        lang = _lang(args)
        flow, store = sys.modules.get(f"{__package__}.flow"), sys.modules.get(f"{__package__}.store")
        if isinstance(exc, LanguageError) or (flow is not None and isinstance(exc, flow.FlowError)):
            return fail(f"error: {exc}")  # e.g. `chat --flow broken.yaml`, a language missing a template
        if store is not None and isinstance(exc, store.StoreError):
            return fail(ui(lang, "store_error", exc.key, exc.params))
        return fail(ui(lang, "cli_unexpected", type(exc).__name__))


def run_command(argv: list[str] | None = None) -> int:
    """Parse, read the environment once, run the command."""
    try:
        parser = build_parser(wanted_language(sys.argv[1:] if argv is None else argv))
    except LanguageError as exc:  # a broken language file: one line naming it, never a traceback
        return fail(f"error: {exc}")
    args = parser.parse_args(argv)
    from .config import ConfigError, read_environment

    try:
        env = read_environment()
    except ConfigError as exc:
        if exc.key:
            lang = getattr(args, "lang", None) or wanted_language([])
            print(ui(lang, exc.key, *exc.params.values()), file=sys.stderr)
        else:
            print(f"clientcoach: {exc}", file=sys.stderr)
        return 2  # a setting to fix, like a usage error
    args.env = env
    args.lang = getattr(args, "lang", None) or env.lang
    if not hasattr(args, "db"):
        args.db = env.db
    bad = _not_utf8(args)
    if bad:
        return fail(ui(_lang(args), "cli_not_utf8", bad))
    _tolerant_streams()
    return _dispatch(args)


def main(argv: list[str] | None = None) -> int:
    try:
        status = run_command(argv)
        sys.stdout.flush()  # a reader gone away shows here, inside the try, not at interpreter exit
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`clientcoach cases list | head`): stop quietly, and keep Python
        # from complaining while it flushes stdout at exit.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
