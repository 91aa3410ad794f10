"""Throttling of guessing: N failures in a window lock a key for a while.

Keys name what is counted (``login:alice``, ``ip:203.0.113.7``,
``joker:<uuid>``…). Counters live in a store shared by every process and
node (SQL or Redis), never in process memory.

An attempt is counted *before* its secret is checked: :meth:`Throttle.reserve`
takes one of the window's attempts in one atomic step of the store, or is
refused without anything being checked (the key is locked, or every attempt
of the window is taken, some of them perhaps still being checked). Once the
check is done the reservation is settled: a failure stays counted and may
lock the key (:meth:`Throttle.fail`), a right secret gives the attempt back
(:meth:`Throttle.release`) or clears the key (:meth:`Throttle.success`). So N
requests at the same instant get at most ``attempts`` real checks, on every
worker and node. :class:`Attempt` holds the reservations of one check on
several keys (a login, an address, an account).

Rising lockouts (``[login] lock_steps``, as LemonLDAP::NG does): each further
lock of a key lasts the next step (5 min, 15 min, 1 h…, capped at the last).
The key's *level* (how many locks in a row) lives in the same shared store
as its counter and rises in one atomic step (:meth:`CounterStore.lock_step`),
so every node sees it; a right secret (:meth:`Throttle.success`), a password
reset or the console's "lift the lock" clear it. A level is forgotten
``memory`` seconds after its lock ended.

Password spraying (``[login] max_logins_per_ip``): :meth:`Throttle.spread`
counts the *distinct* other subjects (logins) failing under one subject (an
address) within the window; at the limit the address itself is locked,
rising too, for every login.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Grant:
    """A store's answer to one reservation."""

    granted: bool
    count: int  # attempts taken in the window (this one included when granted)
    window_start: float  # names the window, so that a release never reaches a newer one
    locked_until: float | None = None  # refused: when to retry (the lock's end)


class CounterStore(Protocol):
    def hit(self, key: str, now: float, window: float) -> int:
        """Count one event for ``key``; counting restarts when ``window`` has passed."""
        ...

    def locked_until(self, key: str, now: float) -> float | None:
        """When the lock on ``key`` ends, if it is locked at ``now``."""
        ...

    def window_started(self, key: str) -> float | None:
        """When the counting window of ``key`` began, if it is counted."""
        ...

    def lock(self, key: str, until: float) -> None: ...

    def lock_step(
        self, key: str, now: float, steps: Sequence[float], memory: float
    ) -> tuple[float, int]:
        """Lock ``key`` for its next step, atomically; returns (lock end, level).

        Not locked at ``now``: the level rises by one if it is still
        remembered (else it is 1), the lock ends at ``now + steps[level - 1]``
        (the last step once the level passes them) and the level is
        remembered until that end plus ``memory``. Already locked at ``now``
        (concurrent failures at the limit): nothing changes, the current lock
        and level are returned, so one lock is never counted twice. A key
        without a counter gets one (nothing counted in it).
        """
        ...

    def level(self, key: str, now: float) -> int:
        """The level ``key`` has at ``now`` (0: none remembered)."""
        ...

    def reset(self, key: str) -> None: ...

    def acquire(self, key: str, now: float, window: float, attempts: int, lock: float) -> Grant:
        """Take one attempt for ``key``, atomically (one step, whatever runs beside it).

        - Locked at ``now``: refused, nothing counted (``locked_until``: the lock's end).
        - Otherwise counted like :meth:`hit` and granted while the count is at
          most ``attempts``; also granted once just after a lock ended within
          the window (the ended lock is forgotten, so a concurrent attempt is
          refused), as a failure used to relock at once.
        - Beyond: refused, nothing counted and nothing locked (the attempts
          taken may still be being checked, and may turn out right);
          ``locked_until`` is then ``now + lock``, a hint of when to retry.
          The reservation that fails at the limit locks the key.
        """
        ...

    def release(self, key: str, window_start: float) -> None:
        """Give back one attempt taken in the window that began at ``window_start``
        (nothing if a newer window began, never below zero)."""
        ...


@dataclass(frozen=True)
class Limit:
    attempts: int  # this many failures…
    window: float  # …within this many seconds…
    lock: float  # …lock the key for this many seconds (the first step when rising)
    # Rising lockouts: the n-th lock in a row lasts steps[n - 1], capped at the
    # last; empty: every lock lasts ``lock``.
    steps: tuple[float, ...] = ()
    memory: float = 86400.0  # a level is forgotten this long after its lock ended
    # Spraying: this many distinct other subjects failing under one subject
    # within the window lock that subject (None: not counted).
    distinct: int | None = None

    def step(self, level: int) -> float:
        """How long the lock of that level lasts."""
        if not self.steps:
            return self.lock
        return self.steps[min(max(level, 1), len(self.steps)) - 1]


@dataclass(frozen=True)
class Reservation:
    throttle: Throttle
    subject: str
    grant: Grant

    @property
    def granted(self) -> bool:
        return self.grant.granted

    @property
    def count(self) -> int:
        return self.grant.count

    @property
    def locked_until(self) -> float | None:
        return self.grant.locked_until


class Throttle:
    def __init__(self, store: CounterStore, limit: Limit, prefix: str) -> None:
        self.store = store
        self.limit = limit
        self.prefix = prefix

    def _key(self, subject: str) -> str:
        return f"{self.prefix}:{subject}"[:255]

    def retry_at(self, subject: str, now: float) -> float | None:
        """If the subject is locked, when it may try again (a read: nothing reserved)."""
        return self.store.locked_until(self._key(subject), now)

    def reserve(self, subject: str, now: float) -> Reservation:
        """Take one attempt before checking anything; refused: check nothing."""
        limit = self.limit
        grant = self.store.acquire(
            self._key(subject), now, limit.window, limit.attempts, limit.lock
        )
        return Reservation(self, subject, grant)

    def level(self, subject: str, now: float) -> int:
        """How many locks in a row the subject has had (0: none remembered)."""
        return self.store.level(self._key(subject), now) if self.limit.steps else 0

    def lock_now(self, subject: str, now: float) -> float:
        """Lock the subject at once for its next step; returns the lock's end."""
        return self._lock(self._key(subject), now)

    def _lock(self, key: str, now: float) -> float:
        limit = self.limit
        if limit.steps:
            until, _level = self.store.lock_step(key, now, limit.steps, limit.memory)
            return until
        until = now + limit.lock
        self.store.lock(key, until)
        return until

    def fail(self, reservation: Reservation, now: float) -> float | None:
        """The reserved attempt failed (it stays counted); returns when to retry if
        this failure locked the subject."""
        if not reservation.granted or reservation.count < self.limit.attempts:
            return None
        return self._lock(self._key(reservation.subject), now)

    def spread(self, subject: str, other: str, now: float) -> float | None:
        """A failure under ``subject`` (an address) for ``other`` (a login): when
        ``distinct`` others have failed under it within the window, the subject
        is locked (its next step); returns when it may retry if so.

        Each (subject, other) pair is counted once per window (its first
        failure), by the store's atomic counting, so the count is of
        distinct others whatever runs beside it.
        """
        limit = self.limit
        if not limit.distinct:
            return None
        digest = hashlib.sha256(other.encode("utf-8", "replace")).hexdigest()[:20]
        spread = f"spread:{self._key(subject)}"[:200]
        if self.store.hit(f"{spread}:{digest}", now, limit.window) != 1:
            return None  # this other already failed here in the window
        if self.store.hit(spread, now, limit.window) < limit.distinct:
            return None
        self.store.reset(spread)  # the next lock needs as many new others
        return self._lock(self._key(subject), now)

    def release(self, reservation: Reservation) -> None:
        """The reserved attempt is not a failure (right secret, nothing checked…)."""
        if reservation.granted:
            self.store.release(self._key(reservation.subject), reservation.grant.window_start)

    def failure(self, subject: str, now: float) -> float | None:
        """Record a failure that was not reserved (an event that cannot race,
        such as a wrong code already counted elsewhere); returns when to retry
        if this failure locked the subject."""
        key = self._key(subject)
        count = self.store.hit(key, now, self.limit.window)
        if count >= self.limit.attempts:
            return self._lock(key, now)
        return None

    def success(self, subject: str) -> None:
        self.store.reset(self._key(subject))


@dataclass
class Attempt:
    """The reservations one check holds, taken before it and settled after it.

    Reservations that are not ``told`` (an account's, found from what was
    typed) count and lock like the others, but their lock is never reported:
    the caller answers as if the secret were wrong.
    """

    now: float
    held: list[tuple[Reservation, bool]] = field(default_factory=list)
    refused_until: float | None = None  # a told reservation was refused: until then
    refused_silently: bool = False  # a reservation that is not told was refused

    def reserve(self, throttle: Throttle, subject: str, *, told: bool = True) -> bool:
        """Take an attempt on ``subject``; False if refused (then check nothing)."""
        if any(r.throttle is throttle and r.subject == subject for r, _ in self.held):
            return True  # one check counts once per key
        reservation = throttle.reserve(subject, self.now)
        if not reservation.granted:
            if told:
                until = reservation.locked_until or self.now
                self.refused_until = max(self.refused_until or until, until)
            else:
                self.refused_silently = True
            return False
        self.held.append((reservation, told))
        return True

    def release(self) -> None:
        """Nothing was checked, or the secret was right: every attempt given back."""
        for reservation, _ in self.held:
            reservation.throttle.release(reservation)
        self.held = []

    def failed(self) -> float | None:
        """The check failed: every attempt stays counted, keys at their limit lock.
        Returns the latest lock this failure set on a told key, if any."""
        told_until = None
        for reservation, told in self.held:
            until = reservation.throttle.fail(reservation, self.now)
            if until is not None and told:
                told_until = max(told_until or until, until)
        self.held = []
        return told_until

    def succeeded(self, reset: Collection[Throttle] = ()) -> None:
        """The secret was right: the keys of ``reset`` throttles are cleared,
        the other attempts given back (an address keeps its other failures)."""
        for reservation, _ in self.held:
            if any(reservation.throttle is t for t in reset):
                reservation.throttle.success(reservation.subject)
            else:
                reservation.throttle.release(reservation)
        self.held = []
