"""Forgotten password by SMS code (oZe), through a local HTTP SMS gateway.

Rules: T1, T5 (code TTL), T8 (per-account limit, global daily budget), T9
(6-digit code, limited tries, number from the account never from the form),
T6/T7, T25.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.model import Account, Status
from cas_server.storage.sql.models import AuditEventRow, OneTimeTokenRow
from tests.support.app import CasBrowser, make_account
from tests.support.html import without_csrf
from tests.support.outbound import SmsGateway, SmtpSink, code_in
from tests.support.sesame import SesameBrowser, drained

NEW = "Sms-Reset-Password-2027"
START = "/sesame/password/sms"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def noah(app: Flask) -> Account:
    account = make_account(
        app,
        "noah.petit",
        mobile="+33698765432",
        personal_email="noah@example.net",
        birth_date=date(1990, 1, 1),
    )
    app.extensions["cas"].accounts.accept_charter(account.uuid, "general", "2026-09")
    return account


def ask_code(browser: SesameBrowser, who: str = "noah.petit", **extra: str) -> Any:
    return browser.submit(START, {"identifier": who, **extra})


def send_code(browser: SesameBrowser, page: Any, code: str) -> Any:
    return browser.post("/sesame/password/sms/code", {"code": code}, page.get_data(as_text=True))


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_reset_by_sms_code_end_to_end(
    sesame_client: FlaskClient,
    sms_gateway: SmsGateway,
    smtp_sink: SmtpSink,
    noah: Account,
    app: Flask,
    lang: str,
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    page = ask_code(browser)
    assert page.status_code == 200
    sms = sms_gateway.wait()[0]
    assert sms["to"] == "+33698765432"
    assert ("votre code est" if lang == "fr" else "your code is") in sms["message"]
    granted = send_code(browser, page, code_in(sms["message"]))
    assert granted.status_code == 303
    form_html = sesame_client.get(granted.headers["Location"]).get_data(as_text=True)
    done = browser.post(
        "/sesame/password/new",
        {"new_password": NEW, "confirm_password": NEW, "charter": "1"},
        form_html,
    )
    assert done.status_code == 200
    assert sesame_client.get_cookie("TGC") is None
    assert smtp_sink.wait(to="noah@example.net")  # T11
    assert CasBrowser(app.test_client()).login("noah.petit", NEW).status_code == 200


def test_the_number_comes_from_the_account_never_from_the_form(
    sesame_client: FlaskClient, sms_gateway: SmsGateway, noah: Account
) -> None:
    """T9."""
    browser = SesameBrowser(sesame_client)
    ask_code(browser, mobile="+33600000000", to="+33600000000", phone="+33600000000")
    assert [m["to"] for m in sms_gateway.wait()] == ["+33698765432"]


def test_code_dies_after_the_allowed_tries(
    sesame_client: FlaskClient, sms_gateway: SmsGateway, noah: Account, app: Flask
) -> None:
    """T9: 5 wrong codes, then even the right one fails."""
    browser = SesameBrowser(sesame_client)
    page = ask_code(browser)
    code = code_in(sms_gateway.wait()[0]["message"])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert send_code(browser, page, wrong).status_code == 400
    assert send_code(browser, page, code).status_code == 400
    with Session(app.extensions["cas"].engine) as session:
        token = session.scalars(select(OneTimeTokenRow)).one()
        assert token.attempts == 5 and token.used_at is None
        assert code not in str(token.data) and code not in token.id


def test_code_expires(
    sesame_client: FlaskClient, sms_gateway: SmsGateway, noah: Account, app: Flask
) -> None:
    """T5: 10 minutes at most by default."""
    assert app.extensions["sesame"].settings.tokens.code_ttl <= 600
    browser = SesameBrowser(sesame_client)
    page = ask_code(browser)
    code = code_in(sms_gateway.wait()[0]["message"])
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(OneTimeTokenRow.__table__.update().values(expires_at=time.time() - 1))
    assert send_code(browser, page, code).status_code == 400


def test_start_page_is_the_same_for_everyone(
    app: Flask, sms_gateway: SmsGateway, noah: Account
) -> None:
    """T1: with a mobile, without one, locked, not activated, unknown."""
    make_account(app, "nomobile")
    make_account(app, "locked", status=Status.LOCKED, mobile="+33611111111")
    make_account(app, "new", status=Status.NOT_ACTIVATED, password=None, mobile="+33622222222")
    pages = set()
    for who in ("noah.petit", "nomobile", "locked", "new", "ghost"):
        response = ask_code(SesameBrowser(app.test_client()), who)
        pages.add((response.status_code, without_csrf(response.get_data(as_text=True))))
    assert len(pages) == 1 and next(iter(pages))[0] == 200
    drained(app)
    assert [m["to"] for m in sms_gateway.received] == ["+33698765432"]


def test_global_daily_sms_budget(app: Flask, sms_gateway: SmsGateway) -> None:
    """T8: past the budget, no SMS leaves, for anyone; the page does not change."""
    state = app.extensions["sesame"]
    state.settings = replace(state.settings, sms=replace(state.settings.sms, daily_budget=2))
    for n in range(3):
        make_account(app, f"user{n}", mobile=f"+3361000000{n}")
    for n in range(3):
        assert ask_code(SesameBrowser(app.test_client()), f"user{n}").status_code == 200
    drained(app)
    assert len(sms_gateway.received) == 2
    with Session(app.extensions["cas"].engine) as session:
        outcomes = {e.outcome for e in session.scalars(select(AuditEventRow))}
    assert "sms_budget_exhausted" in outcomes


def test_per_account_limit_on_sms(
    sesame_client: FlaskClient, sms_gateway: SmsGateway, noah: Account, app: Flask
) -> None:
    """T8: at most max_requests_per_account (3) per window for one account."""
    browser = SesameBrowser(sesame_client)
    for _ in range(4):
        assert ask_code(browser).status_code == 200
    drained(app)
    assert len(sms_gateway.received) == 3


def test_sms_path_is_off_without_a_gateway(app: Flask) -> None:
    state = app.extensions["sesame"]
    state.settings = replace(state.settings, sms=replace(state.settings.sms, backend="none"))
    client = app.test_client()
    assert client.get(START).status_code == 404
    assert "/sesame/password/sms" not in client.get("/sesame/password").get_data(as_text=True)
