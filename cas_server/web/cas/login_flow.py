"""What happens between a correct password and the service: second factor, charter,
forced change.

After the password is verified, the sign-in waits as a :class:`PendingLogin`
while the user gives a second factor (:mod:`.second_factor`, pages in
:mod:`.mfa_pages`), accepts the charter (T23) or changes a password that must
change; only then is the SSO session created and the ticket issued. Nobody
reaches a service before that. A step-up (a live session, a service that
requires a second factor) is a pending sign-in too, with the second factor
as its only step.

The pending sign-in is kept on the server, single use (:mod:`.pending_login`):
each step checks the account again (still active, same password, sessions
not ended since), and a request that acts on it takes it first, so a copy
of the browser's cookie replayed later gets "sign-in expired", never a
ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, make_response, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.charter import Charter, charter_for, needs_acceptance
from ...accounts.i18n import N_
from ...accounts.model import Account, Status
from ...accounts.passwords import PasswordChange, PasswordRejected
from ...protocol.cas.errors import SecondFactorRequired, ServiceNotAuthorized
from ...protocol.cas.slo import FrontChannelRequest, front_channel_requests, plan_logout
from ...protocol.cas.tickets import USER_AGENT_MAX, Principal, SessionClient
from ...runtime.container import container
from ..passwords import password_form_context, read_new_password
from ..saml import participants as saml_participants
from ..security import allow_frames
from ..theming import render_page, use_service_theme
from . import new_device, pending_login, second_factor
from .login_support import (
    WARN_COOKIE,
    Page,
    allow_return_to,
    client_ip,
    cookie_path,
    cookie_secure,
    redirect_to_service,
    set_tgc,
    unauthorized,
)
from .pending_login import PENDING_KEY, PENDING_LIFETIME, PendingLogin, still_valid

bp = Blueprint("login_flow", __name__, url_prefix="/login")

__all__ = ["PENDING_KEY", "PENDING_LIFETIME", "PendingLogin", "continue_login"]

T = TypeVar("T")


def _charter(account: Account) -> Charter | None:
    c = container()
    charter = charter_for(c.charters, account.profile.value)
    accepted = c.accounts.accepted_charter_version(account.uuid, charter.id) if charter else None
    return charter if needs_acceptance(charter, accepted) else None


def _password_reason(account: Account) -> str | None:
    """Why the password must change now, or None."""
    if account.password_expires_at is not None:
        return "temporary"
    if account.must_change_password:
        return "initial" if account.last_login_at is None else "forced"
    max_age = container().settings.raw["passwords"].get("max_age_days", 0)
    changed = account.password_changed_at
    if max_age and changed is not None and datetime.now(UTC) - changed > timedelta(days=max_age):
        return "expired"
    return None


def continue_login(pending: PendingLogin) -> Response:
    """The next step of a sign-in, or its end: the session and the way back to the service.

    ``pending`` is either stored (``handle`` set: it is taken here, once, if
    the sign-in ends now) or held by this request (just verified, or taken).
    """
    account = container().accounts.get(pending.uuid)
    if account is None or account.status is not Status.ACTIVE:
        return _sign_in_expired()
    if pending.handle is None:
        pending = second_factor.settle(pending, account)  # a trusted device
    step = None
    need = second_factor.pending_need(pending, account)
    if need is not None:  # first the second factor (second_factor.py)
        if need.page == "none":
            return second_factor.no_way(pending, account, need)
        step = second_factor.ENDPOINTS[need.page]
    elif pending.sso is not None:
        pass  # a step-up: the session's sign-in went through the other steps
    elif _charter(account) is not None:
        step = "login_flow.charter"
    elif _password_reason(account) is not None:
        step = "login_flow.change_password"
    if step is not None:
        if pending.handle is None and pending_login.store(pending) is None:
            return _sign_in_expired()
        return redirect(url_for(step), code=303)
    if pending.handle is not None:
        taken = pending_login.take(pending)
        if taken is None or not still_valid(taken, account):
            return _sign_in_expired()
        pending = taken
    pending_login.release()
    if pending.sso is not None:
        return second_factor.finish_step_up(pending, account)
    return finish_login(pending, account)


def finish_login(pending: PendingLogin, account: Account) -> Response:
    c = container()
    old = request.cookies.get(c.settings.tgc_name)
    # The session this browser had ends; its front-channel services can only be
    # told when a page is shown (no service to go back to), not on a redirect.
    front_channel = end_browser_session(old) if old else []
    limits = c.settings.login
    remember = pending.remember and limits.remember_me
    idle = limits.public_idle_timeout if pending.public else limits.private_idle_timeout
    principal = Principal(account.login, account.principal_attributes())
    method = pending.second_factor
    tgt = c.login.create_session(
        principal,
        long_term=remember,
        idle_timeout=idle,
        second_factor=method,
        client=session_client(pending.public),
    )
    c.accounts.record_login(account.uuid, datetime.now(UTC))
    _audit(
        "login",
        "success",
        account,
        computer="public" if pending.public else "private",
        remember=remember,
        **({"second_factor": method} if method else {}),
    )
    # A new session id at sign-in: no fixation of the Flask session / CSRF token.
    session.clear()

    response: Response
    if pending.service:
        try:
            registered = c.login.authorize_service(pending.service)
            use_service_theme(registered.theme)
            ticket = c.login.grant_after_login(tgt, pending.service, registered)
        except ServiceNotAuthorized as exc:
            response = make_response(*unauthorized(exc))
        except SecondFactorRequired:  # required since the sign-in began: asked now
            again: dict[str, Any] = {"service": pending.service, "method": pending.method}
            response = redirect(url_for("cas.login", **again), code=303)
        else:
            response = redirect_to_service(ticket, pending.method)
    else:
        allow_front_channel(front_channel)
        response = make_response(
            *render_page(
                "logged_in.html",
                display_name=account.display_name,
                login=account.login,
                front_channel=front_channel,
            )
        )
    set_tgc(response, tgt)
    if pending.warn:
        response.set_cookie(
            WARN_COOKIE,
            "1",
            path=cookie_path(),
            secure=cookie_secure(),
            httponly=True,
            samesite="Lax",
        )
    new_device.notice(account, response)  # a browser new to the account: a mail (#15)
    return response


def session_client(public: bool | None) -> SessionClient:
    """Where this request's browser opens a session (shown on the session pages, #15)."""
    ip = client_ip()
    network = container().sessions_settings.network_for(ip)
    return SessionClient(
        ip=ip,
        user_agent=(request.user_agent.string or "")[:USER_AGENT_MAX] or None,
        network=network.key if network else None,
        public=public,
    )


def end_browser_session(tgt_id: str) -> list[FrontChannelRequest]:
    """End an SSO session and tell its services.

    Back-channel services are sent their POST in the background; the
    front-channel ones are returned: the page the browser gets must load
    each URL (``partials/front_channel_logout.html``) and allow its origin
    (``allow_front_channel``).
    """
    c = container()
    tgt = c.login.current_session(tgt_id)
    targets = c.login.end_session(tgt_id)
    # The SAML service providers of the session (#18): told by frames, like front channel.
    saml = saml_participants.front_channel(tgt_id)
    if tgt is None:
        return saml
    principal = tgt.authentication.principal.id
    now = c.clock.now()
    plan = plan_logout(targets, c.services)
    c.single_logout.notify(plan.back_channel, principal, now)
    c.audit.record("logout", "success", login=principal, ip=client_ip())
    if tgt.authentication.surrogate:  # an impersonation ends (#15)
        c.audit.record(
            "impersonation_end",
            "success",
            login=principal,
            actor=tgt.authentication.surrogate,
            ip=client_ip(),
        )
    cas = front_channel_requests(plan.front_channel, c.services, name_id=principal, now=now)
    return cas + saml


def allow_front_channel(requests: list[FrontChannelRequest]) -> None:
    """The CSP of this response frames exactly the origins of ``requests`` (and this
    server's own, where an SP's frame comes back with its LogoutResponse)."""
    if requests:
        origins = [r.origin for r in requests]
        if saml_participants.frames_self(requests):
            origins.append("'self'")
        allow_frames(origins)


def _audit(action: str, outcome: str, account: Account, **details: Any) -> None:
    """An event of this sign-in, about ``account``."""
    container().audit.record(
        action,
        outcome,
        account_uuid=account.uuid,
        login=account.login,
        ip=client_ip(),
        details=details,
    )


_sign_in_expired = pending_login.expired


def pending_or_expired() -> tuple[PendingLogin, Account] | Response:
    """This browser's pending sign-in, if the account may still finish it.

    A posted form takes it (single use: a concurrent or replayed post gets
    "sign-in expired"); it is put back under a new handle if the page is
    shown again.
    """
    pending = pending_login.take() if request.method == "POST" else pending_login.peek()
    account = container().accounts.get(pending.uuid) if pending else None
    if pending is None or account is None or not still_valid(pending, account):
        return _sign_in_expired()
    if pending.service:
        registered = container().services.find_enabled(pending.service)
        use_service_theme(registered.theme if registered else None)
        if registered is not None:
            allow_return_to(pending.service)
    return pending, account


def _pending_step(
    needed: Callable[[Account], T | None],
) -> Callable[[Callable[[PendingLogin, Account, T], Page]], Callable[[], Page]]:
    """A step of a waiting sign-in: the pending sign-in taken (or read) and checked again
    (:func:`pending_or_expired`); when the step is no longer ``needed`` (the charter
    accepted, the password changed meanwhile), the sign-in goes on; else the view shows
    the step, given what ``needed`` returned."""

    def step(view: Callable[[PendingLogin, Account, T], Page]) -> Callable[[], Page]:
        @wraps(view)
        def checked() -> Page:
            state = pending_or_expired()
            if isinstance(state, Response):
                return state
            pending, account = state
            if pending.sso is not None or second_factor.pending_need(pending, account):
                # The second factor first; a step-up has no other step.
                return continue_login(pending)
            what = needed(account)
            if what is None:
                return continue_login(pending)
            return view(pending, account, what)

        return checked

    return step


@bp.route("/charter", methods=["GET", "POST"])
@_pending_step(_charter)
def charter(pending: PendingLogin, account: Account, current: Charter) -> Page:
    c = container()
    if request.method == "POST":
        choice = request.form.get("decision")
        which = {"charter": current.id, "version": current.version}
        if choice == "accept":
            c.accounts.accept_charter(account.uuid, current.id, current.version)
            _audit("charter_accept", "success", account, **which)
            return continue_login(pending)
        if choice == "refuse":
            pending_login.release()
            session.clear()
            _audit("charter_refuse", "refused", account, **which)
            return make_response(*render_page("charter_refused.html", status=403))
    language = str(get_locale() or c.settings.default_language)
    return render_page(
        "charter.html",
        title=current.title(language),
        paragraphs=current.paragraphs(language),
        version=current.version,
        error=_("Please accept or refuse the charter.") if request.method == "POST" else None,
    )


REASONS = {
    "initial": N_("This is your first sign-in: please choose your own password."),
    "temporary": N_("You signed in with a temporary password: please choose a new password now."),
    "forced": N_("Your password must be changed before you continue."),
    "expired": N_("Your password has expired: please choose a new one."),
}


@bp.route("/password", methods=["GET", "POST"])
@_pending_step(_password_reason)
def change_password(pending: PendingLogin, account: Account, reason: str) -> Page:
    context: dict[str, Any] = password_form_context()
    status = 200
    if request.method == "POST":
        new, matches = read_new_password(request.form)
        if not matches:
            context, status = password_form_context(mismatch=True), 400
        else:
            try:
                container().passwords.set_password(account, new, change=PasswordChange("login"))
            except PasswordRejected as exc:
                context, status = password_form_context(exc.violations), 400
            else:
                _audit("password_change", "success", account, reason=reason, during="login")
                return continue_login(pending)
    return render_page(
        "change_password.html",
        status=status,
        reason=_(REASONS[reason]),
        login=account.login,
        full_name=account.display_name,
        **context,
    )
