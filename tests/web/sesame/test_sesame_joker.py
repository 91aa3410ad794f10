"""Forgotten password by number + birth date + joker (UPHF Sésame), and the
forgotten identifier (by number or by address, shown after the joker).

Rules: T1 (same pages, a decoy question for everyone else), T6, T7, T11,
T12 (joker guesses throttled per account and per address, audited), T13
(never shown), T18 (history on reset), T25.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.model import Account, Status
from cas_server.storage.sql.models import AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.html import without_csrf
from tests.support.outbound import SmtpSink, body
from tests.support.sesame import SesameBrowser

NEW = "Joker-Reset-Password-2027"
START = "/sesame/password/joker"
QUESTION_RE = re.compile(r'(<label class="field__label" for="joker_answer">)([^<]*)(</label>)')


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


def set_joker(app: Flask, account: Account, question: str, answer: str) -> None:
    c = app.extensions["cas"]
    app.extensions["sesame"].store.set_joker(
        account.uuid, question, c.passwords.hasher(answer), datetime.now(UTC)
    )


@pytest.fixture
def lea(app: Flask) -> Account:
    account = make_account(
        app,
        "lea.martin",
        given_name="Léa",
        family_name="Martin",
        birth_date=date(2003, 11, 2),
        student_number="20181234",
        ine="1234567890B",
        personnel_number=None,
        personal_email="lea@example.net",
    )
    app.extensions["cas"].accounts.accept_charter(account.uuid, "general", "2026-09")
    set_joker(app, account, "first_school", "ecole jules ferry")
    return account


def ask_joker(browser: SesameBrowser, number: str = "20181234", born: str = "02/11/2003") -> Any:
    return browser.submit(
        START, {"kind": "student_number", "identifier": number, "birth_date": born}
    )


def answer(browser: SesameBrowser, page: Any, text: str) -> Any:
    return browser.post(
        "/sesame/password/joker/answer", {"joker_answer": text}, page.get_data(as_text=True)
    )


def audit(app: Flask) -> list[tuple[str, str, str | None]]:
    with Session(app.extensions["cas"].engine) as session:
        return [(e.action, e.outcome, e.ip) for e in session.scalars(select(AuditEventRow))]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_reset_with_the_joker_end_to_end(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, lea: Account, app: Flask, lang: str
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    page = ask_joker(browser)
    assert page.status_code == 200
    question = (
        "Quel était le nom de votre première école ?"
        if lang == "fr"
        else "What was the name of your first school?"
    )
    assert question in html.unescape(page.get_data(as_text=True))
    granted = answer(browser, page, "  École   JULES-Ferry ".replace("-", " "))
    assert granted.status_code == 303
    form = sesame_client.get(granted.headers["Location"])
    form_html = form.get_data(as_text=True)
    assert 'name="charter"' in form_html and "/sesame/charter/general" in form_html
    charter = sesame_client.get("/sesame/charter/general")
    assert charter.status_code == 200
    done = browser.post(
        "/sesame/password/new",
        {"new_password": NEW, "confirm_password": NEW, "charter": "1"},
        form_html,
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert sesame_client.get_cookie("TGC") is None  # T7
    confirmation = smtp_sink.wait(to="lea@example.net")[0]
    assert NEW not in body(confirmation) and "ferry" not in body(confirmation).casefold()
    assert CasBrowser(app.test_client()).login("lea.martin", NEW).status_code == 200
    # The grant is used: the new-password page is gone.
    assert sesame_client.get("/sesame/password/new").status_code == 410


def test_the_question_page_looks_the_same_for_everyone(app: Flask, lea: Account) -> None:
    """T1: unknown number, wrong date, locked or not activated: a decoy question, same page."""
    make_account(
        app, "locked", status=Status.LOCKED, student_number="3001", birth_date=date(2000, 1, 1)
    )
    ghost = make_account(
        app,
        "ghost",
        status=Status.NOT_ACTIVATED,
        password=None,
        student_number="3002",
        birth_date=date(2000, 1, 1),
    )
    set_joker(app, ghost, "first_pet", "rex")
    pages = set()
    questions = set()
    for number, born in [
        ("20181234", "02/11/2003"),
        ("20181234", "03/11/2003"),
        ("3001", "01/01/2000"),
        ("3002", "01/01/2000"),
        ("99999", "01/01/2000"),
    ]:
        response = ask_joker(SesameBrowser(app.test_client()), number, born)
        text = without_csrf(response.get_data(as_text=True))
        questions.add(QUESTION_RE.search(text).group(2))  # type: ignore[union-attr]
        pages.add((response.status_code, QUESTION_RE.sub(r"\1?\3", text)))
    assert len(pages) == 1 and next(iter(pages))[0] == 200
    # The same person typing the same thing sees the same decoy every time.
    again = ask_joker(SesameBrowser(app.test_client()), "99999", "01/01/2000")
    assert QUESTION_RE.search(again.get_data(as_text=True)).group(2) in questions  # type: ignore[union-attr]


def test_no_answer_is_right_for_a_decoy(sesame_client: FlaskClient, app: Flask) -> None:
    ghost = make_account(
        app, "ghost", status=Status.LOCKED, student_number="3002", birth_date=date(2000, 1, 1)
    )
    set_joker(app, ghost, "first_pet", "rex")
    browser = SesameBrowser(sesame_client)
    page = ask_joker(browser, "3002", "01/01/2000")
    response = answer(browser, page, "rex")
    assert response.status_code == 400


def test_joker_guesses_are_throttled_per_account_and_audited(
    app: Flask, lea: Account, smtp_sink: SmtpSink
) -> None:
    """T12: 5 wrong answers lock the account's joker for 15 min, whatever the address."""
    for attempt in range(5):
        client = app.test_client()
        browser = SesameBrowser(client)
        page = ask_joker(browser)
        wrong = answer(browser, page, f"wrong {attempt}")
        assert wrong.status_code == 400
        assert "n'est pas correcte" in html.unescape(wrong.get_data(as_text=True))
    browser = SesameBrowser(app.test_client())
    page = ask_joker(browser)
    assert answer(browser, page, "ecole jules ferry").status_code == 429
    failures = [e for e in audit(app) if e[:2] == ("sesame_joker", "failure")]
    assert len(failures) == 5 and all(ip == "127.0.0.1" for _, _, ip in failures)


def test_joker_guesses_are_throttled_per_address(app: Flask, lea: Account) -> None:
    state = app.extensions["sesame"]
    state.settings = replace(
        state.settings, limits=replace(state.settings.limits, joker_attempts=2)
    )
    from cas_server.runtime.sesame import make_throttles

    with app.app_context():
        state.joker_throttle, state.joker_ip_throttle = make_throttles(state.settings)
    # Many people (unknown numbers) from one address: the address is locked (2 x 4 tries).
    statuses = []
    for n in range(9):
        browser = SesameBrowser(app.test_client())
        page = ask_joker(browser, f"5000{n}", "01/01/2000")
        statuses.append(answer(browser, page, "guess").status_code)
    assert statuses[:8] == [400] * 8 and statuses[8] == 429


def test_history_is_enforced_on_reset(sesame_client: FlaskClient, lea: Account) -> None:
    """T18: the current password cannot come back through a reset."""
    browser = SesameBrowser(sesame_client, "en")
    page = ask_joker(browser)
    granted = answer(browser, page, "ecole jules ferry")
    form_html = sesame_client.get(granted.headers["Location"]).get_data(as_text=True)
    again = browser.post(
        "/sesame/password/new",
        {"new_password": PASSWORD, "confirm_password": PASSWORD, "charter": "1"},
        form_html,
    )
    assert again.status_code == 400
    assert "Must differ from your last 5 passwords" in again.get_data(as_text=True)


def test_reset_ends_sessions(sesame_client: FlaskClient, lea: Account, app: Flask) -> None:
    """T6."""
    other = app.test_client()
    assert CasBrowser(other).login("lea.martin", PASSWORD).status_code == 200
    tgc = other.get_cookie("TGC")
    assert tgc is not None
    browser = SesameBrowser(sesame_client)
    granted = answer(browser, ask_joker(browser), "Ecole Jules Ferry")
    form_html = sesame_client.get(granted.headers["Location"]).get_data(as_text=True)
    browser.post(
        "/sesame/password/new",
        {"new_password": NEW, "confirm_password": NEW, "charter": "1"},
        form_html,
    )
    assert app.extensions["cas"].login.current_session(tgc.value) is None


# Forgotten identifier ------------------------------------------------------------------------


def test_identifier_mailed_by_number_and_by_address(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, lea: Account, app: Flask
) -> None:
    make_account(app, "lea.parent", profile=lea.profile, personal_email="LEA@example.net")
    browser = SesameBrowser(sesame_client, "en")
    by_number = browser.submit(
        "/sesame/identifier",
        {"mode": "number", "kind": "ine", "identifier": "1234567890b", "birth_date": "2003-11-02"},
    )
    assert by_number.status_code == 200
    mail = smtp_sink.wait(to="lea@example.net")[0]
    assert mail["Subject"] == "Your identifier" and "lea.martin" in body(mail)
    by_address = browser.submit(
        "/sesame/identifier", {"mode": "email", "personal_email": "Lea@Example.net"}
    )
    assert by_address.status_code == 200
    both = smtp_sink.wait(2)[1]
    assert "lea.martin" in body(both) and "lea.parent" in body(both)


def test_identifier_start_is_the_same_for_everyone(
    app: Flask, smtp_sink: SmtpSink, lea: Account
) -> None:
    """T1, both ways in."""
    pages = set()
    for data in [
        {
            "mode": "number",
            "kind": "student_number",
            "identifier": "20181234",
            "birth_date": "02/11/2003",
        },
        {
            "mode": "number",
            "kind": "student_number",
            "identifier": "20181234",
            "birth_date": "01/11/2003",
        },
        {
            "mode": "number",
            "kind": "student_number",
            "identifier": "404",
            "birth_date": "02/11/2003",
        },
        {"mode": "email", "personal_email": "lea@example.net"},
        {"mode": "email", "personal_email": "nobody@example.net"},
    ]:
        response = SesameBrowser(app.test_client()).submit("/sesame/identifier", data)
        pages.add((response.status_code, without_csrf(response.get_data(as_text=True))))
    assert len(pages) == 1 and next(iter(pages))[0] == 200
    assert len(smtp_sink.wait(2)) == 2


def test_identifier_shown_after_the_joker_only_where_enabled(
    sesame_client: FlaskClient, lea: Account, app: Flask
) -> None:
    browser = SesameBrowser(sesame_client)
    data = {
        "mode": "number",
        "kind": "student_number",
        "identifier": "20181234",
        "birth_date": "02/11/2003",
    }
    sent = browser.submit("/sesame/identifier", data)
    assert "/sesame/identifier/joker" not in sent.get_data(as_text=True)
    assert sesame_client.get("/sesame/identifier/joker").status_code == 410
    state = app.extensions["sesame"]
    state.settings = replace(state.settings, identifier_on_screen=True)
    sent = browser.submit("/sesame/identifier", data)
    assert "/sesame/identifier/joker" in sent.get_data(as_text=True)
    page = sesame_client.get("/sesame/identifier/joker")
    wrong = browser.post(
        "/sesame/identifier/joker", {"joker_answer": "nope"}, page.get_data(as_text=True)
    )
    assert wrong.status_code == 400 and "lea.martin" not in wrong.get_data(as_text=True)
    right = browser.post(
        "/sesame/identifier/joker",
        {"joker_answer": "ÉCOLE JULES FERRY"},
        page.get_data(as_text=True),
    )
    assert right.status_code == 200 and "lea.martin" in right.get_data(as_text=True)
    events = audit(app)
    assert ("sesame_identifier", "shown", "127.0.0.1") in events


def test_questions_and_grants_expire(sesame_client: FlaskClient, lea: Account, app: Flask) -> None:
    """T5: a joker question (real or decoy) and a grant last grant_ttl (15 min by default)."""
    from tests.support.fakes import FakeClock

    assert app.extensions["sesame"].settings.tokens.grant_ttl == 900
    browser = SesameBrowser(sesame_client)
    page = ask_joker(browser)
    container = app.extensions["cas"]
    real_clock = container.clock
    container.clock = FakeClock(real_clock.now() + 901)
    try:
        assert answer(browser, page, "ecole jules ferry").status_code == 410
        container.clock = real_clock
        granted = answer(browser, ask_joker(browser), "ecole jules ferry")
        assert granted.status_code == 303
        container.clock = FakeClock(real_clock.now() + 901)
        assert sesame_client.get("/sesame/password/new").status_code == 410
    finally:
        container.clock = real_clock
