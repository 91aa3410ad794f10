"""/profile/security/app and /profile/security/key: add an authenticator app (TOTP)
or a security key / passkey (WebAuthn).

**App.** The page shows a new secret twice: as a QR code drawn here (inline SVG,
``segno``: no third party sees it) and as text in groups of four, the accessible
alternative. The secret waits server-side, sealed, for this person in this browser
(:mod:`.mfa_state`), for 15 minutes and five wrong codes; the page is ``no-store``.
The form sends a name, the first code the app shows and the current password; the
core enrols the app once the code is right (that code is then used up).

**Key.** The page carries the registration options (``data-webauthn-options``)
for ``themes/default/static/js/webauthn.js``; the challenge waits server-side for
this person, and is used up by the first answer, right or wrong. The relying party
id is ``server.public_url``'s host, the origin its scheme, host and port: never the
Host header.

The first factor ever also brings ten recovery codes, shown once
(:func:`.mfa_support.enrolled`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import make_response, request
from flask_babel import gettext as _

from ...accounts.i18n import N_
from ...accounts.mfa.model import MfaRefused, clean_label
from ...accounts.mfa.service import WRONG_CODE
from ...accounts.mfa.totp import DIGITS, INTERVAL, normalise_code
from ...accounts.model import Account
from ...runtime.container import container
from ..sesame.forms import Form
from ..totp_enrolment import grouped, qr_code
from . import mfa_state
from .blueprint import bp
from .mfa_support import enrolled, in_use, mfa, refuse, relying_party
from .runtime import account, audit, page, read_current_password, refused_by_password, signed_in

MAX_TRIES = 5  # wrong first codes before the pending secret is replaced
MAX_CREDENTIAL = 64 * 1024


def _no_store(answer: Any) -> Any:
    response = make_response(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_label(form: Form) -> str:
    label = form.raw("label")
    try:
        clean_label(label)
    except MfaRefused as exc:
        refuse(form, "label", exc)
    return label


# Authenticator app (TOTP) -----------------------------------------------------------


def _new_secret(who: Account) -> str:
    secret = mfa().begin_totp()
    mfa_state.stash(who, "totp", secret=mfa_state.seal(secret), tries=0)
    return secret


def _pending_secret(who: Account) -> str:
    """The secret waiting for ``who`` in this browser, or a new one."""
    data = mfa_state.peek(who, "totp")
    secret = mfa_state.unseal(data.get("secret")) if data else None
    return secret if isinstance(secret, str) else _new_secret(who)


def _app_page(who: Account, form: Form | None = None, secret: str | None = None) -> Any:
    secret = secret or _pending_secret(who)
    uri = mfa().totp_uri(who, secret)
    qr = qr_code(uri, _("QR code to scan with your authenticator app"), "mfa-qr__image")
    return _no_store(
        page(
            "mfa_app",
            form,
            qr=qr,
            secret=grouped(secret),
            issuer=mfa().issuer,
            login=who.login,
            digits=DIGITS,
            seconds=INTERVAL,
            minutes=int(mfa_state.TTL["totp"] // 60),
        )
    )


@bp.get("/security/app", endpoint="security_app")
@signed_in
@in_use
def app_form() -> Any:
    return _app_page(account())


@bp.post("/security/app", endpoint="security_app_submit")
@signed_in
@in_use
def app_submit() -> Any:
    who = account()
    form = Form()
    label = _check_label(form)
    code = normalise_code(form.raw("code"))
    if len(code) != DIGITS:
        form.error("code", N_("Enter the 6 digits your app shows."))
    current = read_current_password(form)
    if current is None or not form.ok:
        return _app_page(who, form)
    again = lambda: _app_page(who, form)  # noqa: E731
    refused = refused_by_password(form, who, current, "mfa_enrol", again)
    if refused is not None:
        return refused
    taken = mfa_state.take(who, "totp")
    secret = mfa_state.unseal(taken[0].get("secret")) if taken else None
    if taken is None or not isinstance(secret, str):
        audit("mfa_enrol", "code_expired", who, kind="totp")
        form.error(
            "code",
            N_(
                "This key is no longer valid. Add the new one below to your app, "
                "then type its code."
            ),
        )
        return _app_page(who, form, _new_secret(who))
    data, left = taken
    try:
        factor, codes = mfa().confirm_totp(who, label, secret, code)
    except MfaRefused as exc:
        audit(
            "mfa_enrol",
            "wrong_code" if exc.message == WRONG_CODE else "refused",
            who,
            kind="totp",
            reason=exc.message,
        )
        tries = int(data.get("tries", 0)) + 1
        if tries >= MAX_TRIES:
            form.error(
                "code",
                N_(
                    "Too many wrong codes for this key. Remove it from your app, add the new "
                    "one below, then type its code."
                ),
            )
            return _app_page(who, form, _new_secret(who))
        mfa_state.stash(who, "totp", ttl=left, secret=data.get("secret"), tries=tries)
        refuse(form, "code", exc)
        return _app_page(who, form, secret)
    return enrolled(who, factor, codes)


# Security key or passkey (WebAuthn) ---------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _key_page(who: Account, form: Form | None = None) -> Any:
    """A new challenge each time the page is drawn (the last one is used up)."""
    rp_id, _origin = relying_party()
    options, challenge = mfa().begin_webauthn_registration(
        who, rp_id, container().settings.institution_name
    )
    mfa_state.stash(who, "webauthn", challenge=_b64(challenge))
    return _no_store(page("mfa_key", form, options=json.loads(options)))


@bp.get("/security/key", endpoint="security_key")
@signed_in
@in_use
def key_form() -> Any:
    return _key_page(account())


@bp.post("/security/key", endpoint="security_key_submit")
@signed_in
@in_use
def key_submit() -> Any:
    who = account()
    form = Form()
    label = _check_label(form)
    credential = str(request.form.get("credential", ""))
    if not credential or len(credential) > MAX_CREDENTIAL:
        form.error(
            "key",
            N_(
                "Your browser sent no answer from a security key. Press the button and follow "
                "your browser's steps (JavaScript is needed)."
            ),
        )
    current = read_current_password(form)
    if current is None or not form.ok:
        return _key_page(who, form)
    again = lambda: _key_page(who, form)  # noqa: E731
    refused = refused_by_password(form, who, current, "mfa_enrol", again)
    if refused is not None:
        return refused
    taken = mfa_state.take(who, "webauthn")
    challenge = _unb64(taken[0].get("challenge")) if taken else None
    if challenge is None:
        audit("mfa_enrol", "code_expired", who, kind="webauthn")
        form.error(
            "key",
            N_("This request is no longer valid (it expired or was already used). Try again."),
        )
        return _key_page(who, form)
    rp_id, origin = relying_party()
    try:
        factor, codes = mfa().finish_webauthn_registration(
            who, label, credential, challenge, rp_id, origin
        )
    except MfaRefused as exc:
        audit("mfa_enrol", "refused", who, kind="webauthn", reason=exc.message)
        refuse(form, "key", exc)
        return _key_page(who, form)
    return enrolled(who, factor, codes)
