"""/profile/password: change the password (oZe's "Changement de mot de passe").

The current password, then the new one twice under the policy with the live
checklist (T15); the history is checked by the PasswordService like on every
write path (T18). Requires the live session and the current password (T22),
whose wrong guesses are throttled per account. Afterwards: the account's
outstanding links and codes are cancelled, optionally every SSO session ends
(this browser gets a fresh one), a mail without any secret confirms (T11),
and the audit trail records it (T25).
"""

from __future__ import annotations

from typing import Any

from flask import make_response, request
from werkzeug.wrappers import Response

from ...accounts.i18n import N_
from ...accounts.model import Account
from ...accounts.passwords import PasswordChange, PasswordRejected
from ...admin.sessions import end_account_sessions
from ...protocol.cas.tickets import Principal, TicketGrantingTicket, ticket_digest
from ...runtime.container import container
from ...runtime.sesame import now, sesame
from ..cas.login_support import set_tgc
from ..console_auth import follow_sso_session
from ..sesame.forms import Form, read_password
from ..sesame.pages import password_fields
from .blueprint import bp
from .runtime import (
    account,
    audit,
    done,
    page,
    profile,
    read_current_password,
    refused_by_password,
    signed_in,
)


def _page(who: Account, form: Form | None = None, violations: Any = None) -> Any:
    form = form or Form()
    return page("password", form, **password_fields(form, who, violations))


@bp.get("/password")
@signed_in
def password() -> Any:
    return _page(account())


def renew_sessions(who: Account) -> tuple[int, TicketGrantingTicket | None]:
    """Every SSO session of the account ends (its services are told); this browser's
    is replaced by a new one with the same settings, so the user stays signed in here."""
    c = container()
    current = c.login.current_session(request.cookies.get(c.settings.tgc_name))
    # The browser keeps its place in "Mes connexions": the new session carries the
    # old one's device, address and computer choice (read before it ends).
    record = c.sessions.session(ticket_digest(current.id), c.clock.now()) if current else None
    targets = end_account_sessions(who.login, c.clock.now())
    if current is None:
        return len(targets), None
    fresh = c.login.create_session(
        Principal(who.login, who.principal_attributes()),
        long_term=current.authentication.long_term,
        idle_timeout=current.idle_timeout,
        client=record.client if record else None,
    )
    return len(targets), fresh


@bp.post("/password")
@signed_in
def password_submit() -> Any:
    who = account()
    c = container()
    form = Form()
    current = read_current_password(form)
    new = read_password(form)
    if current is None or new is None:
        return _page(who, form)
    refused = refused_by_password(form, who, current, "password", lambda: _page(who, form))
    if refused is not None:
        return refused
    if new == current:
        form.error("new_password", N_("The new password must be different from the current one."))
        return _page(who, form)
    violations = c.passwords.check(who, new)
    if violations:
        audit("password", "rejected", who, rules=[v.rule for v in violations])
        return _page(who, form, violations)
    try:
        with sesame().store.transaction() as tx:
            c.passwords.using(tx).set_password(
                who,
                new,
                change=PasswordChange(
                    "profile", sessions_ended=profile().settings.end_other_sessions
                ),
            )
            cancelled = tx.invalidate_tokens(who.uuid, now())
    except PasswordRejected as exc:  # the directory's own policy, or a race
        audit("password", "rejected", who, rules=[v.rule for v in exc.violations])
        return _page(who, form, exc.violations)
    ended, fresh = renew_sessions(who) if profile().settings.end_other_sessions else (0, None)
    audit("password", "success", who, tokens_cancelled=cancelled, sessions_ended=ended)
    # The confirmation mail is the password service's (web/password_notices.py).
    response: Response = make_response(done("profile.overview", "password"))
    if fresh is not None:
        set_tgc(response, fresh)
        follow_sso_session(fresh)
    return response
