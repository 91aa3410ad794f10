"""Signing in to the console in tests, and reading its pages."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import PASSWORD, CasBrowser, make_account

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
UUID_RE = re.compile(r"/admin/accounts/([0-9a-f-]{36})")


def sign_in(
    client: FlaskClient, login: str, path: str = "/admin/", password: str = PASSWORD
) -> TestResponse:
    """Through CAS, as a browser would: the console, the login form, the callback."""
    first = client.get(path)
    assert first.status_code == 302, first.status_code
    service = parse_qs(urlsplit(first.headers["Location"]).query)["service"][0]
    ticket = CasBrowser(client).service_ticket(service, username=login, password=password)
    back = client.get(f"/_cas/callback?{urlsplit(service).query}&ticket={ticket}")
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


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, html[:500]
    return match.group(1)


def text(response: TestResponse) -> str:
    """The page's text without tags, whitespace collapsed (for assertions)."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


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
