"""Account activation ("Activer mon compte"), through real SMTP and SMS servers.

Rules: T1 (same start page for everyone), T7 (no sign-in), T11 (confirmation
without secret), T13 (joker hashed, never shown, not the login/password),
T18 (the password policy through PasswordService), T23 (charter version),
T25 (audit); bad input never half-changes the account.
"""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.model import Account, Status
from cas_server.accounts.tokens import digest
from cas_server.auth.hashing import verify_password
from cas_server.storage.sql.models import AccountRow, AuditEventRow, CharterAcceptanceRow
from tests.support.app import CasBrowser, make_account
from tests.support.html import without_csrf
from tests.support.outbound import SmsGateway, SmtpSink, body, code_in
from tests.support.sesame import SesameBrowser, drained

PASSWORD = "Activation-Secret-2027!"
START = "/sesame/activate"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def newcomer(app: Flask) -> Account:
    """Imported from the information system, never signed in."""
    return make_account(
        app,
        "camille.durand",
        password=None,
        status=Status.NOT_ACTIVATED,
        given_name="Camille",
        family_name="Durand",
        birth_date=date(2006, 3, 14),
        student_number="22004321",
        ine="0123456789A",
        personal_email="camille.durand@example.net",
        mobile="+33612345678",
        attributes={},
    )


def row(app: Flask, login: str) -> AccountRow:
    with Session(app.extensions["cas"].engine) as session:
        found = session.scalars(select(AccountRow).where(AccountRow.login == login)).one()
        session.expunge(found)
        return found


def identify(browser: SesameBrowser, kind: str, number: str, born: str) -> Any:
    return browser.submit(START, {"kind": kind, "identifier": number, "birth_date": born})


def prove(browser: SesameBrowser, sink: SmtpSink, page_html: str) -> Any:
    code = code_in(body(sink.wait(to="camille.durand@example.net")[0]))
    return browser.post("/sesame/activate/verify", {"code": code}, page_html)


def the_form(browser: SesameBrowser, **fields: str) -> dict[str, str]:
    data = {
        "personal_email": "camille.new@example.org",
        "mobile": "06 11 22 33 44",
        "joker_question": "first_pet",
        "joker_answer": "  Médor le Chien ",
        "new_password": PASSWORD,
        "confirm_password": PASSWORD,
        "charter": "1",
    }
    data.update(fields)
    return data


@pytest.mark.parametrize(
    ("lang", "kind", "number", "born"),
    [
        ("fr", "student_number", "22004321", "14/03/2006"),
        ("en", "ine", "0123456789a", "2006-03-14"),
    ],
)
def test_activation_end_to_end(
    sesame_client: FlaskClient,
    smtp_sink: SmtpSink,
    newcomer: Account,
    app: Flask,
    lang: str,
    kind: str,
    number: str,
    born: str,
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    started = identify(browser, kind, number, born)
    assert started.status_code == 200
    html = started.get_data(as_text=True)
    assert 'name="code"' in html and 'autocomplete="one-time-code"' in html
    mail = smtp_sink.wait(to="camille.durand@example.net")[0]
    assert mail["Subject"] == (
        "Votre code d'activation" if lang == "fr" else "Your activation code"
    )

    proven = prove(browser, smtp_sink, html)
    assert proven.status_code == 303
    form = sesame_client.get(proven.headers["Location"])
    form_html = form.get_data(as_text=True)
    assert form.status_code == 200
    assert 'autocomplete="new-password"' in form_html and 'name="joker_question"' in form_html
    assert "camille.durand@example.net" in form_html  # prefilled from the import

    done = browser.post("/sesame/activate/account", the_form(browser), form_html)
    text = done.get_data(as_text=True)
    assert done.status_code == 200, text
    assert "camille.durand" in text and "data-login" in text  # the login is shown
    assert ("Compte activé" if lang == "fr" else "Account activated") in text
    assert sesame_client.get_cookie("TGC") is None  # T7

    stored = row(app, "camille.durand")
    assert stored.status == "active"
    assert stored.personal_email == "camille.new@example.org"
    assert stored.mobile == "+33611223344"
    assert stored.joker_question == "first_pet"
    # T13: hashed (slow hash), normalised, never the answer itself.
    assert stored.joker_answer_hash and "dor" not in stored.joker_answer_hash
    assert verify_password("medor le chien", stored.joker_answer_hash)
    assert stored.personal_email_verified_at is None  # a new address, not proven yet
    with Session(app.extensions["cas"].engine) as session:
        accepted = session.scalars(select(CharterAcceptanceRow)).all()
        assert [(a.charter, a.version) for a in accepted] == [("general", "2026-09")]

    # T11: a confirmation to the new address and a notice to the imported one.
    confirmations = smtp_sink.wait(1, to="camille.new@example.org")
    smtp_sink.wait(2, to="camille.durand@example.net")
    text = body(confirmations[0])
    assert PASSWORD not in text and "dor" not in text.casefold()

    assert CasBrowser(app.test_client()).login("camille.durand", PASSWORD).status_code == 200


def test_start_page_is_the_same_for_every_kind_of_account(
    app: Flask, smtp_sink: SmtpSink, newcomer: Account
) -> None:
    """T1: not activated (right and wrong date), active, locked and unknown answer alike."""
    make_account(app, "active1", birth_date=date(2000, 1, 1), student_number="1001")
    make_account(
        app, "locked1", status=Status.LOCKED, birth_date=date(2000, 1, 1), student_number="1002"
    )
    answers = set()
    for number, born in [
        ("22004321", "14/03/2006"),
        ("22004321", "15/03/2006"),
        ("1001", "01/01/2000"),
        ("1002", "01/01/2000"),
        ("99999999", "01/01/2000"),
    ]:
        browser = SesameBrowser(app.test_client())
        response = identify(browser, "student_number", number, born)
        answers.add((response.status_code, without_csrf(response.get_data(as_text=True))))
    assert len(answers) == 1 and next(iter(answers))[0] == 200
    assert len(drained(app, smtp_sink)) == 1  # only the account to activate got a code


def test_activation_code_handed_out(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, newcomer: Account, app: Flask
) -> None:
    app.extensions["sesame"].store.set_activation_code(newcomer.uuid, digest("K7M2P9Q4R8T3"))
    browser = SesameBrowser(sesame_client, "en")
    html, _ = browser.page(START)
    wrong = browser.post("/sesame/activate/code", {"activation_code": "AAAA-BBBB-CCCC"}, html)
    assert wrong.status_code == 400 and "not valid" in wrong.get_data(as_text=True)
    html, _ = browser.page(START)
    right = browser.post("/sesame/activate/code", {"activation_code": "k7m2-p9q4-r8t3"}, html)
    assert right.status_code == 303
    form_html = sesame_client.get(right.headers["Location"]).get_data(as_text=True)
    done = browser.post("/sesame/activate/account", the_form(browser), form_html)
    assert done.status_code == 200
    assert row(app, "camille.durand").activation_code_hash is None


def test_channel_proof_by_sms_when_no_mail_on_file(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, sms_gateway: SmsGateway, app: Flask
) -> None:
    make_account(
        app,
        "sam.sms",
        password=None,
        status=Status.NOT_ACTIVATED,
        birth_date=date(2001, 2, 3),
        personnel_number="P1234",
        mobile="+33700000001",
    )
    browser = SesameBrowser(sesame_client)
    started = identify(browser, "personnel_number", "p1234", "03/02/2001")
    sms = sms_gateway.wait()[0]
    assert sms["to"] == "+33700000001"
    assert sms_gateway.headers[0]["Authorization"].startswith("Basic ")
    proven = browser.post(
        "/sesame/activate/verify", {"code": code_in(sms["message"])}, started.get_data(as_text=True)
    )
    assert proven.status_code == 303


def test_form_errors_are_explained_and_change_nothing(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, newcomer: Account, app: Flask
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    started = identify(browser, "student_number", "22004321", "14/03/2006")
    proven = prove(browser, smtp_sink, started.get_data(as_text=True))
    form_html = sesame_client.get(proven.headers["Location"]).get_data(as_text=True)
    before = row(app, "camille.durand")
    cases = [
        ({"personal_email": "not-an-address"}, "e-mail address such as"),
        ({"personal_email": "", "mobile": ""}, "Give a personal e-mail address or a mobile"),
        ({"mobile": "12"}, "mobile number such as"),
        ({"joker_answer": "Camille.Durand"}, "must not be your identifier"),
        ({"joker_answer": PASSWORD}, "must not be your identifier or your password"),
        ({"joker_answer": "ab"}, "at least 3 characters"),
        ({"joker_question": "my own question"}, "Choose a question"),
        ({"confirm_password": PASSWORD + "!"}, "different"),
        ({"new_password": "password", "confirm_password": "password"}, "At least"),
        ({"charter": ""}, "accept the charter"),
        ({"personal_email": "x\x07@example.org"}, "not allowed"),
        ({"joker_answer": "x" * 5000}, "too long"),
    ]
    for fields, expected in cases:
        response = browser.post("/sesame/activate/account", the_form(browser, **fields), form_html)
        text = response.get_data(as_text=True)
        assert response.status_code == 400, fields
        assert expected in text, (fields, expected)
        assert 'class="error-summary"' in text and 'href="#' in text
        assert "dor le" not in text  # the joker answer is never sent back (T13)
    after = row(app, "camille.durand")
    assert (after.status, after.password_hash, after.joker_answer_hash, after.personal_email) == (
        before.status,
        before.password_hash,
        before.joker_answer_hash,
        before.personal_email,
    )


def test_bad_identification_input_is_explained(sesame_client: FlaskClient, app: Flask) -> None:
    browser = SesameBrowser(sesame_client)
    cases = [
        ("22004321", "2006/14/03", "jj/mm/aaaa"),
        ("22004321", "31/02/2006", "n'existe pas"),
        ("22004321", "14/03/2999", "vraie date"),
        ("2200\x004321", "14/03/2006", "non autorisés"),
        ("x" * 600, "14/03/2006", "trop long"),
        ("", "14/03/2006", "obligatoire"),
    ]
    for number, born, expected in cases:
        response = identify(browser, "student_number", number, born)
        assert response.status_code == 400, (number, born)
        assert expected in html.unescape(response.get_data(as_text=True)), (number, expected)
    odd = browser.submit(START, {"kind": "passport", "identifier": "1", "birth_date": "01/01/2000"})
    assert odd.status_code == 400


def test_wrong_codes_and_replays(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, newcomer: Account, app: Flask
) -> None:
    browser = SesameBrowser(sesame_client)
    started = identify(browser, "student_number", "22004321", "14/03/2006")
    html = started.get_data(as_text=True)
    code = code_in(body(smtp_sink.wait()[0]))
    wrong = "000000" if code != "000000" else "111111"
    assert browser.post("/sesame/activate/verify", {"code": wrong}, html).status_code == 400
    assert browser.post("/sesame/activate/verify", {"code": "12ab"}, html).status_code == 400
    proven = browser.post("/sesame/activate/verify", {"code": code}, html)
    assert proven.status_code == 303
    form_html = sesame_client.get("/sesame/activate/account").get_data(as_text=True)
    assert browser.post("/sesame/activate/account", the_form(browser), form_html).status_code == 200
    # The step is used: neither the form nor the code works again.
    assert sesame_client.get("/sesame/activate/account").status_code == 410
    again = browser.post("/sesame/activate/account", the_form(browser), form_html)
    assert again.status_code == 410
    assert browser.post("/sesame/activate/verify", {"code": code}, html).status_code == 410


def test_without_channel_proof_the_form_follows_identification(
    sesame_client: FlaskClient, newcomer: Account, app: Flask
) -> None:
    state = app.extensions["sesame"]
    state.settings = replace(state.settings, activation_proof=False)
    browser = SesameBrowser(sesame_client, "en")
    unknown = identify(browser, "student_number", "22004321", "15/03/2006")
    assert unknown.status_code == 400 and "No account to activate" in unknown.get_data(as_text=True)
    known = identify(browser, "student_number", "22004321", "14/03/2006")
    assert known.status_code == 303


def test_activation_is_audited(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, newcomer: Account, app: Flask
) -> None:
    """T25."""
    browser = SesameBrowser(sesame_client)
    started = identify(browser, "student_number", "22004321", "14/03/2006")
    proven = prove(browser, smtp_sink, started.get_data(as_text=True))
    form_html = sesame_client.get(proven.headers["Location"]).get_data(as_text=True)
    browser.post("/sesame/activate/account", the_form(browser), form_html)
    with Session(app.extensions["cas"].engine) as session:
        events = [(e.action, e.outcome, e.ip) for e in session.scalars(select(AuditEventRow))]
    for action, outcome in [
        ("sesame_activation_start", "match"),
        ("sesame_activation_code", "sent"),
        ("sesame_activation_code", "verified"),
        ("sesame_activation", "success"),
    ]:
        assert (action, outcome, "127.0.0.1") in events
