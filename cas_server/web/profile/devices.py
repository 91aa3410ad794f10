"""/profile/security/devices: the browsers trusted for the second factor, and revoking
one or all of them.

A trusted device ("trust this device for N days", ``[mfa] trust_days``) stands for
the second factor on that browser; revoking it here makes its cookie worthless at
once (the store marks it revoked). Only the person's own live devices are listed
and can be chosen; the cookie's secret is never shown (only its hash is stored).
"""

from __future__ import annotations

from typing import Any

from ...accounts.i18n import N_
from ...accounts.mfa.model import TrustedDevice
from ...accounts.model import Account
from ...runtime.sesame import now
from ..sesame.forms import Form
from .blueprint import bp
from .mfa_support import in_use, mfa, notify
from .runtime import (
    account,
    audit,
    done,
    page,
    read_current_password,
    refused_by_password,
    signed_in,
)

ALL = "all"


def _devices(who: Account) -> list[TrustedDevice]:
    return mfa().store.trusted_devices(who.uuid, now())


def _page(who: Account, form: Form | None = None) -> Any:
    return page("mfa_devices", form, devices=_devices(who), trust_days=mfa().rules.trust_days)


@bp.get("/security/devices", endpoint="security_devices")
@signed_in
@in_use
def devices() -> Any:
    return _page(account())


@bp.post("/security/devices", endpoint="security_devices_submit")
@signed_in
@in_use
def devices_submit() -> Any:
    who = account()
    form = Form()
    chosen = form.raw("device")
    mine = {d.id: d for d in _devices(who)}
    if chosen != ALL and chosen not in mine:
        form.error("device", N_("Choose a device, or all of them."))
    current = read_current_password(form)
    if current is None or not form.ok:
        return _page(who, form)
    again = lambda: _page(who, form)  # noqa: E731
    refused = refused_by_password(form, who, current, "mfa_trusted_device", again)
    if refused is not None:
        return refused
    store = mfa().store
    if chosen == ALL:
        count = store.revoke_trusted_devices(who.uuid, now())
        audit("mfa_trusted_device", "success", who, scope="all", count=count)
    else:
        count = int(store.revoke_trusted_device(who.uuid, chosen, now()))
        audit(
            "mfa_trusted_device",
            "success",
            who,
            scope="one",
            device_id=chosen,
            label=mine[chosen].label,
            count=count,
        )
    if count:
        notify(who, "mfa_trusted_device", count=count)
    return done("profile.security", "mfa_devices" if chosen == ALL else "mfa_device")
