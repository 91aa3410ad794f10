"""The consent page (/idp/consent) and its revocation (/profile/consents), #18."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cas_server.protocol.saml2.errors import REQUEST_DENIED
from tests.support.app import events, make_account, through_cas
from tests.support.html import csrf
from tests.web.saml.saml_web_support import SP2, SamlSp, form_fields, local, page_text, sign_in

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def _ask(sp: SamlSp) -> TestResponse:
    """A signed request from SP2 with a live session: the consent page (after a redirect)."""
    first = sp.send(sign=True, sigalg=RSA_SHA256)
    assert first.status_code == 303, page_text(first)[:300]
    assert "/idp/consent?key=" in first.headers["Location"]
    return sp.client.get(local(first.headers["Location"]))


def _decide(sp: SamlSp, page: TestResponse, decision: str, **extra: str) -> TestResponse:
    html = page.get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', html)
    assert key, html[:600]
    data = {"csrf_token": csrf(html), "key": key.group(1), "decision": decision, **extra}
    return sp.client.post("/idp/consent", data=data)


def test_the_page_lists_what_will_be_sent(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    page = _ask(SamlSp(client, SP2))
    assert page.status_code == 200
    text = page_text(page)
    assert "alice@example.org" in text and "alice@univ-test.fr" in text
    assert '<html lang="' in page.get_data(as_text=True)
    assert "Accept this time" in text and "Refuse" in text


def test_the_page_in_french(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP2)
    first = sp.send(sign=True, sigalg=RSA_SHA256)
    page = client.get(local(first.headers["Location"]) + "&lang=fr")
    text = page_text(page)
    assert "Informations transmises à" in text and "Accepter cette fois" in text


def test_accept_once_then_asked_again(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP2)
    answer = sp.response(_decide(sp, _ask(sp), "accept"))
    assert answer.get_identity()["mail"] == ["alice@example.org"]
    assert _ask(sp).status_code == 200  # not remembered
    [event] = events(app, "saml_consent")
    assert event.outcome == "accepted" and "alice@example.org" not in str(event.details)


def test_remember_then_revoke_from_the_profile(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP2)
    sp.response(_decide(sp, _ask(sp), "remember"))
    direct = sp.send(sign=True, sigalg=RSA_SHA256)
    assert direct.status_code == 200  # remembered: straight to the SP
    sp.response(direct)
    # The profile lists it; withdrawing it asks again.
    assert through_cas(client, "/profile/consents", "alice").status_code == 302
    listing = client.get("/profile/consents")
    assert listing.status_code == 200 and SP2 in listing.get_data(as_text=True)
    html = listing.get_data(as_text=True)
    no_token = client.post("/profile/consents/revoke", data={"sp": SP2})
    assert no_token.status_code == 400  # CSRF
    revoked = client.post("/profile/consents/revoke", data={"sp": SP2, "csrf_token": csrf(html)})
    assert revoked.status_code == 303
    assert "withdrawn" in page_text(client.get(revoked.headers["Location"]))
    assert _ask(sp).status_code == 200
    again = client.post("/profile/consents/revoke", data={"sp": SP2, "csrf_token": csrf(html)})
    assert again.status_code == 404
    assert [e.outcome for e in events(app, "profile_saml_consent_revoke")] == ["success"]


def test_refuse_answers_request_denied(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP2)
    page = _decide(sp, _ask(sp), "refuse")
    assert sp.status_of(page)[1] == REQUEST_DENIED
    assert [e.outcome for e in events(app, "saml_assertion")] == ["request_denied"]


def test_the_form_needs_its_csrf_token_and_is_single_use(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    sign_in(client)
    sp = SamlSp(client, SP2)
    page = _ask(sp)
    forged = _decide(sp, page, "accept", csrf_token="forged")
    assert forged.status_code == 400 and "SAMLResponse" not in forged.get_data(as_text=True)
    assert _decide(sp, page, "accept").status_code == 200
    replay = _decide(sp, page, "accept")
    assert replay.status_code == 400 and "SAMLResponse" not in replay.get_data(as_text=True)
    bad = _decide(sp, _ask(sp), "maybe")
    assert bad.status_code == 400


def test_the_page_belongs_to_its_sso_session(app: Flask, client: FlaskClient) -> None:
    make_account(app)
    make_account(app, "bob")
    sign_in(client)
    sp = SamlSp(client, SP2)
    page = _ask(sp)
    action, _ = form_fields(page)
    other = app.test_client()
    sign_in(other, "bob")
    html = page.get_data(as_text=True)
    key = re.search(r'name="key" value="([^"]+)"', html)
    assert key
    stolen = other.get("/idp/consent?key=" + key.group(1))
    assert stolen.status_code in (400, 403)
    assert action == "/idp/consent"
