"""`clientcoach profile`: show or set the sender's profile from the console.

`clientcoach profile` prints what is set and how to set the rest; `--set field=value` (repeatable)
sets fields, an empty value clears one. A value that cannot be used prints why on stderr, exits 1
and changes nothing (not even the other fields of the same command).
"""

from __future__ import annotations

import argparse
import sys

from .cases_cli import CONSOLE_USER, AddCommand, user_id_arg


def _pairs(raw: list[str]) -> list[tuple[str, str]]:
    """`field=value` items; a missing `=` reads as a field with an empty value (it is refused later)."""
    return [(item.partition("=")[0].strip(), item.partition("=")[2]) for item in raw]


def cmd_profile(args: argparse.Namespace) -> int:
    """Show the profile, or set the fields given with --set."""
    from .coach import open_coach
    from .render import to_plain
    from .sender import ProfileError, parse_field

    coach = open_coach(args.db, surface="console")
    try:
        user = args.user
        lang = coach.renderer.languages.pick(args.lang or coach.lang(user))
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
    subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser], add: AddCommand
) -> argparse.ArgumentParser:
    """Register `profile` with cli.py's `add_command` helper (`parents` carry the global --db and --lang)."""
    parser = add(
        subparsers,
        "profile",
        "show or set your sender profile (signature, business, io/noi, hours...)",
        ["clientcoach profile", "clientcoach profile --set name='Giulia Neri' --set voice=io"],
        parents,
        cmd_profile,
    )
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
