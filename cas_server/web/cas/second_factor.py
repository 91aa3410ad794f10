"""When a sign-in asks for a second factor (issue #14), and what its pages share.

One decision (:func:`need_for`), after the password: a second factor is asked
when the service requires it (``mfa = "required"``, the console's built-in
service under ``[admin] require_mfa``) or the account's population does
(``[mfa]`` rules: roles, profiles, attributes). Never otherwise: a person who
has factors and opens a password-only service is not asked.

What is asked then:

- ``verify``: the person has a usable method (``MfaService.methods_of``);
- ``enrol``: none yet, and the account is still in its enrolment window
  (``grace_left`` > 0): a TOTP app is set up right there; "later" (one sign-in
  of the grace, ``take_grace``) only when the population requires it, never
  for a service that requires it;
- ``none``: no method and no enrolment possible (grace spent, or the second
  factor switched off while a service requires it): a page that says whom to
  ask, the sign-in ends there (no loop). Enrolment after the grace needs the
  help desk, whose "remove all" restarts it: else a stolen password alone
  would let its thief enrol a factor of their own.

A "trust this device" cookie (``cas_mfa_trust``: a random token, signed, stored
hashed, revocable, never set or honoured on a public computer) stands for the
second factor of its account on that browser (method ``trusted_device``).

The step-up of a live SSO session is a pending sign-in too, bound to the
session by the digest of its TGT (``PendingLogin.sso``); it ends with
:func:`finish_step_up`, which checks that the browser's TGC is that session.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, make_response, redirect, request, session, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from ...accounts.mfa.model import METHOD_TRUSTED_DEVICE, TrustedDevice
from ...accounts.model import Account
from ...accounts.throttle import Limit, Throttle
from ...protocol.cas.errors import SecondFactorRequired, ServiceNotAuthorized
from ...protocol.cas.services import RegisteredService
from ...protocol.cas.tickets import ticket_digest
from ...runtime.container import container
from ..theming import use_service_theme
from . import pending_login
from .login_support import (
    clear_tgc,
    client_ip,
    cookie_path,
    cookie_secure,
    redirect_to_service,
    unauthorized,
)
from .pending_login import PendingLogin, still_valid

TRUST_COOKIE = "cas_mfa_trust"
TRUST_SALT = "cas-mfa-trust"
MAX_COOKIE = 512
ENDPOINTS = {"verify": "cas.mfa.verify", "enrol": "cas.mfa.enrol"}
#: An address may try this many times the per-account budget (several people behind one NAT).
ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class Need:
    """What the sign-in asks before it goes on."""

    page: str  # "verify", "enrol" or "none"
    methods: tuple[str, ...] = ()  # verify: what this person can use, strongest first
    later: bool = False  # enrol: "later" offered (one sign-in of the grace)
    by_service: bool = False  # the service requires it (else the population)
    grace_left: int = 0


def need_for(account: Account, registered: RegisteredService | None) -> Need | None:
    """The second factor this sign-in of ``account`` to ``registered`` needs, or None."""
    mfa = container().mfa
    by_service = registered is not None and registered.mfa_required
    if not by_service and not mfa.rules.required_for(account):
        return None
    methods = tuple(mfa.methods_of(account))  # empty when [mfa] is off
    if methods:
        return Need("verify", methods, by_service=by_service)
    grace = mfa.grace_left(account) if mfa.rules.enabled else 0
    if grace > 0:
        return Need("enrol", later=not by_service, by_service=by_service, grace_left=grace)
    return Need("none", by_service=by_service)


def service_of(pending: PendingLogin) -> RegisteredService | None:
    return container().services.find_enabled(pending.service) if pending.service else None


def pending_need(pending: PendingLogin, account: Account) -> Need | None:
    """What ``pending`` still needs: None once a second factor was satisfied in it, or
    the grace taken, or when none is asked."""
    if pending.second_factor is not None:
        return None
    registered = service_of(pending)
    if pending.mfa_later and not (registered is not None and registered.mfa_required):
        return None
    return need_for(account, registered)


def audit(action: str, outcome: str, account: Account, **details: Any) -> None:
    container().audit.record(
        action,
        outcome,
        account_uuid=account.uuid,
        login=account.login,
        ip=client_ip(),
        details={k: v for k, v in details.items() if v is not None},
    )


def no_way(pending: PendingLogin, account: Account, need: Need) -> Response:
    """No second factor can be given: the sign-in ends on a page that says what to do."""
    pending_login.forget()
    reason = "off" if not container().mfa.rules.enabled else "grace"
    audit("mfa_verify", "no_factor", account, reason=reason, service=pending.service)
    values: dict[str, Any] = {"reason": reason}
    if need.by_service:
        values["for"] = "service"
    return redirect(url_for("cas.mfa.none", **values), code=303)


# --- the trusted-device cookie ---------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.config["SECRET_KEY"]), salt=TRUST_SALT)


def may_trust(pending: PendingLogin) -> bool:
    """ "Trust this device" is offered: configured, and never on a public computer."""
    rules = container().mfa.rules
    return rules.enabled and rules.trust_days > 0 and not pending.public


def trusted_by_cookie(account: Account) -> TrustedDevice | None:
    """The live trusted device of ``account`` this browser's cookie names, if any."""
    raw = request.cookies.get(TRUST_COOKIE)
    if not raw or len(raw) > MAX_COOKIE:
        return None
    try:
        token = _serializer().loads(raw)
    except BadSignature:
        return None
    return container().mfa.trusted_device(account, token) if isinstance(token, str) else None


def device_label(user_agent: str) -> str:
    """A short name for the browser, from its User-Agent ("Firefox, Linux")."""
    ua = user_agent[:512]
    browsers = (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    )
    systems = (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for mark, name in browsers if mark in ua), "")
    system = next((name for mark, name in systems if mark in ua), "")
    return ", ".join(part for part in (browser, system) if part) or "Browser"


def trust_this_device(response: Response, account: Account) -> None:
    """Remember this browser for the account (``[mfa] trust_days``): the cookie and the
    audit trail."""
    mfa = container().mfa
    token, device = mfa.trust_device(account, device_label(request.user_agent.string))
    response.set_cookie(
        TRUST_COOKIE,
        _serializer().dumps(token),
        max_age=int(mfa.rules.trust_seconds),
        path=cookie_path(),
        secure=cookie_secure(),
        httponly=True,
        samesite="Lax",
    )
    audit("mfa_trusted_device", "added", account, device=device.id, label=device.label)


def settle(pending: PendingLogin, account: Account) -> PendingLogin:
    """``pending`` with its second factor satisfied by a trusted device, if this browser
    has one for the account (and the sign-in is not on a public computer)."""
    if pending.public:
        return pending
    need = pending_need(pending, account)
    if need is None or need.page != "verify":
        return pending
    device = trusted_by_cookie(account)
    if device is None:
        return pending
    audit("mfa_trusted_device", "used", account, device=device.id)
    return replace(pending, second_factor=METHOD_TRUSTED_DEVICE)


# --- throttling, relying party ------------------------------------------------------------


def throttles() -> tuple[Throttle, Throttle]:
    """Wrong codes and keys: per account (``[mfa] attempts`` in ``attempt_window``, locking
    as long) and per address (a few times that)."""
    c = container()
    rules = c.mfa.rules
    window = rules.attempt_window
    per_account = Throttle(c.counters, Limit(rules.attempts, window, window), "mfa")
    per_address = Throttle(
        c.counters, Limit(rules.attempts * ADDRESS_FACTOR, window, window), "mfa-ip"
    )
    return per_account, per_address


def locked_until(account: Account) -> float | None:
    """When this account (or this address) may try a code again, if it is locked now."""
    per_account, per_address = throttles()
    now = container().clock.now()
    ends = [
        t
        for t in (per_account.retry_at(account.uuid, now), per_address.retry_at(ip(), now))
        if t is not None
    ]
    return max(ends) if ends else None


def ip() -> str:
    return client_ip() or "unknown"


def relying_party() -> tuple[str, str]:
    """WebAuthn's relying party id (the public URL's host) and origin."""
    parts = urlsplit(container().settings.public_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def unb64(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        return base64.urlsafe_b64decode(text.encode("ascii"))
    except ValueError:
        return None


# --- the end of a step-up -------------------------------------------------------------------


def finish_step_up(pending: PendingLogin, account: Account) -> Response:
    """The live SSO session with the second factor of ``pending``, then the service ticket.

    Only for the session the step-up began from (the browser's TGC, whose digest
    ``pending`` holds), while it lasts: a session that ended (logout, lock,
    password change) gives "sign-in expired", never a ticket.
    """
    c = container()
    pending_login.release()
    tgc = request.cookies.get(c.settings.tgc_name) or ""
    if (
        not tgc
        or pending.sso is None
        or ticket_digest(tgc) != pending.sso
        or not still_valid(pending, account)
        or not pending.service
    ):
        return pending_login.expired()
    now = c.clock.now()
    method = pending.second_factor
    tgt = c.login.step_up(tgc, method, now) if method else c.login.current_session(tgc)
    if tgt is None or tgt.authentication.principal.id != account.login:
        response = pending_login.expired()
        clear_tgc(response)
        return response
    if method:
        audit("mfa_step_up", "success", account, method=method, service=pending.service)
    session.clear()  # the session's privileges changed: a new Flask session and CSRF token
    try:
        registered = c.login.authorize_service(pending.service)
        use_service_theme(registered.theme)
        ticket = c.login.grant_from_session(tgc, pending.service, registered)
    except ServiceNotAuthorized as exc:
        return make_response(*unauthorized(exc))
    except SecondFactorRequired:
        return pending_login.expired()
    if ticket is None:
        response = pending_login.expired()
        clear_tgc(response)
        return response
    return redirect_to_service(ticket, pending.method)
