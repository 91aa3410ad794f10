"""Helpers of the Security section's tests (``/profile/security``): the configuration,
people with verified channels, the TOTP secret and the WebAuthn options read from a page.

The pages are driven as a browser does (``ProfileBrowser``: CAS sign-in, CSRF tokens);
the checks read the server's own objects (``app.extensions["cas"].mfa``).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pyotp
from flask import Flask
from sqlalchemy import update
from webauthn.helpers import base64url_to_bytes
from werkzeug.test import TestResponse

from cas_server.accounts.mfa.model import Factor
from cas_server.accounts.model import Account, Profile
from cas_server.storage.sql.models import AccountRow
from tests.support.app import PASSWORD
from tests.support.profile import ProfileBrowser, person
from tests.support.sesame import PUBLIC_URL
from tests.support.soft_authenticator import SoftAuthenticator

SECRET_RE = re.compile(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<')
OPTIONS_RE = re.compile(
    r"<script type=\"application/json\" data-webauthn-options>(.*?)</script>", re.S
)
CODE_RE = re.compile(r"\b([2-9a-z]{4}-[2-9a-z]{4}-[2-9a-z]{4})\b")
RP_ID = "cas.univ-test.fr"
VERIFIED = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def overrides(sesame_overrides: dict[str, Any], **mfa: Any) -> dict[str, Any]:
    """Sésame's servers, trusted devices on (30 days)."""
    return {**sesame_overrides, "mfa": {"trust_days": 30, **mfa}}


def require_staff(app: Flask) -> None:
    """From now on staff must use a second factor (``[mfa] required_profiles``).

    Set once the person is signed in: the sign-in's own second-factor step
    (web/cas, tested there) is not what these tests are about.
    """
    mfa = app.extensions["cas"].mfa
    mfa.rules = replace(mfa.rules, required_profiles=frozenset({"staff"}))


def verified_person(
    app: Flask, login: str, *, email: bool = True, mobile: bool = True, **fields: Any
) -> Account:
    """An account whose personal e-mail and mobile are on file and (if asked) verified."""
    fields.setdefault("mobile", "+33611111111")
    account = person(app, login, **fields)
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.uuid == account.uuid)
            .values(
                personal_email_verified_at=VERIFIED if email else None,
                mobile_verified_at=VERIFIED if mobile else None,
            )
        )
    return fresh(app, login)


def staff(app: Flask, login: str = "carol") -> Account:
    """A member of staff; :func:`require_staff` makes them need a second factor."""
    return verified_person(app, login, profile=Profile.STAFF)


def fresh(app: Flask, login: str) -> Account:
    account: Account = app.extensions["cas"].accounts.find_by_login(login)
    return account


def factors(app: Flask, login: str) -> list[Factor]:
    return list(app.extensions["cas"].mfa.factors(fresh(app, login)))


def signed_in(client: Any, login: str = "alice", lang: str = "en") -> ProfileBrowser:
    browser = ProfileBrowser(client, lang)
    browser.sign_in(login)
    return browser


def secret_on(html: str) -> str:
    """The TOTP secret as the enrolment page shows it (grouped), without the spaces."""
    match = SECRET_RE.search(html)
    assert match, "no secret on the page"
    return match.group(1).replace(" ", "")


def code_for(secret: str) -> str:
    return str(pyotp.TOTP(secret).now())


def other_code(code: str) -> str:
    return f"{(int(code) + 500000) % 1000000:06d}"


def post(browser: ProfileBrowser, url: str, data: dict[str, str], form: str | None = None) -> Any:
    """Post ``data`` to ``url`` with the CSRF token of the page at ``form`` (else ``url``)."""
    return browser.submit(form or url, data, action=url)


def enrol_totp(
    browser: ProfileBrowser, label: str = "Phone", password: str = PASSWORD
) -> tuple[str, TestResponse]:
    """Open the app page, read the secret, send its current code: (secret, answer)."""
    html = browser.text("/profile/security/app")
    secret = secret_on(html)
    response = browser.submit(
        "/profile/security/app",
        {"label": label, "code": code_for(secret), "current_password": password},
    )
    return secret, response


def options_on(html: str) -> dict[str, Any]:
    match = OPTIONS_RE.search(html)
    assert match, "no WebAuthn options on the page"
    value: dict[str, Any] = json.loads(match.group(1))
    return value


def challenge_on(html: str) -> bytes:
    return base64url_to_bytes(options_on(html)["challenge"])


def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=RP_ID, origin=PUBLIC_URL)


def register_key(
    browser: ProfileBrowser,
    key: SoftAuthenticator | None = None,
    label: str = "Yubikey",
    challenge: bytes | None = None,
    password: str = PASSWORD,
) -> TestResponse:
    """Open the key page and send what the browser would after ``create()``."""
    key = key or authenticator()
    html = browser.text("/profile/security/key")
    chosen = challenge if challenge is not None else challenge_on(html)
    return browser.client.post(
        "/profile/security/key",
        data={
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),  # type: ignore[union-attr]
            "label": label,
            "current_password": password,
            "credential": key.register(chosen),
        },
    )


def codes_on(html: str) -> list[str]:
    return CODE_RE.findall(html)
