"""The profile page: what is on file, the privacy notice, "download my data", the links to it.

The overview shows the joker question, never its answer; the export is a
JSON attachment with everything held about the account and no secret
(password or joker hash, token, code), audited (T25).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from cas_server.accounts.model import Account
from cas_server.accounts.tokens import Purpose
from cas_server.storage.sql.models import AccountRow, OneTimeTokenRow
from tests.support.app import PASSWORD, CasBrowser, events, rows
from tests.support.profile import ProfileBrowser, person


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "profile": {"dpo_contact": "dpo@univ-test.fr"}}


@pytest.fixture
def alice(app: Flask) -> Account:
    account = person(
        app,
        "alice",
        student_number="21001234",
        mobile="+33611111111",
        attributes={"mail": ["alice.liddell@univ-test.fr"]},
    )
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.uuid == account.uuid)
            .values(
                joker_question="first_pet",
                joker_answer_hash=app.extensions["cas"].passwords.hasher("dinah"),
                personal_email_verified_at=datetime(2026, 9, 1, 8, 0, tzinfo=UTC),
            )
        )
    return account


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "fr",
            [
                "Mon compte",
                "Vérifié le",
                "Non vérifié",
                "Quel était le nom de votre premier",
                "Version 2026-09 acceptée le",
                "Élève",
                "Télécharger mes données",
            ],
        ),
        (
            "en",
            [
                "My account",
                "Verified on",
                "Not verified",
                "What was the name of your first pet?",
                "Version 2026-09 accepted on",
                "Student",
                "Download my data",
            ],
        ),
    ],
)
def test_overview_shows_what_is_on_file(
    app: Flask, sesame_client: FlaskClient, alice: Account, lang: str, words: list[str]
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    page = browser.text("/profile/")
    for text in [
        *words,
        "alice",
        "Alice",
        "Liddell",
        "21001234",
        "alice.perso@example.net",
        "+33611111111",
        "alice.liddell@univ-test.fr",
    ]:
        assert text in page, text
    assert "dinah" not in page.lower()
    assert page.count("<h1") == 1
    for link in (
        "/profile/password",
        "/profile/email",
        "/profile/mobile",
        "/profile/joker",
        "/profile/links",
        "/profile/privacy",
        "/profile/data",
        "/_cas/logout",
    ):
        assert f'href="{link}' in page, link
    assert "css/profile.css" in page


def test_my_account_links_and_the_way_in(
    app: Flask, client: FlaskClient, browser: CasBrowser, alice: Account
) -> None:
    client.get("/login?lang=fr")
    assert 'href="/profile/">Mon compte</a>' in client.get("/login").get_data(as_text=True)
    response = browser.login("alice", PASSWORD)
    assert response.status_code == 200
    assert 'href="/profile/"' in response.get_data(as_text=True)  # the signed-in page
    # Following it signs in through CAS without asking again (SSO), then the page opens.
    first = client.get("/profile/")
    assert first.status_code == 302
    sso = client.get(first.headers["Location"])
    assert sso.status_code == 302 and "/_cas/callback" in sso.headers["Location"]
    callback = urlsplit(sso.headers["Location"])  # on the public URL: same server
    back = client.get(f"{callback.path}?{callback.query}")
    assert back.headers["Location"] == "/profile/"
    assert client.get("/profile/").status_code == 200


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "fr",
            [
                "Notice de confidentialité",
                "droit d'accès et de rectification",
                "Qui traite vos données",
            ],
        ),
        ("en", ["Privacy notice", "right of access", "Who processes your data"]),
    ],
)
def test_privacy_notice_is_public(
    app: Flask, client: FlaskClient, lang: str, words: list[str]
) -> None:
    page = client.get(f"/profile/privacy?lang={lang}").get_data(as_text=True)
    for text in [*words, 'href="mailto:dpo@univ-test.fr"']:
        assert text in page, text
    assert "CNIL" in page and page.count("<h1") == 1


def test_download_my_data(app: Flask, sesame_client: FlaskClient, alice: Account) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    c = app.extensions["cas"]
    # A link to alice, an outstanding token: neither secret may leave.
    other = person(app, "alice.parent")
    app.extensions["profile"].links.link(alice.uuid, other.uuid, "alice")
    app.extensions["sesame"].tokens.issue(
        alice.uuid, Purpose.RESET_LINK, "s" * 43, now=c.clock.now(), ttl=600
    )
    assert sesame_client.get("/profile/data").status_code == 200
    assert sesame_client.post("/profile/data").status_code == 400  # CSRF
    response = browser.submit("/profile/data", {})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "account-data-alice-" in disposition
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["login"] == "alice"
    assert data["account"]["student_number"] == "21001234"
    assert data["attributes"] == {"mail": ["alice.liddell@univ-test.fr"]}
    assert data["recovery"]["personal_email"] == "alice.perso@example.net"
    assert data["recovery"]["personal_email_verified_at"].startswith("2026-09-01T08:00")
    assert data["recovery"]["mobile_verified_at"] is None
    assert data["recovery"]["joker_question"] == "first_pet"
    assert data["recovery"]["joker_answer_set"] is True
    assert [c["version"] for c in data["charter_acceptances"]] == ["2026-09"]
    assert [link["login"] for link in data["linked_accounts"]] == ["alice.parent"]
    assert {e["action"] for e in data["audit_events"]} >= {"login"}
    assert data["roles"] == []
    # No secret: hashes, the joker answer, tokens.
    row = rows(app, AccountRow, login="alice")[0]
    raw = response.get_data(as_text=True)
    [token] = rows(app, OneTimeTokenRow, account_uuid=alice.uuid)
    for secret in (row.password_hash, row.joker_answer_hash, "dinah", token.id, "s" * 43, PASSWORD):
        assert str(secret) not in raw
    assert "password_hash" not in raw and "joker_answer_hash" not in raw
    [event] = events(app, "profile_data_export")
    assert event.outcome == "success" and event.login == "alice"


def test_disabled_profile_is_gone(app: Flask, client: FlaskClient) -> None:
    settings = app.extensions["profile"].settings
    app.extensions["profile"].settings = type(settings)(**{**vars(settings), "enabled": False})
    assert client.get("/profile/privacy").status_code == 404
    assert "/profile/" not in client.get("/login").get_data(as_text=True)
