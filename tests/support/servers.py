"""Real PostgreSQL, Redis and OpenLDAP servers for the tests, started by the fixtures.

Each runs on a free port of 127.0.0.1 from a throwaway folder and is always
stopped by a finalizer. A missing server binary skips the tests that need it,
except under CI (env ``CI`` set), where it fails them: CI must test every
backend (``scripts/install-test-servers.sh`` installs them).

- ``postgres_server``: ``initdb`` + ``pg_ctl`` (as the ``postgres`` user when
  run as root, since initdb refuses root), fsync off; ``postgres_url`` gives a
  test a fresh database copied from a migrated template.
- ``redis_server``: ``redis-server --save '' --appendonly no``; tests keep
  apart by key prefix (``redis_prefix``).
- ``ldap_server``: ``scripts/slapd-test.sh`` with ``tests/data/ldap-people.ldif``
  (one per test module: password tests change the directory).

The fixtures are made visible to every test by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.support.paths import DATA, ROOT
from tests.support.ports import free_port, wait_port

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
SLAPD_SCRIPT = ROOT / "scripts" / "slapd-test.sh"
LDAP_PEOPLE = DATA / "ldap-people.ldif"
LDAP_BASE = "dc=example,dc=org"
LDAP_ADMIN = "cn=admin,dc=example,dc=org"
LDAP_ADMIN_PASSWORD = "adminpw"
START_TIMEOUT = 20.0


def missing(
    reason: str, ci_says: str = "every backend must be tested", *, pytrace: bool = True
) -> NoReturn:
    """Skip, or fail under CI: there a missing server (or tool) is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: {ci_says})", pytrace=pytrace)
    pytest.skip(reason)


# --- PostgreSQL ------------------------------------------------------------------


@dataclass
class PostgresServer:
    port: int
    folder: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str, database: str = "postgres") -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if not (PGBIN / "initdb").exists():
        missing(f"PostgreSQL 15 is not installed ({PGBIN}/initdb missing)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root without a postgres user to run initdb")
    # Not under pytest's 0700 temp folders: the postgres user must reach it.
    folder = Path(tempfile.mkdtemp(prefix="cas-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    as_pg = _as_postgres()
    subprocess.run(
        [
            *as_pg,
            str(PGBIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    started = subprocess.run(
        [
            *as_pg,
            str(PGBIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "pg.log"),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "start",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    server = PostgresServer(port, folder)
    try:
        if started.returncode != 0:
            log = (folder / "pg.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"PostgreSQL did not start: {started.stderr!r}\n{log}")
        yield server
    finally:
        subprocess.run(
            [*as_pg, str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_migrated(postgres_server: PostgresServer) -> str:
    """One migrated database, emptied before each test that uses it."""
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.migrate import upgrade

    postgres_server.execute("CREATE DATABASE cas_test")
    url = postgres_server.url("cas_test")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, postgres_migrated: str) -> str:
    """A migrated, empty database for one test."""
    from cas_server.storage.sql.models import Base

    postgres_server.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = 'cas_test' AND pid <> pg_backend_pid()",
        # DELETE, children first: on a few rows, much faster than TRUNCATE or a copy.
        *(f"DELETE FROM {t.name}" for t in reversed(Base.metadata.sorted_tables)),
        database="cas_test",
    )
    return postgres_migrated


@pytest.fixture
def postgres_empty_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database (migration tests)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres_server.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url(name)
    postgres_server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- Redis -----------------------------------------------------------------------


@dataclass
class RedisServer:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="cas-redis-"))
    port = free_port()
    log = (folder / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--daemonize",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if not wait_port(port, START_TIMEOUT):
            pytest.fail(f"redis-server did not start: {(folder / 'redis.log').read_text()[-2000:]}")
        yield RedisServer(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_prefix() -> str:
    """Keys of one test: nothing to flush, nothing shared."""
    return f"t{uuid.uuid4().hex[:10]}:"


# --- OpenLDAP --------------------------------------------------------------------


@dataclass
class LdapServer:
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"


@contextmanager
def running_slapd(**env: str) -> Iterator[LdapServer]:
    """slapd from scripts/slapd-test.sh with the test people; ``env`` adds TLS settings."""
    if not (Path("/usr/sbin/slapd").exists() and shutil.which("ldapsearch")):
        missing("OpenLDAP is not installed (apt-get install slapd ldap-utils)")
    port = free_port()
    folder = Path(tempfile.gettempdir()) / f"cas-slapd-{port}-{uuid.uuid4().hex[:6]}"
    started = subprocess.run(
        ["bash", str(SLAPD_SCRIPT), "start", str(port), str(folder), str(LDAP_PEOPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    try:
        if started.returncode != 0:
            pytest.fail(f"slapd did not start:\n{started.stdout}\n{started.stderr}")
        yield LdapServer(port, folder)
    finally:
        subprocess.run(
            ["bash", str(SLAPD_SCRIPT), "stop", str(folder)],
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def ldap_server() -> Iterator[LdapServer]:
    """One directory per test module: password tests change it."""
    with running_slapd() as server:
        yield server
