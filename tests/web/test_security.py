"""Headers, static files, timing parity of unknown logins, and clean error pages."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from cas_server.auth import local


def test_security_headers_on_pages(client: FlaskClient) -> None:
    headers = client.get("/login").headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers
    secure = client.get("/login", base_url="https://cas.example.org").headers
    assert secure["Strict-Transport-Security"].startswith("max-age=")


def test_theme_static_files_are_cached_and_confined(client: FlaskClient) -> None:
    css = client.get("/themes/default/static/css/cas.css")
    assert css.status_code == 200 and "max-age=86400" in css.headers["Cache-Control"]
    for path in (
        "/themes/default/static/../templates/login.html",
        "/themes/default/static/..%2f..%2fconfig/default.toml",
        "/themes/nope/static/css/cas.css",
        "/themes/default/static/css/missing.css",
    ):
        assert client.get(path).status_code == 404, path


def test_unknown_pages_get_a_themed_404(client: FlaskClient) -> None:
    page = client.get("/nothing-here")
    assert page.status_code == 404
    assert "<html" in page.get_data(as_text=True)


@pytest.mark.parametrize("login", ["alice", "nobody", "x" * 500])
def test_every_failed_login_costs_one_bcrypt_check(
    app: Flask, alice: Account, monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    calls: list[str] = []
    real = local.verify_password

    def counting(password: str, stored: str) -> bool:
        calls.append(stored)
        return real(password, stored)

    monkeypatch.setattr(local, "verify_password", counting)
    app.extensions["cas"].user_source.authenticate(login, "wrong-password")
    assert len(calls) == 1


# --- issue 12 item 9: a form that is not UTF-8 ------------------------------------------

UNREADABLE = {
    "percent-encoded latin-1": b"username=caf%E9&password=x",
    "raw latin-1 byte": b"username=caf\xe9&password=x",
    "raw byte in the token's field": b"password=x&csrf_token=\xe9",
}
FR_TEXT = "caractères qui n&#39;ont pas pu être lus"
EN_TEXT = "The form holds characters that could not be read (use UTF-8)"


def _token(client: FlaskClient, path: str) -> str:
    from tests.support.html import CSRF_RE

    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, path
    return match.group(1)


def _post_unreadable(client: FlaskClient, form: str, action: str, body: bytes) -> Any:
    token = _token(client, form)
    return client.post(
        action,
        data=f"csrf_token={token}&".encode() + body,
        content_type="application/x-www-form-urlencoded",
    )


def _says_unreadable(response: Any, text: str = FR_TEXT) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 400, html[:300]
    assert text in html, html[:2000]
    assert "Session expir" not in html


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_login_form_that_is_not_utf8_says_so(
    app: Flask, client: FlaskClient, alice: Account, body: bytes
) -> None:
    response = _post_unreadable(client, "/login?renew=true", "/login", body)
    _says_unreadable(response)
    # Refused before the password is looked at: no attempt, no failure counted.
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cas_server.storage.sql.models import AuditEventRow

    with Session(app.extensions["cas"].engine) as session:
        logins = session.scalars(
            select(AuditEventRow.outcome).where(AuditEventRow.action == "login")
        ).all()
    assert logins == []


def test_the_page_is_in_the_users_language(client: FlaskClient) -> None:
    client.get("/login?lang=en")
    response = _post_unreadable(
        client, "/login?renew=true", "/login", UNREADABLE["raw latin-1 byte"]
    )
    _says_unreadable(response, EN_TEXT)


def test_a_utf8_form_still_works(client: FlaskClient, alice: Account) -> None:
    token = _token(client, "/login?renew=true")
    response = client.post(
        "/login",
        data=f"csrf_token={token}&username=caf%C3%A9&password=x".encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 401


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_sesame_form_that_is_not_utf8_says_so(client: FlaskClient, body: bytes) -> None:
    response = _post_unreadable(client, "/sesame/password/email", "/sesame/password/email", body)
    _says_unreadable(response)


def test_profile_form_that_is_not_utf8_says_so(app: Flask) -> None:
    from tests.support.profile import ProfileBrowser, person

    person(app)
    browser = ProfileBrowser(app.test_client())
    browser.sign_in()
    response = _post_unreadable(
        browser.client, "/profile/joker", "/profile/joker", b"answer=caf\xe9&question=first_pet"
    )
    _says_unreadable(response)


def test_console_forms_that_are_not_utf8_say_so(app: Flask) -> None:
    from tests.support.console import console_client

    client = console_client(app)  # English
    response = _post_unreadable(client, "/admin/import", "/admin/import/cancel", b"token=caf\xe9")
    _says_unreadable(response, EN_TEXT)
    # The upload form is multipart: its fields are decoded apart (and its own
    # size limit applies before anything reads the body).
    boundary = "----cas"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'.encode()
        + b"caf\xe9\r\n"
        + f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\nlogin\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/admin/import",
        data=multipart,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    _says_unreadable(response, EN_TEXT)


def test_a_saml_body_is_not_a_form(client: FlaskClient) -> None:
    """/samlValidate reads its own body (a SOAP document), whatever its content type says."""
    response = client.post(
        "/samlValidate?TARGET=https://app.example.org/",
        data=b"caf\xe9",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200 and b"<SOAP-ENV:Envelope" in response.data
