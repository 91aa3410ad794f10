"""The profile page: the joker question (T13) and linked accounts ("rapprochement de comptes").

Joker: normalised, hashed, never shown, not the login nor the password; the
current password is asked; a mail confirms (T11). Links: proof of control
of the other account by its password, throttled like the sign-in form (the
same counters), stored with this account as primary, undone, audited (T25).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.joker import normalize_answer
from cas_server.accounts.model import Account
from cas_server.auth.hashing import verify_password
from cas_server.storage.sql.models import AccountLinkRow, AccountRow
from tests.support.app import PASSWORD, CasBrowser, events, rows
from tests.support.outbound import SmtpSink, body
from tests.support.profile import ProfileBrowser, person
from tests.support.sesame import drained

ANSWER = "  Élodie  Martin "


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def alice(app: Flask) -> Account:
    return person(app, "alice")


@pytest.fixture
def bob(app: Flask) -> Account:
    """Alice's second account (a parent with children in two schools)."""
    return person(app, "alice.parent", personal_email="alice.parent@example.net")


def set_joker(browser: ProfileBrowser, answer: str, password: str = PASSWORD) -> Any:
    return browser.submit(
        "/profile/joker",
        {"joker_question": "first_pet", "joker_answer": answer, "current_password": password},
    )


@pytest.mark.parametrize(
    ("lang", "question", "subject"),
    [
        ("fr", "Quel était le nom de votre premier animal", "Votre question joker a été modifiée"),
        ("en", "What was the name of your first pet?", "Your joker question has been changed"),
    ],
)
def test_change_the_joker(
    app: Flask,
    sesame_client: FlaskClient,
    smtp_sink: SmtpSink,
    alice: Account,
    lang: str,
    question: str,
    subject: str,
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    response = set_joker(browser, ANSWER)
    assert response.status_code == 303
    row = rows(app, AccountRow, login="alice")[0]
    assert row.joker_question == "first_pet"
    # T13: stored as a slow hash of the normalised answer, never in clear.
    assert "lodie" not in str(row.joker_answer_hash)
    assert verify_password(normalize_answer("elodie martin"), str(row.joker_answer_hash))
    overview = browser.text("/profile/")
    assert question in overview and "lodie" not in overview
    assert "lodie" not in browser.text("/profile/joker")
    [mail] = drained(app, smtp_sink)
    assert mail["Subject"] == subject
    assert "lodie" not in body(mail) and PASSWORD not in body(mail)
    assert str(row.joker_answer_hash) not in body(mail)
    assert [e.outcome for e in events(app, "profile_joker")] == ["success"]


def test_joker_answer_rules_and_current_password(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, alice: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    for answer, password, expected in [
        ("ALICE", PASSWORD, "must not be your identifier or your password"),
        (PASSWORD.upper(), PASSWORD, "must not be your identifier or your password"),
        ("ab", PASSWORD, "at least 3 characters"),
        ("chat\x1b", PASSWORD, "characters that are not allowed"),
        ("Rex", "Wrong-Password-1!", "Your current password is not right."),
    ]:
        response = set_joker(browser, answer, password)
        assert response.status_code == 400, answer
        page = response.get_data(as_text=True)
        assert expected in page, answer
        assert answer not in page or len(answer) < 4
    assert rows(app, AccountRow, login="alice")[0].joker_answer_hash is None
    assert drained(app, smtp_sink) == []


def link(browser: ProfileBrowser, login: str, password: str) -> Any:
    return browser.submit("/profile/links", {"other_login": login, "other_password": password})


@pytest.mark.parametrize(
    ("lang", "done"),
    [
        ("fr", "Le compte a été rapproché de celui-ci."),
        ("en", "The account has been linked to this one."),
    ],
)
def test_link_another_account_then_undo(
    app: Flask,
    sesame_client: FlaskClient,
    smtp_sink: SmtpSink,
    alice: Account,
    bob: Account,
    lang: str,
    done: str,
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    response = link(browser, "Alice.Parent", PASSWORD)
    assert response.status_code == 303
    page = browser.text(response.headers["Location"])
    assert done in page and "alice.parent" in page
    [row] = rows(app, AccountLinkRow)
    assert (row.primary_uuid, row.linked_uuid, row.created_by) == (alice.uuid, bob.uuid, "alice")
    assert "alice.parent" in browser.text("/profile/")
    # Both accounts are told, without any secret.
    mails = drained(app, smtp_sink)
    assert {str(m["To"]) for m in mails} == {"alice.perso@example.net", "alice.parent@example.net"}
    assert all(PASSWORD not in body(m) for m in mails)
    assert len([e for e in events(app, "profile_link") if e.outcome == "success"]) == 2

    # Undo.
    response = browser.submit("/profile/links", {}, action=f"/profile/links/{bob.uuid}/remove")
    assert response.status_code == 303
    assert rows(app, AccountLinkRow) == []
    assert len(events(app, "profile_unlink")) == 2
    response = browser.submit("/profile/links", {}, action=f"/profile/links/{bob.uuid}/remove")
    assert response.status_code == 404


def test_link_needs_the_other_password_and_is_throttled_like_sign_in(
    app: Flask, sesame_client: FlaskClient, alice: Account, bob: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    response = link(browser, "alice", PASSWORD)
    assert response.status_code == 400
    assert "the account you are signed in with" in response.get_data(as_text=True)
    response = link(browser, "nobody", PASSWORD)
    assert response.status_code == 400
    assert "Invalid identifier or password." in response.get_data(as_text=True)
    for _ in range(5):
        response = link(browser, "alice.parent", "Wrong-Password-1!")
    # The fifth failure locks the other login, here and on the login form alike.
    assert response.status_code == 429
    assert "sign-in is suspended" in response.get_data(as_text=True)
    assert link(browser, "alice.parent", PASSWORD).status_code == 429
    assert CasBrowser(app.test_client()).login("alice.parent", PASSWORD).status_code == 429
    assert rows(app, AccountLinkRow) == []
    assert "refused" in [e.outcome for e in events(app, "profile_link")]
    # Bad input: no password, oversized login.
    assert link(browser, "x" * 600, "p").status_code == 400
    assert link(browser, "bob", "").status_code == 400


def test_links_follow_the_table_rules(
    app: Flask, sesame_client: FlaskClient, alice: Account, bob: Account
) -> None:
    carol = person(app, "carol")
    # carol already holds alice.parent: it cannot be linked a second time.
    app.extensions["profile"].links.link(carol.uuid, bob.uuid, "helpdesk")
    browser = ProfileBrowser(sesame_client, "fr")
    browser.sign_in()
    response = link(browser, "alice.parent", PASSWORD)
    assert response.status_code == 400
    assert "déjà" in response.get_data(as_text=True)
    assert len(rows(app, AccountLinkRow)) == 1
