"""`clientcoach cases ...`: the case book from the console."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the `cases` command group."""
    sub.add_parser("cases", help="look up, annotate and export saved cases")
