"""The command line's own words in the chosen language: every `--help` text and argparse's messages.

The code writes them in English; `templates/<lang>/cli.yaml` gives each its translation (keyed by
the English text), `use_language` picks the catalog before the parser is built. Only the standard
library is imported (the catalog comes through the parse cache), like the rest of the CLI's start.
"""

from __future__ import annotations

import argparse
from typing import Any

_CATALOG: dict[str, str] = {}


def tr(text: str, **values: Any) -> str:
    """A text of the command line (help, argparse's words) in the language `use_language` chose,
    else as written (English); `values` fill its {names}."""
    text = _CATALOG.get(text, text)
    return text.format(**values) if values else text


def _ngettext(singular: str, plural: str, count: int) -> str:
    return tr(singular if count == 1 else plural)


def use_language(lang: str | None) -> None:
    """`--help` and usage errors in `lang`: its `templates/<lang>/cli.yaml`, English without one."""
    global _CATALOG
    _CATALOG = {}
    if lang:
        from .paths import templates_dir

        path = templates_dir() / lang / "cli.yaml"
        if path.is_file():
            from .yamlfile import LINE, read_document

            # Read through the parse cache, like the flow and the languages: a start imports no YAML.
            doc = read_document(path.read_bytes()) or {}
            _CATALOG = {k: v for k, v in doc.items() if k != LINE and isinstance(v, str)}
    # argparse words its own texts through gettext at the moment it prints them.
    argparse._ = tr  # type: ignore[attr-defined]
    argparse.ngettext = _ngettext  # type: ignore[attr-defined]
