"""Headers, static files, timing parity of unknown logins, and clean error pages."""

from __future__ import annotations

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
