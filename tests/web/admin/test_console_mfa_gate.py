"""``[admin] require_mfa``: the console opens only from an SSO session that had a second
factor (issue #14), whatever service URL the sign-in went through; the profile's own
sign-ins stay password only."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.protocol.cas.services import ServiceRegistry
from cas_server.web.admin.gate import CONSOLE_SERVICE_ID, console_service
from cas_server.web.console_auth import internal_service
from tests.support.app import CasBrowser, make_account
from tests.support.console import console_client, sign_in
from tests.support.html import text


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"admin": {"require_mfa": True}}


def _step_up(app: Flask, client: FlaskClient) -> None:
    c = app.extensions["cas"]
    cookie = client.get_cookie(c.settings.tgc_name)
    assert cookie is not None
    assert c.login.step_up(cookie.value, "totp", c.clock.now()) is not None


def password_only_console(app: Flask) -> FlaskClient:
    """An administrator signed in for the profile (its service is password only), then
    at the console: the console session exists, the SSO session has no second factor."""
    make_account(app, "root", roles=["admin"], given_name="Root", family_name="Admin")
    client = app.test_client()
    client.get("/login?lang=en")
    sign_in(client, "root", path="/profile/")
    return client


def test_a_password_only_session_does_not_open_the_console(app: Flask) -> None:
    student = make_account(app, "etu")
    root = password_only_console(app)
    for path in ("/admin/", f"/admin/accounts/{student.uuid}", "/admin/audit", "/admin/import"):
        page = root.get(path)
        # Back to the sign-in through the console's own service, which asks the factor.
        assert page.status_code == 302, path
        assert "/login?service=" in page.headers["Location"]
        assert "renew" not in page.headers["Location"]  # the second factor only
        assert "etu" not in page.get_data(as_text=True)
    assert root.post(f"/admin/accounts/{student.uuid}/lock", data={}).status_code in (400, 403)
    assert app.extensions["cas"].accounts.get(student.uuid).status.value == "active"


def test_a_password_only_console_sign_in_is_asked_the_second_factor(app: Flask) -> None:
    make_account(app, "root", roles=["admin"])
    client = app.test_client()
    start = client.get("/admin/")
    login_url = start.headers["Location"]
    assert start.status_code == 302 and "/login?service=" in login_url
    service = parse_qs(urlsplit(login_url).query)["service"][0]
    answer = CasBrowser(client).login("root", service=service)
    # No ticket for the console from the password alone: the second-factor step.
    assert answer.status_code in (302, 303)
    assert "/login/mfa" in answer.headers["Location"]
    assert "ticket=" not in answer.headers["Location"]
    assert client.get("/admin/").status_code == 302


def test_the_same_session_after_a_second_factor_opens_it(app: Flask) -> None:
    root = password_only_console(app)
    assert root.get("/admin/").status_code == 302
    _step_up(app, root)
    assert root.get("/admin/").status_code == 200


def test_without_the_console_service_a_page_says_what_to_do_in_french(app: Flask) -> None:
    root = password_only_console(app)
    c = app.extensions["cas"]
    c.services = ServiceRegistry([s for s in c.services if s.id != CONSOLE_SERVICE_ID])
    root.get("/login?lang=fr")
    page = root.get("/admin/")
    assert page.status_code == 403
    words = text(page)
    assert "Un second facteur est nécessaire" in words
    assert "Audit" not in words  # no console menu before the second factor


@pytest.mark.parametrize("app_overrides", [{"admin": {"require_mfa": False}}])
def test_require_mfa_false_lets_the_password_alone_in(app: Flask) -> None:
    assert console_client(app).get("/admin/").status_code == 200


@pytest.mark.parametrize(
    "app_overrides", [{"admin": {"require_mfa": True}, "mfa": {"enabled": False}}]
)
def test_no_effect_when_second_factors_are_off(app: Flask) -> None:
    assert console_client(app).get("/admin/").status_code == 200


# The console's own registered service -----------------------------------------------------


def test_the_console_service_covers_the_console_sign_ins_only(app: Flask) -> None:
    settings = app.extensions["cas"].settings
    service = console_service(settings)
    base = settings.public_url + "/_cas/callback?next="
    assert service.mfa_required and service.id == CONSOLE_SERVICE_ID
    for console in ("%2Fadmin", "%2Fadmin%2F", "%2Fadmin%2Faccounts%2Fx%3Fq%3D1", "%2Fadmin%3Fq"):
        assert service.matches(base + console), console
    for other in ("%2Fprofile%2F", "%2F", "%2Fadministrator", "/admin/", "%2Fadmin&x=%2Fadmin"):
        assert not service.matches(base + other), other
    registry = ServiceRegistry([internal_service(settings), service])
    assert registry.match(base + "%2Fadmin%2F") is service
    profile = registry.match(base + "%2Fprofile%2F")
    assert profile is not None and profile.id != CONSOLE_SERVICE_ID
    assert not profile.mfa_required  # the profile's sign-ins stay password only


@pytest.mark.parametrize(
    ("overrides", "required"),
    [
        ({"admin": {"require_mfa": False}}, False),
        ({"mfa": {"enabled": False}}, False),
        ({}, True),
    ],
)
def test_the_console_service_follows_the_settings(
    app: Flask, overrides: dict[str, dict[str, Any]], required: bool
) -> None:
    settings = app.extensions["cas"].settings
    raw = {**settings.raw, **{k: {**settings.raw.get(k, {}), **v} for k, v in overrides.items()}}
    if not overrides:
        raw["admin"] = {k: v for k, v in raw.get("admin", {}).items() if k != "require_mfa"}
    from dataclasses import replace

    assert console_service(replace(settings, raw=raw)).mfa_required is required
    assert re.escape(settings.public_url) in console_service(settings).url_pattern.pattern
