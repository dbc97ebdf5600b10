"""`KeyStatus`: what a readiness probe asks of a validator's keys (`validator.status()`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["KeyStatus"]


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What a readiness probe asks of a validator's keys.

    Attributes:
        ready: Whether a token can be validated now without waiting for a fetch: a key
            set is cached and younger than `max_stale`.
        key_age: Seconds since the key set being served was fetched; `None` before any.
        keys: How many signing keys that key set holds (0 before any).
        last_fetch: `"success"` or `"failure"` of the latest fetch; `None` before any.
        last_fetch_error: How the latest fetch failed (`timeout`, `"503"`, ...), if it did.
        refreshing: Whether a fetch is under way now.
    """

    ready: bool
    key_age: float | None
    keys: int
    last_fetch: Literal["success", "failure"] | None
    last_fetch_error: str | None
    refreshing: bool

    def as_dict(self) -> dict[str, object]:
        """The status as JSON-ready values, for a probe route's body."""
        return {
            "ready": self.ready,
            "key_age": self.key_age,
            "keys": self.keys,
            "last_fetch": self.last_fetch,
            "last_fetch_error": self.last_fetch_error,
            "refreshing": self.refreshing,
        }
