"""``cas-server audit …``: purge and export the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from ..accounts.console import AuditFilter
from ..admin import admin
from ..admin.acting import CLI
from ..admin.actions import Actions
from ..runtime.container import container


@click.group("audit", help="Audit trail.")
def audit_group() -> None:
    pass


@audit_group.command(
    "purge", help="Remove events older than the retention ([admin] audit_retention_days)."
)
@click.option("--days", type=click.IntRange(1), default=None, help="Keep this many days instead.")
@with_appcontext
def audit_purge(days: int | None) -> None:
    keep = days or admin().settings.audit_retention_days
    before = datetime.now(UTC) - timedelta(days=keep)
    removed = admin().store.purge_audit(before)
    Actions(CLI).audit("audit_purge", "success", None, removed=removed, days=keep)
    click.echo(f"{removed} audit event(s) older than {keep} days removed")


@audit_group.command("export", help="Write the audit trail as CSV (filters optional).")
@click.option("--login", default=None, help="Only this account (login or alias).")
@click.option("--action", default=None)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD, included"
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@with_appcontext
def audit_export(
    login: str | None, action: str | None, since: Any, until: Any, output: Path | None
) -> None:
    from ..web.admin.trail import csv_lines

    account = container().accounts.find_by_login(login) if login else None
    f = AuditFilter(
        login=account.login if account else login,
        account_uuid=account.uuid if account else None,
        action=action,
        since=since.date() if isinstance(since, datetime) else None,
        until=until.date() if isinstance(until, datetime) else None,
    )
    Actions(CLI).audit(
        "audit_export", "success", None, filter={k: str(v) for k, v in vars(f).items() if v}
    )
    lines = csv_lines(admin().store.audit_events(f))
    if output is None:
        for chunk in lines:
            click.echo(chunk, nl=False)
        return
    with output.open("w", encoding="utf-8", newline="") as out:
        for chunk in lines:
            out.write(chunk)
    click.echo(f"audit trail written to {output}")
