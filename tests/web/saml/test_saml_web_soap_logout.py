"""Back-channel SOAP logout (SAML bindings 3.2, profiles 4.4.3.3) for sessions ended
without their browser (#18): an SP whose metadata has a SOAP SingleLogoutService is sent
a signed LogoutRequest in a SOAP envelope, in the background, by a tiny local SP."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_SOAP

from cas_server.protocol.cas.tickets import ticket_digest
from cas_server.saml.signing import public_key, verify_element
from cas_server.saml.soap import SoapMessage, answer_status, send_logout
from tests.support.app import make_account
from tests.support.console import act, console_client
from tests.support.endpoints import LocalEndpoint
from tests.support.html import csrf
from tests.support.profile import ProfileBrowser
from tests.support.saml_keys import key_pair, sp_client, write_sp_metadata
from tests.web.saml.saml_web_support import (
    IDP_ENTITY,
    SP1,
    SamlSp,
    saml_overrides,
    sign_in,
    write_sp_files,
)

SP6 = "https://sp6.example.org/sp"
SP6_ACS = "https://sp6.example.org/acs"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


class SoapSp(LocalEndpoint):
    """The SP's SOAP SingleLogoutService: records what it gets, answers ``status``."""

    def __init__(self, status: str = SUCCESS, http_status: int = 200) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                outer.received.append((dict(self.headers.items()), body))
                answer = (
                    f'<S:Envelope xmlns:S="{SOAP_ENV}"><S:Body>'
                    f'<samlp:LogoutResponse xmlns:samlp="{SAMLP_NS}" ID="_r" Version="2.0" '
                    f'IssueInstant="2026-01-01T00:00:00Z"><samlp:Status>'
                    f'<samlp:StatusCode Value="{status}"/></samlp:Status>'
                    f"</samlp:LogoutResponse></S:Body></S:Envelope>"
                ).encode()
                self.send_response(http_status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/Shibboleth.sso/SLO/SOAP"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"{len(self.received)} SOAP request(s) received"
        return list(self.received)


@pytest.fixture
def soap_sp() -> Iterator[SoapSp]:
    found = SoapSp()
    yield found
    found.stop()


def _with_soap_slo(path: Path, url: str) -> None:
    """Add a SOAP SingleLogoutService to the SP metadata at ``path`` (schema order:
    before NameIDFormat and the AssertionConsumerService)."""
    root = etree.fromstring(path.read_bytes())
    descriptor = root.find(f"{{{MD_NS}}}SPSSODescriptor")
    first = next(
        child
        for child in descriptor
        if isinstance(child.tag, str)
        and etree.QName(child).localname in ("NameIDFormat", "AssertionConsumerService")
    )
    slo = etree.Element(f"{{{MD_NS}}}SingleLogoutService", Binding=BINDING_SOAP, Location=url)
    first.addprevious(slo)
    path.write_bytes(etree.tostring(root))


@pytest.fixture
def app_overrides(tmp_path: Path, soap_sp: SoapSp) -> dict[str, dict[str, Any]]:
    path = write_sp_metadata(tmp_path / "sps" / "sp6.xml", SP6, SP6_ACS)
    _with_soap_slo(path, soap_sp.url)
    return saml_overrides([*write_sp_files(tmp_path), str(path)], tmp_path)


def _browser(app: Flask, *sps: str, profile: bool = False) -> tuple[FlaskClient, str, Any]:
    """A browser of alice signed in to ``sps``: the client, its handle, the last answer."""
    client = app.test_client()
    if profile:
        ProfileBrowser(client, "en").sign_in("alice")
    else:
        sign_in(client)
    answer = None
    for entity_id in sps:
        sp = (
            SamlSp(client, entity_id, acs_url=SP6_ACS)
            if entity_id == SP6
            else SamlSp(client, entity_id)
        )
        answer = sp.response(sp.send())
    cookie = client.get_cookie("TGC")
    assert cookie is not None
    return client, ticket_digest(cookie.value), answer


def _check(headers: dict[str, str], body: bytes, soap_url: str, answer: Any) -> None:
    assert headers["Content-Type"].startswith("text/xml")
    assert headers["SOAPAction"] == "http://www.oasis-open.org/committees/security"
    envelope = etree.fromstring(body)
    assert envelope.tag == f"{{{SOAP_ENV}}}Envelope"
    (request,) = envelope.find(f"{{{SOAP_ENV}}}Body")
    assert request.tag == f"{{{SAMLP_NS}}}LogoutRequest"
    assert request.get("Destination") == soap_url
    assert request.findtext(f"{{{SAML_NS}}}Issuer") == IDP_ENTITY
    # Signed by our key, over the request itself (the SOAP binding's only signature).
    assert verify_element(request, public_key(key_pair("idp").cert_file, is_file=True))
    assert not verify_element(request, public_key(key_pair("sp").cert_file, is_file=True))
    assert request.findtext(f"{{{SAML_NS}}}NameID") == answer.name_id.text
    index = answer.assertion.authn_statement[0].session_index
    assert request.findtext(f"{{{SAMLP_NS}}}SessionIndex") == index


def test_a_lock_tells_the_soap_sp(app: Flask, soap_sp: SoapSp) -> None:
    alice = make_account(app)
    admin = console_client(app, "root", ("admin",))
    _, handle, answer = _browser(app, SP1, SP6)
    assert act(admin, alice.uuid, "lock", {"reason": "stolen laptop"}).status_code == 303
    [(headers, body)] = soap_sp.wait_for(1)
    _check(headers, body, soap_sp.url, answer)
    assert app.extensions["cas"].saml_sessions.participants(handle) == []
    # pysaml2's SP checks our signature with our metadata (xmlsec1). Not through its
    # SOAP parser: it re-serialises the body with ElementTree, whose ns0: prefixes
    # break any exclusive-c14n signature; the request as sent (lxml keeps prefixes).
    sp = sp_client(SP6, SP6_ACS, admin.get("/idp/metadata").get_data())
    request = etree.fromstring(body).find(f"{{{SOAP_ENV}}}Body")[0]
    encoded = base64.b64encode(etree.tostring(request)).decode()
    parsed = sp.parse_logout_request(encoded, BINDING_HTTP_POST)
    assert parsed.message.name_id.text == answer.name_id.text


def test_ending_a_session_from_the_profile_tells_the_soap_sp(app: Flask, soap_sp: SoapSp) -> None:
    make_account(app)
    here, _, _ = _browser(app, profile=True)
    _, target, answer = _browser(app, SP6)
    token = csrf(here.get("/profile/sessions").get_data(as_text=True))
    response = here.post("/profile/sessions/end", data={"csrf_token": token, "handle": target})
    assert response.status_code == 303  # no frame for a SOAP-only SP: straight back
    [(headers, body)] = soap_sp.wait_for(1)
    _check(headers, body, soap_sp.url, answer)


def test_a_browsers_own_logout_sends_no_soap(app: Flask, soap_sp: SoapSp) -> None:
    """The browser's own logout is front channel only: a SOAP-only SP is not framed."""
    make_account(app)
    client, handle, _ = _browser(app, SP6)
    assert client.get("/logout").status_code == 200
    time.sleep(0.3)
    assert soap_sp.received == []
    assert app.extensions["cas"].saml_sessions.participants(handle) == []


def test_sps_without_soap_are_not_called(app: Flask, soap_sp: SoapSp) -> None:
    alice = make_account(app)
    _browser(app, SP1)
    from cas_server.web.sesame.runtime import end_sessions

    with app.test_request_context():
        end_sessions(alice)
    time.sleep(0.3)
    assert soap_sp.received == []


@pytest.mark.parametrize(
    ("status", "http_status"),
    [(SUCCESS, 200), ("urn:oasis:names:tc:SAML:2.0:status:Requester", 200), (SUCCESS, 500)],
)
def test_the_answer_is_read_only_to_log_it(app: Flask, status: str, http_status: int) -> None:
    sp = SoapSp(status, http_status)
    try:
        message = SoapMessage(SP6, sp.url, b"<x/>")
        sent = send_logout(app.extensions["cas"].http.post_soap, message)
        assert sent is (status == SUCCESS and http_status == 200)
        assert len(sp.received) == 1
    finally:
        sp.stop()


def test_an_unreachable_or_garbled_sp_is_only_logged() -> None:
    def down(url: str, body: bytes) -> bytes | None:
        raise ConnectionError("no route")

    message = SoapMessage(SP6, "http://127.0.0.1:9/", b"<x/>")
    assert send_logout(down, message) is False
    assert send_logout(lambda u, b: None, message) is False
    assert send_logout(lambda u, b: b"<not xml", message) is False
    assert answer_status(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>") is None
