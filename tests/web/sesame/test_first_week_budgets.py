"""One budget per purpose (issue #12, item 2).

A password recovery or two must not spend the forgotten-identifier mail,
and the signed-in profile, when its own budget is spent, says until when
and keeps the way back to the profile (the anonymous pages stay identical,
T1).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from tests.support.outbound import SmtpSink, body
from tests.support.profile import ProfileBrowser, person
from tests.support.sesame import SesameBrowser, drained


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def alice(app: Flask) -> Account:
    return person(app, "alice", mobile="+33611111111")


def test_recoveries_do_not_spend_the_forgotten_identifier_mail(
    app: Flask, alice: Account, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    address = alice.personal_email
    assert address
    browser = SesameBrowser(sesame_client, "en")
    limit = app.extensions["sesame"].settings.limits.per_account
    for _ in range(limit):
        assert browser.submit("/sesame/password/email", {"identifier": "alice"}).status_code == 200
    drained(app)
    before = len([m for m in smtp_sink.delivered() if address in str(m["To"])])
    assert before == limit
    sent = browser.submit("/sesame/identifier", {"mode": "email", "personal_email": address})
    assert sent.status_code == 200
    mails = [m for m in drained(app, smtp_sink) if address in str(m["To"])]
    assert len(mails) == before + 1
    assert "alice" in body(mails[-1])


def test_the_profile_says_when_its_budget_lifts_and_keeps_the_way_back(
    app: Flask, alice: Account, sesame_client: FlaskClient
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    limit = app.extensions["sesame"].settings.limits.per_account
    response = None
    for n in range(limit + 1):
        response = browser.submit(
            "/profile/email",
            {"personal_email": f"alice.{n}@example.org", "current_password": "Correct-Horse-42!"},
        )
    assert response is not None and response.status_code == 429
    html = response.get_data(as_text=True)
    assert re.search(r"Too many codes were asked for: you can ask for a new one after \d", html)
    assert 'href="/profile/"' in html  # the profile's navigation, not a dead end
    assert "Back to the login page" not in html
