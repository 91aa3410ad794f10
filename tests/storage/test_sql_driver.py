"""The driver-level hot path of the SQL ticket store: the SQLite write gate,
statements compiled once, and driver errors turned into SQLAlchemy's."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.exc import DBAPIError

from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.driver import (
    DriverStatement,
    WriteGate,
    driver_connection,
    driver_transaction,
    sqlite_connections,
    write_gate,
)


def _bump(path: str, counter: str, times: int) -> None:
    """Read, pause, write back: without mutual exclusion increments get lost."""
    gate = WriteGate(path)
    for _ in range(times):
        with gate:
            value = int(Path(counter).read_text())
            time.sleep(0.0005)
            Path(counter).write_text(str(value + 1))


def test_gate_excludes_other_processes(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    lock = str(tmp_path / "db.writelock")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_bump, args=(lock, str(counter), 40)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert counter.read_text() == "120"


def test_gate_excludes_threads_and_is_reentrant(tmp_path: Path) -> None:
    gate = WriteGate(str(tmp_path / "db.writelock"))
    inside: list[int] = []
    overlaps: list[int] = []

    def work() -> None:
        for _ in range(50):
            with gate, gate:  # re-entrant: a nested write does not deadlock
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.0001)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not overlaps


def test_gate_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    lock = str(tmp_path / "db.writelock")
    context = multiprocessing.get_context("spawn")
    holder = context.Process(target=_hold_forever, args=(lock,))
    holder.start()
    time.sleep(1.0)
    holder.kill()  # SIGKILL while holding the gate
    holder.join(10)
    started = time.monotonic()
    with WriteGate(lock):
        pass
    assert time.monotonic() - started < 5


def _hold_forever(path: str) -> None:
    with WriteGate(path):
        time.sleep(600)


def test_only_sqlite_files_get_a_gate(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cas.db'}")
    gate = write_gate(engine)
    assert isinstance(gate, WriteGate)
    assert gate is write_gate(engine)  # one per engine, shared by its threads
    assert gate.path == os.path.abspath(tmp_path / "cas.db") + ".writelock"


META = MetaData()
ITEMS = Table("items", META, Column("id", Integer, primary_key=True), Column("name", String(20)))


def test_statements_bind_constants_and_values_in_order(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cas.db'}")
    META.create_all(engine)
    add = DriverStatement(engine, insert(ITEMS).values(id=bindparam("id"), name=bindparam("name")))
    find = DriverStatement(
        engine,
        select(ITEMS.c.name).where(ITEMS.c.id == bindparam("id"), ITEMS.c.name != "hidden"),
    )
    with driver_transaction(engine) as connection:
        connection.rows(add, {"id": 1, "name": "one"})
        connection.rows(add, {"name": "hidden", "id": 2})
    with driver_connection(engine) as connection:
        assert connection.first(find, {"id": 1}) == ("one",)
        assert connection.first(find, {"id": 2}) is None


def test_a_failed_write_keeps_nothing_and_raises_sqlalchemy_errors(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cas.db'}")
    META.create_all(engine)
    add = DriverStatement(engine, insert(ITEMS).values(id=bindparam("id"), name=bindparam("name")))
    count = DriverStatement(engine, select(ITEMS.c.id))
    with pytest.raises(DBAPIError) as caught, driver_transaction(engine) as connection:
        connection.rows(add, {"id": 1, "name": "one"})
        connection.rows(add, {"id": 1, "name": "again"})  # duplicate key
    assert "INSERT INTO items" in str(caught.value)
    with pytest.raises(RuntimeError), driver_transaction(engine) as connection:
        connection.rows(add, {"id": 3, "name": "three"})
        raise RuntimeError("a bug after the first statement")
    with driver_transaction(engine) as connection:
        connection.rows(add, {"id": 4, "name": "four"})
        connection.rollback()
    with driver_connection(engine) as connection:
        assert connection.rows(count, {}) == []


def test_an_unreachable_database_raises_sqlalchemy_errors(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'cas.db'}")
    with pytest.raises(DBAPIError), driver_connection(engine):
        pass


def test_each_thread_keeps_its_own_sqlite_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cas.db'}")
    META.create_all(engine)
    connections = sqlite_connections(engine)
    assert connections is not None
    mine = connections.get()
    assert connections.get() is mine  # reused, not taken from the pool again
    assert mine.dbapi_connection.isolation_level is None  # autocommit: one call per write
    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(connections.get()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    # The engine's pool still hands out connections with implicit transactions.
    with engine.connect() as other:
        assert other.connection.dbapi_connection.isolation_level == ""  # type: ignore[union-attr]
    engine.dispose()  # closes them all; the next call opens a fresh one
    fresh = connections.get()
    assert fresh is not mine
    with driver_connection(engine) as connection:
        assert connection.rows(DriverStatement(engine, select(ITEMS.c.id)), {}) == []


def test_a_driver_error_replaces_the_thread_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cas.db'}")
    META.create_all(engine)
    connections = sqlite_connections(engine)
    assert connections is not None
    add = DriverStatement(engine, insert(ITEMS).values(id=bindparam("id"), name=bindparam("name")))
    with driver_connection(engine) as connection:
        connection.write_one(add, {"id": 1, "name": "one"})
    before = connections.get()
    with pytest.raises(DBAPIError), driver_connection(engine) as connection:
        connection.write_one(add, {"id": 1, "name": "again"})
    assert connections.get() is not before
    with driver_connection(engine) as connection, connection.write():
        connection.rows(add, {"id": 2, "name": "two"})
    count = DriverStatement(engine, select(ITEMS.c.id))
    with driver_connection(engine) as connection:
        assert connection.rows(count, {}) == [(1,), (2,)]


def test_single_sign_on_from_a_remembered_session_still_sees_a_logout_elsewhere(
    tmp_path: Path,
) -> None:
    """Two workers on one database: this one remembers the session, the other ends it."""
    from cas_server.protocol.cas.tickets import (
        Authentication,
        Principal,
        ServiceTicket,
        TicketGrantingTicket,
        new_ticket_id,
    )
    from cas_server.storage.sql.migrate import upgrade
    from cas_server.storage.sql.tickets import SqlTicketRegistry

    now = 1_800_000_000.0
    engine = make_engine(f"sqlite:///{tmp_path / 'cas.db'}")
    upgrade(engine)
    here, elsewhere = SqlTicketRegistry(engine), SqlTicketRegistry(engine)
    auth = Authentication(Principal("alice", {"mail": ("a@x.org",)}), now)
    session = TicketGrantingTicket(new_ticket_id("TGT"), auth, now, now + 1000, 100, now)
    here.add_ticket_granting_ticket(session)

    def build(tgt: TicketGrantingTicket) -> ServiceTicket:
        return ServiceTicket(
            new_ticket_id("ST"),
            "https://app/",
            "app",
            tgt.id,
            tgt.authentication,
            False,
            now,
            now + 10,
        )

    first = here.grant_service_ticket(session.id, now + 1, build)
    second = here.grant_service_ticket(session.id, now + 2, build)  # from the remembered session
    assert first is not None and second is not None
    assert here.consume_service_ticket(second.id) is not None
    elsewhere.destroy_ticket_granting_ticket(session.id)
    assert here.grant_service_ticket(session.id, now + 3, build) is None
    # Idle time still counts from the last recorded use, whatever is remembered.
    again = TicketGrantingTicket(new_ticket_id("TGT"), auth, now, now + 1000, 100, now)
    here.add_ticket_granting_ticket(again)
    assert here.grant_service_ticket(again.id, now + 50, build) is not None  # touched
    assert here.grant_service_ticket(again.id, now + 140, build) is not None
    assert here.grant_service_ticket(again.id, now + 300, build) is None  # idle > 100 s


def test_the_log_is_checkpointed_beside_the_writers(tmp_path: Path) -> None:
    """Hot-path writers never checkpoint inline; a background thread does it."""
    from cas_server.storage.sql import driver

    path = tmp_path / "cas.db"
    engine = make_engine(f"sqlite:///{path}")
    META.create_all(engine)
    add = DriverStatement(engine, insert(ITEMS).values(id=bindparam("id"), name=bindparam("name")))
    connections = sqlite_connections(engine)
    assert connections is not None
    raw = connections.get()
    assert raw.dbapi_connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    size = path.stat().st_size
    with driver_connection(engine) as connection:
        for number in range(300):
            connection.write_one(add, {"id": number, "name": "x" * 500})
    deadline = time.monotonic() + 10 * driver.CHECKPOINT_EVERY + 5
    while path.stat().st_size <= size and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.stat().st_size > size  # the rows reached the database file
    engine.dispose()
