"""Back-channel single logout (CAS 3.0 2.3.3): the POST services receive at /logout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from tests.support.app import DATA, CasBrowser, make_account
from tests.support.slo import LogoutEndpoint, drain, parse, sso_ticket, validate

FAST = "https://slo.example.org/app"
SLOW = "https://slow.example.org/app"
SLEEP_SECONDS = 5.0


@pytest.fixture
def fast() -> Iterator[LogoutEndpoint]:
    endpoint = LogoutEndpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def slow() -> Iterator[LogoutEndpoint]:
    endpoint = LogoutEndpoint(sleep=SLEEP_SECONDS)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def bare() -> Iterator[LogoutEndpoint]:
    """A service with single logout on and no ``logout_url``: told at its own URL."""
    endpoint = LogoutEndpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def app_overrides(
    tmp_path: Path, fast: LogoutEndpoint, slow: LogoutEndpoint, bare: LogoutEndpoint
) -> dict[str, dict[str, Any]]:
    bare_pattern = bare.url.removesuffix("/logout").replace(".", "\\.")
    services = tmp_path / "slo-services.toml"
    services.write_text(
        "[[services]]\n"
        'id = "slo-fast"\n'
        'name = "SLO recorder"\n'
        "url_pattern = '^https://slo\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 100\n"
        'release_attributes = ["uid"]\n'
        f'logout_url = "{fast.url}"\n'
        "\n"
        "[[services]]\n"
        'id = "slo-slow"\n'
        'name = "SLO sleeper"\n'
        "url_pattern = '^https://slow\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 101\n"
        f'logout_url = "{slow.url}"\n'
        "\n"
        "[[services]]\n"
        'id = "slo-bare"\n'
        'name = "SLO at the service URL"\n'
        f"url_pattern = '^{bare_pattern}/.*$'\n"
        "evaluation_order = 102\n",
        encoding="utf-8",
    )
    # The default read timeout (2 s) stays: a synchronous POST would make /logout slow.
    return {"services": {"paths": [str(DATA / "services.toml"), str(services)]}}


def test_logout_notifies_the_service(
    client: FlaskClient, alice: Account, browser: CasBrowser, fast: LogoutEndpoint
) -> None:
    ticket = browser.service_ticket(FAST)
    validate(client, FAST, ticket)
    assert fast.received == []

    assert client.get("/logout").status_code == 200
    [message] = fast.wait_for(1)
    assert parse(message) == ("alice", ticket)


def test_without_logout_url_the_service_url_is_told(
    client: FlaskClient, alice: Account, browser: CasBrowser, bare: LogoutEndpoint
) -> None:
    """CAS 3.0 2.3.3, as Apereo CAS (issue #12, item 5)."""
    service = bare.url.removesuffix("/logout") + "/moodle/login/index.php"
    ticket = browser.service_ticket(service)
    validate(client, service, ticket)
    assert client.get("/logout").status_code == 200
    [message] = bare.wait_for(1)
    assert parse(message) == ("alice", ticket)


def test_every_validated_ticket_of_the_session_is_notified(
    app: Flask, client: FlaskClient, alice: Account, browser: CasBrowser, fast: LogoutEndpoint
) -> None:
    first = browser.service_ticket(FAST)
    validate(client, FAST, first)
    second = sso_ticket(client, FAST + "/other")
    validate(client, FAST + "/other", second)

    assert client.get("/logout").status_code == 200
    fast.wait_for(2)
    drain(app)
    assert sorted(parse(m)[1] for m in fast.received) == sorted([first, second])


def test_slow_service_does_not_delay_logout(
    client: FlaskClient, alice: Account, browser: CasBrowser, slow: LogoutEndpoint
) -> None:
    ticket = browser.service_ticket(SLOW)
    validate(client, SLOW, ticket)

    started = time.monotonic()
    response = client.get("/logout")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.0, elapsed  # the endpoint sleeps 5 s: the POST runs in the background
    [message] = slow.wait_for(1)
    assert parse(message) == ("alice", ticket)


def test_unvalidated_ticket_is_not_notified(
    app: Flask, client: FlaskClient, alice: Account, browser: CasBrowser, fast: LogoutEndpoint
) -> None:
    browser.service_ticket(FAST)  # never validated: the service has no session to end
    assert client.get("/logout").status_code == 200
    drain(app)
    assert fast.received == []


def test_logout_of_one_session_leaves_the_other(
    app: Flask, client: FlaskClient, alice: Account, browser: CasBrowser, fast: LogoutEndpoint
) -> None:
    make_account(app, "bob", given_name="Bob")
    other = CasBrowser(app.test_client())

    ticket_a = browser.service_ticket(FAST)
    validate(client, FAST, ticket_a)
    ticket_b = other.service_ticket(FAST, username="bob")
    validate(other.client, FAST, ticket_b)

    assert client.get("/logout").status_code == 200
    fast.wait_for(1)
    drain(app)
    assert [parse(m) for m in fast.received] == [("alice", ticket_a)]
    # Bob's session lives on: single sign-on still works for him.
    validate(other.client, FAST, sso_ticket(other.client, FAST))
