"""The new-device notice (#15): a sign-in from a browser the account has not used for
``[sessions] new_device_days`` days sends a mail to its verified personal address.

Each browser holds a ``cas_browser`` cookie: a random secret (``secrets``), one year,
HttpOnly, SameSite=Lax, Secure as the other cookies, renewed at each sign-in. The
account's known browsers are kept as hashes only (:mod:`...storage.sql.known_browsers`).
The very first sign-in of an account (nothing known yet) is only remembered: nobody
is told about a "new" device when every device is new, nor after an upgrade.

The mail holds the time (institution's zone), the device in words, the address, and
links to "My sign-ins" and to the forgotten-password path; no secret. A failure here
never stops the sign-in: it is logged.
"""

from __future__ import annotations

import logging
import re
import secrets

from flask import current_app, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.devices import describe, phrase
from ...accounts.model import Account
from ...runtime.container import container
from ...runtime.sesame import public_link, sesame, utcnow
from ...storage.sql.known_browsers import KEEP, SqlKnownBrowsers
from ..sesame.runtime import send_mail
from .login_support import client_ip, cookie_path, cookie_secure

log = logging.getLogger(__name__)

COOKIE = "cas_browser"
COOKIE_AGE = int(KEEP)  # a year, as long as the server remembers the browser
DAY = 24 * 3600
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def _browser_secret() -> str:
    """This browser's secret (a new one if it has none, or not one of ours)."""
    given = request.cookies.get(COOKIE, "")
    return given if _SECRET.fullmatch(given) else secrets.token_urlsafe(32)


def notice(account: Account, response: Response) -> None:
    """At the end of a successful sign-in of ``account``: remember this browser (its
    cookie on ``response``) and tell the person if it is new to the account."""
    c = container()
    settings = c.sessions_settings
    if not settings.new_device_notice:
        return  # nothing remembered either: no data kept for a feature that is off
    secret = _browser_secret()
    response.set_cookie(
        COOKIE,
        secret,
        max_age=COOKIE_AGE,
        path=cookie_path(),
        secure=cookie_secure(),
        httponly=True,
        samesite="Lax",
    )
    now = c.clock.now()
    user_agent = request.user_agent.string
    try:
        seen = SqlKnownBrowsers(c.engine).seen(account.uuid, secret, now, user_agent)
    except Exception:  # the sign-in is done: a store failure must not undo it
        log.exception("could not record the browser of account %s", account.uuid)
        return
    if seen.last_seen is None and not seen.others:
        return  # the account's first known browser
    if seen.last_seen is not None and now - seen.last_seen <= settings.new_device_days * DAY:
        return
    _tell(account, user_agent, seen.last_seen)


def _verified_address(account: Account) -> str | None:
    if not account.personal_email:
        return None
    info = sesame().store.recovery_info(account.uuid)
    return account.personal_email if info.personal_email_verified_at is not None else None


def _forgotten_password_link() -> str | None:
    settings = sesame().settings
    if not settings.enabled or not any(settings.path_enabled(p) for p in settings.password_paths):
        return None
    return public_link("sesame.password")


def _tell(account: Account, user_agent: str, last_seen: float | None) -> None:
    c = container()
    device = describe(user_agent)
    address = None
    try:
        address = _verified_address(account)
        if address is not None:
            message, values = phrase(device)
            endpoints = current_app.view_functions
            send_mail(
                "new_device",
                address,
                login=account.login,
                display_name=account.display_name,
                when=utcnow(),
                ip=client_ip() or "-",
                device=_(message, **values),  # the mail is in this request's language
                sessions_url=public_link("profile.sessions")
                if "profile.sessions" in endpoints
                else None,
                password_url=_forgotten_password_link(),
            )
    except Exception:  # the sign-in is done: a mail failure must not undo it
        log.exception("could not send the new-device notice to account %s", account.uuid)
        address = None
    c.audit.record(
        "new_device_notice",
        "sent" if address else "no_address",
        account_uuid=account.uuid,
        login=account.login,
        ip=client_ip(),
        details={
            "browser": device.browser,
            "system": device.system,
            "known_before": last_seen is not None,
        },
    )
