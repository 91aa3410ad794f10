"""The retry rule after a dropped database connection (storage/sql/retry.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from cas_server.storage.sql.retry import RetryingTicketRegistry, dropped_connection, retry_once


class DriverError(Exception):
    pass


def _error(kind: type[DBAPIError], statement: str | None, invalidated: bool) -> DBAPIError:
    return kind(statement, None, DriverError("boom"), connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "dropped"),
    [
        (_error(OperationalError, "SELECT 1", True), True),  # server closed the connection
        (_error(DBAPIError, "UPDATE tickets", True), True),
        (_error(OperationalError, None, False), True),  # could not connect: nothing sent
        (_error(OperationalError, "", False), True),
        (_error(OperationalError, "SELECT 1", False), False),  # e.g. a lock or statement time-out
        (_error(IntegrityError, "INSERT", False), False),
        (_error(ProgrammingError, "SELEC", False), False),
        (RuntimeError("not the database"), False),
    ],
)
def test_only_a_lost_connection_counts(error: BaseException, dropped: bool) -> None:
    assert dropped_connection(error) is dropped


def test_a_lost_connection_is_retried_once() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise _error(OperationalError, "SELECT", True)
        return "ok"

    assert retry_once("read", flaky) == "ok"
    assert len(calls) == 2


def test_the_second_failure_is_not_retried() -> None:
    calls: list[int] = []

    def down() -> str:
        calls.append(1)
        raise _error(OperationalError, None, False)

    with pytest.raises(OperationalError):
        retry_once("read", down)
    assert len(calls) == 2


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def duplicate() -> str:
        calls.append(1)
        raise _error(IntegrityError, "INSERT", False)

    with pytest.raises(IntegrityError):
        retry_once("insert", duplicate)
    assert len(calls) == 1


class FlakyStore:
    """Fails each operation once with a dropped connection, then answers."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.extra = "passed through"

    def __getattr__(self, name: str) -> Any:
        def operation(*_args: Any) -> str:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.calls[name] == 1:
                raise _error(OperationalError, "SELECT", True)
            return name

        return operation


OPERATIONS: list[tuple[str, tuple[Any, ...]]] = [
    ("add_ticket_granting_ticket", (None,)),
    ("get_ticket_granting_ticket", ("TGT-1", 0.0)),
    ("grant_service_ticket", ("TGT-1", 0.0, None)),
    ("replace_authentication", ("TGT-1", None, 0.0)),
    ("add_service_ticket", (None,)),
    ("consume_service_ticket", ("ST-1",)),
    ("add_proxy_granting_ticket", (None,)),
    ("get_proxy_granting_ticket", ("PGT-1", 0.0)),
    ("destroy_ticket_granting_ticket", ("TGT-1",)),
    ("sessions_for", ("alice", 0.0)),
    ("destroy_sessions_for", ("alice",)),
    ("purge_expired", (0.0,)),
]


@pytest.mark.parametrize(("name", "args"), OPERATIONS)
def test_every_ticket_store_operation_is_retried_once(name: str, args: tuple[Any, ...]) -> None:
    store = FlakyStore()
    getattr(RetryingTicketRegistry(store), name)(*args)
    assert store.calls == {name: 2}


def test_other_attributes_pass_through_unretried() -> None:
    store = FlakyStore()
    registry = RetryingTicketRegistry(store)
    assert registry.extra == "passed through"
    with pytest.raises(OperationalError):
        registry.sessions_of("alice", 0.0)  # the session directory: not in the retry list
    assert store.calls == {"sessions_of": 1}


def test_only_the_postgresql_ticket_store_is_wrapped(app: Any) -> None:
    """SQLite (tests, small sites) never fails over: no wrapper, no cost; accounts never."""
    store = app.extensions["cas"].tickets
    assert not isinstance(getattr(store, "store", None), RetryingTicketRegistry)
    assert not isinstance(app.extensions["cas"].accounts, RetryingTicketRegistry)


def test_a_postgresql_connection_killed_under_the_pool_is_replaced(postgres_url: str) -> None:
    """The server ends every connection (as a failover does): the next operations work."""
    import time

    from sqlalchemy import text

    from cas_server.protocol.cas.tickets import Authentication, Principal, TicketGrantingTicket
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.tickets import SqlTicketRegistry

    engine = make_engine(postgres_url, pool_size=2)
    registry = RetryingTicketRegistry(SqlTicketRegistry(engine))
    now = time.time()
    tgt = TicketGrantingTicket(
        id="TGT-1-" + "x" * 40,
        authentication=Authentication(principal=Principal(id="alice"), authenticated_at=now),
        created_at=now,
        expires_at=now + 3600,
        idle_timeout=600,
        last_used_at=now,
    )
    registry.add_ticket_granting_ticket(tgt)
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert registry.get_ticket_granting_ticket(tgt.id, now) is not None
    assert registry.sessions_for("alice", now)
    engine.dispose()
