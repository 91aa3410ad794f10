"""What the Security pages share: the words for each kind of factor, the relying party,
the QR code, the notices to the owner, and the recovery codes shown once.

The rules themselves are the account core's (:class:`~cas_server.accounts.mfa.service.MfaService`,
``container().mfa``); these pages ask it, and say why when it refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, make_response, redirect, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from ...accounts.i18n import N_
from ...accounts.mfa.model import Factor, FactorKind, MfaRefused
from ...accounts.mfa.service import MfaService
from ...accounts.model import Account
from ...runtime.container import container
from ..sesame.forms import Form
from ..sesame.runtime import send_sms
from . import mfa_state
from .runtime import audit, confirm, page

KINDS = {
    FactorKind.TOTP: N_("Authenticator app"),
    FactorKind.WEBAUTHN: N_("Security key or passkey"),
    FactorKind.EMAIL: N_("Codes by e-mail"),
    FactorKind.SMS: N_("Codes by SMS"),
}
MAX_FACTOR_ID = 64
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PORTS = {"https": 443, "http": 80}


def mfa() -> MfaService:
    return container().mfa


def kind_label(kind: FactorKind) -> str:
    return str(_(KINDS[kind]))


def relying_party() -> tuple[str, str]:
    """(RP id, origin) from ``server.public_url``, never from the Host header."""
    url = urlsplit(container().settings.public_url)
    host = url.hostname or ""
    port = url.port
    netloc = host if port is None or DEFAULT_PORTS.get(url.scheme) == port else f"{host}:{port}"
    return host, f"{url.scheme}://{netloc}"


def own_factor(who: Account, factor_id: str) -> Factor:
    """One of ``who``'s factors, or 404 (an id of someone else's factor included)."""
    if not 0 < len(factor_id) <= MAX_FACTOR_ID:
        abort(404)
    factor = mfa().store.factor(who.uuid, factor_id)
    if factor is None:
        abort(404)
    return factor


def refuse(form: Form, field: str, exc: MfaRefused) -> None:
    form.error(field, exc.message, **exc.params)


def in_use(view: F) -> F:
    """The pages under /profile/security answer 404 while ``[mfa] enabled`` is false
    (the Security page itself says second factors are not in use)."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not mfa().rules.enabled:
            abort(404)
        return view(*args, **kwargs)

    return cast(F, checked)


def summary(who: Account) -> dict[str, Any]:
    """For the overview: on or off, how many factors, whether one is required."""
    m = mfa()
    if not m.rules.enabled:
        return {"enabled": False, "count": 0, "required": False}
    return {"enabled": True, "count": len(m.factors(who)), "required": m.rules.required_for(who)}


# Notices to the owner (T11: what changed, when, from where; never a secret) ----------


def notify(who: Account, what: str, *, sms: bool = False, **context: Any) -> None:
    """A mail to the verified personal address; for a factor added or removed, also an
    SMS to the verified mobile. Neither says more than the factor's name and kind."""
    store = mfa().store
    address = store.verified_channel(who.uuid, FactorKind.EMAIL)
    if address:
        confirm(who, what, to=address, **context)
    if sms and store.verified_channel(who.uuid, FactorKind.SMS):
        institution = container().settings.institution_name
        if what == "mfa_enrol":
            text = _(
                "%(institution)s: a second factor was added to your account. "
                "Not you? Contact your help desk at once.",
                institution=institution,
            )
        else:
            text = _(
                "%(institution)s: a second factor was removed from your account. "
                "Not you? Contact your help desk at once.",
                institution=institution,
            )
        send_sms(who, text, f"profile_{what}_notice")


def enrolled(who: Account, factor: Factor, codes: list[str] | None) -> Any:
    """After a factor was added: audit, notices, then the recovery codes (the first
    factor) or the Security page."""
    audit(
        "mfa_enrol",
        "success",
        who,
        factor_id=factor.id,
        kind=factor.kind.value,
        label=factor.label,
        recovery_codes=bool(codes),
    )
    notify(who, "mfa_enrol", sms=True, factor_label=factor.label, kind=kind_label(factor.kind))
    if codes:
        return show_codes(who, codes, after="enrol")
    return redirect(url_for("profile.security", done="mfa_added"), code=303)


# Recovery codes, shown once -------------------------------------------------------------


def show_codes(who: Account, codes: list[str], after: str) -> Any:
    """Keep the new codes (sealed, server-side) for the one page that shows them."""
    mfa_state.stash(who, "codes", codes=mfa_state.seal(codes), after=after)
    return redirect(url_for("profile.security_codes_new"), code=303)


def codes_page(codes: list[str] | None, after: str, status: int = 200) -> Any:
    response = make_response(page("mfa_codes_new", None, status, codes=codes, after=after))
    response.headers["Cache-Control"] = "no-store"
    return response


def codes_left_text(left: int) -> str:
    return str(ngettext("%(num)s recovery code left", "%(num)s recovery codes left", left))
