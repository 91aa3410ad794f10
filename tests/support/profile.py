"""Helpers of the profile page tests: a signed-in browser, forms with their CSRF token.

The servers (real SMTP sink, HTTP SMS gateway) are the fixtures of
``tests/conftest.py`` and ``tests/web/conftest.py``; the sign-in goes through
CAS like a browser's (login form, service ticket, ``/_cas/callback``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cas_server.accounts.model import Account
from tests.support.app import PASSWORD, make_account, through_cas
from tests.support.html import CSRF_RE

NEW_PASSWORD = "Nouveau-Secret-2027!"


def person(app: Flask, login: str = "alice", **fields: Any) -> Account:
    """An active account that has accepted the charter (so sign-in goes straight through)."""
    fields.setdefault("personal_email", f"{login}.perso@example.net")
    fields.setdefault("birth_date", date(2004, 5, 6))
    account = make_account(app, login, **fields)
    app.extensions["cas"].accounts.accept_charter(account.uuid, "general", "2026-09")
    return account


class ProfileBrowser:
    """A browser signed in to the profile pages, in one language."""

    def __init__(self, client: FlaskClient, lang: str = "fr") -> None:
        self.client = client
        self.lang = lang
        client.get(f"/login?lang={lang}")

    def sign_in(self, login: str = "alice", password: str = PASSWORD) -> None:
        back = through_cas(self.client, "/profile/", login, password)
        assert back.status_code == 302 and back.headers["Location"] == "/profile/"

    def get(self, url: str) -> TestResponse:
        return self.client.get(url)

    def text(self, url: str) -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response.get_data(as_text=True)

    def csrf(self, url: str) -> str:
        match = CSRF_RE.search(self.text(url))
        assert match, url
        return match.group(1)

    def submit(self, url: str, data: dict[str, str], action: str | None = None) -> TestResponse:
        """Load the form at ``url`` and post ``data`` with its CSRF token."""
        token = self.csrf(url)
        return self.client.post(action or url, data={"csrf_token": token, **data})
