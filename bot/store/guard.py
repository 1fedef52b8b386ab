"""What a store failure means: SQLite's and the OS's errors as StoreError, and the guard that
turns them so for every public store method (a bug stays the exception it is)."""

from __future__ import annotations

import errno
import functools
import sqlite3
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..errors import StoreError

# SQLite's primary result codes (Python 3.11+ `sqlite_errorname`) and errno values, as StoreError keys.
_SQLITE_KEYS = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
    "SQLITE_READONLY": "read_only",
    "SQLITE_NOTADB": "not_a_database",
    "SQLITE_CORRUPT": "not_a_database",
    "SQLITE_CANTOPEN": "cannot_open",
    "SQLITE_PERM": "read_only",
    "SQLITE_IOERR": "cannot_open",
}
_ERRNO_KEYS = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "read_only",
    errno.EPERM: "read_only",
    errno.EISDIR: "is_directory",
    errno.ENOENT: "missing_folder",
}


def store_error(exc: BaseException, path: str | Path | None = None) -> StoreError | None:
    """The StoreError for a sqlite3 or OS error, or None for one that is a bug rather than a condition."""
    if isinstance(exc, StoreError):
        return exc
    key = None
    if isinstance(exc, sqlite3.Error):
        # Extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED) count as their primary code.
        primary = "_".join((getattr(exc, "sqlite_errorname", "") or "").split("_")[:2])
        key = _SQLITE_KEYS.get(primary)
        if key is None and isinstance(exc, sqlite3.OperationalError):
            message = str(exc).lower()
            key = (
                "disk_full"
                if "full" in message
                else "locked"
                if "locked" in message or "busy" in message
                else "read_only"
                if "readonly" in message
                else "cannot_open"
                if "unable to open" in message
                else None
            )
    elif isinstance(exc, OSError):
        key = _ERRNO_KEYS.get(exc.errno or 0, "cannot_open")
    if key is None:
        return None
    return StoreError(key, path=str(path) if path is not None else "", detail=str(exc))


_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(method: _F) -> _F:
    """Run a store method, turning disk-full, lock and similar conditions into StoreError."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            error = store_error(exc, self.path)
            if error is None:
                raise
            raise error from exc

    return run  # type: ignore[return-value]


def guard_public_methods(cls: type) -> None:
    """Every public operation of `cls` (its own and its bases') answers a full disk, a lock or a
    vanished file with StoreError; private helpers run inside a guarded one."""
    methods: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):  # bases first, so an override wins
        methods.update(vars(klass))
    for name, method in methods.items():
        if not name.startswith("_") and callable(method) and not isinstance(method, (classmethod, staticmethod, type)):
            setattr(cls, name, _guarded(method))
