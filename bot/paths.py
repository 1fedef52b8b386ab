"""Where the flows and templates live: inside the installed wheel, or beside the package in a checkout."""

from __future__ import annotations

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
