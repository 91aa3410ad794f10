"""The application in the test process: its settings, accounts, a browser on its login form.

The fixtures that build it (``app``, ``client``, ``browser``…) are in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from cas_server.accounts.model import Account, Profile, Status
from cas_server.auth.hashing import hash_password
from tests.support.html import csrf
from tests.support.paths import DATA

TEST_COST = 4
PASSWORD = "Correct-Horse-42!"


def test_overrides(db_path: Path, **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {
        "server": {"mode": "test", "secret_key": "test-secret-key-" + "x" * 32},
        "database": {"url": f"sqlite:///{db_path}"},
        "passwords": {"bcrypt_cost": TEST_COST},
        "services": {"paths": [str(DATA / "services.toml")]},
        "http": {"connect_timeout": 2.0, "read_timeout": 2.0},
        # Charters have their own tests; elsewhere a sign-in goes straight through.
        "charters": {"path": ""},
        # The console's second factor has its own tests (test_console_mfa_gate.py);
        # elsewhere an operator signs in to the console with the password alone.
        "admin": {"require_mfa": False},
    }
    for section, values in extra.items():
        overrides.setdefault(section, {}).update(values)
    return overrides


test_overrides.__test__ = False  # type: ignore[attr-defined]


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


def rows(app: Flask, model: Any, **where: Any) -> list[Any]:
    """The rows of ``model`` whose columns equal ``where``."""
    with Session(app.extensions["cas"].engine) as session:
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return list(session.scalars(query))


def events(app: Flask, action: str) -> list[Any]:
    """The audit events of one action."""
    from cas_server.storage.sql.models import AuditEventRow

    return rows(app, AuditEventRow, action=action)


class CasBrowser:
    """Drives the login form like a browser would (CSRF token included)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self, query: str = "") -> str:
        # renew: the form is shown even to a browser that has a session.
        query = (query + "&" if query else "?") + "renew=true"
        return csrf(self.client.get("/login" + query).get_data(as_text=True))

    def login(self, username: str = "alice", password: str = PASSWORD, **fields: str) -> Any:
        query = ""
        if "service" in fields:
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


def through_cas(
    client: FlaskClient, path: str, login: str, password: str = PASSWORD
) -> TestResponse:
    """Open one of the server's own pages (console, profile) as a browser does.

    The page sends the browser to the login form; the service ticket comes back
    to ``/_cas/callback``. Returns the callback's answer.
    """
    first = client.get(path)
    assert first.status_code == 302, first.status_code
    service = parse_qs(urlsplit(first.headers["Location"]).query)["service"][0]
    ticket = CasBrowser(client).service_ticket(service, username=login, password=password)
    return client.get(f"/_cas/callback?{urlsplit(service).query}&ticket={ticket}")
