"""Migrations refuse a PostgreSQL standby, with a clear message and before any change.

A real primary and streaming standby (``pg_basebackup -R``, from
tests/support/ha.py): the standby answers reads, so a migration run against
it by mistake (a stale URL after a failover, the wrong host in a script)
would otherwise fail half-way with a "read-only transaction" traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cas_server import create_app
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import (
    StandbyDatabase,
    current_revision,
    head_revision,
    is_standby,
    upgrade,
)
from tests.support.cli import cli_runner, run_cas_server
from tests.support.gunicorn import server_env
from tests.support.ha import PostgresPair, postgres_standby_pair
from tests.support.paths import SERVICES

DATABASE = "cas_standby_test"


@pytest.fixture(scope="module")
def pair() -> Iterator[PostgresPair]:
    with postgres_standby_pair(synchronous=False) as servers:
        servers.primary.execute(f"CREATE DATABASE {DATABASE}")
        servers.wait_replayed()
        yield servers


def config(tmp_path: Path) -> Path:
    path = tmp_path / "cas.toml"
    path.write_text(
        f"""
[server]
mode = "test"
secret_key = "standby-test-{"s" * 40}"
[services]
paths = ["{SERVICES}"]
[charters]
path = ""
""",
        encoding="utf-8",
    )
    return path


def cli(tmp_path: Path, url: str, *args: str) -> tuple[int, str]:
    """``cas-server ARGS`` as its own process: the real exit code and streams."""
    env = server_env(config(tmp_path))
    env["CAS_DATABASE__URL"] = url
    done = run_cas_server(env, *args, timeout=120)
    return done.returncode, done.stdout + done.stderr


def cli_in_process(tmp_path: Path, url: str, *args: str) -> tuple[int, str]:
    """The same, in this process (quicker: no imports to redo)."""
    app = create_app(config(tmp_path), environ={"CAS_DATABASE__URL": url})
    try:
        result = cli_runner(app).invoke(args=list(args))
    finally:
        app.extensions["cas"].single_logout.executor.shutdown(wait=True)
        app.extensions["cas"].engine.dispose()
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def tables(pair: PostgresPair) -> int:
    rows = pair.primary.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database=DATABASE
    )
    return int(rows[0][0])  # type: ignore[call-overload]


def test_upgrade_refuses_a_standby_and_changes_nothing(pair: PostgresPair) -> None:
    engine = make_engine(pair.standby.url(DATABASE))
    try:
        with engine.connect() as connection:
            assert is_standby(connection)
        with pytest.raises(StandbyDatabase) as refused:
            upgrade(engine)
    finally:
        engine.dispose()
    message = str(refused.value)
    assert "is a standby" in message and "primary" in message
    assert f"127.0.0.1:{pair.standby.port}/{DATABASE}" in message
    assert tables(pair) == 0  # nothing written anywhere


@pytest.mark.parametrize(("command", "run"), [("init", cli), ("upgrade", cli_in_process)])
def test_the_command_says_so_in_one_line_and_fails(
    pair: PostgresPair, tmp_path: Path, command: str, run: Any
) -> None:
    code, output = run(tmp_path, pair.standby.url(DATABASE), "db", command)
    assert code == 1, output
    assert "Error: refusing to migrate" in output and "is a standby" in output, output
    assert "Traceback" not in output and "ReadOnlySqlTransaction" not in output
    assert tables(pair) == 0


def test_the_primary_is_migrated_and_the_standby_follows(
    pair: PostgresPair, tmp_path: Path
) -> None:
    code, output = cli_in_process(tmp_path, pair.primary.url(DATABASE), "db", "upgrade")
    assert code == 0, output
    assert f"database schema at revision {head_revision()}" in output
    pair.wait_replayed()
    standby = make_engine(pair.standby.url(DATABASE))
    try:
        assert current_revision(standby) == head_revision()  # replicated, readable there
        with pytest.raises(StandbyDatabase):
            upgrade(standby)  # even with nothing left to do: refused, not a no-op
    finally:
        standby.dispose()
    code, output = cli_in_process(tmp_path, pair.standby.url(DATABASE), "db", "status")
    assert code == 0 and f"revision {head_revision()}" in output, output
