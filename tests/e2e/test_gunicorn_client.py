"""A full sign-in over real HTTP against gunicorn, validated by the python-cas client."""

from __future__ import annotations

from typing import Any

import cas
import pytest
import requests

from tests.e2e.conftest import HttpBrowser
from tests.support.html import CSRF_RE

pytestmark = pytest.mark.e2e

SERVICE = "https://app.example.org/"


def cas_client(server_url: str, version: Any, service: str = SERVICE) -> Any:
    client = cas.CASClient(version=version, server_url=server_url + "/", service_url=service)
    client.session.trust_env = False
    return client


def test_server_answers_login_page(server_url: str) -> None:
    response = requests.get(server_url + "/login", timeout=10)
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.text
    assert response.headers["X-Frame-Options"] == "DENY"


def test_cas3_validation_releases_attributes(server_url: str, http_browser: HttpBrowser) -> None:
    ticket = http_browser.login(SERVICE)
    user, attributes, pgt_iou = cas_client(server_url, 3).verify_ticket(ticket)
    assert user == "alice"
    assert pgt_iou is None
    assert attributes["uid"] == "alice"
    assert attributes["mail"] == "alice@example.org"
    assert attributes["eduPersonAffiliation"] == ["student", "member"]
    assert attributes["cn"] == "alice"  # displayName, renamed by the release policy
    assert attributes["isFromNewLogin"] == "true"
    assert "authenticationDate" in attributes
    # Only what the policy names is released.
    assert "displayName" not in attributes
    assert "memberOf" not in attributes
    assert "casUuid" not in attributes


def test_ticket_is_single_use(server_url: str, http_browser: HttpBrowser) -> None:
    ticket = http_browser.login(SERVICE)
    client = cas_client(server_url, 3)
    assert client.verify_ticket(ticket)[0] == "alice"
    assert client.verify_ticket(ticket) == (None, {}, None)


def test_ticket_for_another_service_fails(server_url: str, http_browser: HttpBrowser) -> None:
    ticket = http_browser.login(SERVICE)
    other = cas_client(server_url, 3, "https://app.example.org/other")
    assert other.verify_ticket(ticket) == (None, {}, None)


def test_cas2_validation_has_no_attributes(server_url: str, http_browser: HttpBrowser) -> None:
    ticket = http_browser.login(SERVICE)
    user, attributes, pgt_iou = cas_client(server_url, 2).verify_ticket(ticket)
    assert (user, attributes, pgt_iou) == ("alice", None, None)


def test_cas1_validation(server_url: str, http_browser: HttpBrowser) -> None:
    ticket = http_browser.login(SERVICE)
    client = cas_client(server_url, 1)
    assert client.verify_ticket(ticket) == ("alice", None, None)
    assert client.verify_ticket(ticket) == (None, None, None)


def test_saml11_validation(server_url: str, http_browser: HttpBrowser) -> None:
    ticket = http_browser.login(SERVICE)
    client = cas_client(server_url, "CAS_2_SAML_1_0")
    user, attributes, _ = client.verify_ticket(ticket)
    assert user == "alice"
    assert attributes["mail"] == "alice@example.org"
    assert attributes["eduPersonAffiliation"] == ["student", "member"]
    assert attributes["cn"] == "alice"
    assert "memberOf" not in attributes
    # The ticket is gone: a second SAML validation is a failure.
    assert client.verify_ticket(ticket) == (None, {}, None)


def test_single_sign_on_then_logout(server_url: str, http_browser: HttpBrowser) -> None:
    first = http_browser.login(SERVICE)
    client = cas_client(server_url, 3)
    assert client.verify_ticket(first)[1]["isFromNewLogin"] == "true"

    # The TGC alone obtains a second ticket: no form, no credentials.
    second = http_browser.sso(SERVICE)
    assert second != first
    user, attributes, _ = client.verify_ticket(second)
    assert user == "alice"
    assert attributes["isFromNewLogin"] == "false"

    logout = http_browser.get("/logout")
    assert logout.status_code == 200
    page = http_browser.get("/login", service=SERVICE)
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text and 'name="password"' in page.text
    assert "Location" not in page.headers


def test_old_cookie_is_useless_after_logout(server_url: str, http_browser: HttpBrowser) -> None:
    http_browser.login(SERVICE)
    tgc = http_browser.session.cookies.get("TGC")
    assert tgc and tgc.startswith("TGT-")
    assert http_browser.get("/logout").status_code == 200
    # Another user agent replaying the old cookie gets the form, not a ticket.
    replay = requests.get(
        server_url + "/login",
        params={"service": SERVICE},
        cookies={"TGC": tgc},
        allow_redirects=False,
        timeout=10,
    )
    assert replay.status_code == 200
    assert 'name="password"' in replay.text


def test_wrong_password_is_refused(http_browser: HttpBrowser) -> None:
    page = http_browser.get("/login", service=SERVICE)
    match = CSRF_RE.search(page.text)
    assert match
    response = http_browser.session.post(
        http_browser.base + "/login",
        data={
            "username": "alice",
            "password": "wrong-password",
            "csrf_token": match.group(1),
            "service": SERVICE,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 401
    assert "TGC" not in http_browser.session.cookies
