"""Issue 4's sign-in experience: computer mode, remember me, charter, forced change, lockout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from cas_server import create_app
from cas_server.accounts.model import Account, Profile
from cas_server.auth import Success
from cas_server.storage.sql.models import AccountRow, AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account, test_overrides

APP = "https://app.example.org/"


def session_of(app: Flask, client: FlaskClient) -> Any:
    cookie = client.get_cookie("TGC")
    assert cookie is not None
    return app.extensions["cas"].login.current_session(cookie.value)


def audit(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["cas"].engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(AuditEventRow.action, AuditEventRow.outcome))]


# --- public / private computer, remember me -----------------------------------------


def test_public_computer_is_the_default_with_a_short_idle_timeout(
    app: Flask, browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    form = client.get("/login").get_data(as_text=True)
    assert 'id="computer-public"' in form and "30 minutes" in form
    browser.service_ticket(APP)
    assert session_of(app, client).idle_timeout == 1800


def test_private_computer_gets_three_hours(
    app: Flask, browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    browser.service_ticket(APP, computer="private")
    tgt = session_of(app, client)
    assert tgt.idle_timeout == 10800
    assert tgt.expires_at - tgt.created_at == 28800  # the hard maximum still applies
    assert client.get_cookie("TGC").expires is None  # type: ignore[union-attr]


def test_remember_me_is_off_unless_enabled(
    app: Flask, browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    assert 'name="rememberMe"' not in client.get("/login").get_data(as_text=True)
    browser.service_ticket(APP, remember="true")
    assert session_of(app, client).authentication.long_term is False


@pytest.mark.parametrize("app_overrides", [{"login": {"remember_me": True}}])
def test_remember_me_gives_a_long_term_session(
    app: Flask, browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    assert 'name="rememberMe"' in client.get("/login").get_data(as_text=True)
    ticket = browser.service_ticket(APP, remember="true")
    cookie = client.get_cookie("TGC")
    assert cookie is not None and cookie.expires is not None  # survives the browser (4.1.5)
    body = client.get("/p3/serviceValidate", query_string={"service": APP, "ticket": ticket}).data
    assert b"<cas:longTermAuthenticationRequestTokenUsed>true<" in body


# --- charter ------------------------------------------------------------------------


@pytest.fixture
def charters(tmp_path: Path) -> Path:
    folder = tmp_path / "charters"
    folder.mkdir()
    (folder / "all.fr.txt").write_text("Premier paragraphe.\n\nDeuxième paragraphe.")
    (folder / "all.en.txt").write_text("First paragraph.\n\nSecond paragraph.")
    (folder / "parents.fr.txt").write_text("Charte des parents.")
    write_charters(folder, "v1")
    return folder / "charters.toml"


def write_charters(folder: Path, version: str) -> None:
    (folder / "charters.toml").write_text(
        "[[charters]]\n"
        'id = "parents"\nversion = "p1"\nprofiles = ["parent"]\n'
        'title = { fr = "Charte parents" }\ntext = { fr = "parents.fr.txt" }\n'
        "[[charters]]\n"
        f'id = "all"\nversion = "{version}"\n'
        'title = { fr = "Charte informatique", en = "IT charter" }\n'
        'text = { fr = "all.fr.txt", en = "all.en.txt" }\n'
    )


def charter_app(db_path: Path, charters: Path) -> Flask:
    return create_app(
        overrides=test_overrides(db_path, charters={"path": str(charters)}), environ={}
    )


def test_charter_before_the_service_then_never_again(db_path: Path, charters: Path) -> None:
    app = charter_app(db_path, charters)
    make_account(app)
    client = app.test_client()
    response = CasBrowser(client).login(service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/charter")
    assert client.get_cookie("TGC") is None  # no session before acceptance
    shown = client.get("/login/charter")
    # Its form ends in a redirect to the service: the CSP's form-action allows it.
    assert "form-action 'self' https://app.example.org;" in shown.headers["Content-Security-Policy"]
    page = shown.get_data(as_text=True)
    assert "Charte informatique" in page and "Deuxième paragraphe." in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    accepted = client.post("/login/charter", data={"csrf_token": token, "decision": "accept"})
    assert accepted.status_code == 302 and "ticket=ST-" in accepted.headers["Location"]
    assert client.get_cookie("TGC") is not None
    assert ("charter_accept", "success") in audit(app)
    client.get("/logout")
    again = CasBrowser(client).login(service=APP)
    assert again.status_code == 302 and "ticket=ST-" in again.headers["Location"]


def test_a_new_charter_version_is_asked_again(db_path: Path, charters: Path) -> None:
    app = charter_app(db_path, charters)
    make_account(app)
    c = app.extensions["cas"]
    account = c.accounts.find_by_login("alice")
    c.accounts.accept_charter(account.uuid, "all", "v1")
    write_charters(charters.parent, "v2")
    app2 = charter_app(db_path, charters)
    response = CasBrowser(app2.test_client()).login(service=APP)
    assert response.status_code == 303 and "/login/charter" in response.headers["Location"]


def test_refusing_the_charter_signs_out_and_says_why(db_path: Path, charters: Path) -> None:
    app = charter_app(db_path, charters)
    make_account(app)
    client = app.test_client()
    CasBrowser(client).login(service=APP)
    page = client.get("/login/charter").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post("/login/charter", data={"csrf_token": token, "decision": "refuse"})
    assert refused.status_code == 403
    assert "refusé la charte" in refused.get_data(as_text=True)
    assert client.get_cookie("TGC") is None
    assert client.get("/login/charter").status_code == 400  # nothing pending any more
    assert ("charter_refuse", "refused") in audit(app)


def test_charter_per_population(db_path: Path, charters: Path) -> None:
    app = charter_app(db_path, charters)
    make_account(app, "nadia", profile=Profile.PARENT)
    client = app.test_client()
    CasBrowser(client).login("nadia", service=APP)
    assert "Charte parents" in client.get("/login/charter").get_data(as_text=True)


def test_charter_post_needs_csrf_and_a_pending_sign_in(db_path: Path, charters: Path) -> None:
    app = charter_app(db_path, charters)
    make_account(app)
    client = app.test_client()
    CasBrowser(client).login(service=APP)
    assert client.post("/login/charter", data={"decision": "accept"}).status_code == 400
    assert client.get_cookie("TGC") is None
    fresh = app.test_client()
    assert fresh.get("/login/charter").status_code == 400


# --- forced password change ----------------------------------------------------------


def force_change(app: Flask, login: str = "alice", **values: Any) -> None:
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.login == login)
            .values(must_change_password=True, **values)
        )


def change_form(client: FlaskClient) -> tuple[str, str]:
    page = client.get("/login/password").get_data(as_text=True)
    return page, page.split('name="csrf_token" value="')[1].split('"')[0]


def test_forced_change_before_the_service(
    app: Flask, browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    force_change(app)
    response = browser.login(service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/password")
    page, token = change_form(client)
    assert "premi" in page  # first sign-in: choose your own password
    csp = client.get("/login/password").headers["Content-Security-Policy"]
    assert "form-action 'self' https://app.example.org;" in csp
    assert 'data-rule="min_length"' in page  # the live checklist from the same policy

    weak = client.post(
        "/login/password",
        data={"csrf_token": token, "new_password": "short", "confirm_password": "short"},
    )
    assert weak.status_code == 400 and "Au moins 15 caractères" in weak.get_data(as_text=True)
    mismatch = client.post(
        "/login/password",
        data={
            "csrf_token": token,
            "new_password": "a brand new passphrase",
            "confirm_password": "another passphrase",
        },
    )
    assert mismatch.status_code == 400 and "différents" in mismatch.get_data(as_text=True)
    reused = client.post(
        "/login/password",
        data={"csrf_token": token, "new_password": PASSWORD, "confirm_password": PASSWORD},
    )
    assert reused.status_code == 400  # history (T18): the current password is the newest entry
    assert client.get_cookie("TGC") is None

    done = client.post(
        "/login/password",
        data={
            "csrf_token": token,
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert done.status_code == 302 and "ticket=ST-" in done.headers["Location"]
    c = app.extensions["cas"]
    assert isinstance(c.user_source.authenticate("alice", "a brand new passphrase"), Success)
    assert c.accounts.find_by_login("alice").must_change_password is False


def test_temporary_password_expires(app: Flask, browser: CasBrowser, alice: Account) -> None:
    force_change(app, password_expires_at=datetime.now(UTC) - timedelta(minutes=1))
    response = browser.login(service=APP)
    assert response.status_code == 401
    assert "temporaire a expiré" in response.get_data(as_text=True)
    assert "temporaire a expiré" not in browser.login("alice", "bad").get_data(as_text=True)


def test_temporary_password_leads_to_the_change_form(
    app: Flask, browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    force_change(app, password_expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert browser.login(service=APP).status_code == 303
    page, _token = change_form(client)
    assert "temporaire" in page


# --- lockout ---------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["alice", "nobody"])
def test_repeated_failures_lock_the_login_for_a_while(
    app: Flask, browser: CasBrowser, alice: Account, login: str
) -> None:
    for _ in range(4):
        assert browser.login(login, "wrong").status_code == 401
    locked = browser.login(login, "wrong")
    assert locked.status_code == 429
    assert "suspendue jusqu" in locked.get_data(as_text=True)
    # Even the right password is refused during the lock, and nothing tells
    # whether the login exists (the same answer for "nobody").
    assert browser.login(login, PASSWORD).status_code == 429
    assert ("login_lock", "locked") in audit(app)
    # Another login from the same address is not locked by this one.
    make_account(app, "bob")
    assert browser.login("bob", service=APP).status_code == 302


@pytest.mark.parametrize("app_overrides", [{"login": {"max_failures_per_ip": 3}}])
def test_failures_from_one_address_lock_it(app: Flask, browser: CasBrowser, alice: Account) -> None:
    for login in ("a", "b"):
        assert browser.login(login, "wrong").status_code == 401
    assert browser.login("c", "wrong").status_code == 429
    assert browser.login("alice", PASSWORD).status_code == 429


def test_the_lock_is_shared_across_processes(db_path: Path, alice: Account) -> None:
    one = create_app(overrides=test_overrides(db_path, charters={"path": ""}), environ={})
    two = create_app(overrides=test_overrides(db_path, charters={"path": ""}), environ={})
    for _ in range(5):
        CasBrowser(one.test_client()).login("alice", "wrong")
    assert CasBrowser(two.test_client()).login("alice", PASSWORD).status_code == 429


def test_lock_time_is_shown_in_the_users_language(browser: CasBrowser, client: FlaskClient) -> None:
    client.get("/login?lang=en")
    for _ in range(5):
        response = browser.login("nobody", "wrong")
    text = response.get_data(as_text=True)
    assert "sign-in is suspended until" in text
