"""Throttling of guessing: N failures in a window lock a key for a while.

Keys name what is counted (``login:alice``, ``ip:203.0.113.7``,
``joker:<uuid>``…). Counters live in a store shared by every process and
node (SQL or Redis), never in process memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class CounterStore(Protocol):
    def hit(self, key: str, now: float, window: float) -> int:
        """Count one event for ``key``; counting restarts when ``window`` has passed."""
        ...

    def locked_until(self, key: str, now: float) -> float | None:
        """When the lock on ``key`` ends, if it is locked at ``now``."""
        ...

    def lock(self, key: str, until: float) -> None: ...

    def reset(self, key: str) -> None: ...


@dataclass(frozen=True)
class Limit:
    attempts: int  # this many failures…
    window: float  # …within this many seconds…
    lock: float  # …lock the key for this many seconds


class Throttle:
    def __init__(self, store: CounterStore, limit: Limit, prefix: str) -> None:
        self.store = store
        self.limit = limit
        self.prefix = prefix

    def _key(self, subject: str) -> str:
        return f"{self.prefix}:{subject}"[:255]

    def retry_at(self, subject: str, now: float) -> float | None:
        """If the subject is locked, when it may try again."""
        return self.store.locked_until(self._key(subject), now)

    def failure(self, subject: str, now: float) -> float | None:
        """Record a failure; returns when to retry if this failure locked the subject."""
        key = self._key(subject)
        count = self.store.hit(key, now, self.limit.window)
        if count >= self.limit.attempts:
            until = now + self.limit.lock
            self.store.lock(key, until)
            return until
        return None

    def success(self, subject: str) -> None:
        self.store.reset(self._key(subject))
