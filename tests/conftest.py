"""Shared fixtures: an app on a fresh, migrated SQLite database per test."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server import create_app
from cas_server.accounts.model import Account, Profile, Status
from cas_server.auth.hashing import hash_password
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from tests.servers import (  # noqa: F401 - fixtures: real PostgreSQL, Redis and OpenLDAP
    ldap_server,
    postgres_empty_url,
    postgres_migrated,
    postgres_server,
    postgres_url,
    redis_prefix,
    redis_server,
)
from tests.support.cli import cli_runner

DATA = Path(__file__).parent / "data"
TEST_COST = 4
PASSWORD = "Correct-Horse-42!"


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def test_overrides(db_path: Path, **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {
        "server": {"mode": "test", "secret_key": "test-secret-key-" + "x" * 32},
        "database": {"url": f"sqlite:///{db_path}"},
        "passwords": {"bcrypt_cost": TEST_COST},
        "services": {"paths": [str(DATA / "services.toml")]},
        "http": {"connect_timeout": 2.0, "read_timeout": 2.0},
        # Charters have their own tests; elsewhere a sign-in goes straight through.
        "charters": {"path": ""},
    }
    for section, values in extra.items():
        overrides.setdefault(section, {}).update(values)
    return overrides


test_overrides.__test__ = False  # type: ignore[attr-defined]


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


def make_account(app: Flask, login: str = "alice", **fields: Any) -> Account:
    c = app.extensions["cas"]
    password = fields.pop("password", PASSWORD)
    fields.setdefault("profile", Profile.STUDENT)
    fields.setdefault("status", Status.ACTIVE)
    fields.setdefault("given_name", "Alice")
    fields.setdefault("family_name", "Liddell")
    fields.setdefault("attributes", {"mail": ["alice@example.org"]})
    account: Account = c.accounts.create(
        login,
        password_hash=hash_password(password, TEST_COST) if password else None,
        **fields,
    )
    return account


@pytest.fixture
def alice(app: Flask) -> Account:
    return make_account(app)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class CasBrowser:
    """Drives the login form like a browser would (CSRF token included)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self, query: str = "") -> str:
        # renew: the form is shown even to a browser that has a session.
        query = (query + "&" if query else "?") + "renew=true"
        page = self.client.get("/login" + query)
        match = CSRF_RE.search(page.get_data(as_text=True))
        assert match, page.get_data(as_text=True)[:500]
        return match.group(1)

    def login(self, username: str = "alice", password: str = PASSWORD, **fields: str) -> Any:
        query = ""
        if "service" in fields:
            from urllib.parse import urlencode

            query = "?" + urlencode({"service": fields["service"]})
        token = self.csrf(query)
        data = {"username": username, "password": password, "csrf_token": token, **fields}
        return self.client.post("/login", data=data)

    def service_ticket(self, service: str = "https://app.example.org/", **fields: str) -> str:
        response = self.login(service=service, **fields)
        assert response.status_code == 302, response.get_data(as_text=True)[:800]
        location = response.headers["Location"]
        assert "ticket=ST-" in location
        return location.split("ticket=", 1)[1]


@pytest.fixture
def browser(client: FlaskClient) -> CasBrowser:
    return CasBrowser(client)
