"""The `clientcoach` command line: chat in the console, check and draw flows, run the bot."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import cases_cli
from .flow import FlowError, load_flow, mermaid
from .paths import default_flow, flows_dir


def _db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="SQLite database (default: $CLIENTCOACH_DB or data/clientcoach.db)")


def cmd_chat(args: argparse.Namespace) -> int:
    """Run the questionnaire in the terminal."""
    from .coach import open_coach
    from .console import Console

    coach = open_coach(args.db, args.flow)
    try:
        interactive = sys.stdin.isatty()
        console = Console(coach, user_id=args.user, lang=args.lang)
        return console.run(resume=args.resume or interactive)
    finally:
        coach.store.close()


def cmd_run(args: argparse.Namespace) -> int:
    """Run the Telegram bot (long polling, or a webhook)."""
    from .config import ConfigError, configure_logging, load_settings

    try:
        settings = load_settings(api_url=args.api_url)
    except ConfigError as exc:
        print(f"clientcoach: {exc}", file=sys.stderr)
        return 2
    if args.webhook_url and not args.webhook_url.startswith(("https://", "http://")):
        print("clientcoach: --webhook-url must be a full http(s) URL.", file=sys.stderr)
        return 2
    configure_logging(settings.token)
    from .coach import open_coach
    from .telegram_app import run

    coach = open_coach(args.db or settings.db, args.flow)
    try:
        run(settings, coach, webhook_url=args.webhook_url, listen=args.listen, port=args.port)
    finally:
        coach.store.close()
    return 0


def cmd_flows_check(args: argparse.Namespace) -> int:
    """Validate flow files; print one line per file."""
    files = [Path(f) for f in args.files] or sorted(flows_dir().glob("*.yaml"))
    status = 0
    for path in files:
        try:
            flow = load_flow(path)
        except FlowError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
        else:
            print(f"ok: {path} (flow {flow.id} v{flow.version}, {len(flow.questions)} questions)")
    return status


def cmd_flows_draw(args: argparse.Namespace) -> int:
    """Print the flow as a Mermaid diagram."""
    try:
        flow = load_flow(args.file or default_flow())
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(mermaid(flow, args.lang))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clientcoach", description="Coaching through one difficult client.")
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="answer the questionnaire in the terminal")
    chat.add_argument("--lang", choices=("it", "en"), default=os.environ.get("CLIENTCOACH_LANG", "it"))
    chat.add_argument("--user", type=int, default=0, help="local user id (default 0)")
    chat.add_argument("--resume", action="store_true", help="go on with an unfinished questionnaire")
    chat.add_argument("--flow", help="flow file (default: the bundled cliente_difficile)")
    _db_arg(chat)
    chat.set_defaults(func=cmd_chat)

    run = sub.add_parser("run", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    run.add_argument("--webhook-url", help="public URL for webhook mode (default: long polling)")
    run.add_argument("--listen", default="127.0.0.1", help="webhook listen address (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8443, help="webhook port (default 8443)")
    run.add_argument("--api-url", help="Bot API server root, e.g. http://127.0.0.1:8081 (or TELEGRAM_API_URL)")
    run.add_argument("--flow", help="flow file (default: the bundled cliente_difficile)")
    _db_arg(run)
    run.set_defaults(func=cmd_run)

    flows = sub.add_parser("flows", help="check or draw the questionnaire flows")
    flows_sub = flows.add_subparsers(dest="flows_command", required=True)
    check = flows_sub.add_parser("check", help="validate flow files")
    check.add_argument("files", nargs="*")
    check.set_defaults(func=cmd_flows_check)
    draw = flows_sub.add_parser("draw", help="print a Mermaid diagram of a flow")
    draw.add_argument("file", nargs="?")
    draw.add_argument("--lang", choices=("it", "en"), default="it")
    draw.set_defaults(func=cmd_flows_draw)

    cases_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except FlowError as exc:  # e.g. `chat --flow broken.yaml`: the reason, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
