"""Signing in to the console in tests, and acting on an account's record."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.app import PASSWORD, make_account, through_cas
from tests.support.html import csrf

UUID_RE = re.compile(r"/admin/accounts/([0-9a-f-]{36})")


def sign_in(
    client: FlaskClient, login: str, path: str = "/admin/", password: str = PASSWORD
) -> TestResponse:
    """Through CAS, as a browser would: the console, the login form, the callback."""
    back = through_cas(client, path, login, password)
    assert back.status_code == 302
    return client.get(back.headers["Location"])


def console_client(
    app: Flask, login: str = "root", roles: tuple[str, ...] = ("admin",)
) -> FlaskClient:
    make_account(app, login, roles=list(roles), given_name="Root", family_name="Admin")
    client = app.test_client()
    client.get("/login?lang=en")
    sign_in(client, login)
    return client


def act(
    client: FlaskClient,
    uuid: str,
    slug: str,
    data: dict[str, Any] | None = None,
    confirm: bool = True,
    **query: str,
) -> TestResponse:
    """Open an action's confirmation page, then post it (confirmed unless told otherwise)."""
    page = client.get(f"/admin/accounts/{uuid}/{slug}", query_string=query)
    assert page.status_code == 200, page.status_code
    form = {"csrf_token": csrf(page.get_data(as_text=True)), **(data or {})}
    if confirm:
        form["confirm"] = "1"
    return client.post(f"/admin/accounts/{uuid}/{slug}", data={**form, **query})
