"""Engine creation: one engine per process, tuned per database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    options: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        # Each worker opens its own connection; SQLite waits on the lock
        # instead of failing when two workers write at once.
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("database.url: an in-memory SQLite database cannot be shared")
    else:
        options.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        if parsed.get_backend_name() == "postgresql":
            # A dead database server answers "unavailable" within seconds, not
            # after the system's TCP time-out (minutes): pages fail fast.
            options["pool_timeout"] = 10
            options["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one worker writes; NORMAL sync is durable
    # across application crashes (the kill -9 case) and fast.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


__all__ = ["NullPool", "make_engine"]
