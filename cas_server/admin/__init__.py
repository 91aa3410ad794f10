"""The administration console's logic, shared by the ``/admin`` pages and the command line
(``cas_server.web.admin`` and ``cas_server.cli``).

| module | what it holds |
|---|---|
| ``actions`` | every action on an account, checked, done and audited (actor, IP, outcome) |
| ``messages`` | the actions that send something: reset link by mail or SMS, activation |
| ``imports`` | CSV imports: the dry run, the file kept between the two steps, the real run |
| ``factors`` | a person's second factors as the help desk sees them; the "lost phone" removals |
| ``mfa_import`` | hardware TOTP tokens from a CSV file, all lines or none (command line) |
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from ..runtime.container import container
from ..settings.console import AdminSettings, load_admin_settings
from ..storage.sql.console import SqlConsoleStore


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
