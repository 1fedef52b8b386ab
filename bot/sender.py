"""The sender's profile: who signs the messages, set once and used by every script.

Fields written in words (hours, reply time, channel) are kept per language, tagged with the
language they were typed in ("hours:en"): an English letter never carries «in giornata». A value
stored before the tag existed counts for the default language only.

Each field has a parser that either returns the clean value or raises `ProfileError` with a key
the interface texts explain. Parsing is linear in the input and every text has a length cap, so
nothing a user types can slow the bot down or overflow a message. An empty value clears a field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .engine import clean_text

MAX_RAW = 400  # longer input is refused before any other work


class ProfileError(ValueError):
    """A value a field cannot take; `key` names the interface text that explains why."""

    def __init__(self, key: str, field: str | None = None, **params: object):
        super().__init__(key)
        self.key, self.field, self.params = key, field, params


def _text(cap: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = clean_text(raw).replace("\n", " ").strip(" «»\"'“”")
        if len(value) > cap:
            raise ProfileError("too_long", limit=cap)
        if "<" in value or ">" in value:
            raise ProfileError("no_markup")
        return value

    return parse


def _choice(words: dict[str, str]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = clean_text(raw).casefold()
        if value not in words:
            raise ProfileError("choose", choices=sorted(set(words.values())))
        return words[value]

    return parse


@dataclass(frozen=True)
class Field:
    """One profile field: its id, the words users may type for it, and its parser."""

    id: str
    names: tuple[str, ...]
    parse: Callable[[str], str]


FIELDS: tuple[Field, ...] = (
    Field("name", ("name", "nome", "firma", "signature"), _text(60)),
    Field("business", ("business", "attività", "attivita", "azienda", "studio"), _text(80)),
    Field(
        "voice", ("voice", "voce", "io_noi"), _choice({"io": "io", "i": "io", "me": "io", "noi": "noi", "we": "noi"})
    ),
    Field("hours", ("hours", "orari", "orario"), _text(80)),
    Field("reply_time", ("reply_time", "risposta", "tempi", "reply"), _text(60)),
    Field("channel", ("channel", "canale"), _text(60)),
    Field(
        "vat",
        ("vat", "iva"),
        _choice(
            {
                "plus": "plus",
                "+iva": "plus",
                "+ iva": "plus",
                "più iva": "plus",
                "piu iva": "plus",
                "esclusa": "plus",
                "excluded": "plus",
                "included": "included",
                "inclusa": "included",
                "compresa": "included",
                "none": "none",
                "no": "none",
                "nessuna": "none",
                "esente": "none",
                "forfettario": "none",
            }
        ),
    ),
)
BY_ID = {f.id: f for f in FIELDS}
# Fields whose value is written in words of one language.
WORDED = ("hours", "reply_time", "channel")
_BY_NAME = {name: f for f in FIELDS for name in (f.id, *f.names)}


def field_named(raw: str) -> Field:
    """The field a user means by `raw` (its id, or an Italian or English name)."""
    found = _BY_NAME.get(clean_text(raw[:40]).casefold().replace(" ", "_"))
    if found is None:
        raise ProfileError("unknown_field")
    return found


def parse_field(name: str, raw: str) -> tuple[str, str]:
    """(field id, clean value) for what the user typed; an empty value clears the field."""
    if len(raw) > MAX_RAW:
        raise ProfileError("too_long", limit=MAX_RAW)
    field = field_named(name)
    if not clean_text(raw):
        return field.id, ""
    try:
        return field.id, field.parse(raw)
    except ProfileError as exc:
        exc.field = field.id
        raise


def worded_key(field: str, lang: str) -> str:
    """Where a field written in words is stored for one language."""
    return f"{field}:{lang}"


def _known(key: str) -> bool:
    field, _, lang = key.partition(":")
    return field in BY_ID and (not lang or (field in WORDED and lang.isascii() and lang.isalpha() and len(lang) <= 3))


def clean_profile(stored: dict[str, str] | None) -> dict[str, str]:
    """A stored profile with only known, non-empty fields (anything else is ignored)."""
    return {k: v for k, v in (stored or {}).items() if isinstance(k, str) and _known(k) and isinstance(v, str) and v}


def in_language(profile: dict[str, str], lang: str, default: bool) -> dict[str, str]:
    """The profile as a letter in `lang` uses it: the fields written in words only in that language
    (an untagged, older value only when `lang` is the `default` language)."""
    out = {k: v for k, v in profile.items() if k in BY_ID and k not in WORDED}
    for field in WORDED:
        value = profile.get(worded_key(field, lang)) or (profile.get(field) if default else None)
        if value:
            out[field] = value
    return out


def with_field(profile: dict[str, str], field: str, value: str, lang: str, default: bool) -> dict[str, str]:
    """The profile with one field set (or cleared, for an empty value) as typed in `lang`."""
    out = dict(profile)
    key = worded_key(field, lang) if field in WORDED else field
    if field in WORDED and default:
        out.pop(field, None)  # the untagged older value was this language's
    if value:
        out[key] = value
    else:
        out.pop(key, None)
    return out


__all__ = [
    "BY_ID",
    "FIELDS",
    "WORDED",
    "Field",
    "ProfileError",
    "clean_profile",
    "field_named",
    "in_language",
    "parse_field",
    "with_field",
]
