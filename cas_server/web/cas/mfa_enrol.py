"""/login/mfa/enrol, the recovery codes, /login/mfa/none (issue #14).

A person whom a service or their population requires to use a second factor,
and who has none, sets up an authenticator app right there while the
account's enrolment window lasts (``second_factor.need_for``): a QR code
(inline SVG from ``segno``, no third party) and the secret as text, confirmed
by a first code. "Later" spends one sign-in of the grace, never for a
service that requires the factor. The first factor brings ten recovery
codes, shown once, before the sign-in goes on. With no way to give a second
factor, ``/login/mfa/none`` says what to do and whom to ask; the sign-in
ended before it.
"""

from __future__ import annotations

from dataclasses import replace

from flask import request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.mfa.model import MfaRefused, clean_label
from ...accounts.mfa.sealing import SealingError
from ...accounts.model import Account
from ...accounts.throttle import Attempt
from ...runtime.container import container
from ...runtime.sesame import sesame
from ..theming import render_page
from ..totp_enrolment import grouped, qr_code
from . import pending_login, second_factor
from .login_flow import continue_login, pending_or_expired
from .login_support import Page, locked_message
from .mfa_pages import bp, mfa_state
from .pending_login import PendingLogin
from .second_factor import Need, audit

DEFAULT_LABEL = "Authenticator app"


def _secret_of(pending: PendingLogin) -> str | None:
    sealed = second_factor.unb64(pending.enrol_secret)
    if sealed is None:
        return None
    try:
        return container().mfa.sealer.open(sealed).decode("ascii")
    except (SealingError, UnicodeDecodeError):  # a key rotated away: start again
        return None


def _enrol_page(
    pending: PendingLogin,
    account: Account,
    need: Need,
    *,
    errors: dict[str, str] | None = None,
    label: str = "",
    status: int = 200,
) -> Page:
    c = container()
    secret = _secret_of(pending)
    if secret is None:
        # A new secret, kept (sealed) with the pending sign-in under a new handle.
        secret = c.mfa.begin_totp()
        held = pending if pending.handle is None else pending_login.take(pending)
        sealed = second_factor.b64(c.mfa.sealer.seal(secret.encode("ascii")))
        if held is None or pending_login.store(replace(held, enrol_secret=sealed)) is None:
            return pending_login.expired()
    registered = second_factor.service_of(pending)
    return render_page(
        "mfa_enrol.html",
        status=status,
        errors=errors or {},
        qr_code=qr_code(
            c.mfa.totp_uri(account, secret),
            _("QR code to scan with your authenticator app"),
            "qr-code__image",
        ),
        secret=grouped(secret),
        issuer=c.mfa.issuer,
        login=account.login,
        label=label or _(DEFAULT_LABEL),
        later=need.later,
        grace_left=need.grace_left,
        by_service=need.by_service,
        service_name=registered.name if registered is not None else None,
    )


@bp.get("/enrol")
def enrol() -> Page:
    state = mfa_state("enrol")
    if isinstance(state, Response):
        return state
    pending, account, need = state
    return _enrol_page(pending, account, need)


def _later(pending: PendingLogin, account: Account, need: Need) -> Page:
    mfa = container().mfa
    if not need.later:
        errors = {"code": _("This service requires a second factor: set one up to continue.")}
        return _enrol_page(pending, account, need, errors=errors, status=400)
    if not mfa.take_grace(account):
        return second_factor.no_way(pending, account, need)
    audit("mfa_enrol", "later", account, grace_left=mfa.grace_left(account))
    return continue_login(replace(pending, mfa_later=True, enrol_secret=None))


@bp.post("/enrol")
def enrol_submit() -> Page:
    state = mfa_state("enrol")
    if isinstance(state, Response):
        return state
    pending, account, need = state
    if request.form.get("action") == "later":
        return _later(pending, account, need)
    c = container()
    label = request.form.get("label", "")[:200]
    try:
        clean_label(label)
    except MfaRefused as exc:
        return _enrol_page(
            pending, account, need, errors={"label": _(exc.message, **exc.params)}, status=400
        )
    secret = _secret_of(pending)
    if secret is None:
        return _enrol_page(replace(pending, enrol_secret=None), account, need, label=label)
    per_account, per_address = second_factor.throttles()
    attempt = Attempt(c.clock.now())
    if not (
        attempt.reserve(per_account, account.uuid)
        and attempt.reserve(per_address, second_factor.ip())
    ):
        attempt.release()
        refused_until = attempt.refused_until or c.clock.now()
        audit("mfa_verify", "locked", account, method="totp", during="enrol")
        errors = {"code": locked_message(refused_until)}
        return _enrol_page(pending, account, need, errors=errors, label=label, status=429)
    try:
        factor, codes = c.mfa.confirm_totp(account, label, secret, request.form.get("code", ""))
    except MfaRefused as exc:
        until = attempt.failed()
        audit("mfa_verify", "failure", account, method="totp", during="enrol", locked_until=until)
        message = locked_message(until) if until else _(exc.message, **exc.params)
        return _enrol_page(
            pending, account, need, errors={"code": message}, label=label, status=401
        )
    attempt.succeeded(reset=[per_account])
    audit("mfa_enrol", "success", account, kind="totp", factor=factor.id, during="login")
    done = replace(pending, second_factor="totp", enrol_secret=None)
    if not codes:
        return continue_login(done)
    # Shown once: the sign-in waits (stored) until the person says they kept them.
    if pending_login.store(done) is None:
        return pending_login.expired()
    audit("mfa_recovery_codes", "success", account, count=len(codes), during="login")
    return render_page("mfa_recovery_codes.html", codes=codes)


@bp.post("/continue")
def continue_after_codes() -> Page:
    """After the recovery codes: the sign-in goes on (the next step, or the service)."""
    state = pending_or_expired()
    if isinstance(state, Response):
        return state
    return continue_login(state[0])


@bp.get("/none")
def none() -> Page:
    """No second factor can be given: what to do, whom to ask. The sign-in has ended."""
    reason = request.args.get("reason", "grace")
    return render_page(
        "mfa_none.html",
        status=403,
        disabled=reason == "off",
        by_service=request.args.get("for") == "service",
        help_contact=sesame().settings.help_contact,
    )
