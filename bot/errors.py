"""The error every file problem is reported with: a key naming its one-line text (`ui/store`) and
the facts the text needs. Here, apart, so that the store and the output files share it."""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    """A database problem the user can act on; `key` names its one-line text (`store_error` in ui/store)."""

    def __init__(self, key: str, **params: Any):
        super().__init__(f"{key}: {params}" if params else key)
        self.key, self.params = key, params
