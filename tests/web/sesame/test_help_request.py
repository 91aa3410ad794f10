"""The public help form "Problème de connexion ?" (#16, seed 001): the page, the
acknowledgement through the real SMTP sink, T1, limits, CSRF, CAPTCHA, both languages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from cas_server.storage.sql.models import HelpRequestEventRow, HelpRequestRow
from tests.support.app import events, make_account, rows
from tests.support.html import csrf
from tests.support.outbound import SmtpSink, body
from tests.support.sesame import SesameBrowser, drained

URL = "/sesame/help-request"
FORM = {
    "requester_name": "Nadia Benali",
    "child_name": "Inès Benali",
    "school": "Collège Jean Moulin",
    "login_hint": "",
    "contact_email": "nadia@parents.example.org",
    "contact_phone": "",
    "case": "forgot_address",
    "text": "Je ne sais plus quelle adresse j'ai donnée.",
}
REFERENCE_RE = re.compile(r"HR-[A-Z0-9]{6}")


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "help_requests": {"enabled": True, "per_ip": 50}}


def _send(client: FlaskClient, lang: str = "fr", **changes: str) -> Any:
    browser = SesameBrowser(client, lang)
    return browser.submit(URL, {**FORM, **changes})


@pytest.mark.parametrize(
    ("lang", "title", "link"),
    [
        ("fr", "Problème de connexion ?", "Problème de connexion ?"),
        ("en", "Problem signing in?", "Problem signing in?"),
    ],
)
def test_the_form_is_linked_from_the_login_and_help_pages(
    sesame_client: FlaskClient, lang: str, title: str, link: str
) -> None:
    login = sesame_client.get(f"/login?lang={lang}").get_data(as_text=True)
    assert f'href="{URL}"' in login and link in login
    assert f'href="{URL}"' in sesame_client.get("/sesame/").get_data(as_text=True)
    page = sesame_client.get(URL).get_data(as_text=True)
    assert f"<h1>{title}</h1>" in page
    assert 'name="captcha_answer"' in page  # the reset path's CAPTCHA


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_parent_gets_an_acknowledgement_with_the_reference(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, lang: str
) -> None:
    answer = _send(sesame_client, lang)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    reference = REFERENCE_RE.search(page)
    assert reference is not None
    drained(app)
    (mail,) = smtp_sink.wait(1, to="nadia@parents.example.org")
    assert reference.group(0) in str(mail["Subject"])
    text = body(mail)
    assert reference.group(0) in text
    assert ("Nous avons bien reçu" if lang == "fr" else "We have received") in text
    (row,) = rows(app, HelpRequestRow)
    assert row.status == "new" and row.language == lang and row.account_uuid is None
    (event,) = events(app, "help_request_submit")
    assert event.outcome == "success" and event.details["reference"] == reference.group(0)


def test_the_answer_never_tells_whether_the_login_exists(
    app: Flask, sesame_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T1: byte-identical pages, same status, for a login that exists and one that does
    not (the reference made the same: it is random, not about the account)."""
    make_account(app, "ines.benali", personal_email="old@example.org")
    store = app.extensions["help_requests"].store
    monkeypatch.setattr(store, "reference", lambda: "HR-AAAAAA")
    pages = []
    for login in ("ines.benali", "nobody.here"):
        answer = _send(sesame_client, login_hint=login, child_name="")
        pages.append((answer.status_code, answer.get_data()))
        with app.extensions["cas"].engine.begin() as conn:
            conn.execute(delete(HelpRequestEventRow))
            conn.execute(delete(HelpRequestRow))
    assert pages[0] == pages[1]
    assert pages[0][0] == 200


def test_free_text_is_kept_whole_and_shown_escaped(app: Flask, sesame_client: FlaskClient) -> None:
    hostile = '<script>alert("x")</script>\nSecond line & more'
    assert _send(sesame_client, text=hostile).status_code == 200
    (row,) = rows(app, HelpRequestRow)
    assert row.text == hostile


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"text": "x" * 2001}, "text"),
        ({"requester_name": ""}, "requester_name"),
        ({"contact_email": "", "contact_phone": ""}, "contact_email"),
        ({"case": "other", "text": ""}, "text"),
    ],
)
def test_a_bad_form_comes_back_with_its_errors(
    app: Flask, sesame_client: FlaskClient, changes: dict[str, str], field: str
) -> None:
    answer = _send(sesame_client, "en", **changes)
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert f'href="#{field}"' in page  # the error summary links to the field
    assert rows(app, HelpRequestRow) == []


def test_a_long_text_is_given_back_whole(sesame_client: FlaskClient) -> None:
    text = "é" * 1500
    page = _send(sesame_client, requester_name="", text=text).get_data(as_text=True)
    assert text in page


def test_a_wrong_captcha_stores_nothing(app: Flask, sesame_client: FlaskClient) -> None:
    browser = SesameBrowser(sesame_client, "en")
    _, fields = browser.page(URL)
    fields["captcha_answer"] = "definitely-wrong"
    answer = sesame_client.post(URL, data={**fields, **FORM})
    assert answer.status_code == 400
    assert rows(app, HelpRequestRow) == []


def test_no_csrf_token_no_request(app: Flask, sesame_client: FlaskClient) -> None:
    browser = SesameBrowser(sesame_client, "en")
    _, fields = browser.page(URL)
    fields.pop("csrf_token")
    answer = sesame_client.post(URL, data={**fields, **FORM})
    assert answer.status_code == 400
    assert rows(app, HelpRequestRow) == []


def test_requests_are_limited_per_address_and_per_contact(
    app: Flask, sesame_client: FlaskClient
) -> None:
    desk = app.extensions["help_requests"]
    from dataclasses import replace

    desk.settings = replace(desk.settings, per_ip=50, per_contact=2)
    for _ in range(2):
        assert _send(sesame_client).status_code == 200
    assert _send(sesame_client).status_code == 429  # the same contact a third time
    assert _send(sesame_client, contact_email="other@example.org").status_code == 200
    desk.settings = replace(desk.settings, per_ip=4)
    # The address has sent 4 (and had the 429): the next one is refused before any check.
    refused = _send(sesame_client, contact_email="third@example.org")
    assert refused.status_code == 429
    assert len(rows(app, HelpRequestRow)) == 3
    outcomes = [(e.outcome, e.details.get("by")) for e in events(app, "help_request_submit")]
    assert ("rate_limited", "contact") in outcomes and ("rate_limited", "address") in outcomes


def test_turned_off_there_is_no_form_and_no_link(app: Flask, sesame_client: FlaskClient) -> None:
    from dataclasses import replace

    desk = app.extensions["help_requests"]
    desk.settings = replace(desk.settings, enabled=False)
    assert sesame_client.get(URL).status_code == 404
    token = csrf(sesame_client.get("/login").get_data(as_text=True))
    assert sesame_client.post(URL, data={**FORM, "csrf_token": token}).status_code == 404
    assert URL not in sesame_client.get("/login").get_data(as_text=True)
    assert URL not in sesame_client.get("/sesame/").get_data(as_text=True)
