"""Where the flows and templates live: inside the installed wheel, or beside the package in a checkout."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "_data"
_CHECKOUT = _PACKAGE.parent


def _data_dir(name: str) -> Path:
    installed = _INSTALLED / name
    return installed if installed.is_dir() else _CHECKOUT / name


def flows_dir() -> Path:
    return _data_dir("flows")


def templates_dir() -> Path:
    return _data_dir("templates")


def default_flow() -> Path:
    return flows_dir() / "cliente_difficile.yaml"


def cache_dir(name: str) -> Path | None:
    """A writable per-user cache folder (`$XDG_CACHE_HOME/clientcoach/<name>`), or None."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "clientcoach" / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def default_db_path() -> Path:
    """The database's default home: `$XDG_DATA_HOME/clientcoach/clientcoach.db`, else `~/.local/share/…`."""
    base = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec ignores a relative XDG_DATA_HOME; so do we.
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "clientcoach" / "clientcoach.db"


EARLIER_DB = Path("data") / "clientcoach.db"  # the first release's default, in the working folder


def earlier_db_path() -> Path:
    """Where the first release (before 0.2.0) kept its database by default: `data/clientcoach.db`
    of the folder it ran from."""
    return Path.cwd() / EARLIER_DB
