"""Read a YAML data file (a flow, a language) keeping the line of every mapping, with a parse cache.

The parsed document is cached per user as JSON under the file's digest, so a file read before
costs no YAML import at all; a changed file has another digest and is parsed again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .paths import cache_dir

# Every mapping of a parsed document holds its line under this key.
LINE = "__line__"
_CACHE_FOLDER = "flows"
_CACHE_FORMAT = "1"


class YamlFileError(ValueError):
    """A file that cannot be read as YAML: the line (when known) and the problem."""

    def __init__(self, line: int | None, problem: str):
        super().__init__(problem)
        self.line, self.problem = line, problem


def _parse_yaml(text: str) -> Any:
    """Parse YAML keeping each mapping's line under LINE (libyaml's parser when present)."""
    import yaml  # imported here: a cached document needs no YAML at all

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class LineLoader(base):  # type: ignore[misc, valid-type]
        """A safe YAML loader that remembers the line of every mapping."""

    def construct_mapping(loader: Any, node: Any) -> dict:
        mapping = loader.construct_mapping(node, deep=True)
        mapping[LINE] = node.start_mark.line + 1
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        return yaml.load(text, Loader=LineLoader)  # safe: a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or exc)
        raise YamlFileError(mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None


def digest(raw: bytes) -> str:
    """The short content digest a parsed document is cached under."""
    return hashlib.sha256(raw).hexdigest()[:24]


def read_document(raw: bytes) -> Any:
    """The parsed document of a file's bytes, from the per-user cache when these bytes were parsed before."""
    folder = cache_dir(_CACHE_FOLDER)
    cached = folder / f"{digest(raw)}.{_CACHE_FORMAT}.json" if folder else None
    if cached is not None and cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    try:
        doc = _parse_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise YamlFileError(None, "the file is not UTF-8 text") from None
    if cached is not None:
        try:
            tmp = cached.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            tmp.replace(cached)
        except (OSError, TypeError, ValueError):
            pass  # a cache that cannot be written only costs speed
    return doc


def line_of(node: Any) -> int | None:
    """The line a parsed mapping starts on (None for anything else)."""
    return node.get(LINE) if isinstance(node, dict) else None


__all__ = ["LINE", "YamlFileError", "digest", "line_of", "read_document"]
