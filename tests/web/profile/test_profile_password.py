"""The profile page: change the password (PRODUCT.md §3, oZe's "Changement de mot de passe").

Rules: T11 (confirmation without secret), T18 (history), T22 (current
password and a live session), T25 (audit); wrong current passwords are
throttled per account; bad input answers 4xx and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from cas_server.storage.sql.models import AccountRow, PasswordHistoryRow
from tests.support.app import PASSWORD, CasBrowser, events, rows
from tests.support.outbound import SmtpSink, body
from tests.support.profile import NEW_PASSWORD, ProfileBrowser, person
from tests.support.sesame import drained

URL = "/profile/password"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "passwords": {"policy": "uphf", "bcrypt_cost": 4}}


@pytest.fixture
def alice(app: Flask) -> Account:
    return person(app, "alice")


def change(browser: ProfileBrowser, current: str, new: str, confirm: str | None = None) -> Any:
    return browser.submit(
        URL,
        {
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
    )


def password_hash(app: Flask) -> str:
    return str(rows(app, AccountRow, login="alice")[0].password_hash)


@pytest.mark.parametrize(
    ("lang", "done", "subject"),
    [
        ("fr", "Votre mot de passe a été modifié.", "Votre mot de passe a été modifié"),
        ("en", "Your password has been changed.", "Your password has been changed"),
    ],
)
def test_change_password_end_to_end(
    app: Flask,
    sesame_client: FlaskClient,
    smtp_sink: SmtpSink,
    alice: Account,
    lang: str,
    done: str,
    subject: str,
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    page = browser.text(URL)
    # The shared form: current password, new password twice, the live checklist.
    for name in ("current_password", "new_password", "confirm_password"):
        assert f'name="{name}"' in page
    assert 'autocomplete="current-password"' in page and "data-policy=" in page
    assert page.count("<h1") == 1
    history = len(rows(app, PasswordHistoryRow, account_uuid=alice.uuid))

    response = change(browser, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/profile/?done=password")
    assert done in browser.text(response.headers["Location"])

    # The new password signs in, the old one does not.
    other = CasBrowser(sesame_client.application.test_client())
    assert other.login("alice", PASSWORD).status_code == 401
    assert other.login("alice", NEW_PASSWORD).status_code == 200

    # T11: a confirmation mail, in the user's language, without any secret.
    mail = drained(app, smtp_sink)[-1]
    assert mail["To"] == "alice.perso@example.net"
    assert mail["Subject"] == subject
    text = body(mail)
    for secret in (NEW_PASSWORD, PASSWORD, password_hash(app)):
        assert secret not in text
    assert "alice" in text and "https://cas.univ-test.fr/profile/" in text

    # T18: the new hash joined the history; T25: audited with the IP.
    assert len(rows(app, PasswordHistoryRow, account_uuid=alice.uuid)) == history + 1
    [event] = [e for e in events(app, "profile_password") if e.outcome == "success"]
    assert event.login == "alice" and event.ip == "127.0.0.1"


def test_other_sessions_end_and_this_browser_stays_signed_in(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    elsewhere = app.test_client()
    CasBrowser(elsewhere).login("alice", PASSWORD)
    tgc = app.extensions["cas"].settings.tgc_name
    assert elsewhere.get_cookie(tgc) is not None
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    before = sesame_client.get_cookie(tgc)
    assert before is not None
    assert change(browser, PASSWORD, NEW_PASSWORD).status_code == 303
    c = app.extensions["cas"]
    # The other browser's SSO session is gone; this one has a fresh one.
    other_value = elsewhere.get_cookie(tgc)
    assert other_value is not None and c.login.current_session(other_value.value) is None
    after = sesame_client.get_cookie(tgc)
    assert after is not None and after.value != before.value
    assert c.login.current_session(after.value) is not None
    assert browser.get("/profile/").status_code == 200


def test_sessions_kept_when_configured(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    app.extensions["profile"].settings = type(app.extensions["profile"].settings)(
        **{**vars(app.extensions["profile"].settings), "end_other_sessions": False}
    )
    elsewhere = app.test_client()
    CasBrowser(elsewhere).login("alice", PASSWORD)
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    assert change(browser, PASSWORD, NEW_PASSWORD).status_code == 303
    tgc = elsewhere.get_cookie(app.extensions["cas"].settings.tgc_name)
    assert tgc is not None
    assert app.extensions["cas"].login.current_session(tgc.value) is not None


@pytest.mark.parametrize(
    ("lang", "message"),
    [("fr", "Votre mot de passe actuel n&#39;est pas le bon."), ("en", "Your current password")],
)
def test_wrong_current_password_is_refused_then_throttled(
    app: Flask, sesame_client: FlaskClient, alice: Account, lang: str, message: str
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    before = password_hash(app)
    response = change(browser, "Wrong-Password-1!", NEW_PASSWORD)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and 'href="#current_password"' in page
    assert NEW_PASSWORD not in page
    for _ in range(3):
        assert change(browser, "Wrong-Password-1!", NEW_PASSWORD).status_code == 400
    # The fifth wrong guess locks the forms for the account, even with the right one.
    assert change(browser, "Wrong-Password-1!", NEW_PASSWORD).status_code == 429
    assert change(browser, PASSWORD, NEW_PASSWORD).status_code == 429
    assert password_hash(app) == before
    outcomes = [e.outcome for e in events(app, "profile_password")]
    assert outcomes.count("wrong_password") == 5 and "locked" in outcomes
    assert "throttled" in outcomes


def test_history_and_policy_are_enforced(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    history = len(rows(app, PasswordHistoryRow, account_uuid=alice.uuid))
    assert change(browser, PASSWORD, NEW_PASSWORD).status_code == 303
    second = "Autre-Secret-2028!"
    assert change(browser, NEW_PASSWORD, second).status_code == 303
    # T18: back to a former password is refused (UPHF keeps the last 3).
    response = change(browser, second, NEW_PASSWORD)
    assert response.status_code == 400
    assert "last 3" in response.get_data(as_text=True)
    # The policy's own rules, with the rule that failed named.
    response = change(browser, second, "short")
    assert response.status_code == 400
    assert "At least 12 characters" in response.get_data(as_text=True)
    # The same password again.
    response = change(browser, second, second)
    assert response.status_code == 400
    assert "different from the current one" in response.get_data(as_text=True)
    assert len(rows(app, PasswordHistoryRow, account_uuid=alice.uuid)) == history + 2


BAD_INPUT = [
    ({"confirm_password": "Autre-Chose-2027!"}, "The two passwords are different."),
    ({"current_password": ""}, "Enter your current password."),
    ({"new_password": "Bad\x00Secret-2027!"}, "characters that are not allowed"),
    ({"new_password": "A" * 5000}, "too long"),
    ({"current_password": "B" * 5000}, "too long"),
]


def test_bad_input_changes_nothing(app: Flask, sesame_client: FlaskClient, alice: Account) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    before = password_hash(app)
    for data, expected in BAD_INPUT:
        form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, **data}
        form.setdefault("confirm_password", form["new_password"])
        response = browser.submit(URL, form)
        assert response.status_code == 400, data
        assert expected in response.get_data(as_text=True), data
    assert password_hash(app) == before
    # Nothing was counted as a wrong guess either.
    assert not [e for e in events(app, "profile_password") if e.outcome == "wrong_password"]


def test_csrf_and_live_session_are_required(
    app: Flask, sesame_client: FlaskClient, alice: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    before = password_hash(app)
    form = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    assert sesame_client.post(URL, data=form).status_code == 400  # no CSRF token
    token = browser.csrf(URL)
    # T22: the SSO session ended (logout in another tab): sign in again, nothing changes.
    tgc = sesame_client.get_cookie(app.extensions["cas"].settings.tgc_name)
    assert tgc is not None
    app.extensions["cas"].login.end_session(tgc.value)
    response = sesame_client.post(URL, data={"csrf_token": token, **form})
    assert response.status_code == 302 and "/login?service=" in response.headers["Location"]
    assert password_hash(app) == before
    # Not signed in at all.
    anonymous = app.test_client()
    assert anonymous.get(URL).status_code == 302
