"""The ``cas-server`` command: a Flask CLI group over :func:`create_app`."""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import date

import click
from flask import Flask
from flask.cli import FlaskGroup, NoAppException, with_appcontext

from .accounts.model import Profile, Status
from .accounts.passwords import PasswordChange, PasswordRejected
from .accounts.policy import PasswordContext, Violation
from .auth.hashing import hash_password
from .container import container


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


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("init", help="Create or upgrade the schema (safe to run again).")
@with_appcontext
def db_init() -> None:
    from .storage.sql.migrate import current_revision, upgrade

    engine = container().engine
    upgrade(engine)
    click.echo(
        f"database schema at revision {current_revision(engine)} ({engine.url.render_as_string()})"
    )


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
    from .storage.sql.accounts import AccountExists

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


@click.group("services", help="Registered services.")
def services_group() -> None:
    pass


@services_group.command("check", help="Load and validate the service definitions.")
@with_appcontext
def services_check() -> None:
    registry = container().services
    if not len(registry):
        click.echo("no service registered: every service URL will be refused")
    for order, service in enumerate(registry, start=1):
        state = "enabled" if service.enabled else "DISABLED"
        released = ", ".join(f"{s}→{t}" if s != t else s for s, t in service.release_attributes)
        proxy = service.proxy_callback_pattern
        click.echo(
            f"{order:3d}. [{service.evaluation_order}] {service.id} ({service.name}) {state}\n"
            f"     pattern: {service.url_pattern.pattern}\n"
            f"     attributes: {released or '-'}"
            f"{' (also on CAS 2.0 /serviceValidate)' if service.cas2_attributes else ''}\n"
            f"     proxy: {proxy.pattern if proxy else 'refused'}"
            f"; logout: {service.logout_url or '-'} ({service.logout_type})"
            f"; theme: {service.theme or '-'}\n"
            f"     from: {service.source}"
        )
    click.echo(f"{len(registry)} service(s) OK")


@click.group("tickets", help="Ticket store.")
def tickets_group() -> None:
    pass


@tickets_group.command("purge", help="Remove expired tickets and sessions.")
@with_appcontext
def tickets_purge() -> None:
    c = container()
    removed = c.tickets.purge_expired(c.clock.now())
    click.echo(f"{removed} expired ticket(s) removed")


COUNTER_KEEP = 7 * 86400.0  # longer than any throttling window (the SMS budget's is a day)
TOKEN_KEEP = 86400.0  # a day past expiry: "this link has expired" stays explainable


@click.command(
    "purge",
    help="Remove expired tickets and sessions, expired one-time tokens (mailed links, codes) "
    "and idle throttling counters. Run it from cron every few minutes.",
)
@with_appcontext
def purge() -> None:
    from .storage.sql.counters import SqlCounterStore
    from .storage.sql.tokens import SqlTokenStore

    c = container()
    now = c.clock.now()
    click.echo(f"{c.tickets.purge_expired(now)} expired ticket(s) removed")
    tokens = SqlTokenStore(c.engine).purge(now, TOKEN_KEEP)
    click.echo(f"{tokens} expired one-time token(s) removed")
    if isinstance(c.counters, SqlCounterStore):
        counters = c.counters.purge(now, COUNTER_KEEP)
        click.echo(f"{counters} idle throttling counter(s) removed")


@click.command("demo", help="Load the demo accounts (idempotent).")
@with_appcontext
def demo() -> None:
    from .demo import load_demo
    from .demo_sesame import load_sesame_demo

    for line in (*load_demo(container()), *load_sesame_demo(container())):
        click.echo(line)


def register(app: Flask) -> None:
    from .admin.cli import audit_group  # also adds the console's actions to `users`
    from .ldap_cli import ldap_group

    for command in (
        db_group,
        users_group,
        services_group,
        tickets_group,
        purge,
        demo,
        audit_group,
        ldap_group,
    ):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app
    from .config import ConfigError
    from .service_definitions import ServiceDefinitionError

    try:
        return create_app()
    except (ConfigError, ServiceDefinitionError) as exc:
        # Flask prints this message alone, without a traceback.
        raise NoAppException(f"cannot start: {exc}") from exc


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main() -> None:
    """CAS server administration (configuration from CAS_SERVER_CONFIG)."""


if __name__ == "__main__":
    main()
