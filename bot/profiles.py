"""The profiles a client can have, as a flow file declares them (see `bot.flow`): plain, frozen data.

Each profile has an id (what the evidence, the scripts and the stored cases name), its names in
every language, a role and the guide its result offers. The classifier, the renderer, the router
and the case book take the profile list and the roles from here, never from a list of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# A problem profile is one of the difficult clients; the good client (exactly one) is a client to keep.
PROBLEM = "problem"
GOOD_CLIENT = "good_client"
ROLES = (PROBLEM, GOOD_CLIENT)
# The names a profile needs in every language: `name` on the result card and the case, `short` in
# lists, charts and exports, `inline` inside a sentence ("the <inline> profile").
NAME_KINDS = ("name", "short", "inline")


@dataclass(frozen=True)
class Profile:
    """One profile of the flow file's `profiles`."""

    id: str
    role: str
    name: dict[str, str]
    short: dict[str, str]
    inline: dict[str, str]
    guide: str  # the guide (templates/<lang>/guides/<guide>.html.j2) its result offers
    keep: bool  # the client is kept whatever happens: no exit, no referral (always true for the good client)
    line: int

    @property
    def good_client(self) -> bool:
        return self.role == GOOD_CLIENT

    @property
    def advice(self) -> str:
        """The advice template (per language) of this profile."""
        return f"advice/{self.id}.html.j2"


@dataclass(frozen=True)
class Profiles:
    """The flow's profiles in order: a tie between scores goes to the profile listed first."""

    all: tuple[Profile, ...]
    by_id: dict[str, Profile] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {p.id: p for p in self.all})

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.all)

    def __getitem__(self, profile_id: str) -> Profile:
        return self.by_id[profile_id]

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self.by_id

    def __len__(self) -> int:
        return len(self.all)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.all)

    @property
    def problems(self) -> tuple[str, ...]:
        """The problem profiles, in order."""
        return tuple(p.id for p in self.all if not p.good_client)

    @property
    def good_client(self) -> str:
        """The good client's profile id."""
        return next(p.id for p in self.all if p.good_client)

    @property
    def kept_problems(self) -> tuple[str, ...]:
        """Problem profiles whose client is kept all the same (a VIP): they outrank a good client on
        enough evidence, since their risks matter more than the comfort of a good client."""
        return tuple(p.id for p in self.all if p.keep and not p.good_client)

    def kept(self, profile_id: str) -> bool:
        """Whether a client of this profile is kept (no exit)."""
        found = self.by_id.get(profile_id)
        return found is not None and found.keep


__all__ = ["GOOD_CLIENT", "NAME_KINDS", "PROBLEM", "ROLES", "Profile", "Profiles"]
