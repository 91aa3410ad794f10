"""Alembic migrations create exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import current_revision, head_revision, upgrade
from cas_server.storage.sql.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_empty_url"))
    return f"sqlite:///{tmp_path / 'm.sqlite3'}"


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()


def test_upgrading_keeps_rows_that_point_at_accounts(tmp_path: Path) -> None:
    """A later migration that rebuilds ``accounts`` on SQLite must not cascade-delete."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(engine, "0002")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (uuid, login, source, profile, status, given_name,"
                " family_name, must_change_password, attributes, created_at, modified_at)"
                " VALUES ('u1', 'alice', 'local', 'staff', 'active', 'Alice', 'Liddell',"
                " 0, '{}', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(text("INSERT INTO account_roles VALUES ('u1', 'admin')"))
        conn.execute(
            text(
                "INSERT INTO password_history (account_uuid, password_hash, created_at)"
                " VALUES ('u1', 'h', :now)"
            ),
            {"now": now},
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT role FROM account_roles")).scalars().all() == ["admin"]
        assert conn.execute(text("SELECT count(*) FROM password_history")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    engine.dispose()
