"""``cas-server services …``: the registered services."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..runtime.container import container


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
        # A service that asks for a second factor (`mfa = "required"`, issue #14).
        mfa = "     mfa: required\n" if service.mfa_required else ""
        click.echo(
            f"{order:3d}. [{service.evaluation_order}] {service.id} ({service.name}) {state}\n"
            f"     pattern: {service.url_pattern.pattern}\n"
            f"     attributes: {released or '-'}"
            f"{' (also on CAS 2.0 /serviceValidate)' if service.cas2_attributes else ''}\n"
            f"     proxy: {proxy.pattern if proxy else 'refused'}"
            f"; logout: {service.logout_url or '-'} ({service.logout_type})"
            f"; theme: {service.theme or '-'}\n"
            f"{mfa}"
            f"     from: {service.source}"
        )
    click.echo(f"{len(registry)} service(s) OK")
