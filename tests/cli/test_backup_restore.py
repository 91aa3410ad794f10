"""``cas-server db backup`` / ``db restore``: SQLite (online backup API) and PostgreSQL
(pg_dump -Fc / pg_restore). A database with accounts, roles, password history, a
TOTP token, recovery codes, audit events and live sessions is backed up, restored into
a fresh database, and compared table by table; the restored server signs the same
people in with the same second factor, but nobody's session or ticket came back."""

from __future__ import annotations

import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cas_server import create_app
from cas_server.auth import Success
from cas_server.auth.hashing import hash_password
from cas_server.storage.sql.backup import TRANSIENT_TABLES
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import head_revision, upgrade
from cas_server.storage.sql.models import Base, TicketRow
from tests.support.app import TEST_COST, CasBrowser, make_account, test_overrides
from tests.support.cli import cli_runner
from tests.support.servers import PostgresServer

KEY = Fernet.generate_key().decode()
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"
SECRET = "restore-test-secret-key-" + "k" * 32
LAST_PASSWORD = "Third-password-2026!"
APP = "https://app.example.org/"


def build(url: str, keys: list[str] | None = None) -> Flask:
    overrides = test_overrides(Path("unused"), mfa={"encryption_keys": keys or [KEY]})
    overrides["database"] = {"url": url}
    overrides["server"]["secret_key"] = SECRET
    return create_app(overrides=overrides, environ={})


def close(app: Flask) -> None:
    app.extensions["cas"].single_logout.executor.shutdown(wait=True)
    app.extensions["cas"].engine.dispose()


def run(app: Flask, *args: str, ok: bool = True) -> str:
    result = cli_runner(app).invoke(args=list(args))
    assert (result.exit_code == 0) is ok, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return str(result.output)


def fill(app: Flask) -> dict[str, Any]:
    """Everything a backup must keep, and a live session and ticket it must not."""
    c = app.extensions["cas"]
    alice = make_account(app, "alice")
    bob = make_account(app, "bob", given_name="Bob", attributes={"mail": ["bob@example.org"]})
    c.accounts.set_roles(bob.uuid, ["helpdesk"])
    start = datetime(2026, 1, 5, tzinfo=UTC)
    for n, password in enumerate(["Second-password-2026!", LAST_PASSWORD], start=1):
        c.accounts.store_password(
            alice.uuid, hash_password(password, TEST_COST), now=start + timedelta(days=n)
        )
    c.mfa.import_totp(alice, "Jeton 1", SEED)
    codes = c.mfa.regenerate_recovery_codes(alice)
    c.audit.record("test_backup_marker", "success", account_uuid=alice.uuid, login="alice")
    browser = CasBrowser(app.test_client())
    ticket = browser.service_ticket(APP, username="bob")  # a TGT and a service ticket, in SQL
    with Session(c.engine) as s:
        assert s.scalar(select(func.count()).select_from(TicketRow)) >= 2
    return {"alice": alice, "codes": codes, "ticket": ticket, "browser": browser}


def table_rows(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the server keeps, in a stable order."""
    engine = app.extensions["cas"].engine
    kept = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in TRANSIENT_TABLES:
                continue
            rows = [tuple(r) for r in connection.execute(select(table))]
            kept[table.name] = sorted(rows, key=repr)
    return kept


def check_restored(source: dict[str, list[tuple[Any, ...]]], restored: Flask, data: Any) -> None:
    assert table_rows(restored) == source
    c = restored.extensions["cas"]
    alice = c.accounts.find_by_login("alice")
    assert alice is not None and alice.uuid == data["alice"].uuid
    assert isinstance(c.user_source.authenticate("alice", LAST_PASSWORD), Success)
    assert len(c.accounts.password_history(alice.uuid, 10)) == 3
    assert c.accounts.find_by_login("bob").roles == frozenset({"helpdesk"})  # type: ignore[union-attr]
    assert c.mfa.verify_totp(alice, pyotp.TOTP(SEED).now()) is not None  # the key opens it
    assert c.mfa.use_recovery_code(alice, data["codes"][0])
    with Session(c.engine) as s:
        assert s.scalar(select(func.count()).select_from(TicketRow)) == 0
    # Nobody's session came back: the old TGC asks for a password, the ticket is unknown.
    client = restored.test_client()
    tgc = data["browser"].client.get_cookie("TGC")
    assert tgc is not None
    client.set_cookie("TGC", tgc.value)
    assert client.get("/login", query_string={"service": APP}).status_code == 200
    answer = client.get(
        "/p3/serviceValidate", query_string={"service": APP, "ticket": data["ticket"]}
    )
    assert "INVALID_TICKET" in answer.get_data(as_text=True)


# --- SQLite ----------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path, migrated_db: Path) -> Any:
    path = tmp_path / "live.sqlite3"
    path.write_bytes(migrated_db.read_bytes())
    app = build(f"sqlite:///{path}")
    yield app
    close(app)


def test_a_sqlite_backup_restores_into_a_fresh_database(source: Flask, tmp_path: Path) -> None:
    data = fill(source)
    before = table_rows(source)
    saved = tmp_path / "backups" / "cas.sqlite3"
    saved.parent.mkdir()
    out = run(source, "db", "backup", str(saved))
    assert f"written to {saved}" in out and f"schema revision {head_revision()}" in out
    assert "secret_key" in out and "encryption_keys" in out
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # hashes and sealed secrets inside
    assert not saved.with_name("cas.sqlite3.partial").exists()

    restored = build(f"sqlite:///{tmp_path / 'restored' / 'cas.sqlite3'}")
    try:
        out = run(restored, "db", "restore", str(saved))
        assert "restored" in out and f"schema revision {head_revision()}" in out
        check_restored(before, restored, data)
        assert f"revision {head_revision()}; this release" in run(restored, "db", "status")
    finally:
        close(restored)


def test_without_the_factor_key_the_restored_totp_secrets_are_lost(
    source: Flask, tmp_path: Path
) -> None:
    data = fill(source)
    saved = tmp_path / "cas.backup"
    run(source, "db", "backup", str(saved))
    other_key = build(f"sqlite:///{tmp_path / 'other.sqlite3'}", [Fernet.generate_key().decode()])
    try:
        run(other_key, "db", "restore", str(saved))
        c = other_key.extensions["cas"]
        alice = c.accounts.find_by_login("alice")
        assert alice is not None and c.mfa.factors(alice)  # the row is there, sealed
        assert c.mfa.verify_totp(alice, pyotp.TOTP(SEED).now()) is None  # and cannot be opened
        assert not c.mfa.use_recovery_code(alice, data["codes"][1])
    finally:
        close(other_key)


def test_a_backup_is_consistent_while_the_server_writes(source: Flask, tmp_path: Path) -> None:
    make_account(source, "alice")
    audit = source.extensions["cas"].audit
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            audit.record("test_backup_load", "success", login="alice")
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for n in range(3):
            run(source, "db", "backup", str(tmp_path / f"b{n}.sqlite3"))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert written[0] > 0
    restored = build(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    try:
        run(restored, "db", "restore", str(tmp_path / "b2.sqlite3"))
        assert restored.extensions["cas"].accounts.find_by_login("alice") is not None
    finally:
        close(restored)


def test_refusals_are_one_line_errors(source: Flask, tmp_path: Path) -> None:
    make_account(source, "alice")
    saved = tmp_path / "cas.backup"
    run(source, "db", "backup", str(saved))
    assert "exists (--force replaces it)" in run(source, "db", "backup", str(saved), ok=False)
    run(source, "db", "backup", str(saved), "--force")
    # Into a database that already holds a schema: never mixed.
    assert "is not empty" in run(source, "db", "restore", str(saved), ok=False)
    fresh = build(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        junk = tmp_path / "junk.bin"
        junk.write_bytes(os.urandom(4096))
        assert "not a SQLite database" in run(fresh, "db", "restore", str(junk), ok=False)
        assert "no such file" in run(fresh, "db", "restore", str(tmp_path / "nope"), ok=False)
    finally:
        close(fresh)


# --- PostgreSQL ------------------------------------------------------------------


def test_a_postgresql_backup_restores_into_a_fresh_database(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    postgres_server.execute("CREATE DATABASE backup_src", "CREATE DATABASE backup_dst")
    try:
        engine = make_engine(postgres_server.url("backup_src"))
        upgrade(engine)
        engine.dispose()
        source = build(postgres_server.url("backup_src"))
        try:
            data = fill(source)
            before = table_rows(source)
            saved = tmp_path / "cas.dump"
            out = run(source, "db", "backup", str(saved))
            assert "pg_dump --format=custom" in out and "--exclude-table-data=tickets" in out
            assert saved.read_bytes()[:5] == b"PGDMP"  # the custom format
            assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        finally:
            close(source)
        restored = build(postgres_server.url("backup_dst"))
        try:
            out = run(restored, "db", "restore", str(saved))
            assert "pg_restore" in out and f"schema revision {head_revision()}" in out
            check_restored(before, restored, data)
            assert "is not empty" in run(restored, "db", "restore", str(saved), ok=False)
        finally:
            close(restored)
    finally:
        postgres_server.execute(
            "DROP DATABASE IF EXISTS backup_src WITH (FORCE)",
            "DROP DATABASE IF EXISTS backup_dst WITH (FORCE)",
        )


def test_pg_tools_get_the_url_without_its_password() -> None:
    from sqlalchemy.engine import make_url

    from cas_server.storage.sql.backup import conninfo

    info, env = conninfo(
        make_url(
            "postgresql+psycopg://cas:s3cret@/cas?host=db1:5432,db2:5433"
            "&target_session_attrs=read-write&sslmode=require"
        )
    )
    assert "s3cret" not in info and env["PGPASSWORD"] == "s3cret"
    for part in ("host=db1,db2", "port=5432,5433", "dbname=cas", "user=cas"):
        assert part in info
    assert "target_session_attrs=read-write" in info and "sslmode=require" in info
    single, env = conninfo(make_url("postgresql+psycopg://cas@db.internal:6432/cas"))
    assert single == "host=db.internal port=6432 dbname=cas user=cas"
    assert "PGPASSWORD" not in env or env["PGPASSWORD"] == os.environ.get("PGPASSWORD")
