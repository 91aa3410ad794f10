"""/profile/security ("Sécurité"): the person's second factors, recovery codes and
trusted devices; renaming and removing a factor, codes by e-mail or SMS, new recovery
codes, revoking trusted devices. Adding an app or a key: :mod:`.enrol`.

Every change asks for the current password (throttled per account like the other
profile forms), goes through the account core (``container().mfa``, which refuses
what it must: the last factor of a person who requires one, a channel not
verified), is audited (``profile_mfa_*``) and told to the verified channels.
Another person's factor or device id answers 404 or is refused, never acted on.
"""

from __future__ import annotations

from typing import Any

from flask import abort

from ...accounts.console import mask_email, mask_mobile
from ...accounts.i18n import N_
from ...accounts.mfa.model import Factor, FactorKind, MfaRefused, clean_label
from ...accounts.model import Account
from ...runtime.sesame import now, sesame
from ..sesame.forms import Form
from . import mfa_state
from .blueprint import bp
from .mfa_support import (
    codes_page,
    enrolled,
    in_use,
    kind_label,
    mfa,
    notify,
    own_factor,
    refuse,
    show_codes,
)
from .runtime import (
    account,
    audit,
    done,
    page,
    read_current_password,
    refused_by_password,
    signed_in,
    when,
)

CHANNELS = {"email": FactorKind.EMAIL, "sms": FactorKind.SMS}


def _row(factor: Factor) -> dict[str, Any]:
    return {
        "id": factor.id,
        "kind": factor.kind.value,
        "kind_label": kind_label(factor.kind),
        "label": factor.label,
        "added": when(factor.created_at),
        "last_used": when(factor.last_used_at) if factor.last_used_at else None,
    }


def _offered(who: Account) -> list[str]:
    """The channels this person may still add: allowed, and not added yet."""
    rules, have = mfa().rules, {f.kind for f in mfa().factors(who)}
    offered = []
    if rules.email_codes and FactorKind.EMAIL not in have:
        offered.append("email")
    if rules.sms_codes and sesame().sms.enabled and FactorKind.SMS not in have:
        offered.append("sms")
    return offered


def _last_and_required(who: Account, factors: list[Factor]) -> bool:
    return len(factors) == 1 and mfa().rules.required_for(who)


@bp.get("/security", endpoint="security")
@signed_in
def security() -> Any:
    who, m = account(), mfa()
    factors = m.factors(who) if m.rules.enabled else []
    devices = m.store.trusted_devices(who.uuid, now()) if m.rules.enabled else []
    return page(
        "security",
        enabled=m.rules.enabled,
        required=m.rules.required_for(who),
        grace_left=m.grace_left(who),
        factors=[_row(f) for f in factors],
        codes_left=m.recovery_codes_left(who) if factors else 0,
        devices=devices,
        trust_days=m.rules.trust_days,
        channels=_offered(who) if m.rules.enabled else [],
    )


# Rename, remove ---------------------------------------------------------------------


def _factor_page(who: Account, factor: Factor, form: Form | None = None) -> Any:
    return page("mfa_factor", form, factor=_row(factor))


@bp.get("/security/factors/<factor_id>", endpoint="security_factor")
@signed_in
@in_use
def factor(factor_id: str) -> Any:
    who = account()
    return _factor_page(who, own_factor(who, factor_id))


@bp.post("/security/factors/<factor_id>", endpoint="security_factor_submit")
@signed_in
@in_use
def factor_submit(factor_id: str) -> Any:
    who = account()
    found = own_factor(who, factor_id)
    form = Form()
    label = form.raw("label")
    try:
        clean_label(label)
    except MfaRefused as exc:
        refuse(form, "label", exc)
    current = read_current_password(form)
    if current is None or not form.ok:
        return _factor_page(who, found, form)
    again = lambda: _factor_page(who, found, form)  # noqa: E731
    refused = refused_by_password(form, who, current, "mfa_rename", again)
    if refused is not None:
        return refused
    try:
        renamed = mfa().rename(who, found.id, label)
    except MfaRefused as exc:
        audit("mfa_rename", "refused", who, factor_id=found.id, reason=exc.message)
        refuse(form, "label", exc)
        return _factor_page(who, found, form)
    audit(
        "mfa_rename",
        "success",
        who,
        factor_id=found.id,
        kind=found.kind.value,
        label=renamed.label,
        previous=found.label,
    )
    notify(who, "mfa_rename", factor_label=renamed.label, kind=kind_label(found.kind))
    return done("profile.security", "mfa_renamed")


def _remove_page(who: Account, factor: Factor, form: Form | None = None) -> Any:
    return page(
        "mfa_remove",
        form,
        factor=_row(factor),
        blocked=_last_and_required(who, mfa().factors(who)),
        last=len(mfa().factors(who)) == 1,
    )


@bp.get("/security/factors/<factor_id>/remove", endpoint="security_factor_remove")
@signed_in
@in_use
def remove(factor_id: str) -> Any:
    who = account()
    return _remove_page(who, own_factor(who, factor_id))


@bp.post("/security/factors/<factor_id>/remove", endpoint="security_factor_remove_submit")
@signed_in
@in_use
def remove_submit(factor_id: str) -> Any:
    who = account()
    found = own_factor(who, factor_id)
    form = Form()
    current = read_current_password(form)
    if current is None:
        return _remove_page(who, found, form)
    again = lambda: _remove_page(who, found, form)  # noqa: E731
    refused = refused_by_password(form, who, current, "mfa_remove", again)
    if refused is not None:
        return refused
    try:
        removed = mfa().remove(who, found.id)
    except MfaRefused as exc:
        audit("mfa_remove", "refused", who, factor_id=found.id, reason=exc.message)
        refuse(form, "remove", exc)
        return _remove_page(who, found, form)
    audit(
        "mfa_remove",
        "success",
        who,
        factor_id=removed.id,
        kind=removed.kind.value,
        label=removed.label,
        factors_left=len(mfa().factors(who)),
    )
    notify(who, "mfa_remove", sms=True, factor_label=removed.label, kind=kind_label(removed.kind))
    return done("profile.security", "mfa_removed")


# Codes by e-mail or SMS ---------------------------------------------------------------


def _channel_kind(channel: str) -> FactorKind:
    if channel not in CHANNELS:
        abort(404)
    return CHANNELS[channel]


def _channel_page(who: Account, channel: str, form: Form | None = None) -> Any:
    kind = CHANNELS[channel]
    destination = mfa().store.verified_channel(who.uuid, kind)
    return page(
        "mfa_channel",
        form,
        channel=channel,
        kind_label=kind_label(kind),
        destination=(mask_email if kind is FactorKind.EMAIL else mask_mobile)(destination),
        on_file=bool(who.personal_email if kind is FactorKind.EMAIL else who.mobile),
        offered=channel in _offered(who),
        already=any(f.kind is kind for f in mfa().factors(who)),
    )


@bp.get("/security/channel/<channel>", endpoint="security_channel")
@signed_in
@in_use
def channel(channel: str) -> Any:
    _channel_kind(channel)
    return _channel_page(account(), channel)


@bp.post("/security/channel/<channel>", endpoint="security_channel_submit")
@signed_in
@in_use
def channel_submit(channel: str) -> Any:
    kind = _channel_kind(channel)
    who = account()
    form = Form()
    current = read_current_password(form)
    if current is None:
        return _channel_page(who, channel, form)
    again = lambda: _channel_page(who, channel, form)  # noqa: E731
    refused = refused_by_password(form, who, current, "mfa_enrol", again)
    if refused is not None:
        return refused
    try:
        if kind is FactorKind.SMS and not sesame().sms.enabled:
            raise MfaRefused(N_("Codes of this kind are not offered."))
        added, codes = mfa().add_channel_factor(who, kind)
    except MfaRefused as exc:
        audit("mfa_enrol", "refused", who, kind=kind.value, reason=exc.message)
        refuse(form, "channel", exc)
        return _channel_page(who, channel, form)
    return enrolled(who, added, codes)


# Recovery codes -------------------------------------------------------------------------


def _codes_page(who: Account, form: Form | None = None) -> Any:
    has_factors = bool(mfa().factors(who))
    return page(
        "mfa_codes",
        form,
        has_factors=has_factors,
        left=mfa().recovery_codes_left(who) if has_factors else 0,
    )


@bp.get("/security/recovery-codes", endpoint="security_codes")
@signed_in
@in_use
def codes() -> Any:
    return _codes_page(account())


@bp.post("/security/recovery-codes", endpoint="security_codes_submit")
@signed_in
@in_use
def codes_submit() -> Any:
    who = account()
    form = Form()
    current = read_current_password(form)
    if current is None:
        return _codes_page(who, form)
    again = lambda: _codes_page(who, form)  # noqa: E731
    refused = refused_by_password(form, who, current, "mfa_recovery_codes", again)
    if refused is not None:
        return refused
    try:
        fresh = mfa().regenerate_recovery_codes(who)
    except MfaRefused as exc:
        audit("mfa_recovery_codes", "refused", who, reason=exc.message)
        refuse(form, "regenerate", exc)
        return _codes_page(who, form)
    audit("mfa_recovery_codes", "success", who, count=len(fresh))
    notify(who, "mfa_recovery_codes")
    return show_codes(who, fresh, after="regenerate")


@bp.get("/security/recovery-codes/new", endpoint="security_codes_new")
@signed_in
@in_use
def codes_new() -> Any:
    """The new codes, once: the page after is empty (410), even with an old cookie."""
    taken = mfa_state.take(account(), "codes")
    shown = mfa_state.unseal(taken[0].get("codes")) if taken else None
    if not isinstance(shown, list) or not all(isinstance(c, str) for c in shown) or not taken:
        return codes_page(None, "", 410)
    return codes_page(shown, str(taken[0].get("after", "")))
