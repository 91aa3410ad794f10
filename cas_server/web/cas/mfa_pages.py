"""/login/mfa: the second factor of a sign-in, or of a step-up (issue #14).

One method at a time (``?via=``, the strongest first): a security key or
passkey (WebAuthn, ``static/js/webauthn.js``), the code of an authenticator
app, a code sent to the verified personal e-mail or mobile, a recovery code.
Each try is reserved before it is checked (per account and per address,
``second_factor.throttles``); a spent budget answers as the password lock
does. The pending sign-in is taken by every post (single use) and put back
under a new handle when the page is shown again; the WebAuthn challenge and
the code's handle never leave the server and the session respectively.

Enrolment, the recovery codes and the "no way" page: :mod:`.mfa_enrol`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from flask import Blueprint, redirect, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.console import mask_email, mask_mobile
from ...accounts.i18n import N_
from ...accounts.mfa.model import CounterRegressed, FactorKind, MfaRefused
from ...accounts.model import Account, Status
from ...accounts.throttle import Attempt
from ...accounts.tokens import Purpose, code_digest, new_code, new_secret, normalize_code
from ...protocol.cas.tickets import TicketGrantingTicket, ticket_digest
from ...runtime.container import container
from ...runtime.sesame import sesame, sms_budget_allows
from ...storage.sql.tokens import SqlTokenStore
from ..sesame.runtime import may_send, send_mail
from ..theming import render_page
from . import pending_login, second_factor
from .login_flow import continue_login, pending_or_expired
from .login_support import LoginRequest, Page, locked_message
from .pending_login import PendingLogin, password_epoch
from .second_factor import Need, audit

bp = Blueprint("mfa", __name__)

CODE_KEY = "mfa_code"  # in the (signed) session: the handle of the code sent, and where
MAX_CREDENTIAL = 64 * 1024
METHOD_LABELS = {
    "webauthn": N_("Security key or passkey"),
    "totp": N_("Authenticator app"),
    "email": N_("Code by e-mail"),
    "sms": N_("Code by SMS"),
    "recovery_code": N_("Recovery code"),
}
WRONG = {
    "totp": N_("This code is not right. Type the code your app shows now."),
    "email": N_("This code is not right, or it has expired. Check it or ask for a new one."),
    "sms": N_("This code is not right, or it has expired. Check it or ask for a new one."),
    "recovery_code": N_("This recovery code is not right, or it was already used."),
    "webauthn": N_("The security key's answer was not accepted. Try again."),
}
REPLAYED = N_("This code was already used. Wait for the next one and type it.")


def mfa_state(expected: str) -> tuple[PendingLogin, Account, Need] | Response:
    """This browser's pending sign-in at the step ``expected`` (a post takes it); any
    other state goes where it belongs (:func:`continue_login`)."""
    state = pending_or_expired()
    if isinstance(state, Response):
        return state
    pending, account = state
    need = second_factor.pending_need(pending, account)
    if need is None or need.page != expected:
        return continue_login(pending)
    return pending, account, need


def start_step_up(params: LoginRequest, tgt: TicketGrantingTicket) -> Response:
    """A live session without a second factor, for a service that requires one: the
    second factor only, bound to that session."""
    c = container()
    account = c.accounts.find_by_login(tgt.authentication.principal.id)
    if account is None or account.status is not Status.ACTIVE:
        return pending_login.expired()
    long_term = tgt.authentication.long_term
    pending = PendingLogin(
        account.uuid,
        params.service,
        params.method,
        warn=False,
        # As chosen at sign-in: a public computer's session has the short idle timeout.
        public=not long_term and tgt.idle_timeout <= c.settings.login.public_idle_timeout,
        remember=long_term,
        started=time.time(),
        epoch=password_epoch(account),
        sso=ticket_digest(tgt.id),
    )
    return continue_login(pending)


# --- the page -----------------------------------------------------------------------------


def _sent_code(channel: str) -> str | None:
    """The handle of the live code this browser asked for on ``channel``."""
    held = session.get(CODE_KEY)
    if not isinstance(held, dict) or held.get("channel") != channel:
        return None
    handle = held.get("handle")
    return handle if isinstance(handle, str) else None


def _tokens() -> SqlTokenStore:
    return SqlTokenStore(container().engine)


def _masked(kind: str, destination: str | None) -> str | None:
    return mask_email(destination) if kind == "email" else mask_mobile(destination)


def _channel_context(account: Account, kind: str) -> dict[str, Any]:
    c = container()
    destination = c.mfa.channel_destination(account, FactorKind(kind))
    handle = _sent_code(kind)
    record = _tokens().peek(handle, Purpose.MFA_CODE, c.clock.now()) if handle else None
    return {
        "destination": _masked(kind, destination),
        "code_sent": record is not None and record.account_uuid == account.uuid,
        "minutes": max(1, int(c.mfa.rules.code_ttl // 60)),
    }


def verify_page(
    pending: PendingLogin,
    account: Account,
    need: Need,
    via: str | None,
    *,
    error: str | None = None,
    status: int = 200,
) -> Page:
    c = container()
    if via not in need.methods:
        via = need.methods[0]
    context: dict[str, Any] = {}
    if via == "webauthn":
        rp_id, _origin = second_factor.relying_party()
        try:
            options, challenge = c.mfa.begin_webauthn_authentication(account, rp_id)
        except MfaRefused:
            options, challenge = "", b""
        if options:
            # The challenge stays with the pending sign-in, under a new handle.
            held = pending if pending.handle is None else pending_login.take(pending)
            if held is None:
                return pending_login.expired()
            stored = pending_login.store(replace(held, challenge=second_factor.b64(challenge)))
            if stored is None:
                return pending_login.expired()
            context["webauthn_options"] = json.loads(options)
    elif via in ("email", "sms"):
        context.update(_channel_context(account, via))
    until = second_factor.locked_until(account)
    if until is not None and error is None:
        error = locked_message(until)
    registered = second_factor.service_of(pending)
    return render_page(
        "mfa_sign_in.html",
        status=status,
        via=via,
        field_id="webauthn-start" if via == "webauthn" else f"{via.replace('_', '-')}-code",
        methods=[(m, _(METHOD_LABELS[m])) for m in need.methods],
        error=error,
        trust_offered=second_factor.may_trust(pending),
        trust_days=c.mfa.rules.trust_days,
        service_name=registered.name if registered is not None else None,
        by_service=need.by_service,
        step_up=pending.sso is not None,
        **context,
    )


@bp.get("")
def verify() -> Page:
    state = mfa_state("verify")
    if isinstance(state, Response):
        return state
    pending, account, need = state
    return verify_page(pending, account, need, request.args.get("via"))


# --- checking what was given ----------------------------------------------------------------


def _check(method: str, account: Account, pending: PendingLogin) -> tuple[str, str | None]:
    """(outcome, message if refused): outcome ``success``, ``failure``, ``replay``,
    ``counter``."""
    c = container()
    form = request.form
    if method == "webauthn":
        credential = form.get("credential", "")
        challenge = second_factor.unb64(pending.challenge)
        if not credential or len(credential) > MAX_CREDENTIAL or challenge is None:
            return "failure", WRONG[method]
        rp_id, origin = second_factor.relying_party()
        try:
            factor = c.mfa.verify_webauthn(account, credential, challenge, rp_id, origin)
        except CounterRegressed as exc:
            audit("mfa_webauthn_counter", "refused", account)
            return "counter", exc.message
        except MfaRefused as exc:
            return ("replay" if exc.reason == "replay" else "failure"), exc.message
        return "success", factor.id
    typed = form.get("code", "")[:64]
    if method == "recovery_code":
        if not c.mfa.use_recovery_code(account, typed):
            return "failure", WRONG[method]
        left = c.mfa.recovery_codes_left(account)
        audit("mfa_recovery_code_used", "success", account, left=left)
        return "success", None
    code = normalize_code(typed)
    if len(code) != 6:
        return "failure", WRONG[method]
    if method == "totp":
        check = c.mfa.check_totp(account, code)
        if check.factor is not None:
            return "success", check.factor.id
        return check.outcome, REPLAYED if check.outcome == "replay" else WRONG[method]
    handle = _sent_code(method)
    tokens = sesame().settings.tokens
    record = (
        _tokens().try_code(handle, code, Purpose.MFA_CODE, c.clock.now(), tokens.code_attempts)
        if handle
        else None
    )
    if record is None or record.account_uuid != account.uuid:
        return "failure", WRONG[method]
    session.pop(CODE_KEY, None)
    if record.data.get("channel") != method:
        return "failure", WRONG[method]
    return "success", None


@bp.post("")
def verify_submit() -> Page:
    state = mfa_state("verify")
    if isinstance(state, Response):
        return state
    pending, account, need = state
    method = request.form.get("method", "")
    if method not in need.methods:
        unknown = WRONG["totp"]
        return verify_page(pending, account, need, None, error=_(unknown), status=400)
    c = container()
    per_account, per_address = second_factor.throttles()
    attempt = Attempt(c.clock.now())
    step_up = pending.sso is not None
    if not (
        attempt.reserve(per_account, account.uuid)
        and attempt.reserve(per_address, second_factor.ip())
    ):
        attempt.release()  # nothing was checked
        refused_until = attempt.refused_until or c.clock.now()
        audit("mfa_verify", "locked", account, method=method, until=refused_until)
        error = locked_message(refused_until)
        return verify_page(pending, account, need, method, error=error, status=429)
    outcome, said = _check(method, account, pending)
    if outcome != "success":
        until = attempt.failed()
        audit("mfa_verify", outcome, account, method=method, locked_until=until)
        error = locked_message(until) if until is not None else _(said or WRONG[method])
        return verify_page(pending, account, need, method, error=error, status=401)
    attempt.succeeded(reset=[per_account])
    audit("mfa_verify", "success", account, method=method, factor=said, step_up=step_up)
    trust = request.form.get("trust") == "yes" and second_factor.may_trust(pending)
    response = continue_login(replace(pending, second_factor=method, challenge=None))
    if trust and response.status_code < 400:
        second_factor.trust_this_device(response, account)
    return response


# --- a code by e-mail or SMS --------------------------------------------------------------


def _send(account: Account, kind: str, destination: str) -> str | None:
    """Send a new code to ``destination``; the refusal's message, if any."""
    c = container()
    if not may_send(account, destination, f"mfa_{kind}_code"):
        return str(_("Too many codes were asked for. Wait a while, or use another method."))
    if kind == "sms" and not sms_budget_allows():
        audit("mfa_verify", "sms_budget_exhausted", account)
        return str(_("No SMS can be sent right now. Use another method."))
    now = c.clock.now()
    tokens = _tokens()
    tokens.cancel(account.uuid, Purpose.MFA_CODE, now)  # one live code at a time
    handle, code = new_secret(), new_code()
    ttl = c.mfa.rules.code_ttl
    tokens.issue(
        account.uuid,
        Purpose.MFA_CODE,
        handle,
        now=now,
        ttl=ttl,
        destination=destination,
        data={"code": code_digest(handle, code), "channel": kind},
    )
    minutes = max(1, int(ttl // 60))
    if kind == "email":
        send_mail("mfa_code", destination, code=code, minutes=minutes, login=account.login)
    else:
        sesame().sms.send(
            destination,
            _(
                "%(institution)s: your sign-in code is %(code)s (valid %(minutes)s min). "
                "Never give it to anyone.",
                institution=c.settings.institution_name,
                code=code,
                minutes=minutes,
            ),
        )
    session[CODE_KEY] = {"handle": handle, "channel": kind}
    audit("mfa_verify", "code_sent", account, method=kind, to=_masked(kind, destination))
    return None


@bp.post("/send")
def send_code() -> Page:
    state = mfa_state("verify")
    if isinstance(state, Response):
        return state
    pending, account, need = state
    kind = request.form.get("channel", "")
    if kind not in ("email", "sms") or kind not in need.methods:
        return verify_page(pending, account, need, None, status=400)
    # Only to the verified channel on file, never to an address from the form.
    destination = container().mfa.channel_destination(account, FactorKind(kind))
    refused = (
        _send(account, kind, destination)
        if destination
        else _("This way of receiving a code is no longer available.")
    )
    if refused is not None:
        return verify_page(pending, account, need, kind, error=refused, status=429)
    return redirect(url_for("cas.mfa.verify", via=kind), code=303)
