"""Schema migrations with Alembic, run from the application (no alembic.ini to keep in sync)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class StandbyDatabase(RuntimeError):
    """The database is a read-only standby (a streaming replica): migrate the primary."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"refusing to migrate {where}: it is a standby (pg_is_in_recovery() is true, "
            "read-only). Run the migrations against the primary: its URL, or a multi-host "
            "URL with target_session_attrs=read-write"
        )


def is_standby(connection: Connection) -> bool:
    """True on a PostgreSQL server in recovery (a standby); False elsewhere."""
    if connection.dialect.name != "postgresql":
        return False
    return bool(connection.exec_driver_sql("SELECT pg_is_in_recovery()").scalar())


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; running it again changes nothing.

    Raises :class:`StandbyDatabase`, before any change, on a standby.
    """
    if engine.dialect.name == "sqlite" and engine.url.database:
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if is_standby(connection):
            raise StandbyDatabase(engine.url.render_as_string(hide_password=True))
        connection.rollback()
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one; with
            # foreign keys on, that drop would cascade to the rows that point at
            # it (roles, password history…). Off for the migration only; it
            # must be set outside a transaction to take effect.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        connection.commit()
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def autogenerate(engine: Engine, message: str) -> None:
    """Developer tool: write a new migration from the models' differences."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)
