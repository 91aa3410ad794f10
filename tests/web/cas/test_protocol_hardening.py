"""Hostile parameters and deployment defaults (security review, issue 11 items 11 and 12).

Control characters in ``service``, ``pgtUrl``, ``targetService``, ``TARGET``
and /logout's ``service``/``url`` are refused with the protocol's error on
every endpoint, and never reach a header; behind a TLS-terminating proxy
(``trusted_proxies = 0``, an https public URL) every cookie is ``Secure``
and HSTS is sent, on the Flask path and on the fast path alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from cas_server import create_app
from cas_server.accounts.model import Account
from tests.support.app import CasBrowser, make_account, test_overrides

APP = "https://app.example.org/"
CAS = {"cas": "http://www.yale.edu/tp/cas"}
# C0 (NUL, TAB, LF, CR, ESC, US), DEL and C1 (U+0080, NEL U+0085, CSI U+009B, U+009F).
CONTROLS = ["\x00", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9b", "\x9f"]
VALIDATION_PATHS = (
    "/validate",
    "/serviceValidate",
    "/proxyValidate",
    "/p3/serviceValidate",
    "/p3/proxyValidate",
)
HSTS = "Strict-Transport-Security"


def hostile(char: str) -> str:
    """A service URL the registry accepts (``.`` matches CR), with a header after it."""
    return f"{APP}{char}Set-Cookie: x=1"


def _signed_in(client: FlaskClient) -> None:
    response = CasBrowser(client).login()
    assert response.status_code == 200, response.status_code
    assert client.get_cookie("TGC") is not None


def _no_injected_header(response: Any) -> None:
    assert "Location" not in response.headers
    for name, value in response.headers.items():
        assert "\r" not in value and "\n" not in value, (name, value)
        assert name.lower() != "set-cookie" or not value.startswith("x=")


def _failure_code(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    doc = etree.fromstring(response.data)
    node = doc.find("cas:authenticationFailure", CAS)
    if node is None:
        node = doc.find("cas:proxyFailure", CAS)
    assert node is not None, response.data
    return str(node.get("code"))


@pytest.fixture(params=[True, False], ids=["fast-path", "flask"])
def any_path_app(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Flask]:
    application = create_app(
        overrides=test_overrides(db_path, server={"fast_path": request.param}), environ={}
    )
    yield application
    application.extensions["cas"].single_logout.executor.shutdown(wait=True)
    application.extensions["cas"].engine.dispose()


# --- item 11: control characters ----------------------------------------------------


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_login_with_a_session_refuses_a_control_character_in_service(
    any_path_app: Flask, char: str
) -> None:
    make_account(any_path_app)
    client = any_path_app.test_client()
    _signed_in(client)
    response = client.get("/login?service=" + quote(hostile(char), safe=""))
    assert response.status_code == 400
    assert "service" in response.get_data(as_text=True)
    _no_injected_header(response)


@pytest.mark.parametrize("char", ["\r", "\n", "\x85"], ids=["CR", "LF", "NEL"])
def test_login_without_a_session_and_with_gateway_refuses_it_too(
    client: FlaskClient, char: str
) -> None:
    for query in ("", "&gateway=true", "&renew=true", "&method=POST"):
        response = client.get("/login?service=" + quote(hostile(char), safe="") + query)
        assert response.status_code == 400, query
        _no_injected_header(response)


def test_login_post_refuses_a_control_character_in_service(
    client: FlaskClient, alice: Account
) -> None:
    token = CasBrowser(client).csrf()
    response = client.post(
        "/login",
        data={
            "service": hostile("\r"),
            "username": "alice",
            "password": "whatever",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    _no_injected_header(response)


@pytest.mark.parametrize("path", VALIDATION_PATHS)
@pytest.mark.parametrize("char", ["\r", "\x00", "\x7f", "\x85"], ids=["CR", "NUL", "DEL", "NEL"])
def test_validation_refuses_a_control_character_in_service(
    any_path_app: Flask, path: str, char: str
) -> None:
    make_account(any_path_app)
    client = any_path_app.test_client()
    ticket = CasBrowser(client).service_ticket(APP)
    response = client.get(path, query_string={"service": hostile(char), "ticket": ticket})
    assert response.status_code == 200
    _no_injected_header(response)
    if path == "/validate":
        assert response.data == b"no\n\n"
    else:
        assert _failure_code(response) == "INVALID_REQUEST"
    # Refused before the ticket was looked at: the real service still validates it.
    good = client.get(path, query_string={"service": APP, "ticket": ticket})
    assert b"alice" in good.data


@pytest.mark.parametrize("path", VALIDATION_PATHS[1:])
def test_validation_refuses_a_control_character_in_pgt_url(any_path_app: Flask, path: str) -> None:
    make_account(any_path_app)
    client = any_path_app.test_client()
    ticket = CasBrowser(client).service_ticket(APP)
    response = client.get(
        path,
        query_string={
            "service": APP,
            "ticket": ticket,
            "pgtUrl": "https://127.0.0.1:1/cb\r\nX-Injected: 1",
        },
    )
    assert _failure_code(response) == "INVALID_REQUEST"
    _no_injected_header(response)


def test_proxy_refuses_a_control_character_in_target_service(client: FlaskClient) -> None:
    response = client.get(
        "/proxy",
        query_string={
            "pgt": "PGT-1-" + "a" * 30,
            "targetService": "https://backend.example.org/\r",
        },
    )
    assert _failure_code(response) == "INVALID_REQUEST"


def test_saml_validate_refuses_a_control_character_in_target(
    client: FlaskClient, browser: CasBrowser, alice: Account
) -> None:
    ticket = browser.service_ticket(APP)
    body = (
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
        "<SOAP-ENV:Body>"
        '<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" '
        'MinorVersion="1" RequestID="_r1" IssueInstant="2024-01-01T00:00:00Z">'
        f"<samlp:AssertionArtifact>{ticket}</samlp:AssertionArtifact>"
        "</samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    response = client.post(
        "/samlValidate?TARGET=" + quote(hostile("\x1b"), safe=""),
        data=body,
        content_type="text/xml",
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'Value="samlp:Requester"' in text
    assert "control character" in text and "alice" not in text


@pytest.mark.parametrize("name", ["service", "url"])
def test_logout_refuses_a_control_character_and_still_ends_the_session(
    client: FlaskClient, alice: Account, name: str
) -> None:
    _signed_in(client)
    response = client.get("/logout?" + name + "=" + quote(hostile("\r"), safe=""))
    assert response.status_code == 400
    _no_injected_header(response)
    # The session ended all the same: a crafted link never keeps anyone signed in.
    assert client.get("/login", query_string={"service": APP}).status_code == 200


# --- item 12: Secure cookies and HSTS behind a TLS-terminating proxy ------------------

PUBLIC = "https://cas.example.org"


def _behind_proxy(db_path: Path, **extra: dict[str, Any]) -> Flask:
    """TLS ends at the proxy; the app sees plain HTTP and trusts no X-Forwarded-* header."""
    server = {"public_url": PUBLIC, "trusted_proxies": 0, **extra.pop("server", {})}
    return create_app(overrides=test_overrides(db_path, server=server, **extra), environ={})


@pytest.fixture(params=[True, False], ids=["fast-path", "flask"])
def proxied(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Flask]:
    application = _behind_proxy(db_path, server={"fast_path": request.param})
    make_account(application)
    yield application
    application.extensions["cas"].single_logout.executor.shutdown(wait=True)
    application.extensions["cas"].engine.dispose()


def test_https_public_url_makes_every_cookie_secure(proxied: Flask) -> None:
    client = proxied.test_client()
    assert client.get("/login?lang=en").status_code == 200  # sets the CSRF session too
    _all_secure(client, "cas_session", "lang")
    response = CasBrowser(client).login(warn="true")
    assert response.status_code == 200
    _all_secure(client, "TGC", "CASPRIVACY")


def _all_secure(client: FlaskClient, *names: str, secure: bool = True) -> None:
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, name
        assert cookie.secure is secure, name
        assert cookie.http_only, name


def test_https_public_url_sends_hsts_on_every_response(proxied: Flask) -> None:
    client = proxied.test_client()
    ticket = CasBrowser(client).service_ticket(APP)
    responses = {
        "login page": client.get("/login"),
        "sso redirect": client.get("/login", query_string={"service": APP}),
        "validation": client.get(
            "/serviceValidate", query_string={"service": APP, "ticket": ticket}
        ),
        "cas 1.0": client.get("/validate", query_string={"service": APP, "ticket": "ST-x"}),
        "not found": client.get("/nothing-here"),
        "health": client.get("/health"),
    }
    assert responses["sso redirect"].status_code == 302
    for what, response in responses.items():
        assert response.headers.get(HSTS, "").startswith("max-age="), what


def test_secure_false_stays_possible_for_development(db_path: Path) -> None:
    application = _behind_proxy(db_path, cookies={"secure": False})
    make_account(application)
    client = application.test_client()
    client.get("/login?lang=en")
    _all_secure(client, "cas_session", "lang", secure=False)
    CasBrowser(client).login()
    _all_secure(client, "TGC", secure=False)
    assert HSTS not in client.get("/login").headers
    assert HSTS not in client.get("/login", query_string={"service": APP}).headers
    application.extensions["cas"].engine.dispose()


def test_plain_http_public_url_still_follows_the_request(
    client: FlaskClient, alice: Account
) -> None:
    CasBrowser(client).login()
    cookie = client.get_cookie("TGC")
    assert cookie is not None and not cookie.secure
    assert HSTS not in client.get("/login").headers
    assert HSTS not in client.get("/serviceValidate").headers
    assert client.get("/serviceValidate", base_url="https://cas.example.org").headers[HSTS]
