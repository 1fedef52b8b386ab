"""`clientcoach profile`: show or set the sender's profile from the console.

`clientcoach profile` prints what is set and how to set the rest; `--set field=value` (repeatable)
sets fields, an empty value clears one. A value that cannot be used prints why on stderr, exits 1
and changes nothing (not even the other fields of the same command).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

CONSOLE_USER = 0


def _pairs(raw: list[str]) -> list[tuple[str, str]]:
    """`field=value` items; a missing `=` reads as a field with an empty value (it is refused later)."""
    return [(item.partition("=")[0].strip(), item.partition("=")[2]) for item in raw]


def cmd_profile(args: argparse.Namespace) -> int:
    """Show the profile, or set the fields given with --set."""
    from .coach import open_coach
    from .render import to_plain
    from .sender import ProfileError, parse_field

    coach = open_coach(getattr(args, "db", None), surface="console")
    try:
        user = getattr(args, "user", CONSOLE_USER)
        lang = getattr(args, "lang", None) or coach.lang(user)
        lang = coach.renderer.languages.pick(lang)
        pairs = _pairs(args.set or [])
        for name, value in pairs:  # check every field first: one bad value changes nothing
            try:
                parse_field(name, value)
            except ProfileError as exc:
                print(
                    to_plain(coach.renderer.ui(lang, "profile_error", exc.key, exc.field, exc.params)), file=sys.stderr
                )
                return 1
        for name, value in pairs:
            print(coach.set_profile_field(user, name, value, lang).plain)
        if not pairs:
            print(coach.profile_screen(user, lang).plain)
        return 0
    finally:
        coach.store.close()


def add_command(
    subparsers: argparse._SubParsersAction,
    parents: list[argparse.ArgumentParser] | None = None,
    add: Callable[..., argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    """Register `profile` (with cli.py's `add_command` helper when given, else plain argparse)."""
    summary = "show or set your sender profile (signature, business, io/noi, hours...)"
    examples = ["clientcoach profile", "clientcoach profile --set name='Giulia Neri' --set voice=io"]
    if add is not None:
        parser = add(subparsers, "profile", summary, examples, parents or [], cmd_profile)
    else:
        parser = subparsers.add_parser("profile", help=summary, parents=parents or [])
        parser.set_defaults(func=cmd_profile)
    if not any(a.dest == "user" for a in parser._actions):
        from .cases_cli import user_id_arg

        parser.add_argument(
            "--user", type=user_id_arg, default=CONSOLE_USER, metavar="ID", help="whose profile (default 0)"
        )
    parser.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="set a field: name, business, voice (io/noi), hours, reply_time, channel, vat",
    )
    return parser


__all__ = ["add_command", "cmd_profile"]
