"""The profile's Security section: an authenticator app (TOTP), recovery codes, trusted
devices, codes by e-mail or SMS; every abuse case refused.

Every change asks for the current password (throttled like the other profile forms),
is audited (``profile_mfa_*``) and told to the verified channels; the TOTP secret is
shown on its enrolment page only, kept server-side for this person, never in the audit
trail; recovery codes are shown once.
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
from tests.support.html import text
from tests.support.outbound import SmtpSink, body
from tests.support.sesame import drained
from tests.web.profile.security_support import (
    code_for,
    codes_on,
    enrol_totp,
    factors,
    fresh,
    other_code,
    overrides,
    post,
    require_staff,
    secret_on,
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


def mails_to(app: Flask, sink: SmtpSink, address: str) -> list[Any]:
    return [m for m in drained(app, sink) if address in str(m["To"])]


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fr", ["Sécurité", "Application d'authentification", "Clé de sécurité"]),
        ("en", ["Security", "Authenticator app", "Security key or passkey"]),
    ],
)
def test_security_page_is_linked_and_lists_what_can_be_added(
    app: Flask, sesame_client: FlaskClient, alice: Account, lang: str, words: list[str]
) -> None:
    browser = signed_in(sesame_client, lang=lang)
    overview = browser.text("/profile/")
    assert 'href="/profile/security"' in overview
    page = browser.text("/profile/security")
    for word in words:
        assert word in page, word
    assert 'aria-current="page"' in page
    for link in (
        "/profile/security/app",
        "/profile/security/key",
        "/profile/security/channel/email",
    ):
        assert f'href="{link}"' in page


def test_enrolment_without_the_current_password_is_refused(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    html = browser.text("/profile/security/app")
    secret = secret_on(html)
    missing = browser.submit("/profile/security/app", {"label": "Phone", "code": code_for(secret)})
    assert missing.status_code == 400
    assert "Enter your current password." in missing.get_data(as_text=True)
    wrong = browser.submit(
        "/profile/security/app",
        {"label": "Phone", "code": code_for(secret), "current_password": "Not-The-Password-1"},
    )
    assert wrong.status_code == 400
    assert "Your current password is not right." in wrong.get_data(as_text=True)
    assert factors(app, "alice") == []
    assert [e.outcome for e in events(app, "profile_mfa_enrol")] == ["wrong_password"]
    # The same secret is still offered (the app may have scanned it already).
    assert secret_on(browser.text("/profile/security/app")) == secret


def test_wrong_passwords_lock_the_security_forms_like_the_other_profile_forms(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    for _ in range(5):
        browser.submit(
            "/profile/security/app",
            {"label": "Phone", "code": "123456", "current_password": "Wrong-Password-9"},
        )
    locked = browser.submit("/profile/security/recovery-codes", {"current_password": PASSWORD})
    assert locked.status_code == 429
    assert factors(app, "alice") == []


def test_a_wrong_first_code_does_not_enrol(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    secret = secret_on(browser.text("/profile/security/app"))
    response = browser.submit(
        "/profile/security/app",
        {"label": "Phone", "code": other_code(code_for(secret)), "current_password": PASSWORD},
    )
    assert response.status_code == 400
    assert "This code is not right." in response.get_data(as_text=True)
    assert factors(app, "alice") == []
    assert [e.outcome for e in events(app, "profile_mfa_enrol")] == ["wrong_code"]
    # Five wrong codes end the pending secret: a new one is made.
    for _ in range(4):
        browser.submit(
            "/profile/security/app",
            {"label": "Phone", "code": other_code(code_for(secret)), "current_password": PASSWORD},
        )
    assert secret_on(browser.text("/profile/security/app")) != secret
    assert factors(app, "alice") == []


def test_totp_enrolment_shows_the_recovery_codes_once_and_no_secret_elsewhere(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    enrolment = browser.get("/profile/security/app")
    assert enrolment.headers["Cache-Control"] == "no-store"
    html = enrolment.get_data(as_text=True)
    assert "<svg" in html and 'role="img"' in html  # the QR code, server-side
    secret, response = enrol_totp(browser, label="Pixel 8")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/profile/security/recovery-codes/new")
    [factor] = factors(app, "alice")
    assert factor.kind is FactorKind.TOTP and factor.label == "Pixel 8"

    shown = browser.get(response.headers["Location"])
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    codes = codes_on(shown.get_data(as_text=True))
    assert len(codes) == 10
    assert "I have saved them" in shown.get_data(as_text=True)
    again = browser.get("/profile/security/recovery-codes/new")
    assert again.status_code == 410 and codes_on(again.get_data(as_text=True)) == []
    mfa = app.extensions["cas"].mfa
    assert mfa.use_recovery_code(fresh(app, "alice"), codes[0])

    listing = browser.text("/profile/security")
    assert "Pixel 8" in listing and "Authenticator app" in listing
    assert "9 recovery codes left" in listing
    # The seed: on its enrolment page only; not in the audit trail, not in a mail.
    for url in ("/profile/security", "/profile/", f"/profile/security/factors/{factor.id}"):
        page = browser.text(url)
        assert secret not in page and secret[:8] not in page.replace(" ", ""), url
    trail = json.dumps([(e.action, e.details) for e in events(app, "profile_mfa_enrol")])
    assert secret not in trail and codes[1] not in trail
    [notice] = mails_to(app, smtp_sink, "alice.perso@example.net")
    assert notice["Subject"] == "A second factor was added to your account"
    assert "Pixel 8" in body(notice)
    assert secret not in body(notice) and codes[1] not in body(notice)
    assert PASSWORD not in body(notice)


def test_the_pending_secret_of_one_person_cannot_be_confirmed_by_another(
    app: Flask, sesame_client: FlaskClient, alice: Account, bob: Account
) -> None:
    alices = signed_in(sesame_client, "alice")
    alice_secret = secret_on(alices.text("/profile/security/app"))
    # Another browser, another person: Alice's secret is not Bob's to confirm.
    bobs = signed_in(app.test_client(), "bob")
    bob_secret = secret_on(bobs.text("/profile/security/app"))
    assert bob_secret != alice_secret
    refused = bobs.submit(
        "/profile/security/app",
        {"label": "Stolen", "code": code_for(alice_secret), "current_password": PASSWORD},
    )
    assert refused.status_code == 400
    assert factors(app, "bob") == [] and factors(app, "alice") == []
    # The same browser after Alice signs out: her pending secret is not handed to Bob.
    sesame_client.get("/_cas/logout")
    sesame_client.get("/logout")
    alices.sign_in("bob")
    assert secret_on(alices.text("/profile/security/app")) != alice_secret
    response = alices.submit(
        "/profile/security/app",
        {"label": "Stolen", "code": code_for(alice_secret), "current_password": PASSWORD},
    )
    assert response.status_code == 400
    assert factors(app, "bob") == [] and factors(app, "alice") == []


def test_regenerated_recovery_codes_void_the_old_ones(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    _, response = enrol_totp(browser)
    old = codes_on(browser.text(response.headers["Location"]))
    page = browser.text("/profile/security/recovery-codes")
    assert "10 recovery codes left" in page
    missing = browser.submit("/profile/security/recovery-codes", {})
    assert missing.status_code == 400
    response = browser.submit("/profile/security/recovery-codes", {"current_password": PASSWORD})
    assert response.status_code == 303
    shown = browser.get(response.headers["Location"])
    assert shown.headers["Cache-Control"] == "no-store"
    new = codes_on(shown.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert browser.get(response.headers["Location"]).status_code == 410
    mfa, alice_now = app.extensions["cas"].mfa, fresh(app, "alice")
    assert not mfa.use_recovery_code(alice_now, old[0])
    assert mfa.use_recovery_code(alice_now, new[0])
    assert [e.outcome for e in events(app, "profile_mfa_recovery_codes")] == ["success"]
    subjects = [m["Subject"] for m in mails_to(app, smtp_sink, "alice.perso@example.net")]
    assert "New recovery codes for your account" in subjects
    for mail in mails_to(app, smtp_sink, "alice.perso@example.net"):
        assert not any(code in body(mail) for code in new + old)


def test_a_revoked_trusted_device_no_longer_skips(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    mfa = app.extensions["cas"].mfa
    token, device = mfa.trust_device(fresh(app, "alice"), "Firefox on Linux")
    other_token, _ = mfa.trust_device(fresh(app, "alice"), "Safari on iPhone")
    browser = signed_in(sesame_client)
    listing = browser.text("/profile/security")
    assert "Firefox on Linux" in listing and "Safari on iPhone" in listing
    page = browser.text("/profile/security/devices")
    assert token not in page
    refused = browser.submit("/profile/security/devices", {"device": device.id})
    assert refused.status_code == 400
    assert mfa.trusted_device(fresh(app, "alice"), token) is not None
    response = browser.submit(
        "/profile/security/devices", {"device": device.id, "current_password": PASSWORD}
    )
    assert response.status_code == 303
    assert mfa.trusted_device(fresh(app, "alice"), token) is None
    assert mfa.trusted_device(fresh(app, "alice"), other_token) is not None
    response = browser.submit(
        "/profile/security/devices", {"device": "all", "current_password": PASSWORD}
    )
    assert response.status_code == 303
    assert mfa.trusted_device(fresh(app, "alice"), other_token) is None
    outcomes = [
        (e.outcome, e.details.get("scope")) for e in events(app, "profile_mfa_trusted_device")
    ]
    assert outcomes == [("success", "one"), ("success", "all")]
    trail = json.dumps([e.details for e in events(app, "profile_mfa_trusted_device")])
    assert token not in trail
    subjects = [m["Subject"] for m in mails_to(app, smtp_sink, "alice.perso@example.net")]
    assert subjects.count("Trusted devices revoked") == 2


def test_another_persons_device_cannot_be_revoked(
    app: Flask, sesame_client: FlaskClient, alice: Account, bob: Account
) -> None:
    mfa = app.extensions["cas"].mfa
    token, device = mfa.trust_device(fresh(app, "bob"), "Bob's laptop")
    browser = signed_in(sesame_client)
    assert "Bob&#39;s laptop" not in browser.text("/profile/security/devices")
    response = post(
        browser,
        "/profile/security/devices",
        {"device": device.id, "current_password": PASSWORD},
        form="/profile/security/recovery-codes",
    )
    assert response.status_code == 400
    assert mfa.trusted_device(fresh(app, "bob"), token) is not None


def test_codes_by_email_need_a_verified_address(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, bob: Account
) -> None:
    verified_person(app, "dave", email=False)
    browser = signed_in(sesame_client, "dave")
    page = browser.text("/profile/security/channel/email")
    assert 'href="/profile/email"' in page
    refused = browser.submit("/profile/security/channel/email", {"current_password": PASSWORD})
    assert refused.status_code == 400
    assert "Verify your personal e-mail address first." in refused.get_data(as_text=True)
    assert factors(app, "dave") == []

    bobs = signed_in(app.test_client(), "bob")
    response = bobs.submit("/profile/security/channel/sms", {"current_password": PASSWORD})
    assert response.status_code == 303
    [factor] = factors(app, "bob")
    assert factor.kind is FactorKind.SMS
    assert "+33622222222" not in bobs.text("/profile/security")  # masked
    assert text(bobs.get("/profile/security")).count("Codes by SMS") >= 1


def test_csrf_is_required_on_every_security_form(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = signed_in(sesame_client)
    enrol_totp(browser)
    [factor] = factors(app, "alice")
    for url in (
        "/profile/security/app",
        "/profile/security/key",
        "/profile/security/channel/email",
        f"/profile/security/factors/{factor.id}",
        f"/profile/security/factors/{factor.id}/remove",
        "/profile/security/recovery-codes",
        "/profile/security/devices",
    ):
        answer = sesame_client.post(url, data={"current_password": PASSWORD, "label": "x"})
        assert answer.status_code == 400, url
        assert "Session expired" in answer.get_data(
            as_text=True
        ) or "Session expirée" in answer.get_data(as_text=True)
    assert [f.label for f in factors(app, "alice")] == ["Phone"]


def test_a_staff_member_is_told_a_second_factor_is_required(
    app: Flask, sesame_client: FlaskClient
) -> None:
    staff(app, "carol")
    browser = signed_in(sesame_client, "carol")
    require_staff(app)
    page = text(browser.get("/profile/security"))
    assert "Your account must use a second factor. You have none yet: add one now." in page
    assert "Required for your account" in text(browser.get("/profile/"))
    _, response = enrol_totp(browser)
    assert response.status_code == 303
    page = text(browser.get("/profile/security"))
    assert "Your account must use a second factor." in page and "add one now" not in page


@pytest.mark.parametrize("app_overrides", [{"mfa": {"enabled": False}}])
def test_with_second_factors_off_the_section_says_so(
    app: Flask, client: FlaskClient, app_overrides: dict[str, Any]
) -> None:
    verified_person(app, "alice")
    browser = signed_in(client)
    assert "Second factors are not in use on this server." in text(browser.get("/profile/security"))
    assert 'href="/profile/security"' not in browser.text("/profile/")
    for url in ("/profile/security/app", "/profile/security/key", "/profile/security/devices"):
        assert browser.get(url).status_code == 404, url
