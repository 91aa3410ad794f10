"""``cas-server db …``: the database schema."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..runtime.container import container


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("init", help="Create or upgrade the schema (safe to run again).")
@with_appcontext
def db_init() -> None:
    from ..storage.sql.migrate import current_revision, upgrade

    engine = container().engine
    upgrade(engine)
    click.echo(
        f"database schema at revision {current_revision(engine)} ({engine.url.render_as_string()})"
    )
