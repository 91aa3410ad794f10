"""/admin/impersonate, the help desk's surrogate sign-in (#15).

Abuse cases first: off → 404, the ``impersonate`` right on top of a rank,
never as an account holding a console role nor one that cannot sign in,
a reason, CSRF, the throttle; the person's own pages and the console are
closed to such a session, an opted-out service refuses it. Then what it
does: the operator's session ends, the browser holds the person's marked
session (short), services see ``surrogateUser``/``surrogatePrincipal``, a
banner on every page, the person is mailed, and each step is in the trail.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cas_server.accounts.model import Account, Status
from tests.support.app import CasBrowser, events, make_account
from tests.support.console import console_client
from tests.support.html import csrf, text
from tests.support.outbound import SmtpSink, body
from tests.support.paths import DATA
from tests.support.slo import sso_ticket

APP = "https://app.example.org/courses"
BANK = "https://bank.example.org/"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    bank = tmp_path / "bank.toml"
    bank.write_text(
        "[[services]]\n"
        'id = "bank"\n'
        'name = "Grants office"\n'
        "url_pattern = '^https://bank\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 100\n"
        "surrogate = false\n",
        encoding="utf-8",
    )
    return {
        **sesame_overrides,
        "charters": {"path": ""},
        "services": {"paths": [str(DATA / "services.toml"), str(bank)]},
        "sessions": {"impersonation": True, "impersonation_minutes": 20},
    }


@pytest.fixture
def camille(app: Flask) -> Account:
    return make_account(
        app,
        "camille",
        given_name="Camille",
        family_name="Martin",
        personal_email="camille@example.net",
    )


@pytest.fixture
def desk(app: Flask) -> FlaskClient:
    return console_client(app, "desk", ("helpdesk", "impersonate"))


def start(client: FlaskClient, login: str, reason: str = "Ticket 4521: no courses") -> TestResponse:
    page = client.get("/admin/impersonate")
    assert page.status_code == 200, page.status_code
    return client.post(
        "/admin/impersonate",
        data={
            "csrf_token": csrf(page.get_data(as_text=True)),
            "login": login,
            "reason": reason,
            "confirm": "1",
        },
    )


def details(event: Any) -> dict[str, Any]:
    return event.details if isinstance(event.details, dict) else json.loads(event.details)


def live(app: Flask, login: str) -> list[Any]:
    c = app.extensions["cas"]
    return c.sessions.sessions_of(login, c.clock.now())


# Abuse cases ---------------------------------------------------------------------------------


def test_off_means_404(app: Flask, desk: FlaskClient, camille: Account) -> None:
    c = app.extensions["cas"]
    c.sessions_settings = replace(c.sessions_settings, impersonation=False)
    assert desk.get("/admin/impersonate").status_code == 404
    token = CasBrowser(desk).csrf()  # the CSRF check comes first: a valid token
    posted = desk.post("/admin/impersonate", data={"login": "camille", "csrf_token": token})
    assert posted.status_code == 404
    assert "Sign in as someone" not in text(desk.get("/admin/"))


def test_the_right_is_needed_on_top_of_a_rank(app: Flask, camille: Account) -> None:
    for login, roles in (("plain.desk", ("helpdesk",)), ("plain.admin", ("admin",))):
        client = console_client(app, login, roles)
        assert client.get("/admin/impersonate").status_code == 403
        assert "Sign in as someone" not in text(client.get("/admin/"))
    # The right alone opens no console page.
    alone = console_client(app, "alone", ("impersonate",))
    assert alone.get("/admin/impersonate").status_code == 403
    assert alone.get("/admin/").status_code == 403
    assert live(app, "camille") == []


@pytest.mark.parametrize("roles", [["admin"], ["helpdesk"], ["impersonate"]])
def test_never_as_an_account_holding_a_console_role(
    app: Flask, desk: FlaskClient, roles: list[str]
) -> None:
    make_account(app, "target", roles=roles)
    response = start(desk, "target")
    assert response.status_code == 400
    assert "holds a console role: nobody may sign in as it" in text(response)
    assert live(app, "target") == []
    (event,) = events(app, "impersonation_start")
    assert event.outcome == "refused" and event.actor == "desk" and event.login == "target"


@pytest.mark.parametrize("status", [Status.LOCKED, Status.DISABLED, Status.NOT_ACTIVATED])
def test_never_as_an_account_that_cannot_sign_in(
    app: Flask, desk: FlaskClient, status: Status
) -> None:
    make_account(app, "target", status=status)
    response = start(desk, "target")
    assert response.status_code == 400 and "not active" in text(response)
    assert live(app, "target") == []


def test_a_reason_a_known_login_and_the_csrf_token(
    app: Flask, desk: FlaskClient, camille: Account
) -> None:
    no_reason = start(desk, "camille", reason="")
    assert no_reason.status_code == 400
    assert "Give the reason for signing in as this person." in text(no_reason)
    unknown = start(desk, "nobody")
    assert unknown.status_code == 400 and "No account has the login or alias nobody." in text(
        unknown
    )
    itself = start(desk, "desk")
    assert itself.status_code == 400
    forged = desk.post(
        "/admin/impersonate", data={"login": "camille", "reason": "x", "confirm": "1"}
    )
    assert forged.status_code == 400
    assert live(app, "camille") == []


def test_throttled_per_operator(app: Flask, desk: FlaskClient) -> None:
    from cas_server.admin.impersonation import LIMIT

    make_account(app, "admin.target", roles=["admin"])
    for _ in range(LIMIT.attempts):
        assert "holds a console role" in text(start(desk, "admin.target"))
    response = start(desk, "admin.target")
    assert response.status_code == 400 and "Too many impersonations" in text(response)


# A surrogate session ---------------------------------------------------------------------------


def test_the_whole_impersonation(
    app: Flask, desk: FlaskClient, camille: Account, smtp_sink: SmtpSink
) -> None:
    response = start(desk, "camille")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    # The operator's own session ended first; the browser now holds camille's.
    assert live(app, "desk") == []
    (session,) = live(app, "camille")
    assert session.surrogate == "desk"
    assert session.expires_at - session.created_at == 20 * 60

    # The banner, on every page.
    landing = text(desk.get("/login"))
    assert "desk is acting as camille" in landing
    assert "desk is acting as camille" in text(desk.get("/sesame/"))

    # A service sees who acts as whom (the fast path hands the grant to Flask).
    from cas_server.web.cas.fast_path import FastPath

    assert isinstance(app.wsgi_app, FastPath)
    ticket = sso_ticket(desk, APP)
    answer = desk.get("/p3/serviceValidate", query_string={"service": APP, "ticket": ticket})
    xml = answer.get_data(as_text=True)
    assert "<cas:user>camille</cas:user>" in xml
    assert "<cas:surrogateEnabled>true</cas:surrogateEnabled>" in xml
    assert "<cas:surrogateUser>camille</cas:surrogateUser>" in xml
    assert "<cas:surrogatePrincipal>desk</cas:surrogatePrincipal>" in xml
    (issued,) = events(app, "impersonation_ticket")
    assert issued.actor == "desk" and issued.login == "camille"
    assert details(issued)["service_id"] == "app"

    # An opted-out service refuses it; so do the person's pages and the console.
    refused = desk.get("/login", query_string={"service": BANK})
    assert refused.status_code == 403
    assert "refuses sign-ins on behalf of someone" in text(refused)
    profile = desk.get("/profile/", follow_redirects=True)
    assert profile.status_code == 403 and "on behalf of someone" in text(profile)
    console = desk.get("/admin/", follow_redirects=True)
    assert console.status_code == 403

    # The person is told.
    (mail,) = smtp_sink.wait(to="camille@example.net")
    told = body(mail)
    assert "desk" in told and "Ticket 4521: no courses" in told and "20" in told

    # The trail: start, ticket, end.
    (started,) = [e for e in events(app, "impersonation_start") if e.outcome == "success"]
    assert started.actor == "desk" and started.account_uuid == camille.uuid
    assert details(started)["reason"] == "Ticket 4521: no courses"
    desk.get("/logout")
    (ended,) = events(app, "impersonation_end")
    assert ended.actor == "desk" and ended.login == "camille"
    assert live(app, "camille") == []
    assert "acting as" not in text(desk.get("/login"))


def test_the_page_in_french(app: Flask, desk: FlaskClient) -> None:
    desk.get("/login?lang=fr")
    page = text(desk.get("/admin/impersonate"))
    assert "Se connecter à la place de quelqu'un" in page


def test_the_command_line_grants_the_right(app: Flask, runner: Any, camille: Account) -> None:
    result = runner.invoke(args=["users", "roles", "camille", "--add", "impersonate"])
    assert result.exit_code == 0 and "roles of camille: impersonate" in result.output
    # Alone it opens no console page (test_the_right_is_needed_on_top_of_a_rank) and
    # makes the account one nobody may impersonate.
    desk = console_client(app, "desk", ("helpdesk", "impersonate"))
    assert "holds a console role" in text(start(desk, "camille"))
