"""``cas-server tickets purge`` and ``cas-server purge``: what has expired goes."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..runtime.container import container


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
    from ..storage.sql.counters import SqlCounterStore
    from ..storage.sql.tokens import SqlTokenStore

    c = container()
    now = c.clock.now()
    click.echo(f"{c.tickets.purge_expired(now)} expired ticket(s) removed")
    tokens = SqlTokenStore(c.engine).purge(now, TOKEN_KEEP)
    click.echo(f"{tokens} expired one-time token(s) removed")
    if isinstance(c.counters, SqlCounterStore):
        counters = c.counters.purge(now, COUNTER_KEEP)
        click.echo(f"{counters} idle throttling counter(s) removed")
    from ..storage.sql.known_browsers import KEEP, SqlKnownBrowsers

    browsers = SqlKnownBrowsers(c.engine).purge(now - KEEP)
    click.echo(f"{browsers} browser(s) unused for a year forgotten (new-device notice)")
    from ..admin.help_requests import purge_closed

    click.echo(f"{purge_closed(now)} closed help request(s) past retention removed")
    from datetime import UTC, datetime

    from ..storage.sql.registration import SqlRegistrationStore

    registrations = SqlRegistrationStore(c.engine).purge(datetime.fromtimestamp(now, UTC))
    click.echo(f"{registrations} expired or decided account creation request(s) removed")
    if c.saml_sessions is not None:  # [saml] enabled (#18)
        participants = c.saml_sessions.purge(now)
        click.echo(f"{participants} expired SAML participant(s) removed")
