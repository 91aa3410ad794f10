"""Where a session was opened (#15): ``finish_login`` fills its client; the services it served.

Through the app (SQLite store): the address, the user agent (cut to 400
characters), the network label from ``[sessions] networks`` and the public
computer choice; then the services recorded once, also by the fast path.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from cas_server.protocol.cas.ports import SessionQuery
from tests.support.app import CasBrowser

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def app_overrides() -> dict[str, dict[str, Any]]:
    networks = [
        {"cidr": "10.0.0.0/8", "key": "campus", "fr": "Réseau de l'université", "en": "Campus"},
        {"cidr": "127.0.0.0/8", "key": "loopback", "en": "This machine"},
    ]
    return {"sessions": {"networks": networks}}


def sign_in(client: FlaskClient, agent: str = AGENT, **fields: str) -> None:
    client.environ_base["HTTP_USER_AGENT"] = agent
    response = CasBrowser(client).login(**fields)
    assert response.status_code in (200, 302), response.status_code


def only_session(app: Flask) -> Any:
    with app.app_context():
        (record,) = app.extensions["cas"].sessions.sessions_of("alice", time.time())
    return record


def test_the_client_is_recorded_at_sign_in(app: Flask, client: FlaskClient, alice: Account) -> None:
    sign_in(client, computer="private")
    record = only_session(app)
    assert record.client.ip == "127.0.0.1"
    assert record.client.user_agent == AGENT
    assert record.client.network == "loopback"
    assert record.client.public is False
    assert record.surrogate is None
    assert record.services == ()


def test_a_public_computer_and_a_long_agent(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    sign_in(client, agent="A" * 2000, computer="public")
    record = only_session(app)
    assert record.client.public is True
    assert record.client.user_agent == "A" * 400


def test_services_are_recorded_once_through_the_app(
    app: Flask, client: FlaskClient, alice: Account
) -> None:
    sign_in(client, service="https://app.example.org/one")
    for path in ("two", "three"):
        response = client.get(f"/login?service=https://app.example.org/{path}")
        assert response.status_code == 302
        assert "ticket=ST-" in response.headers["Location"]
    record = only_session(app)
    assert [(s.service_id, s.service) for s in record.services] == [
        ("app", "https://app.example.org/one")
    ]
    with app.app_context():
        found = app.extensions["cas"].sessions.search(SessionQuery(service_id="app"), time.time())
    assert [r.handle for r in found] == [record.handle]


def test_network_labels_are_read_in_the_readers_language(app: Flask) -> None:
    settings = app.extensions["cas"].sessions_settings
    campus = settings.network_for("10.20.30.40")
    assert campus is not None and campus.key == "campus"
    assert campus.label("fr") == "Réseau de l'université"
    assert campus.label("de") == "Campus"
    assert settings.network_label("loopback", "fr") == "This machine"
    assert settings.network_for("192.0.2.1") is None
    assert settings.network_for("not an address") is None
