"""Throttling counters on SQL, shared by every worker and node."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Engine, Table, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .models import ThrottleCounterRow

C = cast(Table, ThrottleCounterRow.__table__)


class SqlCounterStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def hit(self, key: str, now: float, window: float) -> int:
        for _ in range(3):
            with self.engine.begin() as conn:
                row = conn.execute(
                    select(C.c.count, C.c.window_started_at).where(C.c.key == key)
                ).first()
                if row is None:
                    try:
                        conn.execute(
                            insert(C).values(
                                key=key, count=1, window_started_at=now, locked_until=None
                            )
                        )
                        return 1
                    except IntegrityError:
                        continue  # another worker inserted it first: count again
                if row.window_started_at + window <= now:
                    conn.execute(
                        update(C).where(C.c.key == key).values(count=1, window_started_at=now)
                    )
                    return 1
                # Increment in the database, not in Python: concurrent hits all count.
                result = conn.execute(
                    update(C).where(C.c.key == key).values(count=C.c.count + 1).returning(C.c.count)
                ).scalar_one()
                return int(result)
        raise RuntimeError(f"could not count {key}")

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
        that hold no lock any more (Redis keys expire by themselves)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(C).where(
                    C.c.window_started_at < now - keep,
                    or_(C.c.locked_until.is_(None), C.c.locked_until <= now),
                )
            )
        return int(result.rowcount or 0)
