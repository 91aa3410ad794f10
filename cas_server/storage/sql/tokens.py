"""One-time tokens on SQL: issue, look, try a code, consume once, cancel (T4, T6, T9).

Single use is one conditional ``UPDATE … RETURNING``: only the caller whose
statement changed the row gets the token, on SQLite and PostgreSQL alike.
Every method takes an optional connection so that a reset can consume its
token in the same transaction as the password change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from ...accounts.tokens import Purpose, TokenRecord, code_matches, digest
from .models import OneTimeTokenRow

T = cast(Table, OneTimeTokenRow.__table__)
NO_LIMIT = 1_000_000


def end_outstanding(account_uuid: str, now: float) -> Any:
    """The statement that cancels every outstanding token of an account (T6).

    Also run by every password write, in its own transaction (issue #11,
    item 9): a reset link the help desk sent yesterday dies with today's
    forced change, whichever path wrote the password.
    """
    return (
        update(T)
        .where((T.c.account_uuid == account_uuid) & T.c.used_at.is_(None))
        .values(used_at=now)
    )


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        account_uuid=row.account_uuid,
        purpose=Purpose(row.purpose),
        expires_at=row.expires_at,
        attempts=row.attempts,
        destination=row.destination,
        data=dict(row.data or {}),
    )


def _live(secret: str, purpose: Purpose, now: float, max_attempts: int) -> Any:
    return (
        (T.c.id == digest(secret))
        & (T.c.purpose == purpose.value)
        & T.c.used_at.is_(None)
        & (T.c.expires_at > now)
        & (T.c.attempts < max_attempts)
    )


RETURNED = (T.c.account_uuid, T.c.purpose, T.c.expires_at, T.c.attempts, T.c.destination, T.c.data)


class SqlTokenStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as own:
                yield own

    def issue(
        self,
        account_uuid: str,
        purpose: Purpose,
        secret: str,
        *,
        now: float,
        ttl: float,
        destination: str | None = None,
        data: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:
        with self._conn(conn) as c:
            c.execute(
                insert(T).values(
                    id=digest(secret),
                    account_uuid=account_uuid,
                    purpose=purpose.value,
                    created_at=now,
                    expires_at=now + ttl,
                    used_at=None,
                    attempts=0,
                    destination=destination,
                    data=data or {},
                )
            )

    def peek(
        self, secret: str, purpose: Purpose, now: float, max_attempts: int = NO_LIMIT
    ) -> TokenRecord | None:
        with self.engine.connect() as c:
            row = c.execute(
                select(*RETURNED).where(_live(secret, purpose, now, max_attempts))
            ).first()
        return _record(row) if row is not None else None

    def consume(
        self,
        secret: str,
        purpose: Purpose,
        now: float,
        *,
        max_attempts: int = NO_LIMIT,
        conn: Connection | None = None,
    ) -> TokenRecord | None:
        """Use the token once: the first caller gets it, every later one gets None."""
        with self._conn(conn) as c:
            row = c.execute(
                update(T)
                .where(_live(secret, purpose, now, max_attempts))
                .values(used_at=now)
                .returning(*RETURNED)
            ).first()
        return _record(row) if row is not None else None

    def count_attempt(
        self, secret: str, purpose: Purpose, now: float, max_attempts: int = NO_LIMIT
    ) -> TokenRecord | None:
        """Count one wrong try (a code, or facts on a reset page); None once it is dead."""
        with self.engine.begin() as c:
            row = c.execute(
                update(T)
                .where(_live(secret, purpose, now, max_attempts))
                .values(attempts=T.c.attempts + 1)
                .returning(*RETURNED)
            ).first()
        return _record(row) if row is not None else None

    def try_code(
        self, handle: str, code: str, purpose: Purpose, now: float, max_attempts: int
    ) -> TokenRecord | None:
        """One try at a short code (T9): counted first, then used if right.

        The try is counted by the same conditional UPDATE that checks the
        code is still alive, so concurrent guesses cannot exceed the limit.
        """
        with self.engine.begin() as c:
            row = c.execute(
                update(T)
                .where(_live(handle, purpose, now, max_attempts))
                .values(attempts=T.c.attempts + 1)
                .returning(*RETURNED)
            ).first()
            if row is None or not code_matches(handle, code, str((row.data or {}).get("code"))):
                return None
            used = c.execute(
                update(T)
                .where((T.c.id == digest(handle)) & T.c.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount != 1:
                return None
        return _record(row)

    def invalidate_all(
        self, account_uuid: str, now: float, *, conn: Connection | None = None
    ) -> int:
        """Cancel every outstanding token of the account (after a reset: T6)."""
        with self._conn(conn) as c:
            result = c.execute(end_outstanding(account_uuid, now))
        return int(result.rowcount or 0)

    def cancel(self, account_uuid: str, purpose: Purpose, now: float) -> int:
        """Cancel the account's outstanding tokens of one purpose."""
        with self.engine.begin() as c:
            result = c.execute(
                end_outstanding(account_uuid, now).where(T.c.purpose == purpose.value)
            )
        return int(result.rowcount or 0)

    def purge(self, now: float, keep: float = 86400.0) -> int:
        """Forget tokens that expired more than ``keep`` seconds ago."""
        with self.engine.begin() as c:
            result = c.execute(delete(T).where(T.c.expires_at < now - keep))
        return int(result.rowcount or 0)
