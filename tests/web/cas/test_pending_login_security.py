"""Issue 11, item 4: a sign-in waiting at the charter or the forced change is
single use, kept on the server, and the account is checked again at each step.

Attack A: the account is locked at the charter step, then the charter is
accepted. Attack B: the browser's cookie is saved at the charter step, the
password is reset and every session ends, then the saved cookie is replayed.
Neither may give a ticket or a TGC.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from cas_server import create_app
from cas_server.accounts.tokens import Purpose
from cas_server.storage.sql.models import AccountRow, OneTimeTokenRow
from cas_server.storage.sql.tokens import SqlTokenStore
from tests.support.app import PASSWORD, CasBrowser, make_account, test_overrides
from tests.support.cli import cli_runner

APP = "https://app.example.org/"
SESSION_COOKIE = "cas_session"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def charters(tmp_path: Path) -> Path:
    folder = tmp_path / "charters"
    folder.mkdir()
    (folder / "all.fr.txt").write_text("Premier paragraphe.")
    (folder / "charters.toml").write_text(
        '[[charters]]\nid = "all"\nversion = "v1"\n'
        'title = { fr = "Charte informatique" }\ntext = { fr = "all.fr.txt" }\n'
    )
    return folder / "charters.toml"


def new_app(db_path: Path, charters: Path | None) -> Flask:
    path = str(charters) if charters else ""
    return create_app(overrides=test_overrides(db_path, charters={"path": path}), environ={})


@pytest.fixture
def capp(db_path: Path, charters: Path) -> Iterator[Flask]:
    """An app whose users must accept a charter before the service."""
    application = new_app(db_path, charters)
    make_account(application)
    yield application
    application.extensions["cas"].single_logout.executor.shutdown(wait=True)
    application.extensions["cas"].engine.dispose()


def token_of(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def at_charter(client: FlaskClient, login: str = "alice") -> str:
    """Sign in: the right password, then the charter page. Returns its CSRF token."""
    response = CasBrowser(client).login(login, service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/charter")
    page = client.get("/login/charter")
    assert page.status_code == 200
    return token_of(page.get_data(as_text=True))


def accept(client: FlaskClient, token: str) -> Any:
    return client.post("/login/charter", data={"csrf_token": token, "decision": "accept"})


def saved_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    return cookie.value


def replay(client: FlaskClient, value: str) -> None:
    """The browser as it was when the cookie was saved: that session, no TGC."""
    client.delete_cookie("TGC")
    client.set_cookie(SESSION_COOKIE, value)


def assert_expired(response: Any, client: FlaskClient) -> None:
    assert response.status_code == 400, response.status_code
    assert "ticket=" not in response.headers.get("Location", "")
    assert "TGC=" not in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.get_cookie("TGC") is None


def cli(app: Flask, *args: str) -> str:
    result = cli_runner(app).invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


def must_change(app: Flask, login: str = "alice") -> None:
    """The password must change at the next sign-in (the forced change step)."""
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow).where(AccountRow.login == login).values(must_change_password=True)
        )


def pending_rows(app: Flask) -> list[Any]:
    with app.extensions["cas"].engine.connect() as conn:
        return list(
            conn.execute(
                select(OneTimeTokenRow).where(
                    OneTimeTokenRow.purpose == Purpose.PENDING_LOGIN.value
                )
            )
        )


# --- Attack A: the account changes while the sign-in waits ----------------------------


def test_locked_at_the_charter_step_gets_no_ticket(capp: Flask) -> None:
    client = capp.test_client()
    token = at_charter(client)
    cli(capp, "users", "lock", "alice")
    assert_expired(accept(client, token), client)
    # Nothing is left to try again with, even once unlocked.
    cli(capp, "users", "unlock", "alice")
    assert client.get("/login/charter").status_code == 400


def test_a_locked_account_is_refused_the_charter_page_itself(capp: Flask) -> None:
    client = capp.test_client()
    at_charter(client)
    cli(capp, "users", "lock", "alice")
    page = client.get("/login/charter")
    assert page.status_code == 400 and "Charte informatique" not in page.get_data(as_text=True)


def test_locked_then_unlocked_meanwhile_still_ends_the_sign_in(capp: Flask) -> None:
    client = capp.test_client()
    token = at_charter(client)
    cli(capp, "users", "lock", "alice")
    cli(capp, "users", "unlock", "alice")  # active again, but the lock ended its sessions
    assert_expired(accept(client, token), client)


def test_end_all_sessions_ends_a_waiting_sign_in(capp: Flask) -> None:
    client = capp.test_client()
    token = at_charter(client)
    cli(capp, "users", "end-sessions", "alice")
    assert_expired(accept(client, token), client)
    # A sign-in that starts after it is not concerned.
    token = at_charter(client)
    assert accept(client, token).status_code == 302


def test_disabled_at_the_password_step(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    must_change(app)
    assert CasBrowser(client).login(service=APP).status_code == 303
    page = client.get("/login/password")
    assert page.status_code == 200
    token = token_of(page.get_data(as_text=True))
    cli(app, "users", "lock", "alice")
    assert client.get("/login/password").status_code == 400  # the page itself is refused
    response = client.post(
        "/login/password",
        data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert_expired(response, client)


# --- Attack B: the saved cookie, after a reset -----------------------------------------


def test_a_saved_cookie_replayed_after_a_reset_gets_no_session(capp: Flask) -> None:
    client = capp.test_client()
    token = at_charter(client)
    saved = saved_cookie(client)
    # The help desk sets a temporary password: every session of the account ends (T6).
    cli(capp, "users", "force-change", "alice", "--generate")
    replay(client, saved)
    assert_expired(accept(client, token), client)


def test_a_saved_cookie_replayed_after_the_tokens_are_cancelled(capp: Flask) -> None:
    """A Sésame reset cancels the account's one-time tokens: the waiting sign-in with them."""
    client = capp.test_client()
    token = at_charter(client)
    saved = saved_cookie(client)
    uuid = capp.extensions["cas"].accounts.find_by_login("alice").uuid
    assert SqlTokenStore(capp.extensions["cas"].engine).invalidate_all(uuid, time.time()) >= 1
    replay(client, saved)
    assert_expired(accept(client, token), client)


def test_a_password_written_behind_the_token_store_still_ends_it(capp: Flask) -> None:
    """Even a write that did not cancel the tokens: the password verified is not the one
    on file any more."""
    client = capp.test_client()
    token = at_charter(client)
    with capp.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.login == "alice")
            .values(password_hash="$2b$04$" + "x" * 53)
        )
    assert_expired(accept(client, token), client)


def test_a_consumed_cookie_replayed_gets_sign_in_expired(capp: Flask) -> None:
    client = capp.test_client()
    token = at_charter(client)
    saved = saved_cookie(client)
    accepted = accept(client, token)
    assert accepted.status_code == 302 and "ticket=ST-" in accepted.headers["Location"]
    assert client.get_cookie("TGC") is not None
    replay(client, saved)
    again = accept(client, token)
    assert_expired(again, client)
    assert "Sign-in expired" in again.get_data(as_text=True) or "expir" in again.get_data(
        as_text=True
    )
    replay(client, saved)
    assert client.get("/login/charter").status_code == 400


def test_two_browsers_with_the_same_cookie_get_one_session(capp: Flask) -> None:
    one = capp.test_client()
    token = at_charter(one)
    two = capp.test_client()
    two.set_cookie(SESSION_COOKIE, saved_cookie(one))
    assert accept(two, token).status_code == 302
    assert_expired(accept(one, token), one)


def test_each_post_of_the_password_form_uses_the_pending_sign_in(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    must_change(app)
    CasBrowser(client).login(service=APP)
    token = token_of(client.get("/login/password").get_data(as_text=True))
    saved = saved_cookie(client)
    weak = client.post(
        "/login/password", data={"csrf_token": token, "new_password": "x", "confirm_password": "x"}
    )
    assert weak.status_code == 400  # shown again: the sign-in waits under a new handle
    current = saved_cookie(client)
    replay(client, saved)  # the cookie from before that post is spent
    stale = client.post(
        "/login/password",
        data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert_expired(stale, client)
    assert app.extensions["cas"].accounts.find_by_login("alice").must_change_password is True
    # The cookie the browser got back with the form still carries the sign-in.
    replay(client, current)
    done = client.post(
        "/login/password",
        data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert done.status_code == 302 and "ticket=ST-" in done.headers["Location"]


def test_charter_then_forced_change_then_the_service(db_path: Path, charters: Path) -> None:
    app = new_app(db_path, charters)
    make_account(app)
    must_change(app)
    client = app.test_client()
    token = at_charter(client)
    moved = accept(client, token)
    assert moved.status_code == 303 and moved.headers["Location"].endswith("/login/password")
    token = token_of(client.get("/login/password").get_data(as_text=True))
    done = client.post(
        "/login/password",
        data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert done.status_code == 302 and "ticket=ST-" in done.headers["Location"]
    assert client.get_cookie("TGC") is not None
    assert all(row.used_at is not None for row in pending_rows(app))


# --- Kept on the server, for every node -------------------------------------------------


def test_the_cookie_holds_only_a_handle(capp: Flask) -> None:
    client = capp.test_client()
    at_charter(client)
    with client.session_transaction() as session:
        handle = session["pending_login"]
    assert isinstance(handle, str) and len(handle) >= 43
    rows = pending_rows(capp)
    assert len(rows) == 1 and rows[0].id != handle  # only its hash is stored
    assert rows[0].data["service"] == APP and rows[0].used_at is None
    assert rows[0].expires_at <= time.time() + 600


def test_another_node_continues_the_sign_in(db_path: Path, charters: Path) -> None:
    one = new_app(db_path, charters)
    two = new_app(db_path, charters)
    make_account(one)
    first = one.test_client()
    token = at_charter(first)
    second = two.test_client()
    second.set_cookie(SESSION_COOKIE, saved_cookie(first))
    accepted = accept(second, token)
    assert accepted.status_code == 302 and "ticket=ST-" in accepted.headers["Location"]
    assert_expired(accept(first, token), first)  # and the first node knows it is spent


def test_an_old_pending_sign_in_expires(capp: Flask) -> None:
    client = capp.test_client()
    token = at_charter(client)
    with capp.extensions["cas"].engine.begin() as conn:
        conn.execute(update(OneTimeTokenRow).values(expires_at=time.time() - 1))
    assert client.get("/login/charter").status_code == 400
    assert_expired(accept(client, token), client)


def test_purge_forgets_expired_pending_sign_ins(capp: Flask) -> None:
    at_charter(capp.test_client())
    assert len(pending_rows(capp)) == 1
    with capp.extensions["cas"].engine.begin() as conn:
        conn.execute(update(OneTimeTokenRow).values(expires_at=time.time() - 2 * 86400))
    assert "1 expired one-time token(s) removed" in cli(capp, "purge")
    assert pending_rows(capp) == []


def test_a_sign_in_without_a_step_stores_nothing(app: Flask) -> None:
    make_account(app)
    client = app.test_client()
    assert CasBrowser(client).login(service=APP).status_code == 302
    assert pending_rows(app) == []
    assert client.get("/login/charter").status_code == 400


def test_a_forged_handle_is_refused(capp: Flask) -> None:
    client = capp.test_client()
    at_charter(client)
    with client.session_transaction() as session:
        session["pending_login"] = "A" * 43
    assert client.get("/login/charter").status_code == 400
    with client.session_transaction() as session:
        session["pending_login"] = {"uuid": "x", "started": time.time()}  # the old format
    assert client.get("/login/charter").status_code == 400


def test_the_right_password_is_still_needed(capp: Flask) -> None:
    client = capp.test_client()
    assert CasBrowser(client).login(password=PASSWORD + "x", service=APP).status_code == 401
    assert client.get("/login/charter").status_code == 400


def test_on_postgresql(postgres_url: str, db_path: Path, charters: Path) -> None:
    """The same promises on PostgreSQL (the audit times, the conditional UPDATE)."""
    overrides = test_overrides(
        db_path, database={"url": postgres_url}, charters={"path": str(charters)}
    )
    app = create_app(overrides=overrides, environ={})
    try:
        make_account(app)
        client = app.test_client()
        token = at_charter(client)
        saved = saved_cookie(client)
        accepted = accept(client, token)
        assert accepted.status_code == 302 and "ticket=ST-" in accepted.headers["Location"]
        replay(client, saved)
        assert_expired(accept(client, token), client)

        make_account(app, "bob")
        other = app.test_client()
        token = at_charter(other, "bob")
        cli(app, "users", "end-sessions", "bob")
        assert_expired(accept(other, token), other)
        # A sign-in after the end of the sessions goes through.
        third = app.test_client()
        token = at_charter(third, "bob")
        assert accept(third, token).status_code == 302
    finally:
        app.extensions["cas"].single_logout.executor.shutdown(wait=True)
        app.extensions["cas"].engine.dispose()


def test_ending_the_sessions_cancels_the_waiting_sign_in_itself(capp: Flask) -> None:
    """The waiting sign-in's token is cancelled by "End all SSO sessions", not only
    detected afterwards through the audit trail."""
    from cas_server.admin.acting import CLI
    from cas_server.admin.actions import Actions

    client = capp.test_client()
    at_charter(client)
    assert [r.used_at for r in pending_rows(capp)] == [None]
    account = capp.extensions["cas"].accounts.find_by_login("alice")
    with capp.test_request_context("/"):
        Actions(CLI).end_sessions(account)
    assert all(r.used_at is not None for r in pending_rows(capp))
