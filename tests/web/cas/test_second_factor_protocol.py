"""What services learn about the second factor, and the fast path's refusal (issue #14).

Through the Flask test client: the protocol attributes ``authenticationMethod``,
``successfulAuthenticationHandlers`` and ``authnContextClass`` in /p3
answers (XML and JSON) and /samlValidate, for a password-only session and
for one stepped up with a TOTP code (``LoginService.step_up``, the call the
sign-in pages make); and the fast path, which never hands a ticket for a
service with ``mfa = "required"`` to a session without a second factor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, request_started
from flask.testing import FlaskClient
from lxml import etree

from cas_server import create_app
from tests.support.app import CasBrowser, make_account, test_overrides
from tests.support.paths import SERVICES

APP = "https://app.example.org/"
PAYROLL = "https://payroll.example.org/"
CAS = {"cas": "http://www.yale.edu/tp/cas"}
SAML = "urn:oasis:names:tc:SAML:1.0:assertion"
SFA = "https://refeds.org/profile/sfa"
MFA = "https://refeds.org/profile/mfa"
MFA_SERVICE = """
[[services]]
id = "payroll"
name = "Payroll"
url_pattern = '^https://payroll\\.example\\.org(/.*)?$'
release_attributes = ["uid"]
mfa = "required"
"""
# How each kind of session is reported.
EXPECTED = {
    "sfa": {
        "authenticationMethod": ["password"],
        "successfulAuthenticationHandlers": ["PasswordAuthenticationHandler"],
        "authnContextClass": [SFA],
    },
    "totp": {
        "authenticationMethod": ["password", "totp"],
        "successfulAuthenticationHandlers": [
            "PasswordAuthenticationHandler",
            "TotpAuthenticationHandler",
        ],
        "authnContextClass": [MFA],
    },
}


def build(db_path: Path, services: Path, *, fast_path: bool) -> Flask:
    paths = {"paths": [str(SERVICES), str(services)]}
    overrides = test_overrides(db_path, services=paths, server={"fast_path": fast_path})
    return create_app(overrides=overrides, environ={})


@pytest.fixture
def apps(db_path: Path, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """The same server twice on one database: fast path on, and off."""
    services = tmp_path / "mfa.toml"
    services.write_text(MFA_SERVICE, encoding="utf-8")
    fast = build(db_path, services, fast_path=True)
    slow = build(db_path, services, fast_path=False)
    make_account(fast)
    yield fast, slow
    for application in (fast, slow):
        application.extensions["cas"].single_logout.executor.shutdown(wait=True)
        application.extensions["cas"].engine.dispose()


class FlaskCalls:
    """Counts the requests that reached Flask's request machinery (not the fast path)."""

    def __init__(self, app: Flask) -> None:
        self.count = 0
        request_started.connect(self._seen, app)

    def _seen(self, sender: Any, **extra: Any) -> None:
        self.count += 1


def signed_in(app: Flask, kind: str) -> tuple[FlaskClient, str]:
    """A browser signed in with the password; for ``totp``, stepped up as the pages do."""
    client = app.test_client()
    response = CasBrowser(client).login()
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    cookie = client.get_cookie("TGC")
    assert cookie is not None
    if kind == "totp":
        c = app.extensions["cas"]
        assert c.login.step_up(cookie.value, "totp", c.clock.now()) is not None
    return client, cookie.value


def sso_ticket(client: FlaskClient, service: str) -> str:
    response = client.get("/login?service=" + quote(service, safe=""))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert "ticket=ST-" in location
    return location.split("ticket=", 1)[1]


def xml_attributes(document: bytes) -> dict[str, list[str]]:
    root = etree.fromstring(document)
    attrs = root.find("cas:authenticationSuccess/cas:attributes", CAS)
    assert attrs is not None, document[:500]
    found: dict[str, list[str]] = {}
    for element in attrs:
        found.setdefault(etree.QName(element).localname, []).append(element.text or "")
    return found


def saml_request(ticket: str) -> bytes:
    return (
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
        '<SOAP-ENV:Header/><SOAP-ENV:Body><samlp:Request xmlns:samlp="urn:oasis:names:tc:'
        'SAML:1.0:protocol" MajorVersion="1" MinorVersion="1" RequestID="_r1" '
        f'IssueInstant="2026-01-01T00:00:00Z"><samlp:AssertionArtifact>{ticket}'
        "</samlp:AssertionArtifact></samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def protocol_part(found: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: found.get(name, []) for name in EXPECTED["sfa"]}


# --- what services learn -----------------------------------------------------------


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "flask"])
@pytest.mark.parametrize("kind", ["sfa", "totp"])
def test_p3_xml_carries_how_the_person_signed_in(
    apps: tuple[Flask, Flask], kind: str, fast_path: bool
) -> None:
    app = apps[0] if fast_path else apps[1]
    client, _ = signed_in(app, kind)
    ticket = sso_ticket(client, APP)
    response = client.get("/p3/serviceValidate", query_string={"service": APP, "ticket": ticket})
    assert response.status_code == 200
    found = xml_attributes(response.data)
    assert protocol_part(found) == EXPECTED[kind]
    # Released to every service, like authenticationDate: "app" does not list them.
    assert "authenticationDate" in found and found["uid"] == ["alice"]
    # Appendix A's three come first; ours follow them, before the released ones.
    assert list(found)[:6] == [
        "authenticationDate",
        "longTermAuthenticationRequestTokenUsed",
        "isFromNewLogin",
        "authenticationMethod",
        "successfulAuthenticationHandlers",
        "authnContextClass",
    ]


@pytest.mark.parametrize("kind", ["sfa", "totp"])
def test_p3_json_carries_how_the_person_signed_in(apps: tuple[Flask, Flask], kind: str) -> None:
    client, _ = signed_in(apps[0], kind)
    ticket = sso_ticket(client, APP)
    response = client.get(
        "/p3/serviceValidate", query_string={"service": APP, "ticket": ticket, "format": "JSON"}
    )
    attributes = json.loads(response.data)["serviceResponse"]["authenticationSuccess"]["attributes"]
    # JSON: one value is a string, several a list (2.5.7).
    expected = {k: v[0] if len(v) == 1 else v for k, v in EXPECTED[kind].items()}
    assert {k: attributes.get(k) for k in expected} == expected


@pytest.mark.parametrize("kind", ["sfa", "totp"])
def test_saml_validate_carries_how_the_person_signed_in(
    apps: tuple[Flask, Flask], kind: str
) -> None:
    client, _ = signed_in(apps[1], kind)
    ticket = sso_ticket(client, APP)
    response = client.post(
        "/samlValidate",
        query_string={"TARGET": APP},
        data=saml_request(ticket),
        content_type="text/xml",
    )
    assert response.status_code == 200
    doc = etree.fromstring(response.data)
    found = {
        a.get("AttributeName"): [v.text for v in a.findall(f"{{{SAML}}}AttributeValue")]
        for a in doc.iter(f"{{{SAML}}}Attribute")
    }
    assert protocol_part(found) == EXPECTED[kind]  # type: ignore[arg-type]
    statement = doc.find(f".//{{{SAML}}}AuthenticationStatement")
    assert statement is not None
    method = "password" if kind == "sfa" else "unspecified"
    assert statement.get("AuthenticationMethod") == f"urn:oasis:names:tc:SAML:1.0:am:{method}"


def test_a_ticket_for_the_mfa_service_after_the_step_up(apps: tuple[Flask, Flask]) -> None:
    client, _ = signed_in(apps[0], "totp")
    ticket = sso_ticket(client, PAYROLL)
    response = client.get(
        "/p3/serviceValidate", query_string={"service": PAYROLL, "ticket": ticket}
    )
    assert protocol_part(xml_attributes(response.data)) == EXPECTED["totp"]


# --- the fast path never serves an MFA service from a password-only session --------------


def test_fast_path_hands_a_password_only_session_to_flask(apps: tuple[Flask, Flask]) -> None:
    """Attack: an SSO cookie of a password-only session, straight to ``/login?service=payroll``."""
    fast, slow = apps
    answers = []
    for app in (fast, slow):
        client, _ = signed_in(app, "sfa")
        calls = FlaskCalls(app)
        response = client.get("/login?service=" + quote(PAYROLL, safe=""))
        assert calls.count == 1  # Flask answered, on both
        location = response.headers.get("Location", "")
        assert "ticket=" not in location
        answers.append(response.status_code)
    assert answers[0] == answers[1]
    # No ticket was stored for the fast path to have issued meanwhile either.
    c = fast.extensions["cas"]
    with c.engine.connect() as connection:
        kinds = [row[0] for row in connection.exec_driver_sql("SELECT kind FROM tickets")]
    assert "ST" not in kinds


def test_fast_path_still_serves_the_mfa_service_once_stepped_up(
    apps: tuple[Flask, Flask],
) -> None:
    fast, _ = apps
    client, _ = signed_in(fast, "totp")
    calls = FlaskCalls(fast)
    ticket = sso_ticket(client, PAYROLL)
    assert calls.count == 0
    assert ticket.startswith("ST-")


def test_fast_path_still_serves_other_services_to_a_password_only_session(
    apps: tuple[Flask, Flask],
) -> None:
    fast, _ = apps
    client, _ = signed_in(fast, "sfa")
    calls = FlaskCalls(fast)
    assert sso_ticket(client, APP).startswith("ST-")
    assert calls.count == 0
