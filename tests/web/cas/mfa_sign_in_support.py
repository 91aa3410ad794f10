"""What the second-factor sign-in tests share: an app with two services that require a
second factor, accounts with factors, and a browser that answers the /login/mfa pages."""

from __future__ import annotations

import json
import re
import time
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cas_server import create_app
from cas_server.accounts.model import Account
from tests.support.app import CasBrowser, make_account, test_overrides
from tests.support.html import csrf
from tests.support.paths import SERVICES

APP = "https://app.example.org/"  # password only (tests/data/services.toml)
PAYROLL = "https://payroll.example.org/"  # mfa = "required"
HR = "https://hr.example.org/"  # mfa = "required"
MFA_SERVICES = """
[[services]]
id = "payroll"
name = "Payroll"
url_pattern = '^https://payroll\\.example\\.org(/.*)?$'
release_attributes = ["uid"]
mfa = "required"

[[services]]
id = "hr"
name = "Human resources"
url_pattern = '^https://hr\\.example\\.org(/.*)?$'
release_attributes = ["uid"]
mfa = "required"
"""
PUBLIC_URL = "https://cas.univ-test.fr"
LIMIT = 5  # [mfa] attempts


def build(
    db_path: Path, tmp_path: Path, *, fast_path: bool = True, **extra: dict[str, Any]
) -> Flask:
    services = tmp_path / "mfa-services.toml"
    services.write_text(MFA_SERVICES, encoding="utf-8")
    overrides = test_overrides(
        db_path,
        services={"paths": [str(SERVICES), str(services)]},
        server={"fast_path": fast_path, "public_url": PUBLIC_URL},
        **extra,
    )
    return create_app(overrides=overrides, environ={})


def close(app: Flask) -> None:
    app.extensions["cas"].single_logout.executor.shutdown(wait=True)
    app.extensions["cas"].engine.dispose()


def with_totp(app: Flask, login: str = "alice", **fields: Any) -> tuple[Account, str]:
    """An account with an authenticator app (its secret returned)."""
    c = app.extensions["cas"]
    account = c.accounts.find_by_login(login) or make_account(app, login, **fields)
    secret = pyotp.random_base32()
    c.mfa.import_totp(account, "Phone", secret)
    return account, secret


def totp(secret: str, offset: float = 0.0) -> str:
    return str(pyotp.TOTP(secret).at(time.time() + offset))


def wrong_code(secret: str) -> str:
    """A 6-digit code that none of the accepted steps shows."""
    valid = {totp(secret, k * 30.0) for k in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(100000, 999999, 7919)) if c not in valid)


def login_url(service: str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in {"service": service, **params}.items())
    return "/login?" + query


def location(response: TestResponse) -> str:
    return response.headers.get("Location", "")


def ticket_of(response: TestResponse, service: str) -> str:
    assert response.status_code == 302, (response.status_code, page_text(response)[:600])
    where = location(response)
    assert where.startswith(service) and "ticket=ST-" in where, where
    return where.split("ticket=", 1)[1]


def no_ticket(response: TestResponse) -> None:
    assert "ticket=" not in location(response), location(response)


def page_text(response: TestResponse) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def tickets_of_kind(app: Flask, kind: str) -> int:
    with app.extensions["cas"].engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT kind FROM tickets").fetchall()
    return sum(1 for row in rows if row[0] == kind)


class MfaBrowser(CasBrowser):
    """The login form, then the second-factor pages, as a person fills them."""

    def __init__(self, client: FlaskClient, ip: str = "192.0.2.10", lang: str = "en") -> None:
        super().__init__(client)
        self.ip = ip
        client.get(f"/login?lang={lang}")

    def get(self, url: str) -> TestResponse:
        return self.client.get(url, environ_base={"REMOTE_ADDR": self.ip})

    def post(self, url: str, data: dict[str, str]) -> TestResponse:
        return self.client.post(url, data=data, environ_base={"REMOTE_ADDR": self.ip})

    def password(self, service: str = PAYROLL, login: str = "alice", **fields: str) -> TestResponse:
        """The login form for ``service``, with a private computer unless told."""
        fields.setdefault("computer", "private")
        token = self.csrf("?" + login_url(service).split("?", 1)[1])
        data = {"username": login, "csrf_token": token, "service": service, **fields}
        data.setdefault("password", "Correct-Horse-42!")
        return self.post("/login", data)

    def mfa_page(self, via: str = "") -> TestResponse:
        return self.get("/login/mfa" + (f"?via={via}" if via else ""))

    def code(self, code: str, method: str = "totp", **extra: str) -> TestResponse:
        """Open the method's page (for its CSRF token) and send ``code``."""
        page = self.mfa_page(method)
        assert page.status_code == 200, (page.status_code, page_text(page)[:500])
        data = {"csrf_token": csrf(page.get_data(as_text=True)), "method": method, "code": code}
        return self.post("/login/mfa", {**data, **extra})

    def webauthn_options(self) -> dict[str, Any]:
        page = self.mfa_page("webauthn")
        html = page.get_data(as_text=True)
        match = re.search(
            r"<script type=\"application/json\" data-webauthn-options>(.*?)</script>", html, re.S
        )
        assert match, html[:800]
        options: dict[str, Any] = json.loads(match.group(1))
        options["csrf_token"] = csrf(html)
        return options

    def logout(self) -> None:
        self.get("/logout")
