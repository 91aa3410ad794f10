"""Property-based fuzzing of every endpoint (Hypothesis, Flask test client).

Whatever the parameters, headers and bodies: never a 500, never a stack trace
in the body, and never a service ticket for a service that is not registered
and enabled. Bounded: a fixed number of examples per test, derandomized so CI
sees the same inputs every run (FUZZ_RANDOM=1 FUZZ_EXAMPLES=2000 explores more).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]
from werkzeug.urls import iri_to_uri

from cas_server import create_app
from tests.support.app import PASSWORD, make_account, test_overrides
from tests.support.html import CSRF_RE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a slow example is not a failure here; the suite's time is bounded
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRACE_MARKERS = (
    "Traceback (most recent call last)",
    'File "/',
    "sqlalchemy.exc",
    "Werkzeug Debugger",
)
REGISTERED = "https://app.example.org/"

# Values that have broken web applications before, mixed with random text.
NASTY = [
    "",
    " ",
    "\x00",
    "%00",
    "\r\nSet-Cookie: x=1",
    "%0d%0aLocation:%20https://evil.example.com",
    "'\"><script>alert(1)</script>",
    "javascript:alert(1)",
    "//evil.example.com/",
    "/\\evil.example.com",
    "https://evil.example.com/",
    "https://app.example.org.evil.example.com/",
    "https://app.example.org@evil.example.com/",
    "https://app.example.org/..%2f..%2f",
    "https://app.example.org/\x00",
    "https://APP.example.org/",
    "https://app.example.org:443/x",
    "https://app.example.org/blocked/x",
    "https://staff.example.org/",
    "http://app.example.org/",
    "https://app.example.org/" + "a" * 5000,
    "ST-" + "A" * 22,
    "ST-" + "A" * 300,
    "PGT-x",
    "TGT-x",
    "../../../../etc/passwd",
    "..%2f..%2f..%2fconfig%2fdefault.toml",
    "é" * 50,
    "\ud7ff\ue000\uffff",
    "𝒜𝒷𝒸",
    "true",
    "false",
    "POST",
    "HEADER",
    "JSON",
    "XML",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
]
text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="ascii"), max_size=300),
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY), st.text(max_size=20)),
)
maybe = st.one_of(st.none(), text)
PARAMS = ("service", "ticket", "renew", "gateway", "warn", "method", "url", "pgtUrl", "format",
          "TARGET", "targetService", "pgt", "lang", "sso", "next", "username", "password",
          "csrf_token", "decision", "computer", "remember")  # fmt: skip
params = st.dictionaries(st.sampled_from(PARAMS), text, max_size=6)
HEADER_VALUES = [".", "a..b", "x" * 300, "[::1", "evil.example.com", "127.0.0.1:99999",
                 "*", "fr;q=abc", "en-GB,en;q=0.9,*;q=0", "https", "1.2.3.4, 5.6.7.8"]  # fmt: skip
headers = st.dictionaries(
    st.sampled_from(["Accept-Language", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto",
                     "Accept", "Content-Type", "Origin", "Referer", "Host"]),
    st.one_of(st.sampled_from(HEADER_VALUES),
              st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)),
    max_size=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, migrated_db: Path) -> Iterator[Flask]:
    """One app for every example of the module (a fresh app per example would be too slow)."""
    db = tmp_path_factory.mktemp("fuzz") / "cas.sqlite3"
    shutil.copy(migrated_db, db)
    app = create_app(overrides=test_overrides(db, login={"max_failures_per_login": 3}), environ={})
    make_account(app)
    yield app
    app.extensions["cas"].single_logout.executor.shutdown(wait=True)
    app.extensions["cas"].engine.dispose()


@pytest.fixture(scope="module")
def signed_in(fuzz_app: Flask) -> str:
    """A valid ticket-granting cookie of alice."""
    client = fuzz_app.test_client()
    page = client.get("/login")
    token = CSRF_RE.search(page.get_data(as_text=True))
    assert token
    answer = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    cookie = client.get_cookie("TGC")
    assert cookie is not None
    return cookie.value


def registered(app: Flask, service: str) -> bool:
    return app.extensions["cas"].services.find_enabled(service) is not None


def check(app: Flask, response: Any, service: str | None) -> None:
    """The properties every answer must have."""
    assert response.status_code < 500, response.status_code
    body = response.get_data(as_text=True)
    for marker in TRACE_MARKERS:
        assert marker not in body, body[:1000]
    issued = issued_ticket(response, body)
    if issued is not None:
        where, ticket = issued
        assert ticket.startswith(("ST-", "PT-")), ticket
        assert service is not None and registered(app, service), (service, where)
        # The ticket goes before any fragment (2.2.4), and a Location header
        # carries the service as a URI (werkzeug's iri_to_uri, both paths).
        stem = service.partition("#")[0]
        assert where.startswith((stem, iri_to_uri(stem))), (service, where)
    location = response.headers.get("Location")
    if location is not None and response.status_code in (301, 302, 303, 307, 308):
        target = urlsplit(location)
        if (target.scheme or target.netloc) and target.netloc != "localhost":
            # Off this server (the test client's host): only to a registered, enabled service.
            stem = location.split("?ticket=")[0].split("&ticket=")[0]
            assert registered(app, stem) or registered(app, location), location


def issued_ticket(response: Any, body: str) -> tuple[str, str] | None:
    """(where to, ticket) if the answer hands a service ticket to a browser."""
    location = response.headers.get("Location") or ""
    tickets = parse_qs(urlsplit(location).query).get("ticket")
    if tickets:
        return location, tickets[0]
    if response.headers.get("ticket"):
        return response.headers.get("service", ""), response.headers["ticket"]
    match = re.search(
        r'<form[^>]*action="([^"]*)"[^>]*>.*?name="ticket" value="([^"]+)"', body, re.S
    )
    if match:
        return match.group(1).replace("&amp;", "&"), match.group(2)
    return None


def client_with(app: Flask, tgc: str | None, cookie_junk: str | None) -> FlaskClient:
    client = app.test_client()
    if tgc is not None:
        client.set_cookie("TGC", tgc)
    if cookie_junk is not None:
        client.set_cookie("cas_session", cookie_junk)
    return client


@FUZZ
@given(query=params, extra=headers, session=st.booleans(), junk=maybe)
def test_login_get(
    fuzz_app: Flask, signed_in: str, query: dict[str, str], extra: dict[str, str],
    session: bool, junk: str | None,
) -> None:  # fmt: skip
    client = client_with(fuzz_app, signed_in if session else junk, junk)
    response = client.get("/login", query_string=query, headers=extra)
    check(fuzz_app, response, query.get("service"))


@FUZZ
@given(
    service=st.one_of(st.sampled_from(NASTY), st.just(REGISTERED), text),
    flags=st.dictionaries(
        st.sampled_from(["renew", "gateway", "warn", "method"]), text, max_size=3
    ),
)
def test_sso_issues_tickets_only_to_registered_services(
    fuzz_app: Flask, signed_in: str, service: str, flags: dict[str, str]
) -> None:
    client = client_with(fuzz_app, signed_in, None)
    response = client.get("/login", query_string={"service": service, **flags})
    check(fuzz_app, response, service)


@FUZZ
@given(form=params, with_token=st.booleans(), session=st.booleans(), extra=headers)
def test_login_post(
    fuzz_app: Flask, signed_in: str, form: dict[str, str], with_token: bool, session: bool,
    extra: dict[str, str],
) -> None:  # fmt: skip
    client = client_with(fuzz_app, signed_in if session else None, None)
    if with_token:
        match = CSRF_RE.search(client.get("/login?renew=true").get_data(as_text=True))
        assert match
        form = {**form, "csrf_token": match.group(1)}
        if form.get("username") == "alice" or st_bool(form):
            form["username"], form["password"] = "alice", PASSWORD
    extra.pop("Content-Type", None)
    response = client.post("/login", data=form, headers=extra)
    check(fuzz_app, response, form.get("service"))
    if response.status_code in (302, 303) and "ticket=" in response.headers.get("Location", ""):
        assert registered(fuzz_app, form.get("service") or "")


def st_bool(form: dict[str, str]) -> bool:
    """Half of the token-bearing posts use the right password (deterministic from the form)."""
    return len(form) % 2 == 0


VALIDATION = ("/validate", "/serviceValidate", "/proxyValidate", "/p3/serviceValidate",
              "/p3/proxyValidate", "/proxy")  # fmt: skip


@FUZZ
@given(path=st.sampled_from(VALIDATION), query=params, extra=headers)
def test_validation_endpoints(
    fuzz_app: Flask, path: str, query: dict[str, str], extra: dict[str, str]
) -> None:
    extra.pop("Host", None)  # an unroutable Host is a 400 (test_malformed_host_header...)
    response = fuzz_app.test_client().get(path, query_string=query, headers=extra)
    check(fuzz_app, response, None)
    # Failures are documents with HTTP 200 (Java clients show a trace on a 4xx).
    assert response.status_code == 200, response.status_code
    body = response.get_data()
    kind = response.headers["Content-Type"]
    if "json" in kind:
        json.loads(body)
    elif "xml" in kind:
        etree.fromstring(body)
    else:
        assert body.startswith(b"no\n") or body.startswith(b"yes\n")


SAML_TEMPLATE = (
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
    "<SOAP-ENV:Header/><SOAP-ENV:Body>"
    '<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" '
    'MinorVersion="1" RequestID="{rid}" IssueInstant="2026-01-01T00:00:00Z">'
    "<samlp:AssertionArtifact>{ticket}</samlp:AssertionArtifact>"
    "</samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
XML_BOMBS = [
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
    '&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;&c;&c;&c;</l>',
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    '<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:1/evil.dtd"><x/>',
    "<" * 10000,
    "\xff\xfe<x/>",
]
saml_bodies = st.one_of(
    st.sampled_from(XML_BOMBS),
    st.binary(max_size=500).map(lambda b: b.decode("latin-1")),
    st.builds(lambda r, t: SAML_TEMPLATE.format(rid=r, ticket=t), text, text),
)


@FUZZ
@given(
    body=saml_bodies,
    target=maybe,
    content_type=st.sampled_from(["text/xml", "application/soap+xml", "", "multipart/form-data",
                                  "application/x-www-form-urlencoded"]),
)  # fmt: skip
def test_saml_validate(fuzz_app: Flask, body: str, target: str | None, content_type: str) -> None:
    query = {} if target is None else {"TARGET": target}
    response = fuzz_app.test_client().post(
        "/samlValidate", query_string=query, data=body.encode("utf-8", "surrogatepass"),
        headers={"Content-Type": content_type} if content_type else {},
    )  # fmt: skip
    check(fuzz_app, response, None)
    assert response.status_code == 200
    # No external entity resolved: no file content in the answer.
    assert b"root:x:0:0" not in response.get_data()
    etree.fromstring(response.get_data())


@FUZZ
@given(query=params, session=st.booleans())
def test_logout(fuzz_app: Flask, query: dict[str, str], session: bool) -> None:
    # A session of its own: logging out must not end the module's signed-in session.
    client = fuzz_app.test_client()
    if session:
        client.set_cookie("TGC", "TGT-" + "x" * 30)
    response = client.get("/logout", query_string=query)
    check(fuzz_app, response, query.get("service"))


segment = st.one_of(
    st.sampled_from(["default", "..", ".", "%2e%2e", "default~default", "~", "css", "cas.css",
                     "..%2f", "%00", "static", "templates", "login.html", "etc", "passwd"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#"),
            min_size=1, max_size=20),
)  # fmt: skip


@FUZZ
@given(chain=segment, parts=st.lists(segment, min_size=1, max_size=5))
def test_theme_static_paths(fuzz_app: Flask, chain: str, parts: list[str]) -> None:
    path = f"/themes/{chain}/static/" + "/".join(parts)
    response = fuzz_app.test_client().get(path)
    check(fuzz_app, response, None)
    assert response.status_code in (200, 301, 308, 404, 400), (path, response.status_code)
    if response.status_code == 200:
        themes = fuzz_app.extensions["cas"].themes.themes_dir.resolve()
        body = response.get_data()
        assert b"secret_key" not in body and b"root:x:" not in body, path
        assert response.headers["Content-Type"].split(";")[0] in (
            "text/css", "application/javascript", "text/javascript", "image/svg+xml",
            "image/png", "image/x-icon", "image/vnd.microsoft.icon", "font/woff2",
            "text/plain", "application/octet-stream",
        ), (path, response.headers["Content-Type"], themes)  # fmt: skip


@pytest.mark.parametrize("host", [".", "a..b", "x" * 300, "[::1", "-.example.org"])
@pytest.mark.parametrize("path", ["/login", "/logout", "/nothing", "/p3/serviceValidate"])
def test_malformed_host_header_is_a_400_not_a_500(fuzz_app: Flask, host: str, path: str) -> None:
    response = fuzz_app.test_client().get(path, headers={"Host": host})
    check(fuzz_app, response, None)


def every_route(app: Flask) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule))
    return sorted(routes)


@st.composite
def route_requests(
    draw: st.DrawFn, routes: list[tuple[str, str]]
) -> tuple[str, str, dict[str, str]]:
    method, rule = draw(st.sampled_from(routes))
    path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", lambda _: draw(st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"),
        min_size=1, max_size=40)), rule)  # fmt: skip
    return method, path, draw(params)


def test_every_route_survives_hostile_input(fuzz_app: Flask, signed_in: str) -> None:
    """Every route of the application, whoever registered it (Sésame, admin, ops...)."""
    routes = every_route(fuzz_app)
    assert len(routes) >= 15

    @settings(FUZZ, max_examples=EXAMPLES * 4)
    @given(request=route_requests(routes), session=st.booleans(), extra=headers)
    def run(request: tuple[str, str, dict[str, str]], session: bool, extra: dict[str, str]) -> None:
        method, path, values = request
        client = client_with(fuzz_app, signed_in if session else None, None)
        extra.pop("Content-Type", None)
        if method == "GET":
            response = client.get(path, query_string=values, headers=extra)
        else:
            response = client.open(path, method=method, data=values, headers=extra)
        check(fuzz_app, response, values.get("service"))

    run()
