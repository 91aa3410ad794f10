"""The server's own pages sign in through CAS: the built-in service and its callback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from cas_server.web.console_auth import require_account
from tests.support.app import CasBrowser, make_account


def protected_app(app: Flask) -> Flask:
    @app.get("/_test/protected")
    @require_account()
    def protected() -> str:
        return "inside"

    @app.get("/_test/admin-only")
    @require_account(["admin"])
    def admin_only() -> str:
        return "admin inside"

    return app


def follow_sign_in(client: FlaskClient, browser: CasBrowser, path: str, login: str) -> str:
    first = client.get(path)
    assert first.status_code == 302 and "/login?service=" in first.headers["Location"]
    service = parse_qs(urlsplit(first.headers["Location"]).query)["service"][0]
    ticket = browser.service_ticket(service, username=login)
    back = client.get(f"/_cas/callback?{urlsplit(service).query}&ticket={ticket}")
    assert back.status_code == 302
    return back.headers["Location"]


def test_sign_in_then_reach_the_page(app: Flask, client: FlaskClient, browser: CasBrowser) -> None:
    protected_app(app)
    make_account(app, "alice")
    assert follow_sign_in(client, browser, "/_test/protected", "alice") == "/_test/protected"
    assert client.get("/_test/protected").get_data(as_text=True) == "inside"


def test_roles_are_required(app: Flask, client: FlaskClient, browser: CasBrowser) -> None:
    protected_app(app)
    make_account(app, "alice")
    make_account(app, "root", roles=["admin"])
    follow_sign_in(client, browser, "/_test/admin-only", "alice")
    assert client.get("/_test/admin-only").status_code == 403
    other = app.test_client()
    follow_sign_in(other, CasBrowser(other), "/_test/admin-only", "root")
    assert other.get("/_test/admin-only").get_data(as_text=True) == "admin inside"


def test_bad_ticket_and_open_redirects_are_refused(app: Flask, client: FlaskClient) -> None:
    assert client.get("/_cas/callback?next=/x&ticket=ST-" + "a" * 22).status_code == 400
    assert client.get("/_cas/callback?next=/x").status_code == 400


def test_next_is_kept_on_this_server(app: Flask, client: FlaskClient, browser: CasBrowser) -> None:
    make_account(app, "alice")
    public = app.extensions["cas"].settings.public_url
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        service = f"{public}/_cas/callback?next={hostile}"
        ticket = browser.service_ticket(service)
        response = client.get("/_cas/callback", query_string={"next": hostile, "ticket": ticket})
        # Either refused, or sent home: never to another site.
        assert response.status_code == 400 or response.headers["Location"] == "/"


def test_idle_console_session_asks_again(
    app: Flask, client: FlaskClient, browser: CasBrowser
) -> None:
    protected_app(app)
    make_account(app, "alice")
    follow_sign_in(client, browser, "/_test/protected", "alice")
    with client.session_transaction() as session:
        session["console_seen"] = 0  # long ago
    assert client.get("/_test/protected").status_code == 302
