"""The status of our LogoutResponse (SAML core 3.2.2.2, 3.7.3.2): a LogoutRequest naming
someone this session never showed that SP gets Requester / UnknownPrincipal, and ends
nothing; the right one gets a bare Success."""

from __future__ import annotations

import base64
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from saml2.saml import NameID

from cas_server.protocol.saml2.errors import STATUS_REQUESTER, STATUS_SUCCESS, UNKNOWN_PRINCIPAL
from tests.support.app import events, make_account
from tests.web.saml.saml_web_support import (
    BINDING_REDIRECT,
    PUBLIC_URL,
    SP1,
    SamlSp,
    local,
    sign_in,
)

SLO = PUBLIC_URL + "/idp/slo"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def _request(sp: SamlSp, name_id: NameID, session_index: str | None = None) -> str:
    _, request = sp.sp.create_logout_request(
        SLO,
        issuer_entity_id=PUBLIC_URL + "/idp/metadata",
        name_id=name_id,
        session_indexes=[session_index] if session_index else None,
    )
    info = sp.sp.apply_binding(
        BINDING_REDIRECT, str(request), SLO, relay_state="bye", sign=True, sigalg=RSA_SHA256
    )
    return local(dict(info["headers"])["Location"])


def _codes(location: str) -> list[str]:
    """The StatusCode values of a Redirect-binding LogoutResponse, outermost first."""
    value = parse_qs(urlsplit(location).query)["SAMLResponse"][0]
    root = etree.fromstring(zlib.decompress(base64.b64decode(value), -15))
    assert root.tag == f"{{{SAMLP_NS}}}LogoutResponse"
    status = root.find(f"{{{SAMLP_NS}}}Status")
    return [str(code.get("Value")) for code in status.iter(f"{{{SAMLP_NS}}}StatusCode")]


def _alive(app: Flask, client: FlaskClient) -> bool:
    cookie = client.get_cookie("TGC")
    return cookie is not None and (
        app.extensions["cas"].login.current_session(cookie.value) is not None
    )


def _signed_in(sp: SamlSp) -> Any:
    return sp.response(sp.send())


def test_another_persons_name_id_is_unknown_principal(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in(sp1)
    someone = NameID(format=answer.name_id.format, text="someone-else")
    response = client.get(_request(sp1, someone))
    assert response.status_code == 302
    assert _codes(response.headers["Location"]) == [STATUS_REQUESTER, UNKNOWN_PRINCIPAL]
    assert _alive(app, client)
    assert [e.outcome for e in events(app, "saml_logout")] == ["refused"]


def test_another_sessions_index_is_unknown_principal(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    first = _signed_in(SamlSp(client, SP1))
    other = app.test_client()
    sign_in(other)
    other_sp = SamlSp(other, SP1)
    mine = _signed_in(other_sp)
    # Its own NameID with the SessionIndex of the first browser's session.
    index = str(first.assertion.authn_statement[0].session_index)
    response = other.get(_request(other_sp, mine.name_id, index))
    assert _codes(response.headers["Location"]) == [STATUS_REQUESTER, UNKNOWN_PRINCIPAL]
    # The first browser's NameID from the second browser: unknown there too.
    response = other.get(_request(other_sp, first.name_id))
    assert _codes(response.headers["Location"]) == [STATUS_REQUESTER, UNKNOWN_PRINCIPAL]
    assert _alive(app, other) and _alive(app, client)


def test_the_right_request_gets_a_bare_success(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in(sp1)
    index = str(answer.assertion.authn_statement[0].session_index)
    response = client.get(_request(sp1, answer.name_id, index))
    assert response.status_code == 302
    assert _codes(response.headers["Location"]) == [STATUS_SUCCESS]
    assert not _alive(app, client)


def test_no_session_left_is_success(app: Flask, client: FlaskClient) -> None:
    """Already signed out in this browser (profiles 4.4.4.2): nothing to refuse."""
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in(sp1)
    client.get("/logout")
    response = client.get(_request(sp1, answer.name_id))
    assert _codes(response.headers["Location"]) == [STATUS_SUCCESS]
