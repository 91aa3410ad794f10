"""Single logout on the CAS session (#18): one logout ends both, and an SP's
LogoutRequest ends only the browser's own session, for the NameID given in it."""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from saml2.saml import NameID

from cas_server.protocol.cas.tickets import ticket_digest
from cas_server.protocol.saml2.errors import STATUS_SUCCESS
from tests.support.app import CasBrowser, events, make_account
from tests.web.saml.saml_web_support import (
    BINDING_POST,
    BINDING_REDIRECT,
    PUBLIC_URL,
    SP1,
    SP1_SLO,
    SP4,
    SamlSp,
    form_fields,
    local,
    page_text,
    sign_in,
)

SLO = PUBLIC_URL + "/idp/slo"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
APP = "https://app.example.org/"


def _signed_in_to(sp: SamlSp) -> Any:
    """A Response from ``sp`` (the session must be live in its client)."""
    return sp.response(sp.send())


def _logout_request(
    sp: SamlSp, name_id: NameID, session_index: str | None = None, relay: str = "bye"
) -> str:
    """A signed Redirect-binding LogoutRequest from ``sp`` (the URL on the IdP)."""
    _, request = sp.sp.create_logout_request(
        SLO,
        issuer_entity_id=sp.sp.config.entityid and PUBLIC_URL + "/idp/metadata",
        name_id=name_id,
        session_indexes=[session_index] if session_index else None,
    )
    info = sp.sp.apply_binding(
        BINDING_REDIRECT, str(request), SLO, relay_state=relay, sign=True, sigalg=RSA_SHA256
    )
    return local(dict(info["headers"])["Location"])


def _status(location: str) -> str:
    """The top StatusCode of a Redirect-binding LogoutResponse."""
    value = parse_qs(urlsplit(location).query)["SAMLResponse"][0]
    xml = zlib.decompress(base64.b64decode(value), -15).decode()
    codes = re.findall(r'StatusCode Value="([^"]+)"', xml)
    return str(codes[0])


def _session_index(answer: Any) -> str:
    return str(answer.assertion.authn_statement[0].session_index)


def _alive(app: Flask, client: FlaskClient) -> bool:
    cookie = client.get_cookie("TGC")
    return cookie is not None and (
        app.extensions["cas"].login.current_session(cookie.value) is not None
    )


def test_one_logout_ends_both(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    CasBrowser(client)  # the same browser: a CAS ticket too
    cas = client.get("/login?service=" + quote(APP, safe=""))
    assert "ticket=ST-" in cas.headers["Location"]
    _signed_in_to(SamlSp(client, SP1))
    _signed_in_to(SamlSp(client, SP4))
    tgc = client.get_cookie("TGC")
    assert tgc is not None
    handle = ticket_digest(tgc.value)
    assert len(app.extensions["cas"].saml_sessions.participants(handle)) == 2
    page = client.get("/logout")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    frames = re.findall(r'<iframe[^>]*src="([^"]+)"', html)
    assert any(f.startswith(SP1_SLO + "?SAMLRequest=") for f in frames), frames
    assert any(f.startswith("https://sp4.example.org/slo?SAMLRequest=") for f in frames)
    csp = page.headers["Content-Security-Policy"]
    assert "https://sp1.example.org" in csp and "'self'" in csp.split("frame-src", 1)[1]
    assert app.extensions["cas"].saml_sessions.participants(handle) == []
    assert not _alive(app, client)


def test_an_sp_logout_request_ends_the_session(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in_to(sp1)
    _signed_in_to(SamlSp(client, SP4))
    response = client.get(_logout_request(sp1, answer.name_id, _session_index(answer)))
    # The other SP (SP4) is told by a frame, then the browser goes back to SP1.
    assert response.status_code == 200, page_text(response)[:300]
    html = response.get_data(as_text=True)
    frames = re.findall(r'<iframe[^>]*src="([^"]+)"', html)
    assert [urlsplit(f).netloc for f in frames] == ["sp4.example.org"]
    back = re.search(r'class="button button--primary js-logout-continue" href="([^"]+)"', html)
    assert back and back.group(1).replace("&amp;", "&").startswith(SP1_SLO + "?SAMLResponse=")
    assert _status(back.group(1).replace("&amp;", "&")) == STATUS_SUCCESS
    assert not _alive(app, client)
    assert [e.outcome for e in events(app, "saml_logout")] == ["success"]


def test_an_sp_logout_request_alone_redirects_back(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in_to(sp1)
    response = client.get(_logout_request(sp1, answer.name_id))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(SP1_SLO + "?SAMLResponse=")
    assert _status(response.headers["Location"]) == STATUS_SUCCESS
    assert not _alive(app, client)


def test_a_logout_request_by_post(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in_to(sp1)
    _, request = sp1.sp.create_logout_request(
        SLO,
        issuer_entity_id=PUBLIC_URL + "/idp/metadata",
        name_id=answer.name_id,
        sign=True,
        sign_alg=RSA_SHA256,
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
    )
    info = sp1.sp.apply_binding(BINDING_POST, str(request), SLO, relay_state="bye")
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', info["data"]))
    page = client.post("/idp/slo", data=fields)
    assert page.status_code == 200, page_text(page)[:300]
    action, sent = form_fields(page)
    assert action == SP1_SLO and "SAMLResponse" in sent and sent["RelayState"] == "bye"
    assert not _alive(app, client)


def test_a_logout_request_by_post_answers_after_the_frames(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in_to(sp1)
    _signed_in_to(SamlSp(client, SP4))
    _, request = sp1.sp.create_logout_request(
        SLO,
        issuer_entity_id=PUBLIC_URL + "/idp/metadata",
        name_id=answer.name_id,
        sign=True,
        sign_alg=RSA_SHA256,
        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
    )
    info = sp1.sp.apply_binding(BINDING_POST, str(request), SLO, relay_state="bye")
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', info["data"]))
    page = client.post("/idp/slo", data=fields)
    html = page.get_data(as_text=True)
    assert [urlsplit(f).netloc for f in re.findall(r'<iframe[^>]*src="([^"]+)"', html)] == [
        "sp4.example.org"
    ]
    back = re.search(r'js-logout-continue" href="([^"]+)"', html)
    assert back and back.group(1).startswith("/idp/slo/return?key=")
    answer_page = client.get(back.group(1).replace("&amp;", "&"))
    action, sent = form_fields(answer_page)
    assert action == SP1_SLO and "SAMLResponse" in sent
    assert client.get(back.group(1).replace("&amp;", "&")).status_code == 400  # single use
    assert not _alive(app, client)


def test_a_logout_request_naming_another_person_ends_nothing(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in_to(sp1)
    someone = NameID(format=answer.name_id.format, text="someone-else")
    response = client.get(_logout_request(sp1, someone))
    assert response.status_code == 302
    assert _status(response.headers["Location"]) != STATUS_SUCCESS
    assert _alive(app, client)
    assert [e.outcome for e in events(app, "saml_logout")] == ["refused"]


def test_a_logout_request_for_another_session_ends_nothing(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    answer = _signed_in_to(SamlSp(client, SP1))
    # The same person in another browser, signed in to the same SP: its own NameID.
    other = app.test_client()
    sign_in(other)
    other_sp = SamlSp(other, SP1)
    _signed_in_to(other_sp)
    response = other.get(_logout_request(other_sp, answer.name_id))
    assert _status(response.headers["Location"]) != STATUS_SUCCESS
    assert _alive(app, other) and _alive(app, client)
    # The right NameID with a session index of another session: refused too.
    mine = _signed_in_to(other_sp)
    wrong = other.get(_logout_request(other_sp, mine.name_id, _session_index(answer)))
    assert _status(wrong.headers["Location"]) != STATUS_SUCCESS
    assert _alive(app, other)


def test_an_unsigned_logout_request_is_refused(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    answer = _signed_in_to(sp1)
    url = _logout_request(sp1, answer.name_id)
    unsigned = re.sub(r"&(SigAlg|Signature)=[^&]*", "", url)
    assert client.get(unsigned).status_code == 400
    assert _alive(app, client)


def test_the_logout_response_of_a_frame_gets_a_small_page(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp1 = SamlSp(client, SP1)
    _signed_in_to(sp1)
    page = client.get("/logout")
    frame = next(
        f for f in re.findall(r'<iframe[^>]*src="([^"]+)"', page.get_data(as_text=True))
    ).replace("&amp;", "&")
    query = parse_qs(urlsplit(frame).query)
    request = sp1.sp.parse_logout_request(query["SAMLRequest"][0], BINDING_REDIRECT)
    response = sp1.sp.create_logout_response(request.message, [BINDING_REDIRECT])
    info = sp1.sp.apply_binding(
        BINDING_REDIRECT,
        str(response),
        SLO,
        relay_state="",
        response=True,
        sign=True,
        sigalg=RSA_SHA256,
    )
    answer = client.get(local(dict(info["headers"])["Location"]))
    assert answer.status_code == 200
    assert "frame-ancestors 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "signed out" in page_text(answer).lower()
