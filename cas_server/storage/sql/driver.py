"""The hot path of the ticket store, run on the database driver directly.

Validating a ticket and issuing one from a live session are the two
requests every service makes all day. Through SQLAlchemy's Core execution
each statement costs about four times what the database spends on it
(parameter processing, result metadata, the execution context). Here the
statement is still written once with SQLAlchemy, so one definition serves
every dialect, but compiled once per engine to the driver's SQL and run
on a DB-API cursor taken from the engine's pool.

On SQLite the writers of every worker also pass a :class:`WriteGate`:
SQLite lets one writer at a time, and a writer that finds the lock taken
sleeps in SQLite's busy handler for 1, 2, 5, 10… ms although the holder
needs some 50 µs. Queueing on a file lock instead wakes the next writer as
soon as the lock is free: at the start of term, when every worker writes
tickets at once, this removes the tail latency that the busy handler adds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from ...protocol.cas.ports import StoreUnavailable

log = logging.getLogger(__name__)

try:  # POSIX; elsewhere the gate only orders the threads of one process
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]


class WriteGate:
    """One writer at a time on one SQLite file, across threads and worker processes.

    Re-entrant in a thread. The cross-process part is ``flock`` on a file
    beside the database: the kernel drops it if the process dies, so a
    killed worker never leaves the others waiting.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        # A descriptor inherited through fork() would share its lock with the
        # parent: each process opens its own.
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:  # the database's folder is gone or read-only
                raise StoreUnavailable(f"cannot open {self.path}: {exc.strerror}") from exc
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> WriteGate:
        self._lock.acquire()
        try:
            if self._depth == 0 and fcntl is not None:
                fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and fcntl is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def write_gate(engine: Engine) -> AbstractContextManager[Any]:
    """The gate of an SQLite file engine; other databases lock rows themselves."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return nullcontext()
    with _GATES_LOCK:
        gate = _GATES.get(engine)
        if gate is None:
            gate = _GATES[engine] = WriteGate(os.path.abspath(engine.url.database) + ".writelock")
    return gate


class DriverStatement:
    """A statement compiled once for one engine, executed with the driver's own parameters.

    Only for statements whose parameters the driver takes as they are
    (str, float, int, bool, None) and without expanding ``IN`` lists;
    constants written in the statement are bound once here.
    """

    def __init__(self, engine: Engine, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self._constants = {k: v for k, v in compiled.params.items() if v is not None}
        # qmark and format styles (SQLite) take a sequence in statement order.
        self._order: Sequence[str] | None = compiled.positiontup if compiled.positional else None

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        merged = {**self._constants, **values}
        if self._order is None:
            return merged
        return tuple(merged[name] for name in self._order)


class DriverConnection:
    """A pooled driver connection, inside :func:`driver_connection`.

    Reads run as they come. A write of one statement goes through
    :meth:`write_one`; several statements that must stand or fall together
    go in :meth:`write`. Both take the write gate for the write only.

    On SQLite the connection runs in autocommit mode meanwhile, so a
    one-statement write is its own transaction and the gate is held for a
    single call into SQLite: each call releases Python's GIL, and getting
    it back while other threads run is what stretched the time a writer
    held the lock (to milliseconds at the 90th percentile under load).
    """

    def __init__(self, engine: Engine, connection: Any) -> None:
        self.engine = engine
        self._connection = connection
        self._cursor = connection.cursor()
        self.statement = ""
        self._rolled_back = False
        self._sqlite = engine.dialect.name == "sqlite"

    def _execute(self, statement: DriverStatement, values: Mapping[str, Any]) -> None:
        self.statement = statement.sql
        self._cursor.execute(statement.sql, statement.parameters(values))

    def rows(self, statement: DriverStatement, values: Mapping[str, Any]) -> list[Any]:
        """Run the statement; every row it returns (fetched before any commit)."""
        self._execute(statement, values)
        if self._cursor.description is None:
            return []
        return list(self._cursor.fetchall())

    def first(self, statement: DriverStatement, values: Mapping[str, Any]) -> Any:
        rows = self.rows(statement, values)
        return rows[0] if rows else None

    def write_one(self, statement: DriverStatement, values: Mapping[str, Any]) -> tuple[int, Any]:
        """One write statement, committed: (rows changed, first row returned or None)."""
        with write_gate(self.engine):
            self._execute(statement, values)
            rows = self._cursor.fetchall() if self._cursor.description is not None else []
            count = int(self._cursor.rowcount)
            if not self._sqlite:
                self._connection.commit()
        return count, rows[0] if rows else None

    def rollback(self) -> None:
        """Inside :meth:`write`: keep nothing of it (instead of the commit)."""
        self._rolled_back = True

    @contextmanager
    def write(self) -> Iterator[DriverConnection]:
        """A write transaction, committed at the end unless :meth:`rollback` was called."""
        with write_gate(self.engine):
            self._rolled_back = False
            if self._sqlite:
                self._cursor.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._end_transaction(commit=False)
                raise
            self._end_transaction(commit=not self._rolled_back)

    def _end_transaction(self, *, commit: bool) -> None:
        if self._sqlite:
            self._cursor.execute("COMMIT" if commit else "ROLLBACK")
        elif commit:
            self._connection.commit()
        else:
            self._connection.rollback()

    def end(self) -> None:
        """Ends the read transaction a database may have opened (PostgreSQL does)."""
        if not self._sqlite:
            self._connection.rollback()

    def release(self) -> None:
        """Leaves no transaction open, whatever happened (SQLite: the connection stays)."""
        if self._sqlite and self._connection.dbapi_connection.in_transaction:
            self._connection.dbapi_connection.rollback()


class SqliteConnections:
    """One driver connection per thread on an SQLite file, for the hot path.

    A connection from the pool costs a checkout and a check-in with its
    reset, about as much as the statement it runs. An SQLite connection is
    a file handle, so each thread keeps its own, in autocommit mode (see
    :class:`DriverConnection`); the engine's pool serves everything else
    with the driver's usual transactions. ``engine.dispose()`` closes them.

    These connections never checkpoint the write-ahead log themselves: with
    SQLite's default, the commit that fills 1,000 pages copies them to the
    database file and syncs it while its writer holds the write lock, and
    every other writer waits. A background thread of each process runs a
    passive checkpoint every CHECKPOINT_EVERY seconds instead, beside the
    writers.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Any] = []
        self._generation = 0
        self._checkpointer: tuple[int, threading.Event] | None = None
        event.listen(engine, "engine_disposed", self.close_all)

    def get(self) -> Any:
        local = self._local
        if getattr(local, "key", None) != (os.getpid(), self._generation):
            raw = self.engine.raw_connection()  # with the engine's pragmas
            raw.detach()  # ours now: closing it closes it
            dbapi: Any = raw.dbapi_connection
            dbapi.isolation_level = None
            dbapi.execute("PRAGMA wal_autocheckpoint=0")  # see the class docstring
            local.raw, local.key = raw, (os.getpid(), self._generation)
            with self._lock:
                self._opened.append(raw)
                self._start_checkpointer()
        return local.raw

    def _start_checkpointer(self) -> None:
        """One checkpointing thread per process (called under the lock)."""
        if self._checkpointer is not None and self._checkpointer[0] == os.getpid():
            return
        stop = threading.Event()
        self._checkpointer = (os.getpid(), stop)
        thread = threading.Thread(
            target=_checkpoint_loop,
            args=(weakref.ref(self), stop),
            name="sqlite-checkpoint",
            daemon=True,
        )
        thread.start()

    def checkpoint(self) -> None:
        """Copy the log's committed pages into the database file, without blocking writers."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def discard(self) -> None:
        """Close this thread's connection after an error; the next call opens another."""
        raw = getattr(self._local, "raw", None)
        self._local.key = self._local.raw = None
        if raw is not None:
            with self._lock:
                if raw in self._opened:
                    self._opened.remove(raw)
            with contextlib.suppress(Exception):
                raw.close()

    def close_all(self, _engine: Any = None) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
            self._generation += 1
            if self._checkpointer is not None:
                self._checkpointer[1].set()
                self._checkpointer = None
        for raw in opened:
            with contextlib.suppress(Exception):
                raw.close()


CHECKPOINT_EVERY = 0.5  # seconds


def _checkpoint_loop(owner: weakref.ref[SqliteConnections], stop: threading.Event) -> None:
    """Checkpoint until the engine is disposed or forgotten; a failure is logged, not fatal."""
    failing = False
    while not stop.wait(CHECKPOINT_EVERY):
        connections = owner()
        if connections is None:
            return
        try:
            connections.checkpoint()
            failing = False
        except Exception as exc:  # the database may be away for a while: try again
            if not failing:
                log.warning("SQLite checkpoint failed: %s", exc)
            failing = True
        del connections


_CONNECTIONS: weakref.WeakKeyDictionary[Engine, SqliteConnections] = weakref.WeakKeyDictionary()


def sqlite_connections(engine: Engine) -> SqliteConnections | None:
    """The per-thread connections of an SQLite file engine; None for other databases."""
    if engine.dialect.name != "sqlite":
        return None
    with _GATES_LOCK:
        connections = _CONNECTIONS.get(engine)
        if connections is None:
            connections = _CONNECTIONS[engine] = SqliteConnections(engine)
    return connections


@contextmanager
def driver_connection(engine: Engine) -> Iterator[DriverConnection]:
    """A driver connection from the engine's pool, returned to it at the end.

    Driver errors come out as SQLAlchemy's ``DBAPIError``, as from any
    other query, so callers and error pages handle one kind of failure; a
    connection the database dropped is discarded from the pool. Whatever
    was not committed is rolled back.
    """
    dbapi_error = engine.dialect.loaded_dbapi.Error
    per_thread = sqlite_connections(engine)
    raw: Any = None
    connection: DriverConnection | None = None
    try:
        # Connection errors come raw from the driver too.
        raw = per_thread.get() if per_thread is not None else engine.raw_connection()
        connection = DriverConnection(engine, raw)
        yield connection
        connection.end()
    except dbapi_error as error:
        invalidated = True
        statement = connection.statement if connection else ""
        if per_thread is not None:
            per_thread.discard()  # whatever went wrong, the next call starts afresh
            raw = connection = None
        elif raw is not None:
            invalidated = engine.dialect.is_disconnect(error, raw.dbapi_connection, None)
            try:
                raw.rollback()
            except dbapi_error:
                invalidated = True
            if invalidated:
                raw.invalidate(error)
        raise DBAPIError.instance(
            statement,
            None,
            error,
            dbapi_error,
            connection_invalidated=invalidated,
            dialect=engine.dialect,
        ) from error
    finally:
        if connection is not None:
            connection.release()
        if raw is not None and per_thread is None:
            raw.close()  # back to the pool (which rolls back anything left)


@contextmanager
def driver_transaction(engine: Engine) -> Iterator[DriverConnection]:
    """One write transaction on a pooled driver connection."""
    with driver_connection(engine) as connection, connection.write():
        yield connection
