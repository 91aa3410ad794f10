"""/login and /logout through the Flask test client (CAS 3.0 sections 2.1–2.3)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account, Profile, Status
from tests.support.app import PASSWORD, CasBrowser, make_account

APP = "https://app.example.org/page?x=1"


def tgc(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("TGC")
    return cookie.value if cookie else None


def test_login_form_is_french_by_default_with_csrf(client: FlaskClient) -> None:
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="fr"' in html
    assert "Se connecter" in html and "Mot de passe" in html
    assert 'name="csrf_token"' in html
    assert page.headers["Cache-Control"] == "no-store"


def test_english_on_request_and_remembered(client: FlaskClient) -> None:
    page = client.get("/login?lang=en")
    assert "Sign in" in page.get_data(as_text=True)
    assert client.get_cookie("lang").value == "en"
    assert '<html lang="en"' in client.get("/login").get_data(as_text=True)
    english_browser = client.application.test_client()
    page = english_browser.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en"' in page.get_data(as_text=True)


def test_sign_in_to_a_service_redirects_with_a_ticket(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    response = browser.login(service=APP)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "app.example.org" and location.path == "/page"
    query = parse_qs(location.query)
    assert query["x"] == ["1"] and query["ticket"][0].startswith("ST-")
    cookie = client.get_cookie("TGC")
    assert cookie is not None and cookie.value.startswith("TGT-")
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/"
    assert not cookie.secure  # plain HTTP in tests; see test_cookie_secure_over_https
    assert cookie.expires is None  # a browser-session cookie (3.6.1)


def test_cookie_secure_over_https(browser: CasBrowser, client: FlaskClient, alice: Account) -> None:
    base = "https://cas.example.org"
    page = client.get("/login", base_url=base).get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        base_url=base,
    )
    cookie = client.get_cookie("TGC", domain="cas.example.org")
    assert cookie is not None and cookie.secure


def test_single_sign_on_issues_a_new_ticket_without_password(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    first = browser.service_ticket(APP)
    response = client.get("/login", query_string={"service": "https://app.example.org/other"})
    assert response.status_code == 302
    second = response.headers["Location"].split("ticket=")[1]
    assert second != first and second.startswith("ST-")


def test_renew_forces_the_form(browser: CasBrowser, client: FlaskClient, alice: Account) -> None:
    browser.service_ticket(APP)
    response = client.get("/login", query_string={"service": APP, "renew": "true"})
    assert response.status_code == 200
    assert 'name="password"' in response.get_data(as_text=True)


def test_gateway_without_session_goes_back_without_ticket(client: FlaskClient) -> None:
    response = client.get("/login", query_string={"service": APP, "gateway": "true"})
    assert response.status_code == 302
    assert response.headers["Location"] == APP


def test_gateway_with_session_gets_a_ticket(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    browser.service_ticket(APP)
    response = client.get("/login", query_string={"service": APP, "gateway": "true"})
    assert "ticket=ST-" in response.headers["Location"]


def test_warn_asks_before_single_sign_on(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    browser.service_ticket(APP, warn="true")
    page = client.get("/login", query_string={"service": APP})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Test application" in html
    token = browser.csrf()
    response = client.post("/login", data={"service": APP, "sso": "continue", "csrf_token": token})
    assert response.status_code == 302 and "ticket=ST-" in response.headers["Location"]


def test_method_post_answers_with_an_auto_submitting_form(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    response = browser.login(service=APP, method="POST")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'action="https://app.example.org/page?x=1"' in html
    assert 'name="ticket" value="ST-' in html
    assert (
        "form-action 'self' https://app.example.org" in response.headers["Content-Security-Policy"]
    )


def test_method_header_answers_in_headers(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    response = browser.login(service=APP, method="HEADER")
    assert response.status_code == 200
    assert response.headers["service"] == APP
    assert response.headers["ticket"].startswith("ST-")


def test_wrong_password_and_unknown_user_look_the_same(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    wrong = browser.login("alice", "not-the-password")
    unknown = browser.login("nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "Identifiant ou mot de passe incorrect" in response.get_data(as_text=True)
    assert tgc(client) is None


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (Status.LOCKED, "verrouillé"),
        (Status.DISABLED, "désactivé"),
    ],
)
def test_account_states_are_told_only_with_the_right_password(
    app: Flask, browser: CasBrowser, status: Status, message: str
) -> None:
    make_account(app, "carol", status=status)
    right = browser.login("carol", PASSWORD).get_data(as_text=True)
    assert message in right
    wrong = browser.login("carol", "bad").get_data(as_text=True)
    assert message not in wrong and "incorrect" in wrong


def test_account_without_password_cannot_sign_in(app: Flask, browser: CasBrowser) -> None:
    make_account(app, "newbie", status=Status.NOT_ACTIVATED, password=None)
    response = browser.login("newbie", "anything")
    assert response.status_code == 401


def test_login_is_case_insensitive(browser: CasBrowser, alice: Account) -> None:
    assert browser.login("  ALICE ", PASSWORD, service=APP).status_code == 302


def test_csrf_is_required(client: FlaskClient, alice: Account) -> None:
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert tgc(client) is None


def test_empty_fields_get_a_clear_message(browser: CasBrowser) -> None:
    token = browser.csrf()
    response = browser.client.post("/login", data={"csrf_token": token, "username": "alice"})
    assert response.status_code == 400
    assert "Veuillez saisir" in response.get_data(as_text=True)


def test_unregistered_service_gets_a_403_page_never_a_redirect(client: FlaskClient) -> None:
    for query in (
        {"service": "https://evil.example.net/"},
        {"service": "https://evil.example.net/?https://app.example.org/"},
        {"service": "https://app.example.org/blocked/x"},  # disabled
        {"service": "javascript:alert(1)"},
    ):
        response = client.get("/login", query_string=query)
        assert response.status_code == 403
        assert "Location" not in response.headers


def test_access_rule_refuses_other_populations(browser: CasBrowser, alice: Account) -> None:
    response = browser.login(service="https://staff.example.org/")
    assert response.status_code == 403
    assert "Location" not in response.headers


def test_staff_reaches_the_staff_service(app: Flask, browser: CasBrowser) -> None:
    make_account(app, "sam", profile=Profile.STAFF)
    assert browser.login("sam", service="https://staff.example.org/").status_code == 302


def test_hostile_values_are_escaped(client: FlaskClient) -> None:
    payload = '"><script>alert(1)</script>'
    page = client.get("/login", query_string={"service": "https://app.example.org/" + payload})
    html = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    page = client.get("/login", query_string={"service": "https://evil.org/" + payload})
    assert "<script>alert(1)</script>" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        {"method": "PUT"},
        {"service": "https://app.example.org/" + "a" * 5000},
        {"service": "https://app.example.org/\x00"},
    ],
)
def test_bad_parameters_are_4xx(client: FlaskClient, query: dict[str, str]) -> None:
    response = client.get("/login", query_string=query)
    assert 400 <= response.status_code < 500


def test_non_utf8_query_is_handled(client: FlaskClient) -> None:
    response = client.get("/login?service=https%3A%2F%2Fapp.example.org%2F%FF%FE")
    assert response.status_code in (200, 400, 403)


def test_wrong_method_is_405(client: FlaskClient) -> None:
    assert client.put("/login").status_code == 405
    assert client.post("/serviceValidate").status_code == 405


def test_logout_ends_the_session(browser: CasBrowser, client: FlaskClient, alice: Account) -> None:
    browser.service_ticket(APP)
    page = client.get("/logout")
    assert page.status_code == 200
    assert "Déconnexion" in page.get_data(as_text=True)
    assert tgc(client) is None
    again = client.get("/login", query_string={"service": APP})
    assert again.status_code == 200 and 'name="password"' in again.get_data(as_text=True)


def test_logout_redirects_only_to_registered_services(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    browser.service_ticket(APP)
    response = client.get("/logout", query_string={"service": APP})
    assert response.status_code == 302 and response.headers["Location"] == APP
    for bad in ({"service": "https://evil.example.net/"}, {"url": "https://app.example.org/"}):
        response = client.get("/logout", query_string=bad)
        assert response.status_code == 200 and "Location" not in response.headers


def test_new_sign_in_replaces_the_previous_session(
    app: Flask, browser: CasBrowser, client: FlaskClient
) -> None:
    make_account(app, "alice")
    make_account(app, "bob")
    browser.login("alice")
    first = tgc(client)
    browser.login("bob")
    second = tgc(client)
    assert first and second and first != second
    c = app.extensions["cas"]
    assert c.login.current_session(first) is None
    session = c.login.current_session(second)
    assert session is not None and session.authentication.principal.id == "bob"


def test_logged_in_page_without_service(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    browser.login()
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Alice Liddell" in html


def test_session_cookie_is_rotated_at_sign_in(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    browser.csrf()
    before = client.get_cookie("cas_session")
    browser.login()
    after = client.get_cookie("cas_session")
    assert before is not None
    assert after is None or after.value != before.value


def test_sign_ins_and_failures_are_audited(app: Flask, browser: CasBrowser, alice: Account) -> None:
    from sqlalchemy import select

    from cas_server.storage.sql.models import AuditEventRow

    browser.login("alice", "bad")
    browser.login()
    with app.extensions["cas"].engine.connect() as conn:
        rows = conn.execute(
            select(
                AuditEventRow.action, AuditEventRow.outcome, AuditEventRow.login, AuditEventRow.ip
            )
        ).all()
    assert ("login", "invalid_credentials", "alice", "127.0.0.1") in rows
    assert ("login", "success", "alice", "127.0.0.1") in rows


def form_action(response: Any) -> str:
    csp = response.headers["Content-Security-Policy"]
    return next(part.strip() for part in csp.split(";") if "form-action" in part)


def test_forms_that_end_at_the_service_may_be_redirected_there(
    client: FlaskClient, browser: CasBrowser, alice: Account
) -> None:
    """form-action also governs the redirect after a form's POST (Chromium enforces it)."""
    page = client.get("/login", query_string={"service": "https://app.example.org/x"})
    assert form_action(page) == "form-action 'self' https://app.example.org"
    # No service, or one that is not registered: nothing but this server.
    assert form_action(client.get("/login")) == "form-action 'self'"
    other = client.get("/login", query_string={"service": "https://evil.example.net/"})
    assert form_action(other) == "form-action 'self'"
    # The warning page before single sign-on (its form goes back through /login).
    browser.login()
    warned = client.get(
        "/login", query_string={"service": "https://app.example.org/x", "warn": "true"}
    )
    assert warned.status_code == 200
    assert form_action(warned) == "form-action 'self' https://app.example.org"


# --- issue 12 item 4: rememberMe (CAS 3.0 section 2.2.2) --------------------------------


def _long_term_answer(client: FlaskClient, location: str) -> bytes:
    ticket = location.split("ticket=", 1)[1]
    service = location.split("?", 1)[0]
    return client.get(
        "/p3/serviceValidate", query_string={"service": service, "ticket": ticket}
    ).data


@pytest.mark.parametrize("app_overrides", [{"login": {"remember_me": True}}])
@pytest.mark.parametrize("value", ["true", "on", "1"])
def test_remember_me_parameter_gives_a_long_term_session(
    browser: CasBrowser, client: FlaskClient, alice: Account, value: str
) -> None:
    service = "https://app.example.org/"
    response = browser.login(service=service, rememberMe=value)
    assert response.status_code == 302
    set_cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("TGC="))
    assert "Max-Age=" in set_cookie and "Expires=" in set_cookie
    body = _long_term_answer(client, response.headers["Location"])
    assert b"<cas:longTermAuthenticationRequestTokenUsed>true<" in body


@pytest.mark.parametrize("app_overrides", [{"login": {"remember_me": True}}])
def test_remember_me_is_the_checkbox_name(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert 'type="checkbox" id="rememberMe" name="rememberMe" value="true"' in html
    assert '<label for="rememberMe">' in html


@pytest.mark.parametrize("app_overrides", [{"login": {"remember_me": True}}])
@pytest.mark.parametrize("fields", [{"rememberMe": "false"}, {"rememberme": "true"}, {}])
def test_without_remember_me_the_tgc_is_a_session_cookie(
    browser: CasBrowser, client: FlaskClient, alice: Account, fields: dict[str, str]
) -> None:
    """``false`` says no; the parameter's name is case-sensitive (2.2.2)."""
    response = browser.login(service="https://app.example.org/", **fields)
    set_cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("TGC="))
    assert "Max-Age=" not in set_cookie and "Expires=" not in set_cookie
    body = _long_term_answer(client, response.headers["Location"])
    assert b"<cas:longTermAuthenticationRequestTokenUsed>false<" in body


def test_remember_me_parameter_is_ignored_unless_offered(
    browser: CasBrowser, client: FlaskClient, alice: Account
) -> None:
    response = browser.login(service="https://app.example.org/", rememberMe="true")
    body = _long_term_answer(client, response.headers["Location"])
    assert b"<cas:longTermAuthenticationRequestTokenUsed>false<" in body
