"""/profile/links: link another account of the same person into this one
("rapprochement de comptes", ENT Midi-Pyrénées), see the links, undo one.

Proof of control of both accounts (SELF-SERVICE-RULES weak spot 9): this
one by the live session, the other by its login and password, checked by
the user source and throttled exactly like the sign-in form (the same
per-login, per-address and per-account reservations, taken before the
password is checked, so the form is no way around them).
Links are stored in ``account_links`` by the console's storage (one level,
each account linked once: primary = this account); both accounts get a
mail and an audit event.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import abort, redirect, request, url_for
from flask_babel import gettext as _

from ...accounts.i18n import N_
from ...accounts.model import Account, normalize_login
from ...auth import Failure, Success, Unavailable
from ...auth.throttled import throttled_authenticate, typed_key
from ...runtime.container import container
from ...storage.sql.console import ConsoleError
from ..cas.login import FAILURE_MESSAGES
from ..passwords import MAX_PASSWORD_FIELD
from ..security import error_page
from ..sesame.forms import Form, read_text
from ..sesame.runtime import client_ip
from .blueprint import bp
from .runtime import account, audit, confirm, done, page, profile, signed_in, when


def _enabled() -> None:
    if not profile().settings.account_linking:
        abort(404)


def _page(who: Account, form: Form | None = None, status: int | None = None) -> Any:
    details = profile().links.details(who.uuid)
    return page(
        "links",
        form,
        status,
        links=details.links if details else [],
        max_links=profile().settings.max_linked_accounts,
    )


@bp.get("/links")
@signed_in
def links() -> Any:
    _enabled()
    return _page(account())


def _locked(until: float) -> str:
    return str(
        _(
            "Too many failed attempts. For your security, sign-in is suspended until %(time)s.",
            time=when(datetime.fromtimestamp(until, UTC)),
        )
    )


def _prove(form: Form, login: str, password: str) -> tuple[Account | None, bool]:
    """The other account, if this login and password open it; counted like a sign-in
    (the same reservations: typed login, address, the account found).

    The flag says the login or the address is locked (the page answers 429).
    """
    c = container()
    key = typed_key(login)
    ip = client_ip()
    attempt = throttled_authenticate(
        c.user_source, c.login_throttle, c.ip_throttle, login, password, ip, time.time()
    )
    result = attempt.result
    if result is None:
        assert attempt.locked_until is not None
        form.errors.setdefault("other_login", _locked(attempt.locked_until))
        return None, True
    if isinstance(result, Unavailable):
        abort(503)
    if isinstance(result, Success):
        return result.account, False
    if attempt.told is not None:
        form.error("other_login", N_("This account cannot be linked: it is not active."))
        return None, False
    # A wrong password, an unknown login, a locked account: all read alike.
    if attempt.locked_until is not None:
        until = attempt.locked_until
        c.audit.record("login_lock", "locked", login=key, ip=ip, details={"until": until})
        form.errors.setdefault("other_login", _locked(until))
        return None, True
    form.error("other_login", FAILURE_MESSAGES[Failure.INVALID_CREDENTIALS])
    return None, False


@bp.post("/links")
@signed_in
def links_submit() -> Any:
    _enabled()
    who = account()
    p = profile()
    form = Form()
    login = read_text(form, "other_login", 128)
    password = str(request.form.get("other_password", ""))
    if not password:
        form.error("other_password", N_("Enter the password of the other account."))
    elif len(password) >= MAX_PASSWORD_FIELD:
        form.error("other_password", N_("This password is too long."))
    if not form.ok or login is None:
        return _page(who, form)
    details = p.links.details(who.uuid)
    if details is not None and len(details.links) >= p.settings.max_linked_accounts:
        form.error("other_login", N_("You cannot link more accounts to this one."))
        return _page(who, form)
    other, locked = _prove(form, login, password)
    if other is None:
        audit("link", "refused", who, other=normalize_login(login)[:128], reason="proof")
        return _page(who, form, 429 if locked else None)
    if other.uuid == who.uuid:
        form.error("other_login", N_("This is the account you are signed in with."))
        return _page(who, form)
    try:
        p.links.link(who.uuid, other.uuid, who.login)
    except ConsoleError as exc:
        form.error("other_login", exc.message, **exc.params)
        audit("link", "refused", who, other=other.login, reason=exc.message)
        return _page(who, form)
    audit("link", "success", who, linked=other.login, role="primary")
    audit("link", "success", other, actor=who, primary=who.login, role="linked")
    confirm(who, "link", other_login=other.login)
    if other.personal_email and other.personal_email != who.personal_email:
        confirm(other, "linked_into", other_login=who.login)
    return done("profile.links", "linked")


@bp.get("/links/<uuid>/remove")
@signed_in
def unlink_page(uuid: str) -> Any:
    return redirect(url_for("profile.links"), code=303)


@bp.post("/links/<uuid>/remove")
@signed_in
def unlink(uuid: str) -> Any:
    _enabled()
    who = account()
    c = container()
    other = c.accounts.get(uuid) if len(uuid) <= 36 else None
    if other is None or not profile().links.unlink(who.uuid, other.uuid):
        return error_page(404, _("No such link"), _("These two accounts are not linked."))
    audit("unlink", "success", who, other=other.login)
    audit("unlink", "success", other, actor=who, other=who.login)
    confirm(who, "unlink", other_login=other.login)
    if other.personal_email and other.personal_email != who.personal_email:
        confirm(other, "unlink", other_login=who.login)
    return done("profile.links", "unlinked")
