"""SAML single sign-on on the CAS session, with an in-process pysaml2 SP (issue #18).

Every abuse case answers a 4xx page or a SAML error status, never a 500: unknown SP,
replayed request id, ACS not in the metadata, oversize RelayState, an unsigned request
from an SP that signs, a pending key used twice or forged.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, quote, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from saml2.saml import AuthnContextClassRef
from saml2.samlp import RequestedAuthnContext

from cas_server.protocol.cas.tickets import Principal
from cas_server.protocol.saml2.errors import NO_AUTHN_CONTEXT, NO_PASSIVE, REQUEST_DENIED
from tests.support.app import CasBrowser, events, make_account
from tests.web.saml.saml_web_support import (
    BINDING_POST,
    BINDING_REDIRECT,
    PUBLIC_URL,
    SP1,
    SP2,
    SP5,
    STRANGER,
    SamlSp,
    form_fields,
    local,
    page_text,
    sign_in,
)

APP = "https://app.example.org/"  # a CAS service of tests/data/services.toml
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def test_the_metadata_is_served_signed(client: FlaskClient) -> None:
    response = client.get("/idp/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    body = response.get_data(as_text=True)
    assert 'entityID="https://cas.univ-test.fr/idp/metadata"' in body
    assert "Signature" in body


def test_sp_initiated_sso_through_the_login_form(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sp = SamlSp(client, SP1)
    first = sp.send(BINDING_REDIRECT)
    assert first.status_code == 303
    where = first.headers["Location"]
    service = parse_qs(urlsplit(where).query)["service"][0]
    assert service.startswith(PUBLIC_URL + "/idp/resume?key=")
    answer = sp.response(sp.login_through_cas(first))
    assert answer.in_response_to == sp.request_id
    ava = answer.get_identity()
    assert ava["eduPersonPrincipalName"] == ["alice@univ-test.fr"]
    assert ava["mail"] == ["alice@example.org"]
    assert "pairwise-id" in ava and "alice" not in ava["pairwise-id"][0].split("@")[0]
    assert answer.name_id.format.endswith("transient")
    assert answer.name_id.text != "alice"


def test_the_audit_row_names_the_attributes_never_their_values(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    sp = SamlSp(client, SP1)
    sp.response(sp.login_through_cas(sp.send()))
    [event] = events(app, "saml_assertion")
    assert event.outcome == "success" and event.login == "alice"
    assert event.details["sp"] == SP1
    assert "mail" in event.details["attributes"]
    assert event.details["name_id_format"].endswith("transient")
    dumped = json.dumps(event.details)
    assert "alice@example.org" not in dumped and "alice@univ-test.fr" not in dumped


def test_sso_with_a_live_session_by_both_bindings(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    for binding in (BINDING_REDIRECT, BINDING_POST):
        page = sp.send(binding)
        assert page.status_code == 200, page_text(page)[:400]
        assert sp.response(page).get_identity()["eduPersonPrincipalName"] == ["alice@univ-test.fr"]
        csp = page.headers["Content-Security-Policy"]
        assert "form-action 'self' https://sp1.example.org" in csp


def test_single_sign_on_both_ways_with_a_cas_service(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sp = SamlSp(client, SP1)
    sp.response(sp.login_through_cas(sp.send()))
    # SAML first, then a CAS service: no password.
    cas = client.get("/login?service=" + quote(APP, safe=""))
    assert cas.status_code == 302 and "ticket=ST-" in cas.headers["Location"]
    # CAS first (another browser), then SAML: no password either.
    other = app.test_client()
    CasBrowser(other).service_ticket(APP)
    sp2 = SamlSp(other, SP1)
    assert sp2.response(sp2.send()).get_identity()["mail"] == ["alice@example.org"]


def test_a_second_sp_without_the_password_gets_another_pairwise_id(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    sp = SamlSp(client, SP1)
    first = sp.response(sp.login_through_cas(sp.send())).get_identity()
    again = sp.response(sp.send()).get_identity()  # SSO: the same SP, no form
    assert again["pairwise-id"] == first["pairwise-id"]


def test_an_sp_with_an_encryption_key_gets_an_encrypted_assertion(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP5)
    page = sp.send()
    _, fields = form_fields(page)
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert "EncryptedAssertion" in xml and "alice" not in xml
    answer = sp.response(page)
    assert "student@univ-test.fr" in answer.get_identity()["eduPersonScopedAffiliation"]
    [event] = events(app, "saml_assertion")
    assert event.details["encrypted"] is True


def test_an_unknown_sp_gets_a_page(app: Flask, client: FlaskClient) -> None:
    sp = SamlSp(client, STRANGER)
    page = sp.send()
    assert page.status_code == 400
    assert "Unknown service" in page_text(page)
    [event] = events(app, "saml_assertion") or [None]
    assert event is None  # nothing was asserted


def test_a_replayed_request_is_refused(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    url, _ = sp.request(BINDING_REDIRECT)
    assert client.get(local(url)).status_code == 200
    again = client.get(local(url))
    assert again.status_code == 400
    assert "already answered" in page_text(again)


def test_an_acs_not_in_the_metadata_is_refused(client: FlaskClient) -> None:
    sp = SamlSp(client, SP1, acs_url="https://evil.example.org/acs")
    page = sp.send()
    assert page.status_code == 400
    assert "evil.example.org" not in page.get_data(as_text=True)


def test_an_oversize_relay_state_is_refused(client: FlaskClient) -> None:
    sp = SamlSp(client, SP1)
    assert sp.send(relay_state="x" * 1100).status_code == 400


def test_an_unsigned_request_from_an_sp_that_signs_is_refused(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    sp = SamlSp(client, SP2)
    assert sp.send(BINDING_REDIRECT, sign=False).status_code == 400
    assert sp.send(BINDING_POST, sign=False).status_code == 400
    signed = sp.send(BINDING_REDIRECT, sign=True, sigalg=RSA_SHA256)
    assert signed.status_code == 303  # accepted: on to the login form


def test_force_authn_is_renew(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    first = sp.send(force_authn="true")
    assert first.status_code == 303 and "renew=true" in first.headers["Location"]
    answer = sp.response(sp.login_through_cas(first))
    assert answer.get_identity()["mail"] == ["alice@example.org"]


def test_is_passive_without_a_session_answers_no_passive(client: FlaskClient) -> None:
    sp = SamlSp(client, SP1)
    first = sp.send(is_passive="true")
    assert first.status_code == 303 and "gateway=true" in first.headers["Location"]
    back = client.get(first.headers["Location"])  # no session: straight back, no ticket
    assert back.status_code == 302
    assert "ticket=" not in back.headers["Location"]
    page = client.get(local(back.headers["Location"]))
    assert sp.status_of(page)[1] == NO_PASSIVE


def test_is_passive_and_force_authn_together_answer_no_passive(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    page = sp.send(is_passive="true", force_authn="true")
    assert sp.status_of(page)[1] == NO_PASSIVE


def test_is_passive_with_a_session_signs_in(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    assert sp.response(sp.send(is_passive="true")).get_identity()["mail"]


def test_a_context_that_cannot_be_met_answers_no_authn_context(
    app: Flask, client: FlaskClient
) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    wanted = RequestedAuthnContext(
        authn_context_class_ref=[AuthnContextClassRef(text="urn:example:retina-scan")],
        comparison="exact",
    )
    page = sp.send(requested_authn_context=wanted)
    assert sp.status_of(page)[1] == NO_AUTHN_CONTEXT
    [event] = events(app, "saml_assertion")
    assert event.outcome == "no_authn_context"


def test_an_impersonation_session_is_refused(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    c = app.extensions["cas"]
    tgt = c.login.create_session(Principal("alice", {}), surrogate="operator")
    client.set_cookie("TGC", tgt.id, domain="localhost")
    sp = SamlSp(client, SP1)
    page = sp.send()
    assert page.status_code == 403
    passive = sp.send(is_passive="true")
    assert sp.status_of(passive)[1] == REQUEST_DENIED


def test_a_pending_key_is_single_use_and_unforgeable(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sp = SamlSp(client, SP1)
    first = sp.send()
    where = first.headers["Location"]
    service = parse_qs(urlsplit(where).query)["service"][0]
    ticket = CasBrowser(client).service_ticket(service)
    resumed = client.get(local(service) + "&ticket=" + ticket)
    assert resumed.status_code == 200
    # The same key again (a new ticket for it): refused.
    ticket = CasBrowser(client).service_ticket(service)
    again = client.get(local(service) + "&ticket=" + ticket)
    assert again.status_code == 400 and "expired" in page_text(again)
    forged = client.get("/idp/resume?key=" + "A" * 60 + "&ticket=" + ticket)
    assert forged.status_code == 400


def test_unsolicited_sso(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP1)
    sp.request_id = None
    page = client.get(
        "/idp/unsolicited?providerId=" + quote(SP1) + "&shire=" + quote(sp.acs) + "&target=home"
    )
    answer = sp.response(page)
    assert answer.get_identity()["mail"] == ["alice@example.org"]
    assert client.get("/idp/unsolicited?providerId=" + quote(STRANGER)).status_code == 400
    shire = "&shire=" + quote("https://evil.example.org/acs")
    assert client.get("/idp/unsolicited?providerId=" + quote(SP1) + shire).status_code == 400


def test_bad_inputs_are_4xx_pages_never_500(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    for url in (
        "/idp/sso",
        "/idp/sso?SAMLRequest=",
        "/idp/sso?SAMLRequest=%%%%",
        "/idp/sso?SAMLRequest=bm90IGRlZmxhdGVk",
        "/idp/sso?SAMLRequest=" + "A" * 600_000,
        "/idp/resume",
        "/idp/resume?key=x&ticket=ST-1",
        "/idp/resume/mfa?key=",
        "/idp/consent",
        "/idp/consent?key=abc",
        "/idp/slo",
        "/idp/slo?SAMLRequest=garbage",
        "/idp/slo?SAMLResponse=garbage",
        "/idp/slo?key=abc",
        "/idp/slo/return?key=abc",
        "/idp/unsolicited",
        "/idp/unsolicited?providerId=" + "x" * 5000,
    ):
        response = client.get(url)
        assert 400 <= response.status_code < 500, (url, response.status_code)
    for url in ("/idp/sso", "/idp/slo"):
        for data in ({}, {"SAMLRequest": "<x/>"}, {"SAMLRequest": "PHg+PC94Pg=="}):
            response = client.post(url, data=data)
            assert 400 <= response.status_code < 500, (url, data, response.status_code)
