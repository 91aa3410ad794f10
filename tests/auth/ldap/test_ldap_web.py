"""Directory accounts in the sign-in pages: same messages and flows as local accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from ldap3 import Connection, Server
from sqlalchemy import select

from cas_server import create_app
from cas_server.storage.sql.models import AuditEventRow, PasswordHistoryRow
from tests.auth.ldap.conftest import PEOPLE, ldap_settings
from tests.support.app import CasBrowser, test_overrides
from tests.support.ports import free_port
from tests.support.servers import LdapServer

APP = "https://app.example.org/"


def change_form_token(client: FlaskClient) -> str:
    page = client.get("/login/password").get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_a_directory_person_gets_a_service_ticket_with_attributes(
    app: Flask, browser: CasBrowser, client: FlaskClient
) -> None:
    ticket = browser.service_ticket(APP, username="alice@example.org", password="alicepass")
    answer = client.get("/p3/serviceValidate", query_string={"service": APP, "ticket": ticket})
    body = answer.get_data(as_text=True)
    assert "<cas:user>alice</cas:user>" in body
    assert "<cas:mail>alice@example.org</cas:mail>" in body
    assert "<cas:eduPersonAffiliation>student</cas:eduPersonAffiliation>" in body


def test_locked_and_expired_directory_accounts_get_the_usual_messages(
    browser: CasBrowser,
) -> None:
    # The directory tells a lock whatever the password: the answer is the one
    # of a wrong password (issue 11, item 8), whose message mentions locks.
    locked = browser.login("erin", "erinpass", service=APP)
    assert locked.status_code == 401 and "bloqué" in locked.get_data(as_text=True)
    assert "verrouillé" not in locked.get_data(as_text=True)
    expired = browser.login("dave", "davepass", service=APP)
    assert expired.status_code == 401 and "expiré" in expired.get_data(as_text=True)
    wrong = browser.login("dave", "wrong", service=APP)
    assert wrong.status_code == 401 and "expiré" not in wrong.get_data(as_text=True)


def test_must_change_in_the_directory_leads_to_the_change_form(
    app: Flask, browser: CasBrowser, client: FlaskClient, ldap_server: LdapServer
) -> None:
    response = browser.login("frank", "frankpass", service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/password")
    new = "a long passphrase of my own"
    token = change_form_token(client)
    done = client.post(
        "/login/password",
        data={"csrf_token": token, "new_password": new, "confirm_password": new},
    )
    assert done.status_code == 302 and "ticket=ST-" in done.headers["Location"]
    # Written to the directory (Password Modify), pwdReset cleared, history kept here.
    conn = Connection(Server(ldap_server.url), f"uid=frank,{PEOPLE}", new)
    assert conn.bind()
    conn.unbind()
    c = app.extensions["cas"]
    frank = c.accounts.find_by_login("frank")
    assert not frank.must_change_password
    with c.engine.connect() as db:
        history = db.execute(
            select(PasswordHistoryRow.id).where(PasswordHistoryRow.account_uuid == frank.uuid)
        ).all()
    assert len(history) == 1
    again = CasBrowser(app.test_client()).login("frank", new, service=APP)
    assert again.status_code == 302 and "ticket=ST-" in again.headers["Location"]


def test_an_unreachable_directory_gives_the_unavailable_page(db_path: Path) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    app = create_app(
        overrides=test_overrides(
            db_path, auth={"sources": ["local", "ldap"]}, ldap=ldap_settings(dead)
        ),
        environ={},
    )
    response = CasBrowser(app.test_client()).login("alice", "alicepass", service=APP)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "temporairement indisponible" in page and "incorrect" not in page
    with app.extensions["cas"].engine.connect() as db:
        outcomes = db.execute(select(AuditEventRow.outcome)).scalars().all()
    assert "unavailable" in outcomes
    app.extensions["cas"].engine.dispose()


@pytest.fixture
def health_app(db_path: Path, ldap_server: LdapServer) -> Flask:
    return create_app(
        overrides=test_overrides(
            db_path,
            auth={"sources": ["local", "ldap"]},
            ldap=ldap_settings(ldap_server.url),
            health={"token": "h" * 32},
        ),
        environ={},
    )


def test_health_checks_the_directory(health_app: Flask) -> None:
    client = health_app.test_client()
    anonymous = client.get("/health")
    assert anonymous.status_code == 200 and anonymous.get_json() == {"status": "ok"}
    detailed = client.get("/health", headers={"Authorization": "Bearer " + "h" * 32})
    checks = detailed.get_json()["checks"]
    assert set(checks) == {"database", "ldap"} and all(c["ok"] for c in checks.values())
