"""Security checks over the whole application (Flask test client, in process).

CSRF on every form, no open redirect through ``service`` or ``url``, every
parameter escaped, security headers and cookie flags, no session fixation,
and an unknown login that costs the same time as a known one.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from lxml import etree  # type: ignore[import-untyped]

from cas_server.accounts.model import Account
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.console import sign_in
from tests.support.html import CSRF_RE

APP = "https://app.example.org/"
# Server-to-server endpoints: no browser, no session, no form (documented exemptions).
CSRF_EXEMPT = {"/samlValidate"}


@pytest.fixture
def app_overrides() -> dict[str, dict[str, Any]]:
    # Timing samples and hostile posts must not lock the account or the address.
    return {"login": {"max_failures_per_login": 100000, "max_failures_per_ip": 100000}}


def post_routes(app: Flask) -> list[str]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or ()) and rule.rule not in CSRF_EXEMPT:
            routes.add(re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "x", rule.rule))
    return sorted(routes)


# --- CSRF ---------------------------------------------------------------------------


def console_client(app: Flask) -> Any:
    """A browser signed in to the administration console (through CAS, as a person would)."""
    make_account(app, "root", roles=["admin"], given_name="Root", family_name="Admin")
    client = app.test_client()
    assert sign_in(client, "root").status_code == 200
    return client


def test_every_form_refuses_a_post_without_token(app: Flask, alice: Account) -> None:
    routes = post_routes(app)
    assert "/login" in routes and "/login/password" in routes
    browsers = {"anonymous": app.test_client()}
    browsers["anonymous"].get("/login")  # a session exists: only the token is missing
    if any(r.startswith("/admin/") for r in routes):
        browsers["console admin"] = console_client(app)
    accepted = {}
    for who, client in browsers.items():
        for path in routes:
            if who == "anonymous" and path.startswith("/admin/"):
                continue  # the console sends strangers to sign in first; checked signed in
            response = client.post(path, data={"username": "alice", "password": PASSWORD})
            if response.status_code not in (400, 403):
                accepted[f"{who} {path}"] = response.status_code
    assert not accepted, f"POST without CSRF token accepted: {accepted}"
    assert browsers["anonymous"].get_cookie("TGC") is None


def test_a_token_from_another_session_is_refused(app: Flask, alice: Account) -> None:
    attacker = app.test_client()
    token = CSRF_RE.search(attacker.get("/login").get_data(as_text=True))
    assert token
    victim = app.test_client()
    victim.get("/login")
    response = victim.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 400
    assert victim.get_cookie("TGC") is None


# --- open redirects -----------------------------------------------------------------

HOSTILE_TARGETS = [
    "https://evil.example.com/",
    "http://evil.example.com",
    "//evil.example.com/",
    "///evil.example.com/",
    "/\\evil.example.com",
    "\\\\evil.example.com",
    "https:evil.example.com",
    "https://app.example.org.evil.example.com/",
    "https://app.example.org@evil.example.com/",
    "https://evil.example.com/https://app.example.org/",
    "https://evil.example.com/?https://app.example.org/",
    "https://evil.example.com#https://app.example.org/",
    "https://app.example.org%2f@evil.example.com/",
    "https://app.example.org%252f@evil.example.com/",
    "https://app.example.org\\@evil.example.com/",
    " https://evil.example.com/",
    "https://evil.example.com/\r\nhttps://app.example.org/",
    "javascript:alert(document.domain)//https://app.example.org/",
    "data:text/html,<script>alert(1)</script>",
    "https://app.example.org/blocked/",  # registered but disabled
]


def off_site(location: str) -> bool:
    parts = urlsplit(location.strip())
    return bool(parts.scheme or parts.netloc) and parts.netloc not in ("localhost", "")


def assert_no_open_redirect(app: Flask, response: Any, what: str) -> None:
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.headers["Location"]
        if off_site(location) or location.startswith("//"):
            assert app.extensions["cas"].services.find_enabled(location.split("?")[0]), (
                what,
                location,
            )
            assert urlsplit(location).netloc == "app.example.org", (what, location)
    body = response.get_data(as_text=True)
    # No meta refresh or script redirect to the target either.
    assert 'http-equiv="refresh"' not in body.lower(), what


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_no_open_redirect_through_service_or_url(app: Flask, alice: Account, target: str) -> None:
    anonymous = app.test_client()
    signed_in = app.test_client()
    assert CasBrowser(signed_in).login().status_code == 200
    for client, who in ((anonymous, "anonymous"), (signed_in, "signed in")):
        for path, params in (
            ("/login", {"service": target}),
            ("/login", {"service": target, "gateway": "true"}),
            ("/login", {"service": target, "renew": "true"}),
            ("/login", {"service": target, "method": "POST"}),
            ("/login", {"service": target, "method": "HEADER"}),
            ("/login", {"url": target}),
            ("/logout", {"service": target}),
            ("/logout", {"url": target}),
        ):
            response = client.get(path, query_string=params)
            assert_no_open_redirect(app, response, f"{who} {path} {params}")
            assert "ticket" not in response.headers  # method=HEADER
            assert 'name="ticket"' not in response.get_data(as_text=True)
            if path == "/logout" and who == "signed in":
                # Logged out by the hostile link: sign in again for the next case.
                CasBrowser(signed_in).login()


def test_logout_follows_a_registered_service_only(app: Flask, alice: Account) -> None:
    client = app.test_client()
    CasBrowser(client).login()
    response = client.get("/logout", query_string={"service": APP})
    assert response.status_code == 302 and response.headers["Location"] == APP


# --- XSS ------------------------------------------------------------------------------

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    '" autofocus onfocus="alert(1)',
    "</textarea><script>alert(1)</script>",
    "javascript:alert(1)",
]
GET_ENDPOINTS = {
    "/login": ("service", "renew", "gateway", "warn", "method", "lang", "url"),
    "/logout": ("service", "url", "lang"),
    "/validate": ("service", "ticket", "renew"),
    "/serviceValidate": ("service", "ticket", "pgtUrl", "renew", "format"),
    "/proxyValidate": ("service", "ticket", "pgtUrl", "renew", "format"),
    "/p3/serviceValidate": ("service", "ticket", "pgtUrl", "renew", "format"),
    "/p3/proxyValidate": ("service", "ticket", "pgtUrl", "renew", "format"),
    "/proxy": ("pgt", "targetService", "format"),
    "/login/password": ("lang",),
    "/login/charter": ("lang",),
}
# Markup that would run: a raw tag, or a quote closed by the payload (escaped text is harmless).
RAW = re.compile(r"<script>alert|<img src=x|<svg onload|\"\s*autofocus onfocus=\"alert")


def assert_escaped(response: Any, what: str) -> None:
    body = response.get_data(as_text=True)
    kind = response.headers.get("Content-Type", "")
    if "json" in kind:
        json.loads(body)  # well-formed; a JSON string is not markup
        return
    if "xml" in kind:
        root = etree.fromstring(response.get_data())
        # The payload is text, never an element or attribute of the document.
        for element in root.iter():
            assert not str(element.tag).endswith(("script", "img", "svg")), (what, body[:300])
        return
    assert not RAW.search(body), (what, RAW.search(body), body[:500])
    # Attribute values: a payload never closes the quote it sits in.
    assert 'autofocus onfocus="alert' not in body, what


@pytest.mark.parametrize("path", sorted(GET_ENDPOINTS))
def test_every_parameter_is_escaped(app: Flask, alice: Account, path: str) -> None:
    client = app.test_client()
    signed_in = app.test_client()
    CasBrowser(signed_in).login()
    for name in GET_ENDPOINTS[path]:
        for payload in PAYLOADS:
            for who, c in (("anonymous", client), ("signed in", signed_in)):
                for value in (payload, APP + "?q=" + payload):
                    response = c.get(path, query_string={name: value, "format": "XML"}
                                     if name != "format" else {name: value})  # fmt: skip
                    assert response.status_code < 500, (path, name, value)
                    assert_escaped(response, f"{who} {path}?{name}={value}")


def test_posted_fields_are_escaped(app: Flask, alice: Account) -> None:
    browser = CasBrowser(app.test_client())
    for payload in PAYLOADS:
        # The login is shown back in the form after a failure.
        response = browser.login(username=payload, password="wrong")
        assert response.status_code == 401
        assert_escaped(response, f"username={payload}")
        response = browser.login(username="alice", password="wrong", service=APP + payload)
        assert_escaped(response, f"service={payload}")


# --- headers and cookies --------------------------------------------------------------


def assert_security_headers(response: Any, https: bool, what: str) -> None:
    h = response.headers
    csp = h.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, what
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp, what
    assert h.get("X-Frame-Options") == "DENY", what
    assert h.get("X-Content-Type-Options") == "nosniff", what
    assert h.get("Referrer-Policy") == "no-referrer", what
    if https:
        assert h.get("Strict-Transport-Security", "").startswith("max-age="), what
        assert int(h["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 15552000
    else:
        assert "Strict-Transport-Security" not in h, what


@pytest.mark.parametrize("https", [False, True])
def test_security_headers_on_every_kind_of_answer(app: Flask, alice: Account, https: bool) -> None:
    base = "https://cas.example.org" if https else "http://localhost"
    client = app.test_client()
    answers = {
        "login form": client.get("/login", base_url=base),
        "bad parameter": client.get("/login?method=PUT", base_url=base),
        "unauthorized service": client.get(
            "/login?service=https://evil.example.com/", base_url=base
        ),
        "404": client.get("/nothing", base_url=base),
        "405": client.put("/login", base_url=base),
        "csrf failure": client.post("/login", base_url=base),
        "validation": client.get("/p3/serviceValidate?service=x&ticket=y", base_url=base),
        "static file": client.get("/themes/default/static/css/cas.css", base_url=base),
        "logout": client.get("/logout", base_url=base),
    }
    token = CSRF_RE.search(client.get("/login", base_url=base).get_data(as_text=True))
    assert token
    answers["redirect with a ticket (token page)"] = client.post(
        "/login",
        base_url=base,
        data={"username": "alice", "password": PASSWORD, "csrf_token": token.group(1),
              "service": APP},
    )  # fmt: skip
    assert answers["redirect with a ticket (token page)"].status_code == 302
    answers["sso redirect"] = client.get("/login", query_string={"service": APP}, base_url=base)
    answers["method=POST form"] = client.get(
        "/login", query_string={"service": APP, "method": "POST"}, base_url=base
    )
    for what, response in answers.items():
        assert_security_headers(response, https, what)
        if what != "static file":
            assert "no-store" in response.headers.get("Cache-Control", ""), what


def cookie_flags(response: Any, name: str) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    return None


@pytest.mark.parametrize("https", [False, True])
def test_cookies_are_flagged(app: Flask, alice: Account, https: bool) -> None:
    base = "https://cas.example.org" if https else "http://localhost"
    client = app.test_client()
    token = CSRF_RE.search(client.get("/login", base_url=base).get_data(as_text=True))
    assert token
    response = client.post(
        "/login", base_url=base,
        data={"username": "alice", "password": PASSWORD, "csrf_token": token.group(1)},
    )  # fmt: skip
    tgc = cookie_flags(response, "TGC")
    assert tgc is not None
    flags = [f.strip().lower() for f in tgc.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert ("secure" in flags) is https
    assert not any(f.startswith(("expires=", "max-age=")) for f in flags)  # browser session
    session = cookie_flags(response, "cas_session")
    assert session is not None
    flags = [f.strip().lower() for f in session.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags


def test_session_cookie_is_secure_when_the_public_url_is_https(
    db_path: Any, alice: Account
) -> None:
    from cas_server import create_app
    from tests.support.app import test_overrides

    app = create_app(
        overrides=test_overrides(db_path, server={"public_url": "https://cas.example.org"}),
        environ={},
    )
    try:
        response = app.test_client().get("/login", base_url="https://cas.example.org")
        session = cookie_flags(response, "cas_session")
        assert session is not None and "secure" in session.lower()
    finally:
        app.extensions["cas"].engine.dispose()


# --- session fixation -----------------------------------------------------------------


def test_no_session_fixation(app: Flask, alice: Account) -> None:
    make_account(app, "mallory", attributes={"mail": ["mallory@example.org"]})
    # The attacker gets a session (and a CSRF token) from the login page, signs in,
    # and plants both cookies in the victim's browser.
    attacker = app.test_client()
    attacker.get("/login")
    planted_session = attacker.get_cookie("cas_session")
    CasBrowser(attacker).login("mallory")
    planted_tgc = attacker.get_cookie("TGC")
    assert planted_tgc is not None and planted_session is not None
    victim = app.test_client()
    victim.set_cookie("TGC", planted_tgc.value)
    victim.set_cookie("cas_session", planted_session.value)
    old_token = CSRF_RE.search(victim.get("/login?renew=true").get_data(as_text=True))
    assert old_token
    response = victim.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": old_token.group(1),
              "service": APP},
    )  # fmt: skip
    assert response.status_code == 302
    new_tgc = victim.get_cookie("TGC")
    assert new_tgc is not None and new_tgc.value != planted_tgc.value
    new_session = victim.get_cookie("cas_session")
    assert new_session is None or new_session.value != planted_session.value
    # The planted session ended: the attacker's cookie gets no ticket for alice (or anyone).
    replay = app.test_client()
    replay.set_cookie("TGC", planted_tgc.value)
    answer = replay.get("/login", query_string={"service": APP})
    assert answer.status_code == 200 and "ticket=" not in answer.headers.get("Location", "")
    # The old CSRF token no longer posts in the new session.
    again = victim.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": old_token.group(1)},
    )
    assert again.status_code == 400


# --- timing of unknown vs known logins ------------------------------------------------

SAMPLES = 25


@pytest.mark.slow
def test_unknown_login_costs_the_same_as_a_known_one(db_path: Any) -> None:
    """Medians of interleaved failed sign-ins at bcrypt cost 8: within noise, not a speed test."""
    from cas_server import create_app
    from tests.support.app import test_overrides

    app = create_app(
        overrides=test_overrides(
            db_path,
            passwords={"bcrypt_cost": 8},
            login={
                "max_failures_per_login": 100000,
                "max_failures_per_ip": 100000,
                "max_logins_per_ip": 100000,  # many logins from one address: spraying
            },
        ),
        environ={},
    )
    try:
        from cas_server.auth.hashing import hash_password

        app.extensions["cas"].accounts.create(
            "known", profile=alice_profile(), password_hash=hash_password("Right-Pass-2026!", 8)
        )
        client = app.test_client()
        token = CSRF_RE.search(client.get("/login").get_data(as_text=True))
        assert token

        def attempt(login: str) -> float:
            began = time.perf_counter()
            response = client.post(
                "/login",
                data={"username": login, "password": "Wrong-Pass-2026!",
                      "csrf_token": token.group(1)},
            )  # fmt: skip
            elapsed = time.perf_counter() - began
            assert response.status_code == 401, response.status_code
            return elapsed

        attempt("known"), attempt("nobody-0")  # warm both paths
        known, unknown = [], []
        for i in range(SAMPLES):
            # Interleaved, so machine load hits both series alike.
            known.append(attempt("known"))
            unknown.append(attempt(f"nobody-{i}"))
        ratio = statistics.median(unknown) / statistics.median(known)
        assert 0.8 < ratio < 1.25, (ratio, statistics.median(known), statistics.median(unknown))
    finally:
        app.extensions["cas"].engine.dispose()


def alice_profile() -> Any:
    from cas_server.accounts.model import Profile

    return Profile.STUDENT


def test_csrf_exemptions_are_only_the_documented_ones(app: Flask) -> None:
    from cas_server.web.security import csrf

    exempt = {name.rsplit(".", 1)[-1] for name in csrf._exempt_views}
    # samlValidate: server to server. Any other exemption must be justified here.
    # sso, slo (/idp/sso, /idp/slo, #18): the SAML HTTP-POST binding, posted by a
    # service provider's page; the message's own signature and checks stand for it.
    assert exempt <= {"saml_validate", "import_upload", "sso", "slo"}, exempt
