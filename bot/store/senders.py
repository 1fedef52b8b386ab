"""The sender's own profile: what the user said about themselves, one JSON row per user."""

from __future__ import annotations

import json

from .base import StoreBase, to_json, utcnow


class SenderStore(StoreBase):
    """Sender profiles (`sender_profiles`)."""

    def sender_profile(self, user_id: int) -> dict[str, str]:
        """What the user said about themselves (name, signature, business, voice...); {} if nothing."""
        row = self.conn.execute("SELECT profile FROM sender_profiles WHERE user_id = ?", (user_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def set_sender_profile(self, user_id: int, profile: dict[str, str]) -> None:
        """Replace the user's sender profile (the keys are the caller's business)."""
        with self.conn:
            self._ensure_user(user_id)
            self.conn.execute(
                "INSERT INTO sender_profiles (user_id, profile, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET profile = excluded.profile, updated = excluded.updated",
                (user_id, to_json(dict(profile)), utcnow()),
            )
