"""Throttling counters on SQL, shared by every worker and node.

A row per key: ``count`` and ``window_started_at`` (the window), ``locked_until``
(the lock), ``level`` and ``level_until`` (rising lockouts: how many locks in
a row, and when that is forgotten; migration 0009). Every change that must
not race is one statement (an upsert whose new values are computed from the
row it finds), so concurrent callers queue on the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    Engine,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ...accounts.throttle import Grant
from .models import ThrottleCounterRow

C = cast(Table, ThrottleCounterRow.__table__)
# hit()'s statements, built once (a SAML request id or a form's nonce is counted on
# every request that carries one).
_HIT_READ = select(C.c.count, C.c.window_started_at).where(C.c.key == bindparam("k"))
_HIT_NEW = insert(C)
_HIT_RESTART = (
    update(C).where(C.c.key == bindparam("k")).values(count=1, window_started_at=bindparam("now"))
)
_HIT_INCREMENT = (
    update(C).where(C.c.key == bindparam("k")).values(count=C.c.count + 1).returning(C.c.count)
)


class SqlCounterStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def hit(self, key: str, now: float, window: float) -> int:
        params = {"k": key, "now": now}
        fresh = {"key": key, "count": 1, "window_started_at": now, "locked_until": None}
        for _ in range(3):
            with self.engine.begin() as conn:
                row = conn.execute(_HIT_READ, params).first()
                if row is None:
                    try:
                        conn.execute(_HIT_NEW, fresh)
                        return 1
                    except IntegrityError:
                        continue  # another worker inserted it first: count again
                if row.window_started_at + window <= now:
                    conn.execute(_HIT_RESTART, params)
                    return 1
                # Increment in the database, not in Python: concurrent hits all count.
                result = conn.execute(_HIT_INCREMENT, params).scalar_one_or_none()
                if result is None:
                    continue  # reset by another worker since the read: count again
                return int(result)
        raise RuntimeError(f"could not count {key}")

    def acquire(self, key: str, now: float, window: float, attempts: int, lock: float) -> Grant:
        """One statement, whatever the outcome (so every outcome costs the same):
        an upsert whose new values are computed from the row it finds, so
        concurrent reservations queue on the row and each sees the one before.

        A refusal that locks nothing marks the row with a negative
        ``locked_until`` (minus the time to retry): RETURNING shows only new
        values, and that is how a refusal reads apart from a grant. Negative
        means no lock everywhere (``locked_until``, ``purge``, the next call).
        """
        locked, start, count = C.c.locked_until, C.c.window_started_at, C.c.count
        active = and_(locked.is_not(None), locked > now)
        ended = and_(locked.is_not(None), locked > 0, locked <= now)
        restart = start + window <= now
        room = count + 1 <= attempts
        statement = (
            _insert(self.engine.dialect.name)(C)
            .values(key=key, count=1, window_started_at=now, locked_until=None)
            .on_conflict_do_update(
                index_elements=[C.c.key],
                set_={
                    "count": case(
                        (active, count),
                        (restart, 1),
                        (room, count + 1),
                        (ended, count + 1),
                        else_=count,
                    ),
                    "window_started_at": case((active, start), (restart, now), else_=start),
                    "locked_until": case(
                        (active, locked),
                        (restart, null()),  # a lock that ended goes with its window
                        (room, null()),
                        (ended, null()),  # one check just after a lock; the next is refused
                        else_=-(now + lock),  # every attempt taken: refused, nothing counted
                    ),
                },
            )
            .returning(C.c.count, C.c.window_started_at, C.c.locked_until)
        )
        with self.engine.begin() as conn:
            taken, started, until = conn.execute(statement).one()
        if until is None:
            return Grant(True, int(taken), float(started))
        return Grant(False, int(taken), float(started), float(abs(until)))

    def lock_step(
        self, key: str, now: float, steps: Sequence[float], memory: float
    ) -> tuple[float, int]:
        """One upsert (see :meth:`CounterStore.lock_step`): the level and the lock's
        end are computed from the row it finds; a row locked at ``now`` is
        written back unchanged."""
        if not steps:
            raise ValueError("lock_step needs at least one step")
        locked, level, forget = C.c.locked_until, C.c.level, C.c.level_until
        active = and_(locked.is_not(None), locked > now)
        remembered = and_(level.is_not(None), forget.is_not(None), forget > now)
        new_level = case((remembered, level + 1), else_=1)

        def by_level(offset: float) -> Any:
            """``now + step(new level) + offset``, as SQL."""
            whens = [(new_level == n, now + s + offset) for n, s in enumerate(steps[:-1], 1)]
            last = now + steps[-1] + offset
            return case(*whens, else_=last) if whens else last

        statement = (
            _insert(self.engine.dialect.name)(C)
            .values(
                key=key,
                count=0,
                window_started_at=now,
                locked_until=now + steps[0],
                level=1,
                level_until=now + steps[0] + memory,
            )
            .on_conflict_do_update(
                index_elements=[C.c.key],
                set_={
                    "locked_until": case((active, locked), else_=by_level(0.0)),
                    "level": case((active, func.coalesce(level, 1)), else_=new_level),
                    "level_until": case(
                        (active, func.coalesce(forget, locked + memory)), else_=by_level(memory)
                    ),
                },
            )
            .returning(C.c.locked_until, C.c.level)
        )
        with self.engine.begin() as conn:
            until, taken = conn.execute(statement).one()
        return float(until), int(taken)

    def level(self, key: str, now: float) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(C.c.level, C.c.level_until).where(C.c.key == key)).first()
        if row is None or row.level is None or row.level_until is None:
            return 0
        return int(row.level) if row.level_until > now else 0

    def release(self, key: str, window_start: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(C)
                .where(C.c.key == key, C.c.window_started_at == window_start, C.c.count > 0)
                .values(count=C.c.count - 1)
            )

    def window_started(self, key: str) -> float | None:
        with self.engine.connect() as conn:
            started = conn.execute(select(C.c.window_started_at).where(C.c.key == key)).scalar()
        return float(started) if started is not None else None

    def locked_until(self, key: str, now: float) -> float | None:
        with self.engine.connect() as conn:
            until = conn.execute(select(C.c.locked_until).where(C.c.key == key)).scalar()
        return until if until is not None and until > now else None

    def lock(self, key: str, until: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(C).where(C.c.key == key).values(locked_until=until))

    def reset(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(C).where(C.c.key == key))

    def purge(self, now: float, keep: float) -> int:
        """Forget counters whose window began more than ``keep`` seconds ago and
        that hold no lock nor remembered level any more (Redis keys expire by
        themselves)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(C).where(
                    C.c.window_started_at < now - keep,
                    or_(C.c.locked_until.is_(None), C.c.locked_until <= now),
                    or_(C.c.level_until.is_(None), C.c.level_until <= now),
                )
            )
        return int(result.rowcount or 0)


def _insert(dialect: str) -> Any:
    """INSERT … ON CONFLICT, spelt the same by both databases."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
