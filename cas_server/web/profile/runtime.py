"""What every profile view shares: settings, stores, the signed-in account, the
current-password check, audit, confirmation mails and dates.

The mail outbox, the SMS sender, the token store and the limits are
Sésame's (:mod:`cas_server.web.sesame.runtime`): one of each per server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from ...accounts.i18n import N_
from ...accounts.model import Account
from ...accounts.throttle import Limit, Throttle
from ...auth import Rejected, Success, Unavailable
from ...runtime.container import container
from ...runtime.sesame import now, public_link
from ...settings.profile import ProfileSettings
from ...storage.sql.console import SqlConsoleStore
from ...storage.sql.profile import SqlProfileStore
from .. import dates
from ..console_auth import require_account, sign_in_url
from ..passwords import MAX_PASSWORD_FIELD
from ..security import error_page
from ..sesame.forms import Form
from ..sesame.pages import form_page
from ..sesame.runtime import client_ip, mail_change

F = TypeVar("F", bound=Callable[..., Any])

# What a ?done= parameter announces on the page the user comes back to.
DONE = {
    "password": N_("Your password has been changed."),
    "email": N_("Your personal e-mail address has been verified and saved."),
    "mobile": N_("Your mobile number has been verified and saved."),
    "joker": N_("Your joker question and answer have been changed."),
    "linked": N_("The account has been linked to this one."),
    "unlinked": N_("The link between the two accounts has been removed."),
    # The Security section (second factor)
    "mfa_added": N_("The second factor has been added."),
    "mfa_renamed": N_("The second factor has been renamed."),
    "mfa_removed": N_("The second factor has been removed."),
    "mfa_codes": N_("Your new recovery codes are in use: the previous ones no longer work."),
    "mfa_device": N_("This device is no longer trusted."),
    "mfa_devices": N_("No device is trusted any more."),
    # My sign-ins (#15)
    "session_ended": N_("The session has been ended: its services have been told."),
    "sessions_ended": N_("Your other sessions have been ended: their services have been told."),
}


@dataclass
class Profile:
    settings: ProfileSettings
    store: SqlProfileStore
    links: SqlConsoleStore  # account_links: the console's storage, the same rules
    password_throttle: Throttle  # wrong current passwords, per account


def profile() -> Profile:
    return current_app.extensions["profile"]  # type: ignore[no-any-return]


def make_profile(settings: ProfileSettings) -> Profile:
    c = container()
    window = settings.password_failure_window
    return Profile(
        settings=settings,
        store=SqlProfileStore(c.engine),
        links=SqlConsoleStore(c.engine, c.accounts),
        password_throttle=Throttle(
            c.counters, Limit(settings.max_password_failures, window, window), "profile-password"
        ),
    )


# The signed-in account (T22: a live session) ---------------------------------------


def live_account() -> Account | None:
    """The signed-in account, if its SSO session in this browser is still alive."""
    c = container()
    account = current_user.account if current_user.is_authenticated else None
    tgt = c.login.current_session(request.cookies.get(c.settings.tgc_name))
    if account is None or tgt is None or tgt.authentication.principal.id != account.login:
        return None
    return cast(Account, account)


def signed_in(view: F) -> F:
    """Signed in through CAS (``require_account``) and the SSO session still alive:
    a logout elsewhere, an expired session or another user in this browser asks again."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        account = live_account()
        if account is None:
            logout_user()
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(sign_in_url(back or url_for("profile.overview")), code=302)
        g.profile_account = account
        return view(*args, **kwargs)

    return require_account()(cast(F, checked))


def account() -> Account:
    return cast(Account, g.profile_account)


# Pages -----------------------------------------------------------------------------


def page(name: str, form: Form | None = None, status: int | None = None, **context: Any) -> Any:
    """``profile/<name>.html``; a form with errors answers 400 unless told otherwise."""
    done = request.args.get("done")
    context.setdefault("done", _(DONE[done]) if done in DONE else None)
    return form_page(f"profile/{name}.html", form, status, **context)


def locked_page(until: float) -> Any:
    return error_page(
        429,
        _("Too many attempts"),
        _(
            "Too many wrong passwords for this account. For your security, these forms are "
            "suspended until %(time)s.",
            time=when(datetime.fromtimestamp(until, UTC)),
        ),
    )


def when(value: datetime | float | None) -> str:
    """A date and time in words, in the institution's zone (web/dates.py)."""
    return dates.when(value)


def day(value: date | None) -> str:
    return dates.day(value)


# The current password (T22), throttled per account ---------------------------------


def read_current_password(form: Form) -> str | None:
    typed = str(request.form.get("current_password", ""))
    if not typed:
        form.error("current_password", N_("Enter your current password."))
        return None
    if len(typed) >= MAX_PASSWORD_FIELD:
        form.error("current_password", N_("This password is too long."))
        return None
    return typed


class PasswordCheck:
    """The outcome of a current-password check: right, wrong (message on the form), locked."""

    def __init__(self, right: bool, locked_until: float | None = None) -> None:
        self.right = right
        self.locked_until = locked_until


def check_current_password(form: Form, who: Account, password: str, action: str) -> PasswordCheck:
    """Through the user source (local or directory), like a sign-in; wrong guesses
    count against the account and lock these forms for a while. The guess is
    counted before the password is checked (a burst gets the limit, no more)."""
    p = profile()
    ts = now()
    slot = p.password_throttle.reserve(who.uuid, ts)
    if not slot.granted:
        audit(action, "throttled", who)
        return PasswordCheck(False, slot.locked_until or ts)
    result = container().user_source.authenticate(who.login, password)
    if isinstance(result, Unavailable):
        p.password_throttle.release(slot)  # nothing was checked
        raise SourceUnavailable(result.source)
    if isinstance(result, Success) and result.account.uuid == who.uuid:
        p.password_throttle.success(who.uuid)
        return PasswordCheck(True)
    if isinstance(result, Rejected) and result.account is not None:
        # Right password, but the account cannot sign in any more (locked meanwhile…).
        p.password_throttle.release(slot)
        audit(action, result.reason.value, who)
        form.error("current_password", N_("Your account cannot be changed at the moment."))
        return PasswordCheck(False)
    until = p.password_throttle.fail(slot, ts)
    audit(action, "wrong_password", who)
    if until is not None:
        audit(action, "locked", who, until=until)
        return PasswordCheck(False, until)
    form.error("current_password", N_("Your current password is not right."))
    return PasswordCheck(False)


def refused_by_password(
    form: Form, who: Account, password: str, action: str, again: Callable[[], Any]
) -> Any | None:
    """None once ``password`` is the current one (:func:`check_current_password`);
    else the answer: these forms locked (429), or ``again()``, the form saying why."""
    check = check_current_password(form, who, password, action)
    if check.locked_until is not None:
        return locked_page(check.locked_until)
    if not check.right:
        return again()
    return None


class SourceUnavailable(Exception):
    """The user source (directory) did not answer: the page says 503."""


# Audit (T25) and confirmation mails (T11) ------------------------------------------


def audit(
    action: str, outcome: str, who: Account, *, actor: Account | None = None, **details: Any
) -> None:
    """An event about ``who``, done by ``actor`` (by default the account itself)."""
    container().audit.record(
        f"profile_{action}",
        outcome,
        account_uuid=who.uuid,
        login=who.login,
        actor=(actor or who).login,
        ip=client_ip(),
        details=details,
    )


def confirm(who: Account, what: str, to: str | None = None, **context: Any) -> None:
    """The mail after a change (T11): what changed, when, from where; never a secret."""
    mail_change(
        "profile_changed", who, what, to, profile_url=public_link("profile.overview"), **context
    )


def done(endpoint: str, what: str) -> Any:
    return redirect(url_for(endpoint, done=what), code=303)
