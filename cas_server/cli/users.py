"""``cas-server users …``: local accounts, and every console action on one, for scripting.

The console's actions go through :class:`~cas_server.admin.actions.Actions`
with the actor ``cli``, so each is checked and audited like the same action
in the console. Mails and SMS are waited for before the command returns.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext

from ..accounts.console import mask_email, mask_mobile
from ..accounts.model import Account, Profile, Status
from ..accounts.passwords import PasswordChange, PasswordRejected
from ..accounts.policy import PasswordContext, Violation
from ..admin import admin
from ..admin.acting import CLI, Refused
from ..admin.actions import Actions
from ..admin.imports import run_import
from ..auth.hashing import hash_password
from ..runtime.container import container
from ..runtime.offline import offline_request
from ..storage.sql.importer import ImportReport


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        raise click.UsageError("give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("empty password on standard input")
    return password


def _parse_attributes(pairs: tuple[str, ...]) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--attribute")
        attributes[name.strip()].append(value)
    return dict(attributes)


def _explain(violation: Violation) -> str:
    return violation.english()  # singular or plural by the rule's count


@click.group("users", help="Local accounts.")
def users_group() -> None:
    pass


@users_group.command("add", help="Create a local account.")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--no-password", is_flag=True, help="Create the account without a password (to be activated)."
)
@click.option(
    "--profile", type=click.Choice([p.value for p in Profile]), default="student", show_default=True
)
@click.option("--given-name", default="")
@click.option("--family-name", default="")
@click.option("--birth-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@click.option("--student-number", default=None)
@click.option("--ine", default=None)
@click.option("--personnel-number", default=None)
@click.option("--email", "personal_email", default=None, help="Personal e-mail (recovery).")
@click.option("--mobile", default=None)
@click.option("--role", "roles", multiple=True, help="admin, helpdesk… (repeatable).")
@click.option(
    "--attribute", "attributes", multiple=True, help="NAME=VALUE, repeat for several values."
)
@with_appcontext
def users_add(
    login: str,
    password_stdin: bool,
    no_password: bool,
    profile: str,
    given_name: str,
    family_name: str,
    birth_date: object,
    student_number: str | None,
    ine: str | None,
    personnel_number: str | None,
    personal_email: str | None,
    mobile: str | None,
    roles: tuple[str, ...],
    attributes: tuple[str, ...],
) -> None:
    from ..storage.sql.accounts import AccountExists

    c = container()
    parsed_attributes = _parse_attributes(attributes)
    password_hash = None
    if not no_password:
        password = _read_password(password_stdin)
        context = PasswordContext(login=login, full_name=f"{given_name} {family_name}".strip())
        violations = c.passwords.policy.check(password, context)
        if violations:
            reasons = "; ".join(_explain(v) for v in violations)
            raise click.ClickException(
                f"password refused by the {c.passwords.policy.name} policy: {reasons}"
            )
        password_hash = hash_password(password, c.settings.bcrypt_cost)
    born = birth_date.date() if hasattr(birth_date, "date") else None  # click gives a datetime
    try:
        account = c.accounts.create(
            login,
            profile=Profile(profile),
            status=Status.ACTIVE if password_hash else Status.NOT_ACTIVATED,
            password_hash=password_hash,
            given_name=given_name,
            family_name=family_name,
            birth_date=born if isinstance(born, date) else None,
            student_number=student_number,
            ine=ine,
            personnel_number=personnel_number,
            personal_email=personal_email,
            mobile=mobile,
            attributes=parsed_attributes,
            roles=roles,
        )
    except AccountExists as exc:
        raise click.ClickException(str(exc)) from exc
    c.audit.record(
        "account_create", "success", account_uuid=account.uuid, login=account.login, actor="cli"
    )
    click.echo(f"created {account.login} ({account.uuid}), status {account.status.value}")


@users_group.command("set-password", help="Set a local account's password.")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--must-change", is_flag=True, help="Force a change at the next sign-in.")
@with_appcontext
def users_set_password(login: str, password_stdin: bool, must_change: bool) -> None:
    c = container()
    account = c.accounts.find_by_login(login)
    if account is None:
        raise click.ClickException(f"no account {login!r}")
    password = _read_password(password_stdin)
    try:
        c.passwords.set_password(
            account,
            password,
            change=PasswordChange("cli", by_operator=True),
            must_change=must_change,
        )
    except PasswordRejected as exc:
        reasons = "; ".join(_explain(v) for v in exc.violations)
        raise click.ClickException(
            f"password refused by the {c.passwords.policy.name} policy: {reasons}"
        ) from exc
    c.audit.record(
        "password_set", "success", account_uuid=account.uuid, login=account.login, actor="cli"
    )
    click.echo(f"password of {account.login} changed")


F = TypeVar("F", bound=Callable[..., Any])
WAIT = 30.0  # seconds to wait for the mail and SMS queues, beyond their own time-outs


def _say(refused: Refused) -> str:
    return refused.message % refused.params if refused.params else refused.message


def find_account(login: str) -> Account:
    account = container().accounts.find_by_login(login)
    if account is None:
        raise click.ClickException(f"no account {login!r}")
    return account


def run_action(work: Callable[[Actions], Any]) -> Any:
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
    details = admin().store.details(find_account(login).uuid)
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
    report = run_action(lambda a: run_import(a, data, dry_run=dry_run, filename=path.name))
    print_report(report)


@users_group.command("reindex", help="Recompute the search keys (after editing names in SQL).")
@with_appcontext
def users_reindex() -> None:
    click.echo(f"{admin().store.reindex()} account(s) reindexed")
