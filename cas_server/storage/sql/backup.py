"""Backup and restore of the database: ``cas-server db backup`` / ``db restore``.

- SQLite: Python's online backup API (``sqlite3.Connection.backup``): a
  consistent copy of the live file while the workers go on writing.
- PostgreSQL: the server's own tools, ``pg_dump --format=custom`` and
  ``pg_restore``, called as programs (the password goes through
  ``PGPASSWORD``, never on their command line).

What is not kept (:data:`TRANSIENT_TABLES`): tickets and SSO sessions, the
services recorded per session, the one-time tokens of mailed links and
waiting sign-ins. A backup leaves their rows out and a restore empties them,
so a session ended or a link used after the backup never comes back to
life. Everything else (accounts, password history, second factors, audit,
charters…) is kept. The keys are **not** in a backup: ``[server] secret_key``
and ``[mfa] encryption_keys`` must be kept with it (without the second, the
restored TOTP secrets cannot be opened).
"""

from __future__ import annotations

import os
import shutil
import sqlite3

# pg_dump and pg_restore, run from argv lists of our making, no shell.
import subprocess  # nosec B404
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, delete, inspect
from sqlalchemy import table as table_clause
from sqlalchemy.engine import URL

from .migrate import alembic_config

TRANSIENT_TABLES = ("session_services", "tickets", "one_time_tokens")
_SQLITE_DELETES = {
    "session_services": "DELETE FROM session_services",
    "tickets": "DELETE FROM tickets",
    "one_time_tokens": "DELETE FROM one_time_tokens",
}
PG_TIMEOUT = 3600.0
PG_BIN_DIRS = ("/usr/lib/postgresql",)


class BackupError(RuntimeError):
    """A backup or a restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class Outcome:
    path: Path
    revision: str | None
    size: int = 0
    cleared: Mapping[str, int] = field(default_factory=dict)
    command: tuple[str, ...] = ()  # the pg_dump / pg_restore line (no password)


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _check_revision(revision: str | None, what: str) -> None:
    if revision is None:
        raise BackupError(
            f"{what} holds no schema revision (alembic_version): not a backup of this server"
        )
    if revision not in known_revisions():
        raise BackupError(
            f"{what} is at schema revision {revision}, which this release does not know "
            "(a newer release made it): restore it with that release"
        )


def _partial(target: Path, force: bool) -> Path:
    if target.exists() and not force:
        raise BackupError(f"{target} exists (--force replaces it)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # Password hashes and sealed secrets: readable by the owner only.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return partial


def backup(
    engine: Engine, target: Path, *, force: bool = False, pg_bin: Path | None = None
) -> Outcome:
    """Write a backup of ``engine``'s database to ``target`` (replaced only when ``force``)."""
    backend = engine.dialect.name
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"no backup for {backend} databases")
    partial = _partial(target, force)
    command: tuple[str, ...] = ()
    try:
        if backend == "sqlite":
            revision = _sqlite_backup(_sqlite_file(engine), partial)
        else:
            revision, command = _pg_backup(engine, partial, pg_bin)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(target, revision, target.stat().st_size, command=command)


def restore(engine: Engine, source: Path, *, pg_bin: Path | None = None) -> Outcome:
    """Load the backup ``source`` into ``engine``'s database, which must be empty."""
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    backend = engine.dialect.name
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"no restore for {backend} databases")
    if backend == "sqlite":
        _sqlite_file(engine).parent.mkdir(parents=True, exist_ok=True)
    tables = inspect(engine).get_table_names()
    engine.dispose()
    if tables:
        raise BackupError(
            f"{engine.url.render_as_string(hide_password=True)} is not empty "
            f"({len(tables)} tables): restore into a new, empty database"
        )
    command: tuple[str, ...] = ()
    if backend == "sqlite":
        revision = _sqlite_restore(source, _sqlite_file(engine))
    else:
        revision, command = _pg_restore(engine, source, pg_bin)
    cleared = clear_transient(engine)
    return Outcome(source, revision, source.stat().st_size, cleared, command)


def clear_transient(engine: Engine) -> dict[str, int]:
    """Empty the tables a restore must not bring back (those that exist)."""
    present = set(inspect(engine).get_table_names())
    cleared: dict[str, int] = {}
    with engine.begin() as connection:
        for table in TRANSIENT_TABLES:  # children first
            if table in present:
                cleared[table] = connection.execute(delete(table_clause(table))).rowcount
    engine.dispose()
    return cleared


# --- SQLite ----------------------------------------------------------------------


def _sqlite_file(engine: Engine) -> Path:
    database = engine.url.database
    if not database:
        raise BackupError("database.url names no SQLite file")
    return Path(database)


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else str(row[0])


def _sqlite_check(connection: sqlite3.Connection, what: str) -> None:
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a SQLite database ({exc})") from exc
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{what} fails SQLite's integrity check: {verdict}")


def _sqlite_backup(source: Path, partial: Path) -> str | None:
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    live = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        live.backup(copy)  # one consistent snapshot, writers not blocked (WAL)
        _sqlite_check(copy, "the copy")
        with copy:
            _sqlite_clear(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        return _sqlite_revision(copy)
    finally:
        copy.close()
        live.close()


def _sqlite_clear(connection: sqlite3.Connection) -> None:
    present = {
        r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    for table in TRANSIENT_TABLES:
        if table in present:
            connection.execute(_SQLITE_DELETES[table])


def _sqlite_restore(source: Path, target: Path) -> str | None:
    backup_file = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _sqlite_check(backup_file, str(source))
        revision = _sqlite_revision(backup_file)
        _check_revision(revision, str(source))
        database = sqlite3.connect(target, timeout=30)
        try:
            backup_file.backup(database)
            database.execute("PRAGMA journal_mode=WAL")  # as the server runs it
        finally:
            database.close()
    finally:
        backup_file.close()
    return revision


# --- PostgreSQL ------------------------------------------------------------------


def pg_program(name: str, pg_bin: Path | None) -> str:
    """``pg_dump``/``pg_restore``: from ``pg_bin``, PATH or the newest /usr/lib/postgresql/N."""
    if pg_bin is not None:
        found = pg_bin / name
        if not os.access(found, os.X_OK):
            raise BackupError(f"{found}: not an executable")
        return str(found)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    candidates = sorted(
        (p for d in PG_BIN_DIRS for p in Path(d).glob(f"*/bin/{name}")),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise BackupError(f"{name} not found (install postgresql-client, or give --pg-bin)")
    return str(candidates[-1])


def conninfo(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url`` without its password, and the environment with it."""
    from psycopg.conninfo import make_conninfo

    params: dict[str, str] = {}
    query = {k: (v if isinstance(v, str) else ",".join(v)) for k, v in url.query.items()}
    if "host" in query:  # multi-host: host=a:5432,b:5433
        hosts, ports = [], []
        for item in query.pop("host").split(","):
            host, _, port = item.partition(":")
            hosts.append(host)
            ports.append(port or str(url.port or 5432))
        params["host"], params["port"] = ",".join(hosts), ",".join(ports)
    else:
        if url.host:
            params["host"] = url.host
        if url.port:
            params["port"] = str(url.port)
    if url.database:
        params["dbname"] = url.database
    if url.username:
        params["user"] = url.username
    params.update(query)
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return make_conninfo("", **params), env


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(  # nosec B603  # noqa: S603
            argv, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise BackupError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    return done.stdout


def _pg_backup(
    engine: Engine, partial: Path, pg_bin: Path | None
) -> tuple[str | None, tuple[str, ...]]:
    info, env = conninfo(engine.url)
    argv = [pg_program("pg_dump", pg_bin), "--format=custom", f"--file={partial}"]
    argv += [f"--exclude-table-data={table}" for table in TRANSIENT_TABLES]
    argv.append(f"--dbname={info}")
    _run(argv, env, "pg_dump")
    revision = _pg_dump_revision(partial, pg_bin)
    return revision, tuple(argv)


def _pg_dump_revision(dump: Path, pg_bin: Path | None) -> str | None:
    """The alembic_version row inside a custom-format dump (read by pg_restore, offline)."""
    listing = _run(
        [
            pg_program("pg_restore", pg_bin),
            "--data-only",
            "--table=alembic_version",
            "--file=-",
            str(dump),
        ],
        dict(os.environ),
        "pg_restore (reading the dump)",
    )
    lines = listing.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line:
            value = lines[n + 1].strip() if n + 1 < len(lines) else ""
            return None if value in ("", "\\.") else value
    return None


def _pg_restore(
    engine: Engine, source: Path, pg_bin: Path | None
) -> tuple[str | None, tuple[str, ...]]:
    revision = _pg_dump_revision(source, pg_bin)
    _check_revision(revision, str(source))
    info, env = conninfo(engine.url)
    argv = [
        pg_program("pg_restore", pg_bin),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={info}",
        str(source),
    ]
    _run(argv, env, "pg_restore")
    return revision, tuple(argv)
