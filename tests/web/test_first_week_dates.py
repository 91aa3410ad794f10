"""Dates a university found wrong in its first week (issue #12, items 1 and 23).

1. the security mails said "(UTC)" next to a Paris time: they print the configured
   zone's time with its name and the offset of that instant (summer time: UTC+2);
23. "12/3/26, 4:07 PM" is ambiguous: pages, mails and the console write dates in
   words ("3 December 2026, 16:07", "3 décembre 2026 à 16 h 07"), in the configured
   zone ([i18n] timezone), in both languages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import update

from cas_server import create_app
from cas_server.runtime.mail import render_message
from cas_server.storage.sql.models import AccountRow
from tests.support.app import make_account, test_overrides
from tests.support.console import console_client
from tests.support.html import text
from tests.support.profile import ProfileBrowser, person

THEMES = Path(__file__).resolve().parents[2] / "themes"
WINTER = datetime(2026, 12, 3, 13, 43, 40, tzinfo=UTC)  # 14:43 in Paris (UTC+1)
SUMMER = datetime(2026, 7, 3, 12, 5, 9, tzinfo=UTC)  # 14:05 in Paris (UTC+2)
NUMERIC = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{1,2}:\d{2}(:\d{2})? ?[AP]M\b")


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "profile": {"dpo_contact": "dpo@univ-test.fr"}}


def mail(app: Flask, name: str, language: str, **context: Any) -> str:
    with app.test_request_context("/"):
        app.preprocess_request()
        return render_message(
            name,
            "a@example.net",
            language,
            display_name="Alice Liddell",
            login="alice",
            institution_name="Université Exemple",
            login_url="http://x/login",
            **context,
        ).body


# 1. Security mails: the local time, the zone's name and the offset of that instant ----


@pytest.mark.parametrize(
    ("instant", "language", "expected"),
    [
        (WINTER, "fr", "Date : 3 décembre 2026 à 14 h 43, heure de Paris (UTC+1)"),
        (WINTER, "en", "When: 3 December 2026, 14:43, Paris time (UTC+1)"),
        (SUMMER, "fr", "Date : 3 juillet 2026 à 14 h 05, heure de Paris (UTC+2)"),
        (SUMMER, "en", "When: 3 July 2026, 14:05, Paris time (UTC+2)"),
    ],
)
@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("console_action", {"what": "lock"}),
        ("profile_notice", {"masked": "a***@example.net"}),
        ("changed", {"what": "password", "ip": "192.0.2.1"}),
    ],
)
def test_a_security_mail_prints_the_local_time_with_its_zone(
    app: Flask,
    instant: datetime,
    language: str,
    expected: str,
    template: str,
    context: dict[str, Any],
) -> None:
    body = mail(app, template, language, when=instant, **context)
    assert expected in body, body
    assert "(UTC)" not in body


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "Il expire le 3 juillet 2026 à 14 h 05, heure de Paris (UTC+2)."),
        ("en", "It expires on 3 July 2026, 14:05, Paris time (UTC+2)."),
    ],
)
def test_the_temporary_password_mail_gives_its_expiry_in_the_local_zone(
    app: Flask, language: str, expected: str
) -> None:
    body = mail(app, "temporary_password", language, expires=SUMMER, password="x")
    assert expected in body, body


def test_the_configured_zone_is_the_one_printed(db_path: Path) -> None:
    app = create_app(
        overrides=test_overrides(db_path, i18n={"timezone": "America/New_York"}), environ={}
    )
    body = mail(app, "console_action", "en", when=WINTER, what="lock")
    assert "When: 3 December 2026, 08:43, New York time (UTC-5)" in body, body


def test_no_mail_template_says_utc_next_to_a_local_time() -> None:
    for path in THEMES.glob("*/templates/mail/*.txt"):
        assert "(UTC)" not in path.read_text(encoding="utf-8"), path


# 23. Pages and the console: dates in words, in the configured zone -------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "3 décembre 2026 à 14 h 43"), ("en", "3 December 2026, 14:43")],
)
def test_the_lockout_message_gives_its_end_in_words_and_local_time(
    app: Flask, language: str, expected: str
) -> None:
    from cas_server.web.cas.login import _locked_message

    with app.test_request_context("/"), force_locale(language):
        message = _locked_message(WINTER.timestamp())
    assert expected in message, message
    assert not NUMERIC.search(message), message


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "3 décembre 2026 à 14 h 43"), ("en", "3 December 2026, 14:43")],
)
def test_a_console_record_date_is_in_words_and_local_time(
    db_path: Path, language: str, expected: str
) -> None:
    app = create_app(overrides=test_overrides(db_path), environ={})  # no charter to accept
    account = make_account(app, "alice")
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow).where(AccountRow.uuid == account.uuid).values(created_at=WINTER)
        )
    admin = console_client(app)
    page = text(admin.get(f"/admin/accounts/{account.uuid}?lang={language}", follow_redirects=True))
    assert expected in page, page
    assert not NUMERIC.search(page), NUMERIC.search(page)


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "3 juillet 2026 à 14 h 05"), ("en", "3 July 2026, 14:05")],
)
def test_a_profile_date_is_in_words_and_local_time(
    app: Flask, language: str, expected: str
) -> None:
    account = person(app, "alice")
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.uuid == account.uuid)
            .values(password_changed_at=SUMMER, personal_email_verified_at=WINTER)
        )
    browser = ProfileBrowser(app.test_client(), language)
    browser.sign_in()
    page = " ".join(re.sub(r"<[^>]+>", " ", browser.text("/profile/")).split())
    assert expected in page, page
    assert not NUMERIC.search(page), NUMERIC.search(page)
