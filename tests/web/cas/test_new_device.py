"""The new-device notice (#15): a sign-in from a browser the account has not used for
``new_device_days`` days sends a mail to its verified address, through a real SMTP server.

Not on the account's very first sign-in (nothing known yet), not again from the same
browser, never to an unverified address, never when the notice is off; the cookie is
random, HttpOnly, SameSite=Lax and the table holds only a hash of it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from cas_server.accounts.model import Account
from cas_server.storage.sql.known_browsers import SqlKnownBrowsers
from cas_server.storage.sql.models import AccountRow, KnownBrowserRow
from cas_server.web.cas.new_device import COOKIE
from tests.support.app import CasBrowser, events, rows
from tests.support.outbound import SmtpSink, body
from tests.support.profile import person
from tests.support.sesame import drained

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
DAY = 24 * 3600


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "sessions": {"new_device_notice": True, "new_device_days": 90}}


def verified(app: Flask, account: Account) -> Account:
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.uuid == account.uuid)
            .values(personal_email_verified_at=datetime(2026, 9, 1, tzinfo=UTC))
        )
    return account


@pytest.fixture
def alice(app: Flask) -> Account:
    return verified(app, person(app, "alice"))


def browser(app: Flask, user_agent: str, lang: str = "fr") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    client.get(f"/login?lang={lang}")
    return client


def sign_in(client: FlaskClient, login: str = "alice") -> Any:
    response = CasBrowser(client).login(login)
    assert response.status_code == 200, response.status_code
    return response


def notices(app: Flask, sink: SmtpSink, to: str = "alice.perso@example.net") -> list[Any]:
    drained(app)
    return [m for m in sink.delivered() if to in str(m["To"])]


def test_first_sign_in_of_an_account_only_remembers(
    app: Flask, alice: Account, smtp_sink: SmtpSink
) -> None:
    client = browser(app, FIREFOX)
    response = sign_in(client)
    assert notices(app, smtp_sink) == []
    [row] = rows(app, KnownBrowserRow, account_uuid=alice.uuid)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and len(cookie.value) == 43
    # Only a hash is kept, and not the bare cookie's.
    assert cookie.value not in row.browser_hash and len(row.browser_hash) == 64
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header
    assert "Max-Age=31536000" in header


def test_a_new_browser_sends_the_mail_in_the_persons_language(
    app: Flask, alice: Account, smtp_sink: SmtpSink
) -> None:
    sign_in(browser(app, FIREFOX))
    sign_in(browser(app, ANDROID, "fr"))
    [mail] = notices(app, smtp_sink)
    text = body(mail)
    assert "nouvel appareil" in str(mail["Subject"])
    assert "Chrome 120 sous Android 14" in text
    assert "192.0.2.44" in text
    assert "heure de Paris" in text or "UTC" in text
    assert "https://cas.univ-test.fr/profile/sessions" in text
    assert "https://cas.univ-test.fr/sesame/password" in text
    assert "mot de passe" in text.lower() and "Correct-Horse" not in text
    [audited] = [e for e in events(app, "new_device_notice") if e.outcome == "sent"]
    assert audited.login == "alice" and audited.details["system"] == "Android 14"


def test_english_mail(app: Flask, alice: Account, smtp_sink: SmtpSink) -> None:
    sign_in(browser(app, FIREFOX))
    sign_in(browser(app, ANDROID, "en"))
    [mail] = notices(app, smtp_sink)
    assert "new device" in str(mail["Subject"])
    assert "Chrome 120 on Android 14" in body(mail)


def test_the_same_browser_again_sends_nothing(
    app: Flask, alice: Account, smtp_sink: SmtpSink
) -> None:
    sign_in(browser(app, FIREFOX))
    phone = browser(app, ANDROID)
    sign_in(phone)
    sign_in(phone)
    sign_in(phone)
    assert len(notices(app, smtp_sink)) == 1


def test_a_browser_unused_for_longer_than_the_setting_is_new_again(
    app: Flask, alice: Account, smtp_sink: SmtpSink
) -> None:
    laptop = browser(app, FIREFOX)
    sign_in(laptop)
    sign_in(browser(app, ANDROID))
    assert len(notices(app, smtp_sink)) == 1
    with app.extensions["cas"].engine.begin() as conn:
        old = app.extensions["cas"].clock.now() - 91 * DAY
        conn.execute(update(KnownBrowserRow).values(last_seen=old))
    sign_in(laptop)
    assert len(notices(app, smtp_sink)) == 2
    sign_in(laptop)
    assert len(notices(app, smtp_sink)) == 2


def test_a_forged_cookie_is_replaced(app: Flask, alice: Account, smtp_sink: SmtpSink) -> None:
    sign_in(browser(app, FIREFOX))
    forged = browser(app, ANDROID)
    forged.set_cookie(COOKIE, "not-ours; evil")
    sign_in(forged)
    cookie = forged.get_cookie(COOKIE)
    assert cookie is not None and cookie.value != "not-ours; evil" and len(cookie.value) == 43
    assert len(notices(app, smtp_sink)) == 1


def test_an_unverified_address_gets_nothing(app: Flask, smtp_sink: SmtpSink) -> None:
    person(app, "carol", given_name="Carol", personal_email="carol@example.net")
    sign_in(browser(app, FIREFOX), "carol")
    sign_in(browser(app, ANDROID), "carol")
    assert notices(app, smtp_sink, "carol@example.net") == []
    assert [e.outcome for e in events(app, "new_device_notice")] == ["no_address"]


def test_one_browser_does_not_link_two_accounts(app: Flask, alice: Account) -> None:
    bob = verified(app, person(app, "bob", given_name="Bob"))
    shared = browser(app, FIREFOX)
    sign_in(shared, "alice")
    sign_in(shared, "bob")
    mine = rows(app, KnownBrowserRow, account_uuid=alice.uuid)
    theirs = rows(app, KnownBrowserRow, account_uuid=bob.uuid)
    assert mine[0].browser_hash != theirs[0].browser_hash


def test_racing_sign_ins_tell_once(app: Flask, alice: Account) -> None:
    store = SqlKnownBrowsers(app.extensions["cas"].engine)
    now = 1_800_000_000.0
    assert store.seen(alice.uuid, "a" * 43, now, FIREFOX).last_seen is None
    first = store.seen(alice.uuid, "b" * 43, now + 1, ANDROID)
    assert first.last_seen is None and first.others
    # The same new browser a second time: known now (one "new" between the two).
    again = store.seen(alice.uuid, "b" * 43, now + 2, ANDROID)
    assert again.last_seen == now + 1
    assert store.purge(now + 1) == 1  # "a", last seen at now
    assert store.purge(now + 10) == 1
    assert store.browsers(alice.uuid) == []


class TestOff:
    @pytest.fixture
    def app_overrides(self, sesame_overrides: dict[str, Any]) -> dict[str, Any]:
        return {**sesame_overrides, "sessions": {"new_device_notice": False}}

    def test_nothing_is_remembered_or_sent(
        self, app: Flask, alice: Account, smtp_sink: SmtpSink
    ) -> None:
        first = browser(app, FIREFOX)
        sign_in(first)
        sign_in(browser(app, ANDROID))
        assert first.get_cookie(COOKIE) is None
        assert rows(app, KnownBrowserRow) == []
        assert notices(app, smtp_sink) == []


def test_cas_server_purge_forgets_browsers_unused_for_a_year(
    app: Flask, alice: Account, runner: Any
) -> None:
    store = SqlKnownBrowsers(app.extensions["cas"].engine)
    now = app.extensions["cas"].clock.now()
    store.seen(alice.uuid, "o" * 43, now - 366 * DAY, FIREFOX)
    store.seen(alice.uuid, "r" * 43, now - 364 * DAY, ANDROID)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "1 browser(s) unused for a year forgotten" in result.output
    assert [agent for _, _, agent in store.browsers(alice.uuid)] == [ANDROID]
