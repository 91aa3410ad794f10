"""Browsers each account signed in from (``known_browsers``), for the new-device notice.

A browser is named by its ``cas_browser`` cookie (a random secret); the table keeps
``SHA-256(account uuid, secret)`` only, so a dump holds no cookie and does not show
which accounts share a browser. :meth:`SqlKnownBrowsers.seen` records a sign-in and
says what was known before, with conditional writes: two sign-ins racing from one
browser get one "new" answer between them, never two (one mail at most).
Rows unused for a year are removed by ``cas-server purge``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .models import KnownBrowserRow

K = cast(Table, KnownBrowserRow.__table__)
MAX_USER_AGENT = 400
KEEP = 365 * 86400.0  # a browser unused for a year is forgotten (``cas-server purge``)


def browser_hash(account_uuid: str, secret: str) -> str:
    return hashlib.sha256(f"{account_uuid}\n{secret}".encode()).hexdigest()


@dataclass(frozen=True)
class Sighting:
    """What was known before this sign-in."""

    last_seen: float | None  # this browser's previous sign-in to the account; None: never
    others: bool  # the account had signed in from some other browser before


class SqlKnownBrowsers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _insert(self) -> Any:
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(K)

    def seen(self, account_uuid: str, secret: str, now: float, user_agent: str | None) -> Sighting:
        """Record a sign-in of ``account_uuid`` from the browser holding ``secret``."""
        digest = browser_hash(account_uuid, secret)
        agent = (user_agent or "")[:MAX_USER_AGENT] or None
        mine = (K.c.account_uuid == account_uuid) & (K.c.browser_hash == digest)
        with self.engine.begin() as c:
            previous = c.execute(select(K.c.last_seen).where(mine)).scalar()
            if previous is not None:
                changed = c.execute(
                    update(K)
                    .where(mine & (K.c.last_seen == previous))
                    .values(last_seen=now, user_agent=agent)
                ).rowcount
                # Another sign-in from this browser got there first: it is the one told.
                return Sighting(float(previous) if changed else now, True)
            others = (
                c.execute(
                    select(K.c.browser_hash).where(K.c.account_uuid == account_uuid).limit(1)
                ).first()
                is not None
            )
            inserted = c.execute(
                self._insert()
                .values(
                    account_uuid=account_uuid,
                    browser_hash=digest,
                    first_seen=now,
                    last_seen=now,
                    user_agent=agent,
                )
                .on_conflict_do_nothing()
            ).rowcount
        return Sighting(None, others) if inserted else Sighting(now, True)

    def browsers(self, account_uuid: str) -> list[tuple[float, float, str | None]]:
        """(first seen, last seen, user agent) of the account's browsers, latest first."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(K.c.first_seen, K.c.last_seen, K.c.user_agent)
                .where(K.c.account_uuid == account_uuid)
                .order_by(K.c.last_seen.desc())
            ).all()
        return [(float(r[0]), float(r[1]), r[2]) for r in rows]

    def purge(self, before: float) -> int:
        """Forget browsers not used since ``before``; how many were forgotten."""
        with self.engine.begin() as c:
            return int(c.execute(delete(K).where(K.c.last_seen < before)).rowcount or 0)
