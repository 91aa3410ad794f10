"""The second factor at /login (issue #14): enrolment and its grace, the "no way" page,
codes by e-mail, security keys (a software authenticator), trusted devices."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import update

from cas_server.accounts.mfa.model import FactorKind
from cas_server.accounts.model import Account
from cas_server.storage.sql.models import AccountRow
from tests.support.app import events, make_account
from tests.support.html import csrf
from tests.support.outbound import SmsGateway, SmtpSink, body, code_in
from tests.support.sesame import drained
from tests.support.soft_authenticator import SoftAuthenticator
from tests.web.cas.mfa_sign_in_support import (
    APP,
    PAYROLL,
    PUBLIC_URL,
    MfaBrowser,
    build,
    close,
    location,
    no_ticket,
    page_text,
    ticket_of,
    totp,
    with_totp,
)

ROLE = "mfa-people"
TRUST = "cas_mfa_trust"


@pytest.fixture
def app(db_path: Path, tmp_path: Path, request: Any) -> Iterator[Flask]:
    extra: dict[str, dict[str, Any]] = getattr(request, "param", {})
    mfa = {"required_roles": [ROLE], "grace_sign_ins": 2, "trust_days": 30, **extra.get("mfa", {})}
    application = build(
        db_path, tmp_path, mfa=mfa, **{k: v for k, v in extra.items() if k != "mfa"}
    )
    yield application
    close(application)


def browser_of(app: Flask, ip: str = "192.0.2.10") -> MfaBrowser:
    return MfaBrowser(app.test_client(), ip)


def enrol_form(browser: MfaBrowser) -> tuple[str, str]:
    """The enrolment page: its CSRF token and the secret as the page shows it."""
    page = browser.get("/login/mfa/enrol")
    assert page.status_code == 200, page_text(page)[:500]
    html = page.get_data(as_text=True)
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)
    assert match, html[:1500]
    assert "<svg" in html and 'role="img"' in html  # the QR code, inline
    return csrf(html), match.group(1).replace(" ", "")


# --- forced enrolment, grace, the page with no way ---------------------------------------


def test_a_role_that_requires_it_counts_down_the_grace_then_ends_at_none(app: Flask) -> None:
    make_account(app, roles=frozenset({ROLE}))
    make_account(app, "bob", given_name="Bob")
    browser = browser_of(app)
    for left in (2, 1):
        response = browser.password(APP)
        assert location(response).endswith("/login/mfa/enrol")
        page = browser.get("/login/mfa/enrol")
        assert f"postpone it {left} time" in page_text(page)
        later = browser.post(
            "/login/mfa/enrol", {"csrf_token": csrf(page.get_data(as_text=True)), "action": "later"}
        )
        ticket_of(later, APP)
        browser.logout()
    response = browser.password(APP)
    assert response.status_code == 303 and "/login/mfa/none" in location(response)
    none = browser.get(location(response))
    assert none.status_code == 403 and "help desk" in page_text(none)
    assert browser.client.get_cookie("TGC") is None
    # Nothing to go on with: the enrolment page itself says the sign-in expired.
    assert browser.get("/login/mfa/enrol").status_code == 400
    assert [e.outcome for e in events(app, "mfa_enrol")] == ["later", "later"]
    # Without the role, nothing is asked.
    other = browser_of(app)
    ticket_of(other.password(APP, login="bob"), APP)


def test_enrolment_for_a_service_confirms_a_code_and_shows_the_codes_once(app: Flask) -> None:
    make_account(app)
    browser = browser_of(app)
    response = browser.password(PAYROLL)
    assert location(response).endswith("/login/mfa/enrol")
    token, secret = enrol_form(browser)
    page = browser.get("/login/mfa/enrol")
    assert "Later" not in page_text(page)  # a service that requires it: no "later"
    # "Later" posted anyway is refused; so is a wrong code.
    refused = browser.post("/login/mfa/enrol", {"csrf_token": token, "action": "later"})
    assert refused.status_code == 400
    no_ticket(refused)
    wrong = browser.post(
        "/login/mfa/enrol",
        {"csrf_token": token, "action": "confirm", "code": "000000", "label": "Phone"},
    )
    assert wrong.status_code == 401
    # The same secret through the reloads: the code of the app confirms it.
    token, again = enrol_form(browser)
    assert again == secret
    codes_page = browser.post(
        "/login/mfa/enrol",
        {
            "csrf_token": token,
            "action": "confirm",
            "code": pyotp.TOTP(secret).now(),
            "label": "Phone",
        },
    )
    assert codes_page.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", codes_page.get_data(as_text=True))
    assert len(codes) == 10
    ticket_of(
        browser.post(
            "/login/mfa/continue", {"csrf_token": csrf(codes_page.get_data(as_text=True))}
        ),
        PAYROLL,
    )
    assert [e.outcome for e in events(app, "mfa_enrol")] == ["success"]
    # Next time the app's code is asked, and a recovery code works.
    browser.logout()
    assert location(browser.password(PAYROLL)).endswith("/login/mfa")
    ticket_of(browser.code(codes[3], "recovery_code"), PAYROLL)


@pytest.mark.parametrize("app", [{"mfa": {"grace_sign_ins": 0}}], indirect=True)
def test_a_service_that_requires_it_with_no_enrolment_left_ends_at_none(app: Flask) -> None:
    make_account(app)
    browser = browser_of(app)
    response = browser.password(PAYROLL)
    assert "/login/mfa/none" in location(response) and "for=service" in location(response)
    page = browser.get(location(response))
    assert page.status_code == 403 and "This service requires a second factor" in page_text(page)
    # A password-only service is still open.
    ticket_of(browser.password(APP), APP)


# --- codes by e-mail ------------------------------------------------------------------------


@pytest.fixture
def mail_app(db_path: Path, tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Flask]:
    mail = {
        "backend": "smtp",
        "host": "127.0.0.1",
        "port": smtp_sink.port,
        "from_address": "cas@univ-test.fr",
        "timeout": 5.0,
    }
    application = build(db_path, tmp_path, mail=mail, mfa={"code_ttl": 60})
    yield application
    application.extensions["sesame"].close()
    close(application)


def with_email_factor(app: Flask, verified: bool = True) -> Account:
    c = app.extensions["cas"]
    account = make_account(app, personal_email="alice.perso@example.net")
    with c.engine.begin() as conn:
        conn.execute(update(AccountRow).values(personal_email_verified_at=datetime.now(UTC)))
    c.mfa.add_channel_factor(account, FactorKind.EMAIL)
    if not verified:
        with c.engine.begin() as conn:
            conn.execute(update(AccountRow).values(personal_email_verified_at=None))
    return account


def send_email_code(browser: MfaBrowser, **extra: str) -> Any:
    page = browser.mfa_page("email")
    data = {"csrf_token": csrf(page.get_data(as_text=True)), "channel": "email", **extra}
    return browser.post("/login/mfa/send", data)


def test_an_email_code_goes_to_the_verified_address_only_and_works_once(
    mail_app: Flask, smtp_sink: SmtpSink
) -> None:
    with_email_factor(mail_app)
    browser = browser_of(mail_app)
    assert location(browser.password(PAYROLL)).endswith("/login/mfa")
    assert "a***" in page_text(browser.mfa_page("email")) or "@example.net" in page_text(
        browser.mfa_page("email")
    )
    # An address slipped into the form is ignored: the code goes to the verified one.
    sent = send_email_code(browser, to="attacker@evil.example", email="attacker@evil.example")
    assert sent.status_code == 303
    mails = drained(mail_app, smtp_sink)
    assert [m["To"] for m in mails] == ["alice.perso@example.net"]
    code = code_in(body(mails[0]))
    ticket_of(browser.code(code, "email"), PAYROLL)
    # Single use: the same code in a new sign-in is refused.
    browser.logout()
    browser.password(PAYROLL)
    again = browser.code(code, "email")
    assert again.status_code == 401
    no_ticket(again)


def test_an_email_code_expires(mail_app: Flask, smtp_sink: SmtpSink, monkeypatch: Any) -> None:
    with_email_factor(mail_app)
    browser = browser_of(mail_app)
    browser.password(PAYROLL)
    send_email_code(browser)
    code = code_in(body(drained(mail_app, smtp_sink)[0]))
    clock = mail_app.extensions["cas"].clock
    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now + 61)
    late = browser.code(code, "email")
    assert late.status_code == 401
    no_ticket(late)


def test_no_email_code_to_an_address_no_longer_verified(
    mail_app: Flask, smtp_sink: SmtpSink
) -> None:
    account = with_email_factor(mail_app, verified=False)
    with_totp(mail_app, account.login)
    browser = browser_of(mail_app)
    browser.password(PAYROLL)
    assert "Code by e-mail" not in page_text(browser.mfa_page())
    refused = send_email_code(browser)
    assert refused.status_code == 400
    assert drained(mail_app, smtp_sink) == []


# --- security keys (a software authenticator; the browser tests use Chromium's) -------------


def with_key(app: Flask) -> SoftAuthenticator:
    c = app.extensions["cas"]
    account = c.accounts.find_by_login("alice") or make_account(app)
    rp_id = PUBLIC_URL.split("//", 1)[1]
    key = SoftAuthenticator(rp_id=rp_id, origin=PUBLIC_URL)
    _, challenge = c.mfa.begin_webauthn_registration(account, rp_id, "Test")
    c.mfa.finish_webauthn_registration(
        account, "Key", key.register(challenge), challenge, rp_id, PUBLIC_URL
    )
    return key


def challenge_of(options: dict[str, Any]) -> bytes:
    text = options["challenge"]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_security_key_signs_in_and_a_counter_going_back_is_refused(app: Flask) -> None:
    key = with_key(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    options = browser.webauthn_options()
    assert options["rpId"] == "cas.univ-test.fr" and options["allowCredentials"]
    page = browser.mfa_page("webauthn").get_data(as_text=True)
    assert 'data-webauthn="get"' in page and 'name="credential"' in page
    assert "js/webauthn.js" in page
    # An answer to another challenge (an old one, replayed) is refused.
    stale = key.sign(b"x" * 32)
    refused = browser.post(
        "/login/mfa",
        {"csrf_token": options["csrf_token"], "method": "webauthn", "credential": stale},
    )
    assert refused.status_code == 401
    options = browser.webauthn_options()
    answer = key.sign(challenge_of(options))
    data = {"csrf_token": options["csrf_token"], "method": "webauthn", "credential": answer}
    ticket_of(browser.post("/login/mfa", data), PAYROLL)
    # A cloned key: its counter goes back.
    browser.logout()
    browser.password(PAYROLL)
    options = browser.webauthn_options()
    cloned = key.sign(challenge_of(options), count=1)
    data = {"csrf_token": options["csrf_token"], "method": "webauthn", "credential": cloned}
    response = browser.post("/login/mfa", data)
    assert response.status_code == 401
    no_ticket(response)
    assert len(events(app, "mfa_webauthn_counter")) == 1
    assert "counter" in [e.outcome for e in events(app, "mfa_verify")]


# --- trusted devices ------------------------------------------------------------------------


def trusted_sign_in(browser: MfaBrowser, secret: str, offset: float = 0.0) -> None:
    browser.password(PAYROLL)
    ticket_of(browser.code(totp(secret, offset), trust="yes"), PAYROLL)


def test_a_trusted_device_skips_the_second_factor(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    assert 'name="trust"' in browser.mfa_page().get_data(as_text=True)
    response = browser.code(totp(secret), trust="yes")
    ticket_of(response, PAYROLL)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(TRUST))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Max-Age=2592000" in cookie
    browser.logout()
    assert browser.client.get_cookie(TRUST) is not None  # a logout keeps the device
    ticket_of(browser.password(PAYROLL), PAYROLL)
    tgc = browser.client.get_cookie("TGC")
    assert tgc is not None
    tgt = app.extensions["cas"].login.current_session(tgc.value)
    assert tgt is not None and tgt.authentication.methods == ("password", "trusted_device")
    assert [e.outcome for e in events(app, "mfa_trusted_device")] == ["added", "used"]


def test_a_revoked_or_expired_device_asks_again(app: Flask, monkeypatch: Any) -> None:
    account, secret = with_totp(app)
    browser = browser_of(app)
    trusted_sign_in(browser, secret)
    browser.logout()
    c = app.extensions["cas"]
    c.mfa.store.revoke_trusted_devices(account.uuid)
    assert location(browser.password(PAYROLL)).endswith("/login/mfa")
    ticket_of(browser.code(totp(secret, 30), trust="yes"), PAYROLL)
    browser.logout()
    now = c.clock.now()
    monkeypatch.setattr(c.clock, "now", lambda: now + 31 * 86400)
    assert location(browser.password(PAYROLL)).endswith("/login/mfa")


def test_another_accounts_device_cookie_does_not_count(app: Flask) -> None:
    with_totp(app)
    make_account(app, "bob", given_name="Bob")
    _, bob_secret = with_totp(app, "bob")
    bobs = browser_of(app)
    bobs.password(PAYROLL, login="bob")
    ticket_of(bobs.code(totp(bob_secret), trust="yes"), PAYROLL)
    cookie = bobs.client.get_cookie(TRUST)
    assert cookie is not None
    alices = browser_of(app)
    alices.client.set_cookie(TRUST, cookie.value)
    assert location(alices.password(PAYROLL)).endswith("/login/mfa")
    # A forged or tampered cookie neither.
    alices.client.set_cookie(TRUST, cookie.value[:-2] + "xx")
    alices.logout()
    assert location(alices.password(PAYROLL)).endswith("/login/mfa")


def test_a_public_computer_never_gets_or_uses_a_trusted_device(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = browser_of(app)
    browser.password(PAYROLL, computer="public")
    assert 'name="trust"' not in browser.mfa_page().get_data(as_text=True)
    response = browser.code(totp(secret), trust="yes")
    ticket_of(response, PAYROLL)
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith(TRUST)]
    # A device trusted on a private sign-in is not honoured by a public one.
    browser.logout()
    trusted_sign_in(browser, secret, 30)
    browser.logout()
    assert location(browser.password(PAYROLL, computer="public")).endswith("/login/mfa")


def test_the_trust_checkbox_is_not_offered_when_off(db_path: Path, tmp_path: Path) -> None:
    application = build(db_path, tmp_path)
    try:
        _, secret = with_totp(application)
        browser = browser_of(application)
        browser.password(PAYROLL)
        assert 'name="trust"' not in browser.mfa_page().get_data(as_text=True)
        response = browser.code(totp(secret), trust="yes")
        ticket_of(response, PAYROLL)
        assert TRUST not in " ".join(response.headers.getlist("Set-Cookie"))
    finally:
        close(application)


def test_the_options_json_is_what_the_script_reads(app: Flask) -> None:
    with_key(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    options = browser.webauthn_options()
    assert set(options) >= {"challenge", "allowCredentials", "rpId", "userVerification"}
    json.dumps(options)


# --- codes by SMS, trusted device in a step-up ---------------------------------------------


@pytest.fixture
def sms_app(db_path: Path, tmp_path: Path, sms_gateway: SmsGateway) -> Iterator[Flask]:
    sms = {"backend": "http", "url": sms_gateway.url, "username": "cas", "password": "x"}
    application = build(db_path, tmp_path, sms={**sms, "daily_budget": 50})
    yield application
    application.extensions["sesame"].close()
    close(application)


def test_an_sms_code_goes_to_the_verified_mobile_only(
    sms_app: Flask, sms_gateway: SmsGateway
) -> None:
    c = sms_app.extensions["cas"]
    account = make_account(sms_app, mobile="+33611111111")
    with c.engine.begin() as conn:
        conn.execute(update(AccountRow).values(mobile_verified_at=datetime.now(UTC)))
    c.mfa.add_channel_factor(account, FactorKind.SMS)
    browser = browser_of(sms_app)
    browser.password(PAYROLL)
    page = browser.mfa_page("sms")
    assert "06 ** ** ** 11" in page_text(page)
    sent = browser.post(
        "/login/mfa/send",
        {
            "csrf_token": csrf(page.get_data(as_text=True)),
            "channel": "sms",
            "mobile": "+33700000000",
        },
    )
    assert sent.status_code == 303
    [sms] = sms_gateway.wait(1)
    assert sms["to"] == "+33611111111"
    ticket_of(browser.code(code_in(sms["message"]), "sms"), PAYROLL)


def test_a_trusted_device_also_stands_for_the_step_up(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = browser_of(app)
    trusted_sign_in(browser, secret)
    browser.logout()
    ticket_of(browser.password(APP), APP)  # password only: nothing asked, nothing used
    assert [e.outcome for e in events(app, "mfa_trusted_device")] == ["added"]
    ticket_of(browser.get(f"/login?service={PAYROLL}"), PAYROLL)
    assert [e.details["method"] for e in events(app, "mfa_step_up")] == ["trusted_device"]
