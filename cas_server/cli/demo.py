"""``cas-server demo``: the demo accounts and their Sésame data."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..runtime.container import container


@click.command("demo", help="Load the demo accounts (idempotent).")
@with_appcontext
def demo() -> None:
    from ..demo.accounts import load_demo
    from ..demo.sesame import load_sesame_demo

    for line in (*load_demo(container()), *load_sesame_demo(container())):
        click.echo(line)
