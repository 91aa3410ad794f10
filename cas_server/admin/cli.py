"""``cas-server users …`` and ``cas-server audit …``: every console action, for scripting.

Each command goes through :class:`~cas_server.admin.actions.Actions` with
the actor ``cli``, so it is checked and audited like the same action in
the console. Mails and SMS are waited for before the command returns.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext

from ..accounts.console import AuditFilter, mask_email, mask_mobile
from ..accounts.model import Account
from ..cli import users_group
from ..container import container
from ..storage.sql.importer import ImportReport
from . import admin, messages, offline_request
from .actions import CLI, Actions, Refused
from .imports import run_import

F = TypeVar("F", bound=Callable[..., Any])
WAIT = 30.0  # seconds to wait for the mail and SMS queues, beyond their own time-outs


def _say(refused: Refused) -> str:
    return refused.message % refused.params if refused.params else refused.message


def _account(login: str) -> Account:
    account = container().accounts.find_by_login(login)
    if account is None:
        raise click.ClickException(f"no account {login!r}")
    return account


def _run(work: Callable[[Actions], Any]) -> Any:
    """Do ``work`` as ``cli`` in a request context (links, mail templates), wait for sends."""
    actions = Actions(CLI)
    with offline_request(current_app._get_current_object()):  # type: ignore[attr-defined]
        try:
            result = work(actions)
        except Refused as exc:
            details = "; ".join(v.rule for v in exc.violations)
            raise click.ClickException(_say(exc) + (f" {details}" if details else "")) from exc
    for future in actions.pending:
        try:
            delivered = future.result(timeout=_wait())
        except TimeoutError as exc:
            raise click.ClickException(
                "the mail or SMS server did not answer in time; the message may not be "
                "delivered (see the log)"
            ) from exc
        if delivered is False:
            raise click.ClickException("the message could not be delivered (see the log)")
    return result


def _wait() -> float:
    """Long enough for a send that uses all of its configured time-out (up to 300 s)."""
    sesame = current_app.extensions.get("sesame")
    if sesame is None:
        return WAIT
    settings = sesame.settings
    return WAIT + 2 * float(max(settings.mail.timeout, settings.sms.timeout))


def account_command(name: str, help: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        command = click.argument("login")(function)
        command = with_appcontext(command)
        users_group.command(name, help=help)(command)
        return function

    return decorate


@account_command("show", "Show an account's record (recovery channels masked).")
def users_show(login: str) -> None:
    details = admin().store.details(_account(login).uuid)
    assert details is not None
    a = details.account
    c = container()
    sessions = len(c.tickets.sessions_for(a.login, c.clock.now()))
    lines = {
        "login": a.login,
        "alias": a.alias or "-",
        "name": a.display_name,
        "profile": a.profile.value,
        "status": a.status.value,
        "uuid": a.uuid,
        "external id": a.external_id or "-",
        "source": a.source.value,
        "created": a.created_at.isoformat(timespec="seconds") if a.created_at else "-",
        "modified": a.modified_at.isoformat(timespec="seconds") if a.modified_at else "-",
        "last sign-in": a.last_login_at.isoformat(timespec="seconds")
        if a.last_login_at
        else "never",
        "numbers": ", ".join(n for n in (a.student_number, a.ine, a.personnel_number) if n) or "-",
        "personal e-mail": mask_email(a.personal_email) or "-",
        "mobile": mask_mobile(a.mobile) or "-",
        "joker question": "set" if details.has_joker else "not set",
        "must change password": "yes" if a.must_change_password else "no",
        "roles": ", ".join(sorted(a.roles)) or "-",
        "SSO sessions": str(sessions),
        "linked": ", ".join(link.login for link in details.links) or "-",
    }
    for key, value in lines.items():
        click.echo(f"{key:>20}: {value}")


@users_group.command(
    "search", help="Accounts whose name, login, alias, e-mail or number starts so."
)
@click.argument("query")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1))
@with_appcontext
def users_search(query: str, page: int) -> None:
    results = admin().store.search(query, page, admin().settings.page_size)
    for a in results.items:
        numbers = ",".join(n for n in (a.student_number, a.ine, a.personnel_number) if n)
        click.echo(
            f"{a.login}\t{a.alias or '-'}\t{a.family_name} {a.given_name}\t{a.profile}\t{a.status}"
            f"\t{numbers or '-'}"
        )
    click.echo(f"{results.total} account(s), page {results.page} of {results.pages}")


@account_command("lock", "Lock an account and end its SSO sessions.")
@click.option("--reason", default="", help="Kept in the audit trail.")
def users_lock(login: str, reason: str) -> None:
    ended = _run(lambda a: a.lock(_account(login), reason))
    click.echo(f"{login} locked; {ended} SSO session(s) ended")


@account_command("unlock", "Unlock an account (and lift a suspension after failures).")
def users_unlock(login: str) -> None:
    status = _run(lambda a: a.unlock(_account(login)))
    click.echo(f"{login} unlocked (status {status.value})")


@account_command("alias", "Set an account's alias (custom login), or clear it.")
@click.argument("alias", required=False, default="")
@click.option("--clear", is_flag=True, help="Remove the alias.")
def users_alias(login: str, alias: str, clear: bool) -> None:
    if not alias and not clear:
        raise click.UsageError("give the alias, or --clear")
    result = _run(lambda a: a.set_alias(_account(login), "" if clear else alias))
    click.echo(f"alias of {login}: {result or 'none'}")


@account_command("force-change", "Ask for a new password at the next sign-in.")
@click.option(
    "--temporary-password-stdin", "stdin", is_flag=True, help="Also set this temporary password."
)
@click.option("--generate", is_flag=True, help="Also set a temporary password drawn at random.")
def users_force_change(login: str, stdin: bool, generate: bool) -> None:
    if stdin and generate:
        raise click.UsageError("--temporary-password-stdin or --generate, not both")
    password = sys.stdin.readline().rstrip("\r\n") if stdin else None
    if stdin and not password:
        raise click.UsageError("empty password on standard input")
    generated = _run(lambda a: a.force_change(_account(login), password, generate=generate))
    if generated:
        click.echo(f"temporary password of {login}: {generated}")
    elif password:
        click.echo(f"temporary password of {login} set; it must be changed at the next sign-in")
    else:
        click.echo(f"{login} must choose a new password at the next sign-in")


@account_command("end-sessions", "End every SSO session of an account (single logout).")
def users_end_sessions(login: str) -> None:
    ended = _run(lambda a: a.end_sessions(_account(login)))
    click.echo(f"{ended} SSO session(s) of {login} ended")


@account_command("roles", "Show, grant or revoke console roles (admin, helpdesk).")
@click.option("--add", "add", multiple=True, help="Role to grant (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Role to revoke (repeatable).")
def users_roles(login: str, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    if add or remove:
        roles = _run(lambda a: a.set_roles(_account(login), set(add), set(remove)))
    else:
        roles = _account(login).roles
    click.echo(f"roles of {login}: {', '.join(sorted(roles)) or 'none'}")


@account_command("link", "Link OTHER (another account of the same person) to LOGIN.")
@click.argument("other")
def users_link(login: str, other: str) -> None:
    linked = _run(lambda a: a.link(_account(login), other))
    click.echo(f"{linked.login} is now linked to {login}")


@account_command("unlink", "Undo the link between LOGIN and OTHER.")
@click.argument("other")
def users_unlink(login: str, other: str) -> None:
    _run(lambda a: a.unlink(_account(login), _account(other)))
    click.echo(f"{login} and {other} are no longer linked")


@account_command("send-reset", "Mail a password-reset link (to the address on file or --to).")
@click.option("--to", "to", default=None, help="Send to this address instead.")
@click.option("--save", is_flag=True, help="Also save --to as the personal e-mail.")
def users_send_reset(login: str, to: str | None, save: bool) -> None:
    masked = _run(lambda a: messages.send_reset_link(a, _account(login), to, save=save))
    click.echo(f"password-reset link for {login} sent to {masked}")


@account_command("send-sms", "Text a password-reset link to the mobile on file.")
def users_send_sms(login: str) -> None:
    masked = _run(lambda a: messages.send_sms_link(a, _account(login)))
    click.echo(f"password-reset link for {login} sent by SMS to {masked}")


@account_command("resend-activation", "Issue a new activation code.")
@click.option(
    "--channel", type=click.Choice(["mail", "sms", "show"]), default="mail", show_default=True
)
def users_resend_activation(login: str, channel: str) -> None:
    result = _run(lambda a: messages.resend_activation(a, _account(login), channel))
    if channel == "show":
        click.echo(f"activation code of {login}: {result}")
    else:
        click.echo(f"activation code for {login} sent to {result}")


def print_report(report: ImportReport) -> None:
    for line, login in report.created:
        click.echo(f"line {line}: {'would create' if report.dry_run else 'created'} {login}")
    for line, login, fields in report.updated:
        verb = "would update" if report.dry_run else "updated"
        click.echo(f"line {line}: {verb} {login} ({', '.join(fields)})")
    for rejected in report.rejected:
        params = dict(rejected.params)
        text = rejected.reason % params if params else rejected.reason
        click.echo(f"line {rejected.line}: rejected: {text}")
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    click.echo(f"{'dry run, nothing changed' if report.dry_run else 'imported'}: {counts}")


@users_group.command("import", help="Import accounts from a CSV file (one transaction).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@with_appcontext
def users_import(path: Path, dry_run: bool) -> None:
    limit = admin().settings.import_max_bytes
    with path.open("rb") as f:
        data = f.read(limit + 1)
    report = _run(lambda a: run_import(a, data, dry_run=dry_run, filename=path.name))
    print_report(report)


@users_group.command("reindex", help="Recompute the search keys (after editing names in SQL).")
@with_appcontext
def users_reindex() -> None:
    click.echo(f"{admin().store.reindex()} account(s) reindexed")


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


__all__ = ["audit_group"]
