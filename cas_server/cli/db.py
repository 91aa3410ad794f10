"""``cas-server db …``: the database schema, its backup and its restore."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from ..runtime.container import container


@click.group("db", help="Database schema, backup and restore.")
def db_group() -> None:
    pass


def _migrate() -> None:
    from ..storage.sql.migrate import StandbyDatabase, current_revision, upgrade

    engine = container().engine
    where = engine.url.render_as_string(hide_password=True)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    except StandbyDatabase as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError as exc:
        raise click.ClickException(f"cannot reach the database {where}: {exc.orig}") from exc
    click.echo(f"database schema at revision {revision} ({where})")


@db_group.command("init", help="Create or upgrade the schema (safe to run again).")
@with_appcontext
def db_init() -> None:
    _migrate()


@db_group.command(
    "upgrade",
    help="Apply the new migrations (same as init). They only add (tables, nullable "
    "columns, indexes): the nodes still on the previous release keep working.",
)
@with_appcontext
def db_upgrade() -> None:
    _migrate()


@db_group.command("status", help="The schema's revision and this release's; exit 1 if behind.")
@with_appcontext
def db_status() -> None:
    from ..storage.sql.migrate import current_revision, head_revision

    engine = container().engine
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise click.ClickException(f"cannot reach the database: {exc.orig}") from exc
    head = head_revision()
    click.echo(f"database schema at revision {current or '(none)'}; this release's: {head}")
    if current != head:
        raise click.ClickException("the schema is not this release's: run `cas-server db upgrade`")


_PG_BIN = click.option(
    "--pg-bin",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of pg_dump/pg_restore (default: PATH, then the newest /usr/lib/postgresql/N/bin).",
)


@db_group.command(
    "backup",
    help="Write a backup of the database to PATH: SQLite's online backup API (the server "
    "may keep running), or pg_dump --format=custom for PostgreSQL. Tickets, sessions and "
    "one-time tokens are left out. Keep [server] secret_key and [mfa] encryption_keys "
    "with it: they are not in it.",
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@_PG_BIN
@with_appcontext
def db_backup(path: Path, force: bool, pg_bin: Path | None) -> None:
    from ..storage.sql.backup import BackupError, backup

    engine = container().engine
    try:
        done = backup(engine, path, force=force, pg_bin=pg_bin)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError as exc:
        raise click.ClickException(f"cannot reach the database: {exc.orig}") from exc
    if done.command:
        click.echo("ran: " + " ".join(done.command))
    click.echo(
        f"backup of {engine.url.render_as_string(hide_password=True)} written to {done.path} "
        f"({done.size} bytes, schema revision {done.revision}); keep [server] secret_key and "
        "[mfa] encryption_keys with it"
    )


@db_group.command(
    "restore",
    help="Load the backup PATH into the configured database, which must be new and empty "
    "(stop the servers first). Tickets, sessions and one-time tokens are emptied: everyone "
    "signs in again. Then run `cas-server db upgrade` if the backup is older than this release.",
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_PG_BIN
@with_appcontext
def db_restore(path: Path, pg_bin: Path | None) -> None:
    from ..storage.sql.backup import BackupError, restore
    from ..storage.sql.migrate import head_revision

    engine = container().engine
    try:
        done = restore(engine, path, pg_bin=pg_bin)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError as exc:
        raise click.ClickException(f"cannot reach the database: {exc.orig}") from exc
    if done.command:
        click.echo("ran: " + " ".join(done.command))
    cleared = ", ".join(f"{t} {n}" for t, n in done.cleared.items()) or "nothing"
    click.echo(
        f"restored {done.path} into {engine.url.render_as_string(hide_password=True)} "
        f"(schema revision {done.revision}; emptied: {cleared})"
    )
    if done.revision != head_revision():
        click.echo(
            f"the schema is behind this release ({head_revision()}): run `cas-server db upgrade`"
        )
