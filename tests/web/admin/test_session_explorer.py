"""/admin/sessions, the help desk's session explorer (#15).

Abuse cases first: the target rule (a help-desk operator ends no
administrator's session, not even in an address-wide end), a reason is
required, CSRF, malformed input is a clear 4xx; then the searches (login,
address, network, service, age), the rows, the three ways to end sessions,
single logout to the owners' services and the audit trail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from tests.support.app import PASSWORD, CasBrowser, events, make_account
from tests.support.console import console_client
from tests.support.html import csrf, text
from tests.support.sessions import APP, IPHONE, sessions_overrides
from tests.support.slo import LogoutEndpoint, drain, sso_ticket, validate

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
INCIDENT = "203.0.113.9"


@pytest.fixture
def endpoint() -> Iterator[LogoutEndpoint]:
    found = LogoutEndpoint()
    yield found
    found.stop()


@pytest.fixture
def app_overrides(tmp_path: Path, endpoint: LogoutEndpoint) -> dict[str, Any]:
    visitors = {
        "cidr": "203.0.113.0/24",
        "key": "wifi",
        "fr": "Wi-Fi des visiteurs",
        "en": "Visitors' Wi-Fi",
    }
    return sessions_overrides(tmp_path, endpoint, visitors)


@pytest.fixture
def camille(app: Flask) -> Account:
    return make_account(app, "camille.martin", given_name="Camille", family_name="Martin")


def browser(app: Flask, login: str, ip: str = "192.0.2.10", agent: str = FIREFOX) -> FlaskClient:
    """A signed-in browser of ``login``, from ``ip``, with ``agent``."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)
    response = CasBrowser(client).login(login, PASSWORD, computer="private")
    assert response.status_code == 200, response.status_code
    return client


def live(app: Flask, login: str) -> int:
    c = app.extensions["cas"]
    return len(c.sessions.sessions_of(login, c.clock.now()))


def handles(app: Flask, login: str) -> list[str]:
    c = app.extensions["cas"]
    return [r.handle for r in c.sessions.sessions_of(login, c.clock.now())]


def end(client: FlaskClient, data: dict[str, str], reason: str = "Stolen password") -> Any:
    page = client.get("/admin/sessions/end", query_string=data)
    assert page.status_code == 200, page.status_code
    form = {"csrf_token": csrf(page.get_data(as_text=True)), "confirm": "1", **data}
    if reason:
        form["reason"] = reason
    return client.post("/admin/sessions/end", data=form)


# Abuse cases ------------------------------------------------------------------------------


def test_helpdesk_cannot_end_an_administrators_session(app: Flask) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    boss = make_account(app, "boss", roles=["admin"])
    browser(app, "boss", ip=INCIDENT)
    handle = handles(app, boss.login)[0]
    # Listed (helpdesk may look), but out of reach.
    listing = text(desk.get("/admin/sessions", query_string={"login": "boss"}))
    assert "1 session found" in listing and "Out of your reach" in listing
    response = end(desk, {"scope": "one", "handle": handle})
    assert response.status_code == 400
    assert "console role equal to or above yours" in text(response)
    person = end(desk, {"scope": "person", "login": "boss"})
    assert person.status_code == 400
    assert live(app, "boss") == 1
    refused = [e for e in events(app, "admin_session_end") if e.outcome == "refused"]
    assert len(refused) == 2 and all(e.actor == "desk" for e in refused)


def test_an_address_wide_end_skips_sessions_out_of_reach(app: Flask, camille: Account) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    make_account(app, "boss", roles=["admin"])
    browser(app, "boss", ip=INCIDENT)
    browser(app, "camille.martin", ip=INCIDENT)
    browser(app, "camille.martin", ip=INCIDENT)
    browser(app, "camille.martin", ip="192.0.2.99")
    done = end(desk, {"scope": "address", "ip": INCIDENT})
    assert done.status_code == 303
    page = text(desk.get(done.headers["Location"]))
    assert "2 SSO sessions ended." in page and "1 session was left open" in page
    assert live(app, "boss") == 1 and live(app, "camille.martin") == 1
    (ended,) = [e for e in events(app, "admin_session_end") if e.outcome == "success"]
    details = ended.details if isinstance(ended.details, dict) else json.loads(ended.details)
    assert ended.login == "camille.martin" and ended.actor == "desk"
    assert details["count"] == 2 and details["scope"] == "address"
    assert details["reason"] == "Stolen password" and details["address"] == INCIDENT


def test_a_reason_is_required_and_nothing_ends_without_it(app: Flask, camille: Account) -> None:
    admin = console_client(app)
    browser(app, "camille.martin")
    handle = handles(app, "camille.martin")[0]
    response = end(admin, {"scope": "one", "handle": handle}, reason="")
    assert response.status_code == 400
    assert "Give the reason for ending these sessions." in text(response)
    blank = end(admin, {"scope": "one", "handle": handle}, reason="   ")
    assert blank.status_code == 400
    assert live(app, "camille.martin") == 1


def test_without_csrf_token_nothing_ends(app: Flask, camille: Account) -> None:
    admin = console_client(app)
    browser(app, "camille.martin")
    handle = handles(app, "camille.martin")[0]
    response = admin.post(
        "/admin/sessions/end",
        data={"scope": "one", "handle": handle, "reason": "x", "confirm": "1"},
    )
    assert response.status_code == 400
    assert live(app, "camille.martin") == 1


def test_malformed_input_is_a_clear_4xx(app: Flask, camille: Account) -> None:
    admin = console_client(app)
    for query in ({"ip": "not-an-address"}, {"older_than": "soon"}, {"service": "nope"}):
        response = admin.get("/admin/sessions", query_string=query)
        assert response.status_code == 400, query
    assert "Type an IPv4 or IPv6 address." in text(
        admin.get("/admin/sessions", query_string={"ip": "999.1.1.1"})
    )
    for query in (
        {"scope": "one", "handle": "zz"},
        {"scope": "one", "handle": "0" * 64},  # well formed, no such session
        {"scope": "nothing"},
        {"scope": "address", "ip": "x"},
        {"scope": "person", "login": "nobody"},
    ):
        assert admin.get("/admin/sessions/end", query_string=query).status_code == 404, query


def test_people_without_a_console_role_get_403(app: Flask, camille: Account) -> None:
    client = browser(app, "camille.martin")
    assert client.get("/admin/sessions").status_code in (302, 403)


# Searches and rows ---------------------------------------------------------------------------


def test_rows_show_device_address_network_and_services(app: Flask, camille: Account) -> None:
    admin = console_client(app)
    phone = browser(app, "camille.martin", ip=INCIDENT, agent=IPHONE)
    validate(phone, APP, sso_ticket(phone, APP))
    browser(app, "camille.martin", ip="192.0.2.10", agent=FIREFOX)
    page = text(admin.get("/admin/sessions", query_string={"login": "camille.martin"}))
    assert "2 sessions found" in page
    assert "Safari 17 on iOS 17" in page and "Firefox 121 on Windows" in page
    assert INCIDENT in page and "Visitors' Wi-Fi" in page
    assert "Moodle de test" in page and "Private computer" in page
    # In French too.
    admin.get("/login?lang=fr")
    french = text(admin.get("/admin/sessions", query_string={"login": "camille.martin"}))
    assert "Wi-Fi des visiteurs" in french and "2 sessions trouvées" in french


def test_search_by_address_network_service_and_age(app: Flask, camille: Account) -> None:
    admin = console_client(app)
    make_account(app, "bob")
    phone = browser(app, "camille.martin", ip=INCIDENT)
    validate(phone, APP, sso_ticket(phone, APP))
    browser(app, "bob", ip="192.0.2.44")

    def found(**query: str) -> str:
        response = admin.get("/admin/sessions", query_string=query)
        assert response.status_code == 200
        return text(response)

    assert "1 session found" in found(ip=INCIDENT) and "camille.martin" in found(ip=INCIDENT)
    assert "bob" in found(ip="192.0.2.44")
    assert "camille.martin" in found(network="wifi") and "1 session found" in found(network="wifi")
    assert "1 session found" in found(service="slo-app")
    assert "No live session matches this search." in found(older_than="2")
    assert "1 session found" in found(login="bob", ip="192.0.2.44")
    assert "No live session matches" in found(login="bob", ip=INCIDENT)


def test_without_a_search_the_page_counts_sessions_per_account(
    app: Flask, camille: Account
) -> None:
    admin = console_client(app)
    for _ in range(2):
        browser(app, "camille.martin")
    page = text(admin.get("/admin/sessions"))
    assert "Sessions per account" in page and "camille.martin Camille Martin 2" in page


# Ending -----------------------------------------------------------------------------------------


def test_end_one_session_with_single_logout(
    app: Flask, camille: Account, endpoint: LogoutEndpoint
) -> None:
    admin = console_client(app)
    phone = browser(app, "camille.martin", ip=INCIDENT, agent=IPHONE)
    validate(phone, APP, sso_ticket(phone, APP))
    browser(app, "camille.martin")
    c = app.extensions["cas"]
    (target,) = [
        r
        for r in c.sessions.sessions_of("camille.martin", c.clock.now())
        if r.client and r.client.ip == INCIDENT
    ]
    confirm = text(admin.get("/admin/sessions/end?scope=one&handle=" + target.handle))
    assert "End one SSO session" in confirm and "Safari 17 on iOS 17" in confirm
    done = end(admin, {"scope": "one", "handle": target.handle}, reason="Library computer")
    assert done.status_code == 303
    assert "1 SSO session ended." in text(admin.get(done.headers["Location"]))
    assert live(app, "camille.martin") == 1
    drain(app)
    assert len(endpoint.wait_for(1)) == 1
    # The ended browser is asked for a password again.
    again = phone.get("/login", query_string={"service": APP})
    assert again.status_code == 200 and b'name="password"' in again.data
    (event,) = [e for e in events(app, "admin_session_end") if e.outcome == "success"]
    details = event.details if isinstance(event.details, dict) else json.loads(event.details)
    assert details == {"reason": "Library computer", "count": 1, "scope": "one"}
    assert event.actor == "root" and event.account_uuid == camille.uuid
    # Ending it again: the session is gone.
    assert admin.get("/admin/sessions/end?scope=one&handle=" + target.handle).status_code == 404


def test_end_all_of_a_persons_sessions(app: Flask, camille: Account) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    for _ in range(3):
        browser(app, "camille.martin")
    done = end(desk, {"scope": "person", "login": "camille.martin"}, reason="Asked by phone")
    assert "3 SSO sessions ended." in text(desk.get(done.headers["Location"]))
    assert live(app, "camille.martin") == 0
    (event,) = [e for e in events(app, "admin_session_end") if e.outcome == "success"]
    assert event.login == "camille.martin" and event.ip == "127.0.0.1"
