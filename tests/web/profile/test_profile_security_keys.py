"""The profile's Security section: security keys and passkeys (WebAuthn), renaming and
removing a factor; every abuse case refused.

The browser's side of the ceremony is a software authenticator
(``tests/support/soft_authenticator.py``) signing for real; the relying party is
``server.public_url``'s host and origin, whatever the Host header says.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.mfa.model import FactorKind
from cas_server.accounts.model import Account
from tests.support.app import PASSWORD, events
from tests.support.html import csrf, text
from tests.support.outbound import SmtpSink, body
from tests.support.sesame import drained
from tests.web.profile.security_support import (
    RP_ID,
    authenticator,
    challenge_on,
    codes_on,
    enrol_totp,
    factors,
    options_on,
    overrides,
    post,
    register_key,
    require_staff,
    signed_in,
    staff,
    verified_person,
)


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return overrides(sesame_overrides)


@pytest.fixture
def alice(app: Flask) -> Account:
    return verified_person(app, "alice")


@pytest.fixture
def bob(app: Flask) -> Account:
    return verified_person(app, "bob", mobile="+33622222222")


def test_the_key_page_follows_the_spec_of_the_script(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    response = browser.get("/profile/security/key")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    options = options_on(html)
    # The test client says "Host: localhost": the relying party is public_url's host.
    assert options["rp"]["id"] == RP_ID
    assert options["user"]["name"] == "alice"
    for piece in (
        'data-webauthn="create"',
        'name="credential"',
        "data-webauthn-error",
        'role="alert"',
        "<noscript>",
        "/static/js/webauthn.js",
    ):
        assert piece in html, piece
    assert "<script>" not in html  # no inline script: the CSP forbids it


def test_register_a_security_key(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    response = register_key(browser, label="Yubikey 5")
    assert response.status_code == 303, text(response)
    assert response.headers["Location"].endswith("/profile/security/recovery-codes/new")
    assert len(codes_on(browser.text(response.headers["Location"]))) == 10
    [factor] = factors(app, "alice")
    assert factor.kind is FactorKind.WEBAUTHN and factor.label == "Yubikey 5"
    listing = browser.text("/profile/security")
    assert "Yubikey 5" in listing and "Security key or passkey" in listing
    [outcome] = [e.outcome for e in events(app, "profile_mfa_enrol")]
    assert outcome == "success"
    # A second key: no new recovery codes (the first set stays).
    second = register_key(browser, label="Laptop")
    assert second.status_code == 303
    assert second.headers["Location"].endswith("/profile/security?done=mfa_added")
    notices = [m for m in drained(app, smtp_sink) if "alice.perso" in str(m["To"])]
    assert [m["Subject"] for m in notices] == ["A second factor was added to your account"] * 2


def test_a_registration_challenge_is_single_use_and_for_this_person_only(
    app: Flask, sesame_client: FlaskClient, alice: Account, bob: Account
) -> None:
    alices = signed_in(sesame_client)
    html = alices.text("/profile/security/key")
    challenge, token = challenge_on(html), csrf(html)
    data = {"csrf_token": token, "label": "Key", "current_password": PASSWORD}
    first = sesame_client.post(
        "/profile/security/key", data={**data, "credential": authenticator().register(challenge)}
    )
    assert first.status_code == 303
    # Replayed: the same challenge, answered by another key, is refused.
    replay = sesame_client.post(
        "/profile/security/key", data={**data, "credential": authenticator().register(challenge)}
    )
    assert replay.status_code == 400
    assert len(factors(app, "alice")) == 1

    # Alice's challenge, answered in Bob's browser: refused.
    alices_next = challenge_on(alices.text("/profile/security/key"))
    bobs = signed_in(app.test_client(), "bob")
    stolen = register_key(bobs, challenge=alices_next)
    assert stolen.status_code == 400
    assert factors(app, "bob") == []

    # The same browser, once Alice signed out and Bob signed in: still refused.
    pending = challenge_on(alices.text("/profile/security/key"))
    sesame_client.get("/_cas/logout")
    sesame_client.get("/logout")
    alices.sign_in("bob")
    token = csrf(alices.text("/profile/security/recovery-codes"))
    response = sesame_client.post(
        "/profile/security/key",
        data={
            "csrf_token": token,
            "label": "Key",
            "current_password": PASSWORD,
            "credential": authenticator().register(pending),
        },
    )
    assert response.status_code == 400
    assert factors(app, "bob") == [] and len(factors(app, "alice")) == 1
    outcomes = [e.outcome for e in events(app, "profile_mfa_enrol")]
    assert outcomes.count("success") == 1 and "refused" in outcomes


def test_a_credential_already_registered_to_anyone_is_refused(
    app: Flask, sesame_client: FlaskClient, alice: Account, bob: Account
) -> None:
    key = authenticator()
    alices = signed_in(sesame_client)
    assert register_key(alices, key).status_code == 303
    again = register_key(alices, key, label="Same key")
    assert again.status_code == 400
    assert "This security key is already registered." in again.get_data(as_text=True)
    bobs = signed_in(app.test_client(), "bob")
    response = register_key(bobs, key, label="Alice's key")
    assert response.status_code == 400
    assert "This security key is already registered." in response.get_data(as_text=True)
    assert factors(app, "bob") == [] and len(factors(app, "alice")) == 1


def test_a_key_from_another_origin_or_without_password_is_refused(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    html = browser.text("/profile/security/key")
    phishing = sesame_client.post(
        "/profile/security/key",
        data={
            "csrf_token": csrf(html),
            "label": "Key",
            "current_password": PASSWORD,
            "credential": authenticator().register(
                challenge_on(html), origin="https://cas.univ-test.fr.evil.example"
            ),
        },
    )
    assert phishing.status_code == 400
    assert "was not accepted" in phishing.get_data(as_text=True)
    no_password = register_key(browser, password="")
    assert no_password.status_code == 400
    no_credential = browser.submit(
        "/profile/security/key", {"label": "Key", "current_password": PASSWORD}
    )
    assert no_credential.status_code == 400
    assert factors(app, "alice") == []


def test_rename_and_remove_a_factor(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    secret, _ = enrol_totp(browser, label="Old phone")
    [factor] = factors(app, "alice")
    url = f"/profile/security/factors/{factor.id}"
    assert "Old phone" in browser.text(url)
    refused = browser.submit(url, {"label": "New phone"})
    assert refused.status_code == 400
    response = browser.submit(url, {"label": "New phone", "current_password": PASSWORD})
    assert response.status_code == 303
    assert [f.label for f in factors(app, "alice")] == ["New phone"]
    response = browser.submit(url + "/remove", {"current_password": PASSWORD})
    assert response.status_code == 303
    assert factors(app, "alice") == []
    assert app.extensions["cas"].mfa.recovery_codes_left(alice) == 0
    assert [e.outcome for e in events(app, "profile_mfa_rename")] == ["success"]
    assert [e.outcome for e in events(app, "profile_mfa_remove")] == ["success"]
    subjects = [m["Subject"] for m in drained(app, smtp_sink) if "alice.perso" in str(m["To"])]
    assert "A second factor was removed from your account" in subjects
    for mail in drained(app, smtp_sink):
        assert secret not in body(mail)
    trail = json.dumps([e.details for e in events(app, "profile_mfa_remove")])
    assert secret not in trail


def test_another_persons_factor_cannot_be_renamed_or_removed(
    app: Flask, sesame_client: FlaskClient, alice: Account, bob: Account
) -> None:
    bobs = signed_in(app.test_client(), "bob")
    enrol_totp(bobs, label="Bob's phone")
    [factor] = factors(app, "bob")
    alices = signed_in(sesame_client)
    url = f"/profile/security/factors/{factor.id}"
    assert alices.get(url).status_code == 404
    assert alices.get(url + "/remove").status_code == 404
    token = csrf(alices.text("/profile/security/recovery-codes"))
    data = {"csrf_token": token, "label": "Mine now", "current_password": PASSWORD}
    assert sesame_client.post(url, data=data).status_code == 404
    assert sesame_client.post(url + "/remove", data=data).status_code == 404
    unknown = "/profile/security/factors/00000000-0000-4000-8000-000000000000"
    assert sesame_client.post(unknown, data=data).status_code == 404
    [still] = factors(app, "bob")
    assert still.label == "Bob's phone"


def test_the_last_factor_of_a_person_who_requires_one_cannot_be_removed(
    app: Flask, sesame_client: FlaskClient
) -> None:
    staff(app, "carol")
    browser = signed_in(sesame_client, "carol")
    require_staff(app)
    enrol_totp(browser)
    [factor] = factors(app, "carol")
    url = f"/profile/security/factors/{factor.id}/remove"
    reason = "This is your last second factor and your account requires one."
    assert reason in browser.text(url)
    # No form on the page; a forged post is refused too, with the reason.
    response = post(
        browser, url, {"current_password": PASSWORD}, "/profile/security/recovery-codes"
    )
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert len(factors(app, "carol")) == 1
    assert [e.outcome for e in events(app, "profile_mfa_remove")] == ["refused"]
    # With a second factor, the first can go.
    assert register_key(browser).status_code == 303
    assert browser.submit(url, {"current_password": PASSWORD}).status_code == 303
    assert [f.kind for f in factors(app, "carol")] == [FactorKind.WEBAUTHN]
