"""The profile page: set or change the personal e-mail and the mobile, verified.

Recovery channels are authenticators (SELF-SERVICE-RULES weak spot 4): a
code to the NEW channel before the change (single use, expiring, limited
tries), a notice to the OLD one, a confirmation without any secret (T11),
the audit trail (T25); bad input answers 4xx and changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from cas_server.accounts.model import Account
from cas_server.storage.sql.models import AccountRow, OneTimeTokenRow
from tests.support.app import PASSWORD, events, rows
from tests.support.outbound import SmsGateway, SmtpSink, body, code_in
from tests.support.profile import ProfileBrowser, person
from tests.support.sesame import drained

NEW_EMAIL = "alice.nouvelle@example.org"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def alice(app: Flask) -> Account:
    return person(app, "alice", mobile="+33611111111")


def account_row(app: Flask) -> AccountRow:
    row: AccountRow = rows(app, AccountRow, login="alice")[0]
    return row


def ask_email(browser: ProfileBrowser, address: str = NEW_EMAIL, password: str = PASSWORD) -> Any:
    return browser.submit(
        "/profile/email", {"personal_email": address, "current_password": password}
    )


def verify(browser: ProfileBrowser, code: str, channel: str = "email") -> Any:
    """Post a code (the CSRF token from another page: the code page may be gone)."""
    return browser.submit("/profile/data", {"code": code}, action=f"/profile/{channel}/verify")


def mails_to(app: Flask, sink: SmtpSink, address: str) -> list[Any]:
    return [m for m in drained(app, sink) if address in str(m["To"])]


@pytest.mark.parametrize(
    ("lang", "subject", "notice", "done"),
    [
        (
            "fr",
            "Votre code de confirmation de cette adresse e-mail",
            "Votre adresse e-mail personnelle a été remplacée",
            "Votre adresse e-mail personnelle a été vérifiée et enregistrée.",
        ),
        (
            "en",
            "Your code to confirm this e-mail address",
            "Your personal e-mail address was replaced",
            "Your personal e-mail address has been verified and saved.",
        ),
    ],
)
def test_change_email_with_a_code_to_the_new_address(
    app: Flask,
    sesame_client: FlaskClient,
    smtp_sink: SmtpSink,
    alice: Account,
    lang: str,
    subject: str,
    notice: str,
    done: str,
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    page = browser.text("/profile/email")
    assert 'autocomplete="email"' in page and "alice.perso@example.net" in page
    response = ask_email(browser)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/profile/email/verify")
    # Nothing changes before the code is typed.
    assert account_row(app).personal_email == "alice.perso@example.net"
    [code_mail] = mails_to(app, smtp_sink, NEW_EMAIL)
    assert code_mail["Subject"] == subject
    code = code_in(body(code_mail))
    page = browser.text("/profile/email/verify")
    assert "a***e@example.org" in page and 'autocomplete="one-time-code"' in page

    response = verify(browser, code)
    assert response.status_code == 303
    assert done in browser.text(response.headers["Location"])
    row = account_row(app)
    assert row.personal_email == NEW_EMAIL and row.personal_email_verified_at is not None

    # T11: a confirmation to the new address; the notice to the old one; no secret.
    confirmation = mails_to(app, smtp_sink, NEW_EMAIL)[-1]
    [old_notice] = mails_to(app, smtp_sink, "alice.perso@example.net")
    assert old_notice["Subject"] == notice
    assert "a***e@example.org" in body(old_notice) and NEW_EMAIL not in body(old_notice)
    for mail in (confirmation, old_notice):
        assert code not in body(mail) and PASSWORD not in body(mail)
    outcomes = [e.outcome for e in events(app, "profile_email")]
    assert outcomes == ["code_sent", "success"]
    # Single use: the same code again is refused.
    assert verify(browser, code).status_code == 410


def test_wrong_expired_and_exhausted_codes(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "fr")
    browser.sign_in()
    assert ask_email(browser).status_code == 303
    code = code_in(body(mails_to(app, smtp_sink, NEW_EMAIL)[-1]))
    wrong = "000000" if code != "000000" else "111111"
    response = verify(browser, wrong)
    assert response.status_code == 400
    assert "Ce code n&#39;est pas le bon." in response.get_data(as_text=True)
    response = verify(browser, "12\x0034")
    assert response.status_code == 400
    assert "Saisissez les 6 chiffres" in response.get_data(as_text=True)
    # Four more wrong codes: the code is dead, even the right one (T9-like limit).
    for _ in range(4):
        verify(browser, wrong)
    response = verify(browser, code)
    assert response.status_code == 410
    assert "Code plus valable" in response.get_data(as_text=True)
    assert account_row(app).personal_email == "alice.perso@example.net"

    # Expired: the right code after its lifetime is refused.
    assert ask_email(browser).status_code == 303
    code = code_in(body(mails_to(app, smtp_sink, NEW_EMAIL)[-1]))
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(update(OneTimeTokenRow).values(expires_at=time.time() - 1))
    assert verify(browser, code).status_code == 410
    assert account_row(app).personal_email == "alice.perso@example.net"
    assert "code_expired" in [e.outcome for e in events(app, "profile_email")]


def test_bad_input_and_password_are_checked_first(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    for address, expected in [
        ("not-an-address", "Enter an e-mail address such as name@example.org."),
        ("a\x07b@example.org", "characters that are not allowed"),
        ("x" * 400 + "@example.org", "too long"),
        ("alice.perso@example.net", None),  # unverified on file: may be verified
    ]:
        response = ask_email(browser, address, "Wrong-Password-1!" if expected is None else "")
        assert response.status_code == 400, address
        page = response.get_data(as_text=True)
        assert (expected or "Your current password is not right.") in page
        assert 'href="#personal_email"' in page or expected is None
    assert mails_to(app, smtp_sink, NEW_EMAIL) == []
    # A verified address cannot be "changed" to itself.
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(update(AccountRow).values(personal_email_verified_at=AccountRow.created_at))
    response = ask_email(browser, "Alice.Perso@example.net")
    assert response.status_code == 400
    assert "already your verified address" in response.get_data(as_text=True)
    # No code outstanding: the verify page sends back to the form, a post is refused.
    assert browser.get("/profile/email/verify").status_code == 303
    assert sesame_client.post("/profile/email/verify", data={"code": "123456"}).status_code == 400
    assert account_row(app).personal_email == "alice.perso@example.net"


@pytest.mark.parametrize(
    ("lang", "sms_word", "notice_word"),
    [("fr", "Code de confirmation", "remplacé"), ("en", "Code to confirm", "replaced")],
)
def test_change_mobile_with_a_code_by_sms(
    app: Flask,
    sesame_client: FlaskClient,
    smtp_sink: SmtpSink,
    sms_gateway: SmsGateway,
    alice: Account,
    lang: str,
    sms_word: str,
    notice_word: str,
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    assert 'autocomplete="tel"' in browser.text("/profile/mobile")
    response = browser.submit(
        "/profile/mobile", {"mobile": "07 22 33 44 55", "current_password": PASSWORD}
    )
    assert response.status_code == 303
    [sms] = sms_gateway.wait(1)
    assert sms["to"] == "+33722334455" and sms_word in sms["message"]
    assert account_row(app).mobile == "+33611111111"
    code = code_in(sms["message"])
    assert verify(browser, code, "mobile").status_code == 303
    row = account_row(app)
    assert row.mobile == "+33722334455" and row.mobile_verified_at is not None
    # The old number is told; the personal e-mail gets the confirmation (T11).
    notice = sms_gateway.wait(2)[1]
    assert notice["to"] == "+33611111111" and notice_word in notice["message"]
    assert code not in notice["message"]
    [mail] = mails_to(app, smtp_sink, "alice.perso@example.net")
    assert "07 ** ** ** 55" in body(mail) and code not in body(mail)
    assert [e.outcome for e in events(app, "profile_mobile")] == ["code_sent", "success"]
