"""``cas-server ldap …``: the directory as a user source, from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..accounts.model import Status
from ..runtime.container import container


@click.group("ldap", help='The LDAP directory (auth.sources has "ldap").')
def ldap_group() -> None:
    pass


@ldap_group.command(
    "sync",
    help="Create or refresh the shadow account of every directory person, so that the Sésame "
    "pages and the console find those who never signed in. Statuses and passwords set here "
    "are kept; shadows whose entry left the directory are listed, never deleted. "
    "Run it from cron (nightly).",
)
@click.option("--dry-run", is_flag=True, help="Change nothing; print the same report.")
@click.option(
    "--disable-gone",
    is_flag=True,
    help="Disable the shadow accounts whose entry is gone from the directory (audited).",
)
@click.option(
    "--new-status",
    type=click.Choice([Status.NOT_ACTIVATED.value, Status.ACTIVE.value]),
    default=Status.NOT_ACTIVATED.value,
    show_default=True,
    help="Status of a person's new shadow account: not_activated (Sésame activation sets the "
    "first password) or active (people already have a directory password).",
)
@with_appcontext
def ldap_sync(dry_run: bool, disable_gone: bool, new_status: str) -> None:
    from ..auth.ldap.pool import DirectoryUnavailable, LdapPool
    from ..auth.ldap.source import LdapUserSource
    from ..auth.ldap.sync import SyncRefused, sync_directory
    from ..storage.sql.shadow_accounts import ShadowRow, SqlShadowAccounts

    c = container()
    pool = c.infra.ldap if c.infra is not None else None
    if not isinstance(pool, LdapPool):
        raise click.ClickException('no LDAP directory: auth.sources does not list "ldap"')
    shadows = SqlShadowAccounts(c.engine, c.accounts)
    source = LdapUserSource(pool, shadows)

    def audit_disabled(row: ShadowRow) -> None:
        c.audit.record(
            "ldap_sync_disable",
            "success",
            account_uuid=row.uuid,
            login=row.login,
            actor="cli",
            details={"reason": "gone from the directory", "previous": row.status.value},
        )

    try:
        report = sync_directory(
            pool,
            source,
            shadows,
            dry_run=dry_run,
            disable_gone=disable_gone,
            new_status=Status(new_status),
            on_disabled=audit_disabled,
        )
    except DirectoryUnavailable as exc:
        urls = ", ".join(pool.config.urls)
        raise click.ClickException(
            f"LDAP directory unreachable ({urls}), nothing synced: {exc}"
        ) from exc
    except SyncRefused as exc:
        for line in exc.report.lines():
            click.echo(line)
        raise click.ClickException(str(exc)) from exc
    finally:
        pool.close()
    for line in report.lines():
        click.echo(line)
