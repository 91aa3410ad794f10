"""Engine creation: one engine per process, tuned per database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

PG_CONNECT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,  # milliseconds
}


def multi_host(url: URL) -> URL:
    """``?host=a:5432,b:5433`` as SQLAlchemy reads it: ``?host=a:5432&host=b:5433``.

    SQLAlchemy splits a comma-separated ``host`` into hosts but keeps each
    ``:port`` in the name (psycopg then fails to resolve "a:5432"); the
    repeated form, or ``host=a,b&port=5432,5433``, are the ones it knows.
    """
    hosts = url.query.get("host")
    if isinstance(hosts, str) and "," in hosts and ":" in hosts and "port" not in url.query:
        return url.update_query_dict({"host": [h.strip() for h in hosts.split(",")]})
    return url


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = multi_host(parsed)
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
            # after the system's TCP time-out (minutes): pages fail fast. With a
            # multi-host URL (?host=a:5432,b:5432&target_session_attrs=read-write)
            # psycopg tries each host in turn, connect_timeout each; keepalives
            # and tcp_user_timeout end a connection to a host that vanished
            # without closing it (docs/sysadmin-guide.md, "High availability").
            # The URL's own values win.
            options["pool_timeout"] = 10
            options["connect_args"] = {
                key: value for key, value in PG_CONNECT_DEFAULTS.items() if key not in parsed.query
            }
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
