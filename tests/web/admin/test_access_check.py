"""/admin/check, "why can't she open Moodle?" (#15).

Abuse cases first: only the console, read-only (no session, no ticket),
audited, bad input a clear 400; then each reason a sign-in meets (status,
lock after failures, the service's access rule, second factor, charter,
forced change, the service itself), and the attributes the service would
receive under their release names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.access_check import AccessFacts, explain
from cas_server.accounts.model import Status
from tests.support.app import CasBrowser, events, make_account
from tests.support.console import act, console_client
from tests.support.html import text
from tests.support.paths import DATA


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, Any]:
    services = tmp_path / "moodle.toml"
    services.write_text(
        "[[services]]\n"
        'id = "moodle"\n'
        'name = "Moodle"\n'
        "url_pattern = '^https://moodle\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 100\n"
        'mfa = "required"\n'
        'release_attributes = ["uid", { name = "mail", as = "email" }]\n',
        encoding="utf-8",
    )
    return {"services": {"paths": [str(DATA / "services.toml"), str(services)]}}


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return console_client(app)


def check(client: FlaskClient, login: str, service: str, status: int = 200) -> str:
    response = client.get("/admin/check", query_string={"login": login, "service": service})
    assert response.status_code == status, response.status_code
    return text(response)


def sessions(app: Flask) -> int:
    c = app.extensions["cas"]
    return len(c.sessions.search(_everything(), c.clock.now()))


def _everything() -> Any:
    from cas_server.protocol.cas.ports import SessionQuery

    return SessionQuery(limit=10_000)


# Abuse cases ------------------------------------------------------------------------------


def test_read_only_audited_and_console_only(app: Flask, admin: FlaskClient) -> None:
    make_account(app, "camille")
    before = sessions(app)
    page = check(admin, "camille", "app")
    assert "camille can sign in to Test application" in page
    assert sessions(app) == before  # no session, so no ticket
    (event,) = events(app, "admin_check")
    assert event.actor == "root" and event.login == "camille"
    # Someone without a console role: nothing.
    other = app.test_client()
    CasBrowser(other).login("camille")
    assert other.get("/admin/check?login=camille&service=app").status_code in (302, 403)
    # The help desk may.
    desk = console_client(app, "desk", ("helpdesk",))
    assert "can sign in" in check(desk, "camille", "app")


def test_bad_input_is_a_clear_400(app: Flask, admin: FlaskClient) -> None:
    assert "No account has the login or alias nobody." in check(admin, "nobody", "app", 400)
    assert "Type the service's address, id or name." in check(admin, "root", "", 400)
    assert "Type the login or alias of the account." in check(admin, "", "app", 400)
    assert not events(app, "admin_check")
    # The empty form is a plain page.
    assert admin.get("/admin/check").status_code == 200


# Reasons --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Status.LOCKED, "The account is locked"),
        (Status.DISABLED, "The account is disabled."),
        (Status.NOT_ACTIVATED, "The account is not activated"),
    ],
)
def test_status(app: Flask, admin: FlaskClient, status: Status, words: str) -> None:
    make_account(app, "camille", status=status)
    page = check(admin, "camille", "app")
    assert "camille cannot sign in to Test application" in page and words in page


def test_lock_after_repeated_failures(app: Flask, admin: FlaskClient) -> None:
    make_account(app, "camille")
    browser = CasBrowser(app.test_client())
    for _ in range(20):
        if browser.login("camille", "wrong").status_code == 429:
            break
    page = check(admin, "camille", "app")
    assert "Sign-in is suspended after repeated failures until" in page


def test_the_services_access_rule(app: Flask, admin: FlaskClient) -> None:
    make_account(app, "camille")  # a student
    page = check(admin, "camille", "https://staff.example.org/intranet")
    assert "cannot sign in to Staff only" in page
    assert "admits the affiliations staff" in page and "student" in page


def test_the_service_itself(app: Flask, admin: FlaskClient) -> None:
    make_account(app, "camille")
    assert "No registered service accepts this address." in check(
        admin, "camille", "https://evil.example.net/"
    )
    assert "The service is disabled in the registry." in check(
        admin, "camille", "https://app.example.org/blocked/x"
    )
    assert "No registered service has this id or name." in check(admin, "camille", "nothing")
    # By name, whatever the case.
    assert "can sign in to Test application" in check(admin, "camille", "test APPLICATION")


def test_second_factor_required_by_the_service(app: Flask, admin: FlaskClient) -> None:
    make_account(app, "camille")
    page = check(admin, "camille", "https://moodle.example.org/login/index.php")
    assert "camille can sign in to Moodle, after the steps below" in page
    assert "The service requires a second factor." in page and "set one up at sign-in" in page
    # Grace spent: the sign-in stops there.
    c = app.extensions["cas"]
    account = c.accounts.find_by_login("camille")
    while c.mfa.take_grace(account):
        pass
    page = check(admin, "camille", "moodle")
    assert "cannot sign in to Moodle" in page and "no grace is left" in page


def test_forced_change_is_a_step(app: Flask, admin: FlaskClient) -> None:
    camille = make_account(app, "camille")
    act(admin, camille.uuid, "force-change", {"mode": "flag"})
    page = check(admin, "camille", "app")
    assert "after the steps below" in page and "must be changed at sign-in" in page


def test_attributes_with_their_release_names(app: Flask, admin: FlaskClient) -> None:
    make_account(app, "camille", given_name="Camille", family_name="Martin")
    page = check(admin, "camille", "app")
    assert "Attributes the service would receive" in page
    assert "cn Camille Martin" in page  # displayName, released as cn
    assert "mail alice@example.org" in page
    assert "On the CAS 2.0 validation (/serviceValidate) this service receives the login" in page
    moodle = check(admin, "camille", "moodle")
    assert "email alice@example.org" in moodle


def test_in_french(app: Flask, admin: FlaskClient) -> None:
    make_account(app, "camille", status=Status.LOCKED)
    admin.get("/login?lang=fr")
    page = check(admin, "camille", "app")
    assert "camille ne peut pas se connecter à Test application" in page
    assert "Le compte est verrouillé" in page


# The pure explanation -------------------------------------------------------------------------


def test_the_pure_explanation_orders_and_classifies() -> None:
    verdict = explain(
        AccessFacts(
            status="active",
            access_allowed=False,
            rule_affiliations=frozenset({"staff"}),
            charter_pending="Charte",
            password_reason="forced",
        )
    )
    assert [r.code for r in verdict.reasons] == ["access_rule", "charter", "password_forced"]
    assert not verdict.allowed and [r.code for r in verdict.steps] == ["charter", "password_forced"]
    assert explain(AccessFacts(status="active")).allowed


def test_charter_pending_is_a_step(app: Flask, admin: FlaskClient) -> None:
    from cas_server.accounts.charter import Charter

    make_account(app, "camille")
    c = app.extensions["cas"]
    c.charters = (Charter("it", "2", {"en": "IT charter", "fr": "Charte"}, {"en": "Be nice."}),)
    page = check(admin, "camille", "app")
    assert "after the steps below" in page
    assert "The charter “IT charter” must be accepted at sign-in." in page
