"""The administration console's logic, shared by the ``/admin`` pages and the command line.

| module | what it holds |
|---|---|
| ``settings`` | the ``[admin]`` section |
| ``actions`` | every action on an account, checked, done and audited (actor, IP, outcome) |
| ``messages`` | the actions that send something: reset link by mail or SMS, activation |
| ``imports`` | CSV imports: the dry run, the file kept between the two steps, the real run |
| ``cli`` | ``cas-server users …`` and ``cas-server audit …`` |
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app, g

from ..container import container
from ..storage.sql.console import SqlConsoleStore
from .settings import AdminSettings, load_admin_settings


@dataclass
class Admin:
    settings: AdminSettings
    store: SqlConsoleStore


def admin() -> Admin:
    return current_app.extensions["admin"]  # type: ignore[no-any-return]


def init_admin(app: Flask) -> Admin:
    with app.app_context():
        c = container()
        runtime = Admin(
            settings=load_admin_settings(c.settings.raw, app.instance_path),
            store=SqlConsoleStore(c.engine, c.accounts),
        )
    app.extensions["admin"] = runtime
    return runtime


@contextmanager
def offline_request(app: Flask) -> Iterator[None]:
    """A request context for work outside a request (the CLI): links, themes, mail templates."""
    public_url = app.extensions["cas"].settings.public_url
    with app.test_request_context("/", base_url=public_url):
        g.themes = app.extensions["cas"].themes
        yield
