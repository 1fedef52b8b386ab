"""A conversation in progress as every layer sees it: one frozen value, stored as one JSON row.

The engine makes a new `Conversation` for each move; the store turns it into its stored JSON and
back (`stored` / `from_stored`). What the conversation is doing is one field, `mode`, which only
the engine's modes machine sets; a row stored before modes existed gets its mode from the flags
it was stored with. The JSON keeps the names earlier releases wrote (`editing` is `changing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .flow import END

STATE_VERSION = 1
CANCELLED = "cancelled"
# What a conversation is doing; stored as `mode`, derived for conversations stored before it existed.
ASKING, REVIEWING, EDITING, DONE = "asking", "reviewing", "editing", "done"
MODES = (ASKING, REVIEWING, EDITING, DONE, CANCELLED)
UNREADABLE = 0  # the `v` of a stored row whose shape no release wrote: never compatible


def _mode_before_modes(data: dict[str, Any]) -> str:
    """The mode of a row stored before `mode` was: from its place and its review/editing flags."""
    if data.get("at") == CANCELLED:
        return CANCELLED
    if data.get("review"):
        return REVIEWING
    if data.get("editing"):
        return EDITING
    return DONE if data.get("at") == END else ASKING


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


@dataclass(frozen=True)
class Conversation:
    """One user's questionnaire in progress. Treat it as a value: moves return a new one."""

    flow: str
    flow_version: int
    lang: str
    at: str  # the question waiting for an answer, END at the review, CANCELLED
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # the branch taken: answered questions in order
    mode: str = ASKING
    changing: bool = False  # a change of an earlier answer is under way (under the review too)
    step: int = 0  # moves so far: with `cid`, the nonce a stale button is recognised by
    cid: str = ""  # this questionnaire's id (a new one on each start)
    picked: list[str] = field(default_factory=list)  # ticked options of a multiple choice not yet sent
    previous: int | None = None  # the case this one re-assesses
    earlier: dict[str, Any] = field(default_factory=dict)  # answers an earlier flow took that this one does not ask
    upgraded_from: int | None = None  # the flow version it was begun under, if carried to this one
    v: int = STATE_VERSION

    @property
    def reviewing(self) -> bool:
        return self.mode == REVIEWING

    @property
    def nonce(self) -> tuple[str, int]:
        """Which questionnaire and which step a screen of it belongs to (buttons carry it)."""
        return self.cid, self.step

    def but(self, **changes: Any) -> Conversation:
        """This conversation with `changes`."""
        return replace(self, **changes)

    def stored(self) -> dict[str, Any]:
        """As the store writes it (JSON-able; the keys earlier releases wrote and read)."""
        data: dict[str, Any] = {
            "v": self.v,
            "flow": self.flow,
            "flow_version": self.flow_version,
            "lang": self.lang,
            "at": self.at,
            "answers": self.answers,
            "history": self.history,
            "editing": self.changing,
            "mode": self.mode,
            "step": self.step,
            "cid": self.cid,
            "picked": self.picked,
        }
        optional = {"previous": self.previous, "earlier": self.earlier, "upgraded_from": self.upgraded_from}
        data.update({key: value for key, value in optional.items() if value not in (None, {})})
        return data

    @classmethod
    def from_stored(cls, data: Any) -> Conversation:
        """A stored row read back; a row of a shape no release wrote comes back never compatible."""
        if not isinstance(data, dict):
            data = {}
        mode = data["mode"] if "mode" in data else _mode_before_modes(data)
        readable = (
            isinstance(data.get("flow"), str)
            and isinstance(data.get("flow_version"), int)
            and isinstance(data.get("lang"), str)
            and isinstance(data.get("at"), str)
            and isinstance(data.get("answers", {}), dict)
            and _is_str_list(data.get("history", []))
            and _is_str_list(data.get("picked") or [])
            and isinstance(data.get("step", 0), int)
            and isinstance(mode, str)
        )
        if not readable:
            return cls(flow=str(data.get("flow")), flow_version=0, lang="it", at=CANCELLED, v=UNREADABLE)
        previous = data.get("previous")
        upgraded_from = data.get("upgraded_from")
        return cls(
            flow=data["flow"],
            flow_version=data["flow_version"],
            lang=data["lang"],
            at=data["at"],
            answers=dict(data.get("answers", {})),
            history=list(data.get("history", [])),
            mode=mode,
            changing=bool(data.get("editing")),
            step=data.get("step", 0),
            cid=str(data.get("cid") or ""),
            picked=list(data.get("picked") or []),
            previous=previous if isinstance(previous, int) else None,
            earlier=dict(data["earlier"]) if isinstance(data.get("earlier"), dict) else {},
            upgraded_from=upgraded_from if isinstance(upgraded_from, int) else None,
            v=data["v"] if isinstance(data.get("v"), int) else UNREADABLE,
        )


__all__ = ["ASKING", "CANCELLED", "DONE", "EDITING", "MODES", "REVIEWING", "STATE_VERSION", "Conversation"]
