"""Forgotten password by mailed link (ENT77, oZe), through a real SMTP server.

Rules: T1 (same page whoever asks), T2 (mail in the background), T3 (links
from the public URL), T4/T5 (single use, expiry), T6 (other tokens and every
SSO session end), T7 (no sign-in), T8 (limits), T10 (a request changes
nothing), T11 (confirmation without secret), T25 (audit).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account, Status
from cas_server.storage.sql.models import AccountRow, AuditEventRow, OneTimeTokenRow
from tests.support.app import PASSWORD, CasBrowser, make_account, rows
from tests.support.html import without_csrf
from tests.support.outbound import SmtpSink, body, link_in
from tests.support.sesame import PUBLIC_URL, SesameBrowser, drained

NEW = "Nouveau-Secret-2027!"
START = "/sesame/password/email"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def alice(app: Flask) -> Account:
    account = make_account(
        app,
        "alice",
        personal_email="alice.perso@example.net",
        birth_date=date(2004, 5, 6),
        student_number="21001234",
    )
    app.extensions["cas"].accounts.accept_charter(account.uuid, "general", "2026-09")
    return account


def account_row(app: Flask, login: str) -> AccountRow:
    return rows(app, AccountRow, login=login)[0]


def request_link(browser: SesameBrowser, who: str) -> Any:
    return browser.submit(START, {"identifier": who})


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_reset_by_mailed_link_end_to_end(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask, lang: str
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    response = request_link(browser, "alice")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert ("Demande prise en compte" if lang == "fr" else "Request received") in text

    mail = smtp_sink.wait(to="alice.perso@example.net")[0]
    assert str(mail["From"]) == "Sésame <sesame@univ-test.fr>"
    assert mail["Auto-Submitted"] == "auto-generated"
    subject = "Réinitialiser votre mot de passe" if lang == "fr" else "Reset your password"
    assert mail["Subject"] == subject
    link = link_in(mail)
    assert link.startswith(PUBLIC_URL + "/sesame/password/reset/")

    path = link.removeprefix(PUBLIC_URL)
    page = sesame_client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="new_password"' in html
    assert 'data-policy="' in html  # the live checklist of the shared partial
    done = browser.post(path, {"new_password": NEW, "confirm_password": NEW, "charter": "1"}, html)
    assert done.status_code == 200, done.get_data(as_text=True)
    done_text = done.get_data(as_text=True)
    assert ("Mot de passe modifié" if lang == "fr" else "Password changed") in done_text
    assert sesame_client.get_cookie("TGC") is None  # T7: nobody is signed in

    confirmation = smtp_sink.wait(2, to="alice.perso@example.net")[1]
    text = body(confirmation)
    assert NEW not in text and "/sesame/password/reset/" not in text  # T11
    assert "alice" in text

    cas = CasBrowser(app.test_client())
    assert cas.login("alice", PASSWORD).status_code == 401
    assert cas.login("alice", NEW).status_code == 200

    # T23: the reset's charter checkbox is stored with the charter's version.
    from cas_server.storage.sql.models import CharterAcceptanceRow

    accepted = rows(app, CharterAcceptanceRow, account_uuid=alice.uuid)
    assert [(a.charter, a.version) for a in accepted] == [("general", "2026-09")] * 2


def test_start_page_is_the_same_for_every_kind_of_account(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, app: Flask, alice: Account
) -> None:
    """T1: known, unknown, locked and not activated get byte-identical answers."""
    make_account(app, "bob", status=Status.LOCKED, personal_email="bob@example.net")
    make_account(
        app, "carol", status=Status.NOT_ACTIVATED, password=None, personal_email="c@example.net"
    )
    answers = []
    for who in ("alice", "nobody-here", "bob", "carol", "alice.perso@example.net"):
        browser = SesameBrowser(app.test_client())
        response = request_link(browser, who)
        answers.append((response.status_code, without_csrf(response.get_data(as_text=True))))
    assert len(set(answers)) == 1
    assert answers[0][0] == 200
    # Only the active account was sent something (twice: by login and by address).
    assert len(smtp_sink.wait(2)) == 2
    assert {str(m["To"]) for m in drained(app, smtp_sink)} == {"alice.perso@example.net"}


def test_a_slow_smtp_server_does_not_slow_the_page(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T2: the mail leaves in the background; known and unknown answer as fast."""
    smtp_sink.delay = 2.0
    timings = {}
    for who in ("alice", "nobody-here"):
        browser = SesameBrowser(app.test_client())
        _, fields = browser.page(START)
        started = time.perf_counter()
        response = browser.client.post(START, data={**fields, "identifier": who})
        timings[who] = time.perf_counter() - started
        assert response.status_code == 200
    assert timings["alice"] < 1.0, timings
    assert abs(timings["alice"] - timings["nobody-here"]) < 0.5, timings
    assert smtp_sink.wait(to="alice.perso@example.net", timeout=6)


def test_forged_host_header_does_not_change_the_link(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    """T3: the link comes from server.public_url."""
    browser = SesameBrowser(sesame_client)
    forged = {"Host": "evil.example.com", "X-Forwarded-Host": "evil.example.com"}
    html = sesame_client.get(START + "?captcha=question", headers=forged).get_data(as_text=True)
    response = sesame_client.post(
        START, data={**browser.hidden(html), "identifier": "alice"}, headers=forged
    )
    assert response.status_code == 200
    link = link_in(smtp_sink.wait()[0])
    assert link.startswith(PUBLIC_URL + "/") and "evil" not in link


def test_link_is_single_use_and_only_its_hash_is_stored(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T4."""
    browser = SesameBrowser(sesame_client)
    request_link(browser, "alice")
    path = link_in(smtp_sink.wait()[0]).removeprefix(PUBLIC_URL)
    secret = path.rsplit("/", 1)[1]
    assert len(secret) >= 43  # 256 bits
    stored = rows(app, OneTimeTokenRow, account_uuid=alice.uuid)
    assert len(stored) == 1 and stored[0].id != secret and secret not in str(stored[0].data)
    html = sesame_client.get(path).get_data(as_text=True)
    data = {"new_password": NEW, "confirm_password": NEW, "charter": "1"}
    assert browser.post(path, data, html).status_code == 200
    assert sesame_client.get(path).status_code == 410
    replay = browser.post(
        path, {**data, "new_password": NEW + "x", "confirm_password": NEW + "x"}, html
    )
    assert replay.status_code == 410
    assert CasBrowser(app.test_client()).login("alice", NEW).status_code == 200


def test_expired_link_fails_and_ttl_is_at_most_an_hour(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T5: the default link lifetime is at most 1 h; an expired link shows a 4xx page."""
    settings = app.extensions["sesame"].settings.tokens
    assert settings.link_ttl <= 3600 and settings.code_ttl <= 600
    request_link(SesameBrowser(sesame_client), "alice")
    path = link_in(smtp_sink.wait()[0]).removeprefix(PUBLIC_URL)
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(OneTimeTokenRow.__table__.update().values(expires_at=time.time() - 1))
    page = sesame_client.get(path)
    assert page.status_code == 410
    assert "plus valide" in page.get_data(as_text=True)


def test_reset_cancels_other_links_and_ends_every_session(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T6 and T7."""
    signed_in = app.test_client()
    assert CasBrowser(signed_in).login("alice", PASSWORD).status_code == 200
    tgc = signed_in.get_cookie("TGC")
    assert tgc is not None
    browser = SesameBrowser(sesame_client)
    request_link(browser, "alice")
    request_link(browser, "alice")
    first, second = (link_in(m).removeprefix(PUBLIC_URL) for m in smtp_sink.wait(2))
    html = sesame_client.get(second).get_data(as_text=True)
    data = {"new_password": NEW, "confirm_password": NEW, "charter": "1"}
    assert browser.post(second, data, html).status_code == 200
    assert sesame_client.get(first).status_code == 410
    # The session opened before the reset is gone: /login asks for credentials again.
    again = signed_in.get("/login")
    assert 'name="password"' in again.get_data(as_text=True)
    assert app.extensions["cas"].login.current_session(tgc.value) is None


def test_a_request_changes_nothing_on_the_account(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T10."""
    before = account_row(app, "alice")
    request_link(SesameBrowser(sesame_client), "alice")
    smtp_sink.wait()
    after = account_row(app, "alice")
    for column in (
        "password_hash",
        "status",
        "must_change_password",
        "locked_until",
        "modified_at",
    ):
        assert getattr(after, column) == getattr(before, column), column
    assert CasBrowser(app.test_client()).login("alice", PASSWORD).status_code == 200


def test_limits_per_account_and_per_address(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T8: at most max_requests_per_account mails per account; the page stays the same."""
    browser = SesameBrowser(sesame_client)
    pages = {request_link(browser, "alice").status_code for _ in range(5)}
    assert pages == {200}
    assert len(drained(app, smtp_sink)) == 3
    events = rows(app, AuditEventRow, action="sesame_email_link", outcome="rate_limited")
    assert len(events) == 2


def test_limit_per_address_and_per_ip(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T8: per destination (two accounts share an address) and per IP (429)."""
    make_account(app, "alice2", personal_email="alice.perso@example.net")
    state = app.extensions["sesame"]
    limits = replace(state.settings.limits, per_destination=2, per_ip=6)
    state.settings = replace(state.settings, limits=limits)
    browser = SesameBrowser(sesame_client)
    for _ in range(2):
        assert request_link(browser, "alice.perso@example.net").status_code == 200
    assert len(drained(app, smtp_sink)) == 2  # 4 links asked for one address: 2 sent
    statuses = [request_link(browser, "nobody").status_code for _ in range(5)]
    assert statuses[-1] == 429 and 200 in statuses


def test_wrong_captcha_is_refused_and_cannot_be_replayed(
    sesame_client: FlaskClient,
    smtp_sink: SmtpSink,
    alice: Account,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each new question has another answer than the previous one: otherwise
    # the old answer would be right for the new question about one time in ten.
    from cas_server import captcha

    answers: list[str] = []
    real = captcha.question_challenge

    def another(rng: Any = None) -> Any:
        while True:
            challenge = real(rng)
            if not answers or challenge.answer != answers[-1]:
                answers.append(challenge.answer)
                return challenge

    monkeypatch.setattr(captcha, "question_challenge", another)
    browser = SesameBrowser(sesame_client)
    _, fields = browser.page(START)
    wrong = sesame_client.post(
        START, data={**fields, "captcha_answer": "99", "identifier": "alice"}
    )
    assert wrong.status_code == 400
    assert "vérification" in wrong.get_data(as_text=True)
    # The right answer to the old question no longer works either: one use.
    again = sesame_client.post(START, data={**fields, "identifier": "alice"})
    assert again.status_code == 400
    assert drained(app, smtp_sink) == []


def test_every_step_is_audited_with_the_address(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    """T25."""
    browser = SesameBrowser(sesame_client)
    request_link(browser, "alice")
    path = link_in(smtp_sink.wait()[0]).removeprefix(PUBLIC_URL)
    html = sesame_client.get(path).get_data(as_text=True)
    browser.post(path, {"new_password": NEW, "confirm_password": NEW, "charter": "1"}, html)
    events = [(e.action, e.outcome, e.ip) for e in rows(app, AuditEventRow)]
    assert ("sesame_password_request", "link_mailed", "127.0.0.1") in events
    assert ("sesame_password_reset", "success", "127.0.0.1") in events


def test_mismatched_or_weak_passwords_are_explained_and_change_nothing(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account, app: Flask
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    request_link(browser, "alice")
    path = link_in(smtp_sink.wait()[0]).removeprefix(PUBLIC_URL)
    html = sesame_client.get(path).get_data(as_text=True)
    before = account_row(app, "alice").password_hash
    cases = [
        ({"new_password": NEW, "confirm_password": NEW + "?", "charter": "1"}, "different"),
        ({"new_password": "short", "confirm_password": "short", "charter": "1"}, "At least"),
        ({"new_password": PASSWORD, "confirm_password": PASSWORD, "charter": "1"}, "last"),
        ({"new_password": NEW, "confirm_password": NEW}, "charter"),
        (
            {"new_password": "a\x00b" * 8, "confirm_password": "a\x00b" * 8, "charter": "1"},
            "not allowed",
        ),
    ]
    for data, expected in cases:
        response = browser.post(path, data, html)
        assert response.status_code == 400, data
        assert expected in response.get_data(as_text=True), (data, expected)
    assert account_row(app, "alice").password_hash == before
    assert sesame_client.get(path).status_code == 200  # the link still works
