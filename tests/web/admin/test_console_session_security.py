"""Issue 11, items 3 and 5: the console session never outlives the SSO session it
was opened from, is capped in age, reads status and roles on every request;
and the callback only ever sends the browser to a path on this server.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.settings.server import load_settings
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.cli import cli_runner
from tests.support.console import console_client, sign_in
from tests.support.html import csrf

SESSION_COOKIE = "cas_session"


def operator(app: Flask, login: str = "desk") -> FlaskClient:
    """A help desk operator signed in to the console."""
    client = console_client(app, login, roles=("helpdesk",))
    assert client.get("/admin/").status_code == 200
    return client


def cli(app: Flask, *args: str) -> str:
    result = cli_runner(app).invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


def asks_to_sign_in(response: Any, renew: bool = False) -> bool:
    if response.status_code != 302:
        return False
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    return (
        location.path == "/login"
        and "/_cas/callback" in query.get("service", [""])[0]
        and (query.get("renew") == ["true"]) is renew
    )


def cookies(client: FlaskClient) -> dict[str, str]:
    return {
        name: cookie.value
        for name in (SESSION_COOKIE, "TGC")
        if (cookie := client.get_cookie(name)) is not None
    }


def browser_with(app: Flask, values: dict[str, str]) -> FlaskClient:
    other = app.test_client()
    for name, value in values.items():
        other.set_cookie(name, value)
    return other


# --- (a) the SSO session ends: the console with it --------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("users", "end-sessions", "desk"),
        ("users", "force-change", "desk", "--generate"),
        ("users", "lock", "desk"),
    ],
)
def test_ending_the_operators_sessions_ends_the_console(app: Flask, command: tuple[str]) -> None:
    desk = operator(app)
    victim = make_account(app, "pupil")
    page = desk.get(f"/admin/accounts/{victim.uuid}/lock")
    token = csrf(page.get_data(as_text=True))
    cli(app, *command)
    assert asks_to_sign_in(desk.get("/admin/"))
    # The action prepared before is not done either.
    locked = desk.post(
        f"/admin/accounts/{victim.uuid}/lock", data={"csrf_token": token, "confirm": "1"}
    )
    assert locked.status_code == 302 and "/admin/" not in locked.headers["Location"].split("?")[0]
    assert app.extensions["cas"].accounts.get(victim.uuid).status.value == "active"


def test_ending_sessions_from_another_administrators_console(app: Flask) -> None:
    desk = operator(app)
    root = console_client(app, "root", roles=("admin",))
    uuid = app.extensions["cas"].accounts.find_by_login("desk").uuid
    form = root.get(f"/admin/accounts/{uuid}/end-sessions")
    assert form.status_code == 200
    done = root.post(
        f"/admin/accounts/{uuid}/end-sessions",
        data={"csrf_token": csrf(form.get_data(as_text=True)), "confirm": "1"},
    )
    assert done.status_code in (302, 303)
    assert asks_to_sign_in(desk.get("/admin/"))
    assert root.get("/admin/").status_code == 200  # the administrator's own session stays


def test_a_new_sign_in_in_the_same_browser_ends_the_console_of_the_first(app: Flask) -> None:
    desk = operator(app)
    make_account(app, "bob")
    CasBrowser(desk).login("bob")  # the SSO session is now bob's
    assert asks_to_sign_in(desk.get("/admin/"))


# --- (b) a copy of the cookies, after logout -------------------------------------------


def test_a_copied_console_cookie_is_refused_after_logout(app: Flask) -> None:
    desk = operator(app)
    copied = cookies(desk)
    assert set(copied) == {SESSION_COOKIE, "TGC"}
    assert browser_with(app, copied).get("/admin/").status_code == 200  # (a copy works...)
    desk.get("/logout")
    assert asks_to_sign_in(browser_with(app, copied).get("/admin/"))  # (...until the logout)
    assert asks_to_sign_in(desk.get("/admin/"))


def test_the_console_logout_ends_everything(app: Flask) -> None:
    desk = operator(app)
    copied = cookies(desk)
    assert desk.get("/_cas/logout").status_code == 302
    desk.get("/logout")
    assert asks_to_sign_in(browser_with(app, copied).get("/admin/"))


def test_the_console_cookie_alone_opens_nothing(app: Flask) -> None:
    desk = operator(app)
    stolen = browser_with(app, {SESSION_COOKIE: cookies(desk)[SESSION_COOKIE]})
    assert asks_to_sign_in(stolen.get("/admin/"))
    assert desk.get("/admin/").status_code == 200  # the operator is not disturbed


def test_another_live_sso_session_of_the_same_person_is_not_enough(app: Flask) -> None:
    desk = operator(app)
    elsewhere = app.test_client()
    CasBrowser(elsewhere).login("desk")  # a second, live SSO session of the operator
    mixed = browser_with(
        app, {SESSION_COOKIE: cookies(desk)[SESSION_COOKIE], "TGC": cookies(elsewhere)["TGC"]}
    )
    assert asks_to_sign_in(mixed.get("/admin/"))


def test_a_ticket_redeemed_in_another_browser_opens_nothing(app: Flask) -> None:
    make_account(app, "desk", roles=["helpdesk"])
    victim = app.test_client()
    first = victim.get("/admin/")
    service = parse_qs(urlsplit(first.headers["Location"]).query)["service"][0]
    ticket = CasBrowser(victim).service_ticket(service, username="desk")
    thief = app.test_client()
    back = thief.get(f"/_cas/callback?{urlsplit(service).query}&ticket={ticket}")
    assert back.status_code == 403
    assert asks_to_sign_in(thief.get("/admin/"))


# --- (c) the overall cap ----------------------------------------------------------------


def test_the_cap_has_a_default_and_can_be_set(db_path: Any) -> None:
    from tests.support.app import test_overrides

    assert (
        load_settings(environ={}, overrides=test_overrides(db_path)).login.console_max_age == 28800
    )
    settings = load_settings(
        environ={}, overrides=test_overrides(db_path, login={"console_max_age": 3600})
    )
    assert settings.login.console_max_age == 3600


def test_a_busy_session_older_than_the_cap_asks_for_the_password(app: Flask) -> None:
    desk = operator(app)
    cap = app.extensions["cas"].settings.login.console_max_age
    with desk.session_transaction() as session:
        session["console_seen"] = time.time()  # used a moment ago: not idle
        session["console_signed_in"] = time.time() - cap - 60
    response = desk.get("/admin/")
    assert asks_to_sign_in(response, renew=True)
    # renew: the SSO session alone does not open it again, the password is asked.
    form = desk.get(response.headers["Location"])
    assert form.status_code == 200 and 'name="password"' in form.get_data(as_text=True)
    assert asks_to_sign_in(desk.get("/admin/"))  # and the old console session is gone


def test_an_sso_session_older_than_the_cap_does_not_open_the_console(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_account(app, "desk", roles=["helpdesk"])
    client = app.test_client()
    first = client.get("/admin/")
    service = parse_qs(urlsplit(first.headers["Location"]).query)["service"][0]
    ticket = CasBrowser(client).service_ticket(service, username="desk")
    c = app.extensions["cas"]
    cap = float(c.settings.login.console_max_age)

    class Later:
        def now(self) -> float:
            return time.time() + cap + 60

    monkeypatch.setattr(c, "clock", Later())  # the console's view of time only
    back = client.get(f"/_cas/callback?{urlsplit(service).query}&ticket={ticket}")
    assert asks_to_sign_in(back, renew=True)
    monkeypatch.undo()
    assert asks_to_sign_in(client.get("/admin/"))


@pytest.mark.parametrize("app_overrides", [{"login": {"console_max_age": 1800}}])
def test_within_the_cap_the_session_goes_on(app: Flask) -> None:
    desk = operator(app)
    with desk.session_transaction() as session:
        session["console_signed_in"] = time.time() - 1700
    assert desk.get("/admin/").status_code == 200
    with desk.session_transaction() as session:
        session["console_signed_in"] = time.time() - 1900
    assert asks_to_sign_in(desk.get("/admin/"), renew=True)


def test_the_idle_timeout_still_applies(app: Flask) -> None:
    desk = operator(app)
    with desk.session_transaction() as session:
        session["console_seen"] = time.time() - 3600
    assert asks_to_sign_in(desk.get("/admin/"))


def test_signing_in_again_after_the_cap_opens_a_fresh_session(app: Flask) -> None:
    desk = operator(app)
    with desk.session_transaction() as session:
        session["console_signed_in"] = 0
    assert asks_to_sign_in(desk.get("/admin/"), renew=True)
    assert sign_in(desk, "desk").status_code == 200  # the password typed again
    assert desk.get("/admin/").status_code == 200


# --- (d) roles and status, from the database, on every request -------------------------


def test_a_role_removed_while_signed_in_is_403_at_once(app: Flask) -> None:
    desk = operator(app)
    cli(app, "users", "roles", "desk", "--remove", "helpdesk")
    assert desk.get("/admin/").status_code == 403
    cli(app, "users", "roles", "desk", "--add", "helpdesk")
    assert desk.get("/admin/").status_code == 200


def test_a_role_granted_while_signed_in_counts_at_once(app: Flask) -> None:
    desk = operator(app)
    assert desk.get("/admin/import").status_code == 403  # the admin role's page
    cli(app, "users", "roles", "desk", "--add", "admin")
    assert desk.get("/admin/import").status_code == 200


def test_a_disabled_account_is_signed_out(app: Flask) -> None:
    from sqlalchemy import update

    from cas_server.storage.sql.models import AccountRow

    desk = operator(app)
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(update(AccountRow).where(AccountRow.login == "desk").values(status="disabled"))
    assert asks_to_sign_in(desk.get("/admin/"))


# --- item 5: the way back after the callback -------------------------------------------


def browser_location(base: str, location: str) -> Any:
    """Where a browser goes with this Location (WHATWG URL parsing, in short):
    C0 controls and spaces at the ends dropped, tabs and newlines anywhere, and
    a backslash read as a slash."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = cleaned.replace("\t", "").replace("\n", "").replace("\r", "")
    return urlsplit(urljoin(base, cleaned.replace("\\", "/")))


HOSTILE = [
    "/\t/evil.example/phish",
    "/\n/evil.example/phish",
    "/\r/evil.example/phish",
    "/\r\n/evil.example",
    "\t//evil.example/",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    "/\x1f/evil.example",
    "/\x7f/evil.example",
    " //evil.example/",
    "  /admin/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/admin\\..\\..\\evil",
    "https://evil.example/",
    "HTTPS://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "admin/",
    "?next=//evil.example",
    "#//evil.example",
    "",
]
KEPT = [
    "/",
    "/admin/",
    "/admin/accounts?q=le%20goff&page=2",
    "/%09/evil.example/phish",  # percent-encoded: a path, never a host
    "/%5Cevil.example",
    "/%2F%2Fevil.example",
    "/profile/password?done=password",
]


def through_the_callback(app: Flask, client: FlaskClient, next_value: str) -> Any:
    public = app.extensions["cas"].settings.public_url
    service = f"{public}/_cas/callback?{urlencode({'next': next_value})}"
    ticket = CasBrowser(client).service_ticket(service, username="desk")
    return client.get("/_cas/callback", query_string={"next": next_value, "ticket": ticket})


@pytest.fixture
def desk_client(app: Flask) -> FlaskClient:
    make_account(app, "desk", roles=["helpdesk"])
    return app.test_client()


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_callback_never_leaves_this_server(
    app: Flask, desk_client: FlaskClient, hostile: str
) -> None:
    response = through_the_callback(app, desk_client, hostile)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    public = app.extensions["cas"].settings.public_url
    assert (
        browser_location(public + "/", response.headers["Location"]).netloc
        == urlsplit(public).netloc
    )


@pytest.mark.parametrize("kept", KEPT)
def test_a_path_on_this_server_is_kept(app: Flask, desk_client: FlaskClient, kept: str) -> None:
    response = through_the_callback(app, desk_client, kept)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == kept
    public = app.extensions["cas"].settings.public_url
    assert browser_location(public + "/", location).netloc == urlsplit(public).netloc


@pytest.mark.parametrize(
    "raw",
    [
        "/%09/evil.example/phish",  # the reported one: a tab, once decoded
        "/%0A/evil.example",
        "/%0D/evil.example",
        "/%5Cevil.example",  # decoded: a backslash
        "%2F%2Fevil.example",
        "%20%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "javascript%3Aalert(1)",
    ],
)
def test_the_link_as_an_attacker_writes_it(app: Flask, desk_client: FlaskClient, raw: str) -> None:
    """The service URL exactly as in the phishing link, and the callback the
    browser is sent to: the ticket is valid, the way out is not."""
    public = app.extensions["cas"].settings.public_url
    service = f"{public}/_cas/callback?next={raw}"
    ticket = CasBrowser(desk_client).service_ticket(service, username="desk")
    response = desk_client.get(f"/_cas/callback?next={raw}&ticket={ticket}")
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response.headers["Location"] == "/"


# --- the profile's password change replaces this browser's SSO session ----------------


def test_a_password_change_on_the_profile_moves_the_session_to_the_new_sso_session(
    app: Flask,
) -> None:
    from tests.support.profile import NEW_PASSWORD, ProfileBrowser

    make_account(app, "alice")
    client = app.test_client()
    browser = ProfileBrowser(client, "en")
    browser.sign_in()
    before = cookies(client)
    changed = browser.submit(
        "/profile/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 303
    assert cookies(client)["TGC"] != before["TGC"]
    assert client.get("/profile/").status_code == 200  # this browser stays signed in
    # The cookies as they were before the change open nothing any more.
    assert asks_to_sign_in(browser_with(app, before).get("/profile/"))
    # Nor the old console cookie with the new SSO session of another browser.
    other = app.test_client()
    CasBrowser(other).login("alice", NEW_PASSWORD)
    mixed = {SESSION_COOKIE: before[SESSION_COOKIE], "TGC": cookies(other)["TGC"]}
    assert asks_to_sign_in(browser_with(app, mixed).get("/profile/"))
