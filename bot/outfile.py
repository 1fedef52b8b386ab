"""Files a command writes (an export, a chart, a backup): never over data.

A file that exists is refused unless the user says `--force`; the open database, its `-wal`,
`-shm` and `-journal` are refused even then (compared as real files: a symlink, a hard link or
another spelling of the same path is still the database). The content goes to a temporary file in
the same folder, which is then renamed into place: an interrupted write leaves the old file (or
none), never half of one. The refusals are StoreError, worded by `ui/store` like every other
problem with a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import StoreError

DATABASE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def is_database_file(target: str | Path, database: str | Path | None) -> bool:
    """Whether `target` is the database or one of the files SQLite keeps beside it."""
    if not database or str(database) == ":memory:":
        return False
    target_real = Path(os.path.realpath(Path(target).expanduser()))
    db_real = Path(os.path.realpath(Path(database).expanduser()))
    for suffix in DATABASE_SIDE_FILES:
        side = Path(f"{db_real}{suffix}")
        if target_real == side or _same_file(target_real, side):
            return True
    return False


def check_target(target: str | Path, database: str | Path | None, force: bool = False) -> Path:
    """The path to write, after the checks; StoreError with one line's worth when it may not be written."""
    if str(target).strip() == "" or str(target) == ":memory:":
        raise StoreError("empty_path")
    path = Path(target).expanduser()
    if is_database_file(path, database):
        raise StoreError("output_is_database", path=str(target))
    if path.is_dir():
        raise StoreError("is_directory", path=str(target))
    if (path.exists() or path.is_symlink()) and not force:
        raise StoreError("output_exists", path=str(target))
    folder = path.parent
    if not folder.is_dir():
        raise StoreError("missing_folder", path=str(target), folder=str(folder))
    return path


def write_file(
    target: str | Path,
    content: bytes | Callable[[Path], None],
    *,
    database: str | Path | None,
    force: bool = False,
) -> Path:
    """Write `content` (bytes, or a function that fills the path it is given) to `target`, mode 0600.

    Through a temporary file in the same folder, renamed into place; without `force` the rename
    cannot replace a file that appeared meanwhile (it is a hard link, which fails on an existing
    name), so nothing is ever overwritten by accident.
    """
    path = check_target(target, database, force)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    temp = Path(temp_name)
    try:
        os.fchmod(fd, 0o600)
        if callable(content):
            os.close(fd)
            fd = -1
            content(temp)
            os.chmod(temp, 0o600)
        else:
            with os.fdopen(fd, "wb") as out:
                fd = -1
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
        if force:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                raise StoreError("output_exists", path=str(target)) from None
            except OSError:  # a file system without hard links: the check above is what we have
                if path.exists():
                    raise StoreError("output_exists", path=str(target)) from None
                os.replace(temp, path)
    finally:
        if fd >= 0:
            os.close(fd)
        temp.unlink(missing_ok=True)
    return path
