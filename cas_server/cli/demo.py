"""``cas-server demo``: the demo accounts, their Sésame data and the demo admin's second factor."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..runtime.container import container


@click.command("demo", help="Load the demo accounts (idempotent).")
@with_appcontext
def demo() -> None:
    from ..demo.accounts import load_demo
    from ..demo.help_requests import load_help_request_demo
    from ..demo.mfa import load_mfa_demo
    from ..demo.sesame import load_sesame_demo

    c = container()
    for line in (*load_demo(c), *load_sesame_demo(c), *load_mfa_demo(c)):
        click.echo(line)
    for line in load_help_request_demo(c):
        click.echo(line)
