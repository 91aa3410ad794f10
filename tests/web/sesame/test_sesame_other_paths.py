"""Temporary password by e-mail (ENT Midi-Pyrénées) and personal facts (Metamots).

Rules: T14 (temporary path off by default; forced change; expiry), T10 (the
request changes nothing), T1, T12 (facts checks throttled and audited), T4.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server import create_app
from cas_server.accounts.model import Account, Profile
from cas_server.storage.sql.models import AccountRow, AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account, test_overrides
from tests.support.html import without_csrf
from tests.support.outbound import SmtpSink, body, link_in
from tests.support.sesame import PUBLIC_URL, SesameBrowser, drained

NEW = "Metamots-New-Password-2027"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def hugo(app: Flask) -> Account:
    account = make_account(
        app,
        "hugo.bernard",
        profile=Profile.EXTERNAL,
        given_name="Hugo",
        family_name="Bérnard",
        personal_email="hugo@example.com",
        attributes={"c": ["FR"], "o": ["company"]},
    )
    app.extensions["cas"].accounts.accept_charter(account.uuid, "general", "2026-09")
    return account


def account_row(app: Flask, login: str) -> AccountRow:
    with Session(app.extensions["cas"].engine) as session:
        found = session.scalars(select(AccountRow).where(AccountRow.login == login)).one()
        session.expunge(found)
        return found


# Temporary password ------------------------------------------------------------------------


def test_temporary_path_is_off_by_default(db_path: Path) -> None:
    """T14: the shipped configuration does not offer it."""
    app = create_app(overrides=test_overrides(db_path), environ={})
    try:
        settings = app.extensions["sesame"].settings
        assert "temporary" not in settings.password_paths
        client = app.test_client()
        assert client.get("/sesame/password/temporary").status_code == 404
        assert "temporary" not in client.get("/sesame/password").get_data(as_text=True)
    finally:
        app.extensions["sesame"].close()
        app.extensions["cas"].engine.dispose()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_temporary_password_end_to_end(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, hugo: Account, app: Flask, lang: str
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    before = account_row(app, "hugo.bernard")
    assert (
        browser.submit("/sesame/password/temporary", {"identifier": "hugo.bernard"}).status_code
        == 200
    )
    link = link_in(smtp_sink.wait()[0]).removeprefix(PUBLIC_URL)
    # T10: asking changed nothing; the old password still works.
    assert account_row(app, "hugo.bernard").password_hash == before.password_hash
    assert CasBrowser(app.test_client()).login("hugo.bernard", PASSWORD).status_code == 200

    confirm = sesame_client.get(link)
    assert confirm.status_code == 200
    sent = browser.post(link, {}, confirm.get_data(as_text=True))
    assert sent.status_code == 200
    # The link, the temporary password, and the password service's confirmation (T11).
    mails = smtp_sink.wait(3)
    mail = next(m for m in mails if re.search(r"^ {4}\S+\s*$", body(m), re.M))
    found = re.search(r"^ {4}(\S+)\s*$", body(mail), re.M)
    assert found, body(mail)
    temporary = found.group(1)
    assert len(temporary) >= 15 and " " not in temporary
    assert all(temporary not in body(m) for m in mails if m is not mail)  # no secret (T11)

    stored = account_row(app, "hugo.bernard")
    assert stored.must_change_password is True  # T14: changed at the next sign-in…
    assert stored.password_expires_at is not None  # …and it expires
    assert stored.password_expires_at > datetime.now(UTC)
    assert CasBrowser(app.test_client()).login("hugo.bernard", PASSWORD).status_code == 401
    signed = CasBrowser(app.test_client()).login("hugo.bernard", temporary)
    assert signed.status_code == 303 and "/login/password" in signed.headers["Location"]
    # The link is used.
    assert sesame_client.get(link).status_code == 410


# Personal facts (Metamots) --------------------------------------------------------------------


FACTS = {
    "email": "Hugo@example.com",
    "given_name": " hugo ",
    "family_name": "BERNARD",
    "country": "FR",
    "organisation_type": "company",
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_facts_path_end_to_end(
    sesame_client: FlaskClient, smtp_sink: SmtpSink, hugo: Account, app: Flask, lang: str
) -> None:
    browser = SesameBrowser(sesame_client, lang)
    page, _ = browser.page("/sesame/password/facts")
    assert ('value="FR" selected' in page) and ("France" in page)
    assert browser.submit("/sesame/password/facts", FACTS).status_code == 200
    link = link_in(smtp_sink.wait()[0]).removeprefix(PUBLIC_URL)
    form = sesame_client.get(link).get_data(as_text=True)
    assert 'name="given_name"' in form and 'name="new_password"' in form
    wrong = browser.post(
        link,
        {**FACTS, "country": "BE", "new_password": NEW, "confirm_password": NEW, "charter": "1"},
        form,
    )
    assert wrong.status_code == 400
    assert CasBrowser(app.test_client()).login("hugo.bernard", PASSWORD).status_code == 200
    done = browser.post(
        link, {**FACTS, "new_password": NEW, "confirm_password": NEW, "charter": "1"}, form
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert CasBrowser(app.test_client()).login("hugo.bernard", NEW).status_code == 200


def test_facts_request_is_neutral_and_mismatches_are_throttled(
    app: Flask, smtp_sink: SmtpSink, hugo: Account
) -> None:
    """T1 and T12: wrong facts send nothing, answer the same, count and are audited."""
    pages = set()
    for facts in [FACTS, {**FACTS, "given_name": "Victor"}, {**FACTS, "email": "x@example.org"}]:
        response = SesameBrowser(app.test_client()).submit("/sesame/password/facts", facts)
        pages.add((response.status_code, without_csrf(response.get_data(as_text=True))))
    assert len(pages) == 1
    assert len(drained(app, smtp_sink)) == 1
    for _ in range(5):
        SesameBrowser(app.test_client()).submit(
            "/sesame/password/facts", {**FACTS, "country": "DE"}
        )
    # Locked for this account now: even the right facts send nothing.
    SesameBrowser(app.test_client()).submit("/sesame/password/facts", FACTS)
    assert len(drained(app, smtp_sink)) == 1
    with Session(app.extensions["cas"].engine) as session:
        mismatches = session.scalars(
            select(AuditEventRow).where(AuditEventRow.action == "sesame_facts")
        ).all()
    assert all(e.ip == "127.0.0.1" for e in mismatches)
    assert len([e for e in mismatches if e.account_uuid == hugo.uuid]) == 5
    # The unknown address counted as wrong facts too, for nobody's account (T2).
    assert [e.account_uuid for e in mismatches if e.account_uuid != hugo.uuid] == [None]


def test_facts_form_validation(sesame_client: FlaskClient) -> None:
    browser = SesameBrowser(sesame_client, "en")
    response = browser.submit(
        "/sesame/password/facts",
        {
            "email": "nope",
            "given_name": "",
            "family_name": "X",
            "country": "XX",
            "organisation_type": "spy",
        },
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    for expected in (
        "e-mail address such as",
        "required",
        "country from the list",
        "organisation type",
    ):
        assert expected in text
