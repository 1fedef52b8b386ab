"""`clientcoach cases ...`: the case book from the console.

Output is the plain text of the same screens the bot shows; errors go to stderr with exit code 1
(usage errors: 2, from argparse). Only the standard library is imported here: `clientcoach chat`
builds this parser too, and must not pay for the case book (let alone matplotlib) at start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .cliwords import tr as _tr

if TYPE_CHECKING:
    from .casebook import CaseBook
    from .render import Screen

CONSOLE_USER = 0  # the user the console chat saves cases under (bot.console.CONSOLE_USER)
CONSOLE_PAGE_SIZE = 20

Command = Callable[["CaseBook", argparse.Namespace, str], int]


# -- output helpers ----------------------------------------------------------------------------


def to_plain(text: str) -> str:
    from .render import to_plain as plain

    return plain(text)


def _say(*screens: Screen) -> None:
    print("\n\n".join(screen.plain for screen in screens))


def _hint(book: CaseBook, lang: str, screen: Screen) -> None:
    """Under a list: how to open a case, and the next page if there is one."""
    if screen.meta.get("case_nos"):
        page, pages = screen.meta["page"], screen.meta["pages"]
        print()
        print(book.label(lang, "console_list_hint", page + 1 if page < pages else None))


def _confirmed(book: CaseBook, lang: str) -> bool:
    """Ask on stdin; only an explicit yes (any language's `words: confirm`: y, s, yes, sì) confirms, and
    end of input refuses."""
    sys.stdout.write(book.label(lang, "console_confirm") + " ")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        print()
    return line.strip().casefold() in book.renderer.languages.words("confirm")


def user_id_arg(raw: str) -> int:
    """A user id as SQLite can store it (a 64-bit integer)."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(_tr("not a user id: {value}", value=repr(raw))) from None
    if not -(2**63) <= value < 2**63:
        raise argparse.ArgumentTypeError(_tr("user id out of range: {value}", value=raw))
    return value


def _write(book: CaseBook, path: str, data: bytes, force: bool) -> None:
    """Write a file only its owner can read (it holds clients' names and notes): never the database,
    never over an existing file unless --force, through a temporary file renamed into place."""
    from .outfile import write_file

    write_file(path, data, database=book.store.path or None, force=force)


# -- commands ----------------------------------------------------------------------------------


def cmd_list(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    screen = book.list_cases(args.user, args.page, lang, page_size=CONSOLE_PAGE_SIZE)
    _say(screen)
    _hint(book, lang, screen)
    return 0


def cmd_show(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    if args.message is None:
        screens = book.case_view(args.user, args.case, lang)
        _say(*screens)
        count = max((s.meta.get("scripts", 0) for s in screens), default=0)
        if count:  # in a terminal no ‹ › button leads to the others: name the command that does
            print()
            print(book.label(lang, "console_messages_hint", screens[0].meta["case_no"], count))
        return 0
    words = book.renderer.languages
    variants, forms = words.words("variants"), words.words("forms")
    number, *chosen = [w.casefold() for w in args.message]
    if not number.isdecimal():
        args.parser.error(_tr("--message: not a message number: {value}", value=number[:20]))
    unknown = [w for w in chosen if w not in variants and w not in forms]
    if unknown:
        known = ", ".join([*variants, *forms])
        args.parser.error(
            _tr("--message: unknown version {value} (choose from {known})", value=unknown[0][:20], known=known)
        )
    variant = next((variants[w] for w in chosen if w in variants), "softer")
    form = next((forms[w] for w in chosen if w in forms), None)
    _say(book.message(args.user, args.case, int(number), variant, form, lang))
    return 0


def cmd_search(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    screen = book.search(args.user, " ".join(args.text), lang)
    _say(screen)
    _hint(book, lang, screen)
    return 0


MAX_STDIN_NOTE = 64 * 1024  # far above any note the case book accepts; it refuses the rest with its own line


def cmd_note(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    text = " ".join(args.text)
    if args.text == ["-"]:  # the note on standard input: `pbpaste | clientcoach cases note 3 -`
        raw = sys.stdin.buffer.read(MAX_STDIN_NOTE + 1)
        try:
            text = raw.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            print(to_plain(book.renderer.ui(lang, "cli_not_utf8", "stdin")), file=sys.stderr)
            return 1
    _say(book.add_note(args.user, args.case, text, lang))
    return 0


def cmd_outcome(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    _say(book.set_outcome(args.user, args.case, args.status, lang))
    return 0


def cmd_remind(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    _say(book.remind(args.user, args.case, " ".join(args.when), lang))
    return 0


def cmd_sent(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    words = book.renderer.languages
    variants, forms = words.words("variants"), words.words("forms")
    chosen = [w.casefold() for w in args.version]
    unknown = [w for w in chosen if w not in variants and w not in forms]
    if unknown:
        known = ", ".join([*variants, *forms])
        args.parser.error(_tr("unknown version {value} (choose from {known})", value=unknown[0][:20], known=known))
    variant = next((variants[w] for w in chosen if w in variants), "softer")
    form = next((forms[w] for w in chosen if w in forms), None)
    if args.message is not None and not args.message.isdecimal():
        args.parser.error(_tr("not a message number: {value}", value=args.message[:20]))
    _say(book.mark_sent(args.user, args.case, args.message, variant, form, lang))
    return 0


def cmd_check(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    answers = book.renderer.languages.words("answers")
    answer = answers.get(args.answer.casefold())
    if answer is None:
        known = ", ".join(answers)
        return args.parser.error(
            _tr("unknown answer {value} (choose from {known})", value=args.answer[:20], known=known)
        )
    state = book.store.plan_state(args.user, book.case(args.user, args.case).case_no)
    if state is None or state["state"] not in ("waiting", "paused"):
        from .casebook import CaseBookError

        raise CaseBookError("plan_not_waiting", no=int(args.case) if args.case.isdecimal() else args.case)
    _say(*book.answer_check(args.user, args.case, state["step"], answer, lang))
    return 0


def cmd_plan(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    if args.wait:
        _say(book.change_wait(args.user, args.case, " ".join(args.wait), lang))
        return 0
    what = "pause" if args.pause else "resume" if args.resume else "skip" if args.skip else "show"
    _say(*book.control_plan(args.user, args.case, what, lang))
    return 0


def cmd_export(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    export = book.export(args.user, args.format, lang)
    if args.out and args.out != "-":
        _write(book, args.out, export.data, args.force)
        print(book.label(lang, "console_exported", export.count, args.out))
    else:
        sys.stdout.buffer.write(export.data)
        sys.stdout.flush()
    return 0


def cmd_delete(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    if args.all == (args.case is not None):
        args.parser.error(_tr("give either a case number or --all"))
    confirm = book.confirm_delete_all(args.user, lang) if args.all else book.confirm_delete(args.user, args.case, lang)
    if not args.yes:
        _say(confirm)
        if not _confirmed(book, lang):
            print(book.label(lang, "console_not_confirmed"), file=sys.stderr)
            return 1
    _say(book.delete_all(args.user, lang) if args.all else book.delete_case(args.user, args.case, lang))
    return 0


def cmd_stats(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    screen = book.stats(args.user, lang)
    if args.png:  # the files first: a refused one leaves nothing half-said
        _write(book, args.png, book.stats_chart(args.user, lang), args.force)
    plans = book.plans_chart(args.user, lang) if args.plans_png else None
    if plans is not None:
        from .charts import stacked_rows_png  # matplotlib only when a chart is drawn

        _write(book, args.plans_png, stacked_rows_png(*plans), args.force)
    _say(screen)
    if args.png:
        print(book.label(lang, "console_chart_saved", args.png))
    if plans is not None:
        print(book.label(lang, "console_plans_chart_saved", args.plans_png))
    return 0


def cmd_due(book: CaseBook, args: argparse.Namespace, lang: str) -> int:
    screens = book.deliver_due(args.user, lang)
    if not screens:
        print(to_plain(book.renderer.ui(lang, "console_no_due")))
        return 0
    print(to_plain(book.renderer.ui(lang, "console_due_header", len(screens))))
    print()
    _say(*screens)
    return 0


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    """Open the case book, run one command, turn refusals into a message on stderr and exit 1.

    Database problems (StoreError) are left to `cli.main`, which words them the same for every command.
    """

    def run(args: argparse.Namespace) -> int:
        from .casebook import CaseBookError, open_casebook

        env = getattr(args, "env", None)
        book = open_casebook(args.db, surface="console", tz=env.tz if env else None)
        try:
            lang = book.lang_for(args.user, args.lang)
            return command(book, args, lang)
        except CaseBookError as exc:
            print(to_plain(book.error_text(lang, exc)), file=sys.stderr)
            return 1
        except BrokenPipeError:
            raise
        except OSError as exc:  # a file to write: missing folder, no permission, full disk
            print(f"clientcoach: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return 1
        finally:
            book.store.close()

    return run


# -- the parser --------------------------------------------------------------------------------

AddCommand = Callable[..., argparse.ArgumentParser]


def add_commands(
    sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser], add_command: AddCommand
) -> None:
    """Register the `cases` command group (`parents` carry the global --db and --lang)."""
    user = argparse.ArgumentParser(add_help=False)
    user.add_argument(
        "--user",
        type=user_id_arg,
        default=CONSOLE_USER,
        metavar="ID",
        help="whose cases (default 0, the console user; a Telegram user id for the bot's)",
    )
    cases = add_command(
        sub,
        "cases",
        "look up, annotate, follow up, export and delete saved cases",
        ["clientcoach cases list", "clientcoach cases --db cc.db show 3"],
        parents,
        details="Each finished questionnaire is a case, numbered 1, 2, 3... per user. The output is in\n"
        "--lang, else $CLIENTCOACH_LANG, else the language the user last chose.",
    )
    commands = cases.add_subparsers(dest="cases_command", required=True, metavar="COMMAND")

    def command(name: str, run: Command, summary: str, *examples: str) -> argparse.ArgumentParser:
        parser = add_command(
            commands, name, summary, [f"clientcoach cases {e}" for e in examples], [*parents, user], _runner(run)
        )
        parser.set_defaults(parser=parser)
        return parser

    listing = command("list", cmd_list, "your cases, newest first", "list", "list --page 2")
    listing.add_argument(
        "--page", type=int, default=1, metavar="N", help=_tr("page of {size} cases (default 1)", size=CONSOLE_PAGE_SIZE)
    )
    show = command(
        "show",
        cmd_show,
        "one case: answers, profile, history, advice and first script; or one of its messages",
        "show 3",
        "show 3 --message 2",
        "show 3 --message 2 fermo lei",
    )
    show.add_argument("case", metavar="N", help="the case number")
    show.add_argument(
        "--message",
        nargs="+",
        metavar=("K", "VERSION"),
        help="only message K of the case (1, 2, ...), optionally in a version: morbido|fermo|breve "
        "(softer|firmer|shorter) and tu|lei (default: softer, in the case's form)",
    )
    command(
        "search",
        cmd_search,
        "cases whose client, typed answers or notes contain the words",
        "search Rossi",
        "search fattura ritardo",
    ).add_argument("text", nargs="+", metavar="TEXT", help="words to look for in client names, typed answers and notes")
    note = command("note", cmd_note, "add a note to a case", "note 3 ha pagato la fattura", "note 3 - < nota.txt")
    note.add_argument("case", metavar="N", help="the case number")
    note.add_argument(
        "text", nargs="+", metavar="TEXT", help="the note (the rest of the line), or - to read it from standard input"
    )
    outcome = command(
        "outcome", cmd_outcome, "record how a case went", "outcome 3 risolto", "outcome 3 cliente_lasciato"
    )
    outcome.add_argument("case", metavar="N", help="the case number")
    outcome.add_argument("status", metavar="STATUS", help="aperto | risolto | cliente_tenuto | cliente_lasciato")
    remind = command("remind", cmd_remind, "set a reminder on a case", "remind 3 3g", "remind 3 25/12/2026 10:00")
    remind.add_argument("case", metavar="N", help="the case number")
    remind.add_argument(
        "when",
        nargs="+",
        metavar="WHEN",
        help="3g | 1s | 2h (3d | 1w) or a date: 25/12/2026, 2026-12-25 (time zone: $CLIENTCOACH_TZ)",
    )
    sent = command(
        "sent",
        cmd_sent,
        "mark a message of a case as sent (or the plan's action as done): its check is scheduled",
        "sent 3 1",
        "sent 3 2 fermo lei",
        "sent 3",
    )
    sent.add_argument("case", metavar="N", help="the case number")
    sent.add_argument("message", nargs="?", metavar="K", help="the message number (default: the plan's next step)")
    sent.add_argument(
        "version",
        nargs="*",
        metavar="VERSION",
        help="the version sent: morbido|fermo|breve and tu|lei (default: softer)",
    )
    check = command(
        "check",
        cmd_check,
        "answer a plan's check: how the step went; the next step follows",
        "check 3 pagato",
        "check 3 nessuna",
    )
    check.add_argument("case", metavar="N", help="the case number")
    check.add_argument(
        "answer", metavar="ANSWER", help="pagato|accordo|risposto|nessuna|peggio (paid|settled|answered|none|worse)"
    )
    plan = command(
        "plan",
        cmd_plan,
        "a case's plan and where it stands; pause, resume, skip a step, or move the check",
        "plan 3",
        "plan 3 --wait 10g",
        "plan 3 --pause",
    )
    plan.add_argument("case", metavar="N", help="the case number")
    moves = plan.add_mutually_exclusive_group()
    moves.add_argument("--pause", action="store_true", help="no checks until resumed")
    moves.add_argument("--resume", action="store_true", help="go on from where the plan was paused")
    moves.add_argument("--skip", action="store_true", help="leave out the step the plan is at")
    moves.add_argument("--wait", nargs="+", metavar="WHEN", help="check at another time: 10g | 2s | a date")
    command("due", cmd_due, "reminders that have fallen due: shows them and marks them delivered", "due")
    export = command(
        "export",
        cmd_export,
        "all your cases with their notes, as CSV or JSON",
        "export --out casi.csv",
        "export --format json > casi.json",
    )
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="(default csv)")
    export.add_argument("--out", metavar="FILE", help="write to FILE, readable by you alone (default: standard output)")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists (never the database)")
    delete = command(
        "delete", cmd_delete, "delete a case, or with --all everything kept about you", "delete 3", "delete --all --yes"
    )
    delete.add_argument("case", nargs="?", metavar="N", help="the case number")
    delete.add_argument("--all", action="store_true", help="delete all your cases, notes, reminders and settings")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    stats = command(
        "stats",
        cmd_stats,
        "counts by profile and outcome, and what followed each message you sent",
        "stats",
        "stats --png casi.png",
        "stats --plans-png messaggi.png",
    )
    stats.add_argument("--png", metavar="FILE", help="also draw a chart by month into FILE")
    stats.add_argument(
        "--plans-png", metavar="FILE", help="also draw what followed each message you sent into FILE (if any)"
    )
    stats.add_argument("--force", action="store_true", help="replace FILE if it exists (never the database)")
