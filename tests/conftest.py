"""Shared fixtures: an app on a fresh, migrated SQLite database per test.

The plain helpers these fixtures use (settings, accounts, the login form's
browser) are in ``tests/support/``; the real servers' fixtures are defined in
``tests/support/servers.py`` and made visible to every test here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server import create_app
from cas_server.accounts.model import Account
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from tests.support.app import CasBrowser, make_account, test_overrides
from tests.support.cli import cli_runner
from tests.support.outbound import SmsGateway, SmtpSink
from tests.support.servers import (  # noqa: F401 - fixtures: real PostgreSQL, Redis and OpenLDAP
    ldap_server,
    postgres_empty_url,
    postgres_migrated,
    postgres_server,
    postgres_url,
    redis_prefix,
    redis_server,
)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_path(migrated_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "cas.sqlite3"
    shutil.copy(migrated_db, path)
    return path


@pytest.fixture
def app_overrides() -> dict[str, dict[str, Any]]:
    """Tests override this to change the configuration."""
    return {}


@pytest.fixture
def app(db_path: Path, app_overrides: dict[str, dict[str, Any]]) -> Iterator[Flask]:
    application = create_app(overrides=test_overrides(db_path, **app_overrides), environ={})
    yield application
    application.extensions["cas"].single_logout.executor.shutdown(wait=True)
    application.extensions["cas"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return cli_runner(app)


@pytest.fixture
def alice(app: Flask) -> Account:
    return make_account(app)


@pytest.fixture
def browser(client: FlaskClient) -> CasBrowser:
    return CasBrowser(client)


# --- the mail and SMS servers the outbound backends talk to (tests/support/outbound.py) ----


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway()
    gateway.thread.start()
    yield gateway
    gateway.server.shutdown()
    gateway.server.server_close()
