"""The second factor at /login (issue #14): abuse cases first.

A service with ``mfa = "required"`` never gets a ticket from a password alone
(Flask and the fast path); codes are single use, throttled per account across
addresses, bound to the account and to the pending sign-in; a step-up is bound
to the live session; ``renew`` asks both factors, ``gateway`` asks nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from cas_server.accounts.model import Status
from cas_server.storage.sql.models import AccountRow
from tests.support.app import events, make_account
from tests.support.cli import cli_runner
from tests.support.html import csrf
from tests.web.cas.mfa_sign_in_support import (
    APP,
    HR,
    LIMIT,
    PAYROLL,
    MfaBrowser,
    build,
    close,
    location,
    login_url,
    no_ticket,
    page_text,
    ticket_of,
    tickets_of_kind,
    totp,
    with_totp,
    wrong_code,
)

LOCKED = "sign-in is suspended until"


@pytest.fixture(params=[True, False], ids=["fast", "flask"])
def mfa_app(request: Any, db_path: Path, tmp_path: Path) -> Iterator[Flask]:
    application = build(db_path, tmp_path, fast_path=request.param)
    yield application
    close(application)


@pytest.fixture
def app(db_path: Path, tmp_path: Path) -> Iterator[Flask]:
    application = build(db_path, tmp_path)
    yield application
    close(application)


def browser_of(app: Flask, ip: str = "192.0.2.10") -> MfaBrowser:
    return MfaBrowser(app.test_client(), ip)


def cli(app: Flask, *args: str) -> None:
    result = cli_runner(app).invoke(args=list(args))
    assert result.exit_code == 0, result.output


def methods_of_session(app: Flask, browser: MfaBrowser) -> tuple[str, ...]:
    cookie = browser.client.get_cookie("TGC")
    assert cookie is not None
    tgt = app.extensions["cas"].login.current_session(cookie.value)
    assert tgt is not None
    return tuple(tgt.authentication.methods)


# --- a password alone never reaches a service that requires a second factor -------------


def test_the_password_alone_gets_no_ticket_and_no_session(mfa_app: Flask) -> None:
    with_totp(mfa_app)
    browser = browser_of(mfa_app)
    response = browser.password(PAYROLL)
    assert response.status_code == 303 and location(response).endswith("/login/mfa")
    assert browser.client.get_cookie("TGC") is None
    assert tickets_of_kind(mfa_app, "ST") == 0 and tickets_of_kind(mfa_app, "TGT") == 0
    # Asking the service's URL again with nothing but the pending sign-in: the form, no ticket.
    no_ticket(browser.get(login_url(PAYROLL)))
    assert tickets_of_kind(mfa_app, "ST") == 0


def test_a_password_only_session_gets_no_ticket_for_the_mfa_service(mfa_app: Flask) -> None:
    """Attack: SSO cookie of a password-only sign-in, straight to the MFA service (fast path
    on and off): the second factor is asked, nothing is issued."""
    with_totp(mfa_app)
    browser = browser_of(mfa_app)
    ticket_of(browser.password(APP), APP)  # a password-only service: not asked
    assert methods_of_session(mfa_app, browser) == ("password",)
    before = tickets_of_kind(mfa_app, "ST")
    response = browser.get(login_url(PAYROLL))
    assert response.status_code == 303 and location(response).endswith("/login/mfa")
    assert tickets_of_kind(mfa_app, "ST") == before
    # method=POST and HEADER ask too.
    for method in ("POST", "HEADER"):
        again = browser.get(login_url(PAYROLL, method=method))
        assert again.status_code == 303 and "ticket" not in again.headers
    assert tickets_of_kind(mfa_app, "ST") == before


def test_the_right_totp_code_gives_the_ticket_and_a_second_factor_session(
    mfa_app: Flask,
) -> None:
    _, secret = with_totp(mfa_app)
    browser = browser_of(mfa_app)
    browser.password(PAYROLL)
    page = browser.mfa_page()
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    ticket = ticket_of(browser.code(totp(secret)), PAYROLL)
    assert methods_of_session(mfa_app, browser) == ("password", "totp")
    validated = browser.get(f"/p3/serviceValidate?service={PAYROLL}&ticket={ticket}")
    assert b"<cas:authenticationMethod>totp</cas:authenticationMethod>" in validated.data
    outcomes = [(e.outcome, e.details.get("method")) for e in events(mfa_app, "mfa_verify")]
    assert ("success", "totp") in outcomes
    login = [e for e in events(mfa_app, "login") if e.outcome == "success"]
    assert login[-1].details["second_factor"] == "totp"


def test_a_person_with_factors_is_not_asked_by_a_password_only_service(app: Flask) -> None:
    with_totp(app)
    browser = browser_of(app)
    ticket_of(browser.password(APP), APP)
    assert events(app, "mfa_verify") == []


# --- codes: single use, throttled, bound to the account and the sign-in -------------------


def test_a_replayed_code_is_refused(app: Flask) -> None:
    _, secret = with_totp(app)
    code = totp(secret)
    first = browser_of(app)
    first.password(PAYROLL)
    ticket_of(first.code(code), PAYROLL)
    # The same code, another browser, within its 30 seconds: refused.
    second = browser_of(app)
    second.password(PAYROLL)
    replayed = second.code(code)
    assert replayed.status_code == 401
    no_ticket(replayed)
    assert "already used" in page_text(replayed)
    assert [e.outcome for e in events(app, "mfa_verify")][-1] == "replay"
    # The next step's code works.
    ticket_of(second.code(totp(secret, 30)), PAYROLL)


def test_wrong_codes_lock_the_account_across_addresses_even_for_the_right_code(
    app: Flask,
) -> None:
    _, secret = with_totp(app)
    make_account(app, "bob", given_name="Bob")
    _, bob_secret = with_totp(app, "bob")
    wrong = wrong_code(secret)
    first, second = browser_of(app, "198.51.100.1"), browser_of(app, "198.51.100.2")
    first.password(PAYROLL)
    second.password(PAYROLL)
    answers = []
    for attempt in range(LIMIT):
        browser = first if attempt % 2 == 0 else second
        answers.append(browser.code(wrong))
    assert [a.status_code for a in answers[:-1]] == [401] * (LIMIT - 1)
    assert all(LOCKED not in page_text(a) for a in answers[:-1])
    assert answers[-1].status_code == 401 and LOCKED in page_text(answers[-1])
    # Locked: a right code from a third address is refused, unchecked, and told the lock.
    third = browser_of(app, "198.51.100.3")
    third.password(PAYROLL)
    refused = third.code(totp(secret))
    assert refused.status_code == 429 and LOCKED in page_text(refused)
    no_ticket(refused)
    assert "locked" in [e.outcome for e in events(app, "mfa_verify")]
    # The lock is the account's: bob, from the first address, is not concerned.
    bob = browser_of(app, "198.51.100.1")
    bob.password(PAYROLL, login="bob")
    ticket_of(bob.code(totp(bob_secret)), PAYROLL)


def test_the_pending_sign_in_replayed_after_success_has_expired(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    page = browser.mfa_page()
    token = csrf(page.get_data(as_text=True))
    saved = browser.client.get_cookie("cas_session")
    assert saved is not None
    ticket_of(browser.code(totp(secret)), PAYROLL)
    # The browser as it was at the code's page, without the session cookie it got since.
    browser.client.delete_cookie("TGC")
    browser.client.set_cookie("cas_session", saved.value)
    replayed = browser.post(
        "/login/mfa", {"csrf_token": token, "method": "totp", "code": totp(secret, 30)}
    )
    assert replayed.status_code == 400 and "Sign-in expired" in page_text(replayed)
    no_ticket(replayed)
    assert browser.client.get_cookie("TGC") is None


def test_a_second_factor_of_another_account_does_not_satisfy_alices(app: Flask) -> None:
    with_totp(app)
    make_account(app, "bob", given_name="Bob")
    bob, bob_secret = with_totp(app, "bob")
    bob_codes = app.extensions["cas"].mfa.regenerate_recovery_codes(bob)
    alice = app.extensions["cas"].accounts.find_by_login("alice")
    app.extensions["cas"].mfa.regenerate_recovery_codes(alice)
    browser = browser_of(app)
    browser.password(PAYROLL)
    refused = browser.code(totp(bob_secret))
    assert refused.status_code == 401
    no_ticket(refused)
    refused = browser.code(bob_codes[0], "recovery_code")
    assert refused.status_code == 401
    no_ticket(refused)
    # Bob's code is still his: nothing of alice's try used it.
    other = browser_of(app, "192.0.2.99")
    other.password(PAYROLL, login="bob")
    ticket_of(other.code(bob_codes[0], "recovery_code"), PAYROLL)


def test_a_method_the_person_does_not_have_is_refused(app: Flask) -> None:
    with_totp(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    response = browser.code("123456", "sms")  # the page falls back to the app's code
    assert response.status_code == 400
    no_ticket(response)


def test_recovery_codes_are_single_use(app: Flask) -> None:
    account, _ = with_totp(app)
    codes = app.extensions["cas"].mfa.regenerate_recovery_codes(account)
    browser = browser_of(app)
    browser.password(PAYROLL)
    ticket_of(browser.code(codes[0].upper().replace("-", " "), "recovery_code"), PAYROLL)
    assert [e.details["left"] for e in events(app, "mfa_recovery_code_used")] == [9]
    browser.logout()
    browser.password(PAYROLL)
    again = browser.code(codes[0], "recovery_code")
    assert again.status_code == 401
    no_ticket(again)
    ticket_of(browser.code(codes[1], "recovery_code"), PAYROLL)


# --- step-up, renew, gateway ----------------------------------------------------------------


def test_step_up_asks_only_the_second_factor_once_for_two_services(mfa_app: Flask) -> None:
    _, secret = with_totp(mfa_app)
    browser = browser_of(mfa_app)
    ticket_of(browser.password(APP), APP)
    tgc = browser.client.get_cookie("TGC")
    assert tgc is not None
    response = browser.get(login_url(PAYROLL))
    assert location(response).endswith("/login/mfa")
    page = browser.mfa_page()
    assert "already signed in with your password" in page_text(page)
    assert 'name="password"' not in page.get_data(as_text=True)
    ticket_of(browser.code(totp(secret)), PAYROLL)
    # The same session, stepped up: no new TGC, the session remembers the factor.
    after = browser.client.get_cookie("TGC")
    assert after is not None and after.value == tgc.value
    assert methods_of_session(mfa_app, browser) == ("password", "totp")
    assert [e.details["method"] for e in events(mfa_app, "mfa_step_up")] == ["totp"]
    # The next service that requires it asks nothing (fast path included).
    ticket_of(browser.get(login_url(HR)), HR)


def test_renew_asks_the_password_and_the_second_factor_again(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    ticket_of(browser.code(totp(secret)), PAYROLL)
    form = browser.get(login_url(PAYROLL, renew="true"))
    assert form.status_code == 200 and 'name="password"' in form.get_data(as_text=True)
    response = browser.password(PAYROLL, renew="true")
    assert location(response).endswith("/login/mfa")
    ticket_of(browser.code(totp(secret, 30)), PAYROLL)


def test_gateway_never_asks_and_gives_no_ticket(mfa_app: Flask) -> None:
    with_totp(mfa_app)
    browser = browser_of(mfa_app)
    ticket_of(browser.password(APP), APP)
    response = browser.get(login_url(PAYROLL, gateway="true"))
    assert response.status_code == 302 and location(response) == PAYROLL


def test_a_session_ended_during_the_step_up_gets_no_ticket(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = browser_of(app)
    ticket_of(browser.password(APP), APP)
    browser.get(login_url(PAYROLL))
    page = browser.mfa_page()
    token = csrf(page.get_data(as_text=True))
    tgc = browser.client.get_cookie("TGC")
    assert tgc is not None
    app.extensions["cas"].login.end_session(tgc.value)  # a logout elsewhere
    response = browser.post(
        "/login/mfa", {"csrf_token": token, "method": "totp", "code": totp(secret)}
    )
    assert response.status_code == 400 and "Sign-in expired" in page_text(response)
    no_ticket(response)
    assert events(app, "mfa_step_up") == []


def test_a_step_up_is_bound_to_its_session(app: Flask) -> None:
    """Attack: the step-up begun for one session, finished with another session's TGC."""
    _, secret = with_totp(app)
    browser = browser_of(app)
    ticket_of(browser.password(APP), APP)
    browser.get(login_url(PAYROLL))
    token = csrf(browser.mfa_page().get_data(as_text=True))
    other = browser_of(app)
    ticket_of(other.password(APP), APP)
    other_tgc = other.client.get_cookie("TGC")
    assert other_tgc is not None
    browser.client.set_cookie("TGC", other_tgc.value)
    response = browser.post(
        "/login/mfa", {"csrf_token": token, "method": "totp", "code": totp(secret)}
    )
    assert response.status_code == 400
    no_ticket(response)
    assert methods_of_session(app, other) == ("password",)


@pytest.mark.parametrize("how", ["lock", "end-sessions", "force-change"])
def test_an_account_change_between_the_password_and_the_code_gives_no_ticket(
    app: Flask, how: str
) -> None:
    _, secret = with_totp(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    token = csrf(browser.mfa_page().get_data(as_text=True))
    cli(app, "users", how, "alice", *(["--generate"] if how == "force-change" else []))
    response = browser.post(
        "/login/mfa", {"csrf_token": token, "method": "totp", "code": totp(secret)}
    )
    assert response.status_code == 400
    no_ticket(response)
    assert browser.client.get_cookie("TGC") is None


def test_the_later_steps_wait_for_the_second_factor(app: Flask) -> None:
    """Attack: the forced password change posted before the second factor was given."""
    _, secret = with_totp(app)
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(update(AccountRow).values(must_change_password=True))
    browser = browser_of(app)
    assert location(browser.password(PAYROLL)).endswith("/login/mfa")
    page = browser.get("/login/password")
    assert page.status_code == 303 and location(page).endswith("/login/mfa")
    token = csrf(browser.mfa_page().get_data(as_text=True))
    new = "a brand new passphrase 42"
    sneaky = browser.post(
        "/login/password",
        {"csrf_token": token, "new_password": new, "confirm_password": new},
    )
    assert location(sneaky).endswith("/login/mfa")
    assert events(app, "password_change") == []
    # With the second factor, the change comes next, then the service.
    response = browser.code(totp(secret))
    assert location(response).endswith("/login/password")


def test_a_locked_account_cannot_use_the_code_page(app: Flask) -> None:
    with_totp(app)
    browser = browser_of(app)
    browser.password(PAYROLL)
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(update(AccountRow).values(status=Status.LOCKED.value))
    assert browser.mfa_page().status_code == 400
