"""Telegram's HTML parse mode: the visible text, its entities, and Telegram's parse errors.

The rules and messages follow tdlib's `parse_html`, which the Bot API server uses: a fixed set of
tags, attributes inside them, `&lt; &gt; &amp; &quot;` and numeric character references.
Offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
NAMED_CHARACTERS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_PLAIN_RUN = re.compile(r"[^<&]+")
_CHARACTER_REFERENCE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]*));")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")
_SPACES = " \t\r\n\v\f"


class EntityParseError(ValueError):
    """What Telegram puts after "Bad Request: can't parse entities: "."""


def utf16_len(text: str) -> int:
    """A length as Telegram counts it: in UTF-16 code units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading and trailing whitespace as Telegram does, moving and clipping the entities."""
    kept = text.lstrip(_SPACES)
    shift = utf16_len(text[: len(text) - len(kept)])
    kept = kept.rstrip(_SPACES)
    end = utf16_len(kept)
    trimmed = []
    for entity in entities:
        start, stop = max(entity["offset"] - shift, 0), min(entity["offset"] + entity["length"] - shift, end)
        if stop > start:
            trimmed.append(entity | {"offset": start, "length": stop - start})
    return kept, trimmed


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """The visible text of an HTML-formatted message and its entities, or EntityParseError."""
    if "<" not in source and "&" not in source:
        return source, []
    return _HtmlParser(source).parse()


@dataclass
class _OpenTag:
    name: str
    argument: str  # href, code language, "spoiler", custom emoji id or "1" for expandable
    offset: int  # where its content starts in the visible text, in UTF-16 units


class _HtmlParser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.parts: list[str] = []
        self.length = 0
        self.open_tags: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        while self.pos < len(self.source):
            char = self.source[self.pos]
            if char == "<":
                self._tag()
            elif char == "&":
                self._emit(self._character_reference())
            else:
                run = _PLAIN_RUN.match(self.source, self.pos)
                assert run is not None
                self._emit(run.group())
                self.pos = run.end()
        if self.open_tags:
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{self.open_tags[-1].name}"')
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)  # a language only counts on a <pre>
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.parts), self.entities

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def _byte_offset(self, at: int) -> int:
        return len(self.source[:at].encode())

    def _error(self, message: str, at: int) -> EntityParseError:
        return EntityParseError(f"{message} at byte offset {self._byte_offset(at)}")

    def _character_reference(self) -> str:
        """Decode `&...;` at pos; a lone `&` stays as it is, an unknown named entity is refused."""
        match = _CHARACTER_REFERENCE.match(self.source, self.pos)
        if match is None:
            self.pos += 1
            return "&"
        decimal, hexadecimal, name = match.groups()
        if name is not None:
            if name not in NAMED_CHARACTERS:
                raise self._error(f'Unsupported HTML entity "&{name};"', self.pos)
            self.pos = match.end()
            return NAMED_CHARACTERS[name]
        code = int(decimal) if decimal is not None else int(hexadecimal, 16)
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            self.pos += 1
            return "&"
        self.pos = match.end()
        return chr(code)

    def _skip_spaces(self, i: int) -> int:
        while i < len(self.source) and self.source[i] in _SPACES:
            i += 1
        return i

    def _tag(self) -> None:
        if self.source.startswith("</", self.pos):
            self._end_tag()
        else:
            self._start_tag()

    def _start_tag(self) -> None:
        source, begin = self.source, self.pos
        i = begin + 1
        while i < len(source) and source[i] not in _SPACES and source[i] != ">":
            i += 1
        if i == len(source):
            raise self._error("Unclosed start tag", begin)
        name = source[begin + 1 : i].lower()
        if name not in ENTITY_TYPES:
            raise self._error(f'Unsupported start tag "{name}"', begin)
        argument = ""
        while True:
            i = self._skip_spaces(i)
            if i == len(source):
                raise self._error("Unclosed start tag", begin)
            if source[i] == ">":
                break
            attribute_begin = i
            while i < len(source) and source[i] not in _SPACES and source[i] not in "=>":
                i += 1
            attribute = source[attribute_begin:i].lower()
            if not attribute:
                raise self._error(f'Empty attribute name in the tag "{name}"', begin)
            i = self._skip_spaces(i)
            if i == len(source) or source[i] != "=":
                if name == "blockquote" and attribute == "expandable":
                    argument = "1"
                    continue
                raise self._error(f'Expected equal sign in declaration of an attribute of the tag "{name}"', begin)
            value, i = self._attribute_value(self._skip_spaces(i + 1), begin)
            argument = _tag_argument(name, attribute, value) or argument
        self.pos = i + 1
        if name == "span" and argument != "spoiler":
            raise self._error('Tag "span" must have class "tg-spoiler"', begin)
        self.open_tags.append(_OpenTag(name, argument, self.length))

    def _attribute_value(self, i: int, tag_begin: int) -> tuple[str, int]:
        """A quoted string (with character references) or a bare name token; returns it and the next index."""
        source = self.source
        if i == len(source):
            raise self._error("Unclosed start tag", tag_begin)
        quote = source[i]
        if quote not in "'\"":
            token = _NAME_TOKEN.match(source, i)
            assert token is not None
            end = token.end()
            if end == len(source) or (source[end] not in _SPACES and source[end] != ">"):
                raise self._error("Unexpected end of name token", i)
            return token.group().lower(), end
        end = source.find(quote, i + 1)
        if end < 0:
            raise self._error("Unclosed start tag", tag_begin)
        value = _CHARACTER_REFERENCE.sub(_decode_in_attribute, source[i + 1 : end])
        return value, end + 1

    def _end_tag(self) -> None:
        source, begin = self.source, self.pos
        if not self.open_tags:
            raise self._error("Unexpected end tag", begin)
        i = begin + 2
        while i < len(source) and source[i] not in _SPACES and source[i] != ">":
            i += 1
        name = source[begin + 2 : i].lower()
        i = self._skip_spaces(i)
        if i == len(source) or source[i] != ">":
            raise self._error("Unclosed end tag", begin)
        tag = self.open_tags.pop()
        if name and name != tag.name:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {self._byte_offset(begin)}, "
                f'expected "</{tag.name}>", found "</{name}>"'
            )
        self.pos = i + 1
        self._close(tag)

    def _close(self, tag: _OpenTag) -> None:
        length = self.length - tag.offset
        if length == 0:
            return
        entity: dict[str, Any] = {"type": ENTITY_TYPES[tag.name], "offset": tag.offset, "length": length}
        if tag.name == "a":
            if not tag.argument:
                return
            entity["url"] = tag.argument
        elif tag.name == "code" and tag.argument:
            entity["language"] = tag.argument  # becomes the language of an enclosing <pre>
        elif tag.name == "pre" and self.entities:
            last = self.entities[-1]
            if (
                last["type"] == "code"
                and "language" in last
                and (last["offset"], last["length"]) == (tag.offset, length)
            ):
                last["type"] = "pre"
                return
        elif tag.name == "blockquote" and tag.argument:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            if not tag.argument:
                return
            entity["custom_emoji_id"] = tag.argument
        self.entities.append(entity)


def _tag_argument(tag: str, attribute: str, value: str) -> str:
    """The part of an attribute Telegram keeps for the entity, or "" when it ignores it."""
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value.removeprefix("language-")
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if tag == "tg-emoji" and attribute == "emoji-id":
        return value
    return ""


def _decode_in_attribute(match: re.Match[str]) -> str:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return NAMED_CHARACTERS.get(name, match.group())
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else match.group()
