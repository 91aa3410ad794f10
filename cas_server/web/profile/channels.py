"""/profile/email and /profile/mobile: set or change a recovery channel, verified.

Recovery channels are authenticators (SELF-SERVICE-RULES weak spot 4): a
new address or number takes effect only once the 6-digit code sent *to it*
is typed back (single use, expiring, limited tries: Sésame's token store,
the code bound to a handle kept in this browser's session). Asking needs
the current password (throttled per account). Once changed: a confirmation
mail (T11), a notice to the *old* channel, and the audit trail (T25). The
value written is the one the code was sent to, read from the token, never
from the form.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, session, url_for
from flask_babel import gettext as _

from ...accounts.console import mask_email, mask_mobile
from ...accounts.i18n import N_
from ...accounts.identity import (
    InputError,
    has_control_characters,
    normalize_email,
    parse_email,
    parse_mobile,
)
from ...accounts.model import Account
from ...accounts.tokens import Purpose, new_secret, normalize_code
from ...runtime.container import container
from ...runtime.sesame import now, sesame, sms_budget_allows, utcnow
from ..dates import when
from ..security import error_page
from ..sesame.forms import Form
from ..sesame.runtime import limit_lifts_at, may_send, send_mail, send_sms
from ..sesame.steps import issue_code
from .blueprint import bp
from .runtime import (
    account,
    audit,
    confirm,
    done,
    page,
    profile,
    read_current_password,
    refused_by_password,
    signed_in,
)

SESSION_KEY = "profile_codes"
FIELDS = {"email": "personal_email", "mobile": "mobile"}


def _sms_ready() -> bool:
    return sesame().sms.enabled


def _current(who: Account, channel: str) -> str | None:
    return who.personal_email if channel == "email" else who.mobile


def _same(channel: str, old: str | None, new: str) -> bool:
    if not old:
        return False
    if channel == "email":
        return normalize_email(old) == normalize_email(new)
    try:
        return parse_mobile("mobile", old) == new
    except InputError:
        return False


def _masked(channel: str, value: str | None) -> str | None:
    return mask_email(value) if channel == "email" else mask_mobile(value)


def _form_page(who: Account, channel: str, form: Form | None = None, status: int = 0) -> Any:
    info = sesame().store.recovery_info(who.uuid)
    verified = info.personal_email_verified_at if channel == "email" else info.mobile_verified_at
    return page(
        "channel",
        form,
        status or None,
        channel=channel,
        field=FIELDS[channel],
        current=_current(who, channel),
        verified_at=verified,
        available=channel == "email" or _sms_ready(),
    )


def _handle(channel: str) -> str | None:
    value = (session.get(SESSION_KEY) or {}).get(channel)
    return value if isinstance(value, str) else None


def _remember(channel: str, handle: str | None) -> None:
    state = dict(session.get(SESSION_KEY) or {})
    if handle is None:
        state.pop(channel, None)
    else:
        state[channel] = handle
    session[SESSION_KEY] = state


def _send_code(who: Account, channel: str, destination: str) -> float | None:
    """Issue the code for ``destination`` and send it there.

    Returns None once sent, or when a limit lets the owner ask again: the
    signed-in owner is told (nothing here is hidden from them, unlike on the
    anonymous pages, T1), on their own profile page.
    """
    s = sesame()
    action = f"profile_{channel}_code"
    if not may_send(who, destination, action):
        return limit_lifts_at(who, destination, action)
    if channel == "mobile" and not sms_budget_allows():
        audit(channel, "sms_budget_exhausted", who)
        return now() + 86400 - now() % 86400  # the daily budget: tomorrow (UTC)
    handle = new_secret()
    code = issue_code(who, Purpose.CHANNEL_CODE, handle, destination, now(), channel=channel)
    minutes = int(s.settings.tokens.code_ttl // 60)
    if channel == "email":
        send_mail("profile_code", destination, code=code, minutes=minutes, login=who.login)
    else:
        s.sms.send(
            destination,
            _(
                "Code to confirm your mobile number: %(code)s (valid %(minutes)s min)",
                code=code,
                minutes=minutes,
            ),
        )
    _remember(channel, handle)
    audit(channel, "code_sent", who, to=_masked(channel, destination))
    return None


def _channel_post(channel: str) -> Any:
    who = account()
    form = Form()
    if channel == "mobile" and not _sms_ready():
        return _form_page(who, channel, status=404)
    parse = parse_email if channel == "email" else parse_mobile
    value = form.take(parse, FIELDS[channel], form.raw(FIELDS[channel]))
    current = read_current_password(form)
    if value is None or current is None:
        return _form_page(who, channel, form)
    info = sesame().store.recovery_info(who.uuid)
    verified = info.personal_email_verified_at if channel == "email" else info.mobile_verified_at
    if _same(channel, _current(who, channel), value) and verified is not None:
        form.error(FIELDS[channel], N_("This is already your verified address or number."))
        return _form_page(who, channel, form)
    refused = refused_by_password(
        form, who, current, channel, lambda: _form_page(who, channel, form)
    )
    if refused is not None:
        return refused
    lifts = _send_code(who, channel, value)
    if lifts is not None:
        # On the profile, with the time the limit lifts and the way back.
        form.error(
            FIELDS[channel],
            N_("Too many codes were asked for: you can ask for a new one after %(time)s."),
            time=when(lifts),
        )
        return _form_page(who, channel, form, status=429)
    return redirect(url_for(f"profile.{channel}_verify"), code=303)


def _code_page(channel: str, form: Form | None = None) -> Any:
    s = sesame()
    handle = _handle(channel)
    record = s.tokens.peek(handle, Purpose.CHANNEL_CODE, now()) if handle else None
    return page(
        "code",
        form,
        channel=channel,
        destination=_masked(channel, record.destination) if record else None,
        minutes=int(s.settings.tokens.code_ttl // 60),
        tries=s.settings.tokens.code_attempts,
    )


def _expired(channel: str) -> Any:
    return error_page(
        410,
        _("Code no longer valid"),
        _(
            "This code is no longer valid: it has already been used, it has expired, or too "
            "many wrong codes were typed. Ask for a new code from your profile page."
        ),
    )


def _verify_get(channel: str) -> Any:
    if _handle(channel) is None:
        return redirect(url_for(f"profile.{channel}"), code=303)
    return _code_page(channel)


def _verify_post(channel: str) -> Any:
    s = sesame()
    who = account()
    handle = _handle(channel)
    if handle is None:
        return _expired(channel)
    form = Form()
    typed = form.raw("code")
    code = normalize_code(typed)
    if has_control_characters(typed) or len(code) != 6 or len(typed) > 32:
        form.error("code", N_("Enter the 6 digits of the code you received."))
        return _code_page(channel, form)
    record = s.tokens.try_code(
        handle, code, Purpose.CHANNEL_CODE, now(), s.settings.tokens.code_attempts
    )
    if record is None:
        alive = s.tokens.peek(handle, Purpose.CHANNEL_CODE, now(), s.settings.tokens.code_attempts)
        audit(channel, "wrong_code" if alive else "code_expired", who)
        if alive is None:
            _remember(channel, None)
            return _expired(channel)
        form.error("code", N_("This code is not right. Check it and try again."))
        return _code_page(channel, form)
    _remember(channel, None)
    if record.account_uuid != who.uuid or record.data.get("channel") != channel:
        return _expired(channel)
    new = str(record.destination)
    profile().store.set_channel(who.uuid, channel, new, utcnow())
    audit(channel, "success", who, to=_masked(channel, new), had_one=bool(_current(who, channel)))
    _notify(who, channel, new)
    return done("profile.overview", channel)


def _notify(who: Account, channel: str, new: str) -> None:
    """The confirmation (T11) and the notice to the channel that was replaced."""
    old = _current(who, channel)
    if channel == "email":
        confirm(who, "email", to=new)
        if old and not _same("email", old, new):
            send_mail(
                "profile_notice",
                old,
                login=who.login,
                display_name=who.display_name,
                masked=mask_email(new),
                when=utcnow(),
            )
        return
    confirm(who, "mobile", masked=mask_mobile(new))
    if old and not _same("mobile", old, new):
        # ``who`` is the account as it was: the SMS goes to the number replaced.
        send_sms(
            who,
            _(
                "%(institution)s: the mobile number of your account was replaced. "
                "Not you? Contact your help desk at once.",
                institution=container().settings.institution_name,
            ),
            "profile_mobile_notice",
        )


@bp.get("/email")
@signed_in
def email() -> Any:
    return _form_page(account(), "email")


@bp.post("/email")
@signed_in
def email_submit() -> Any:
    return _channel_post("email")


@bp.get("/email/verify")
@signed_in
def email_verify() -> Any:
    return _verify_get("email")


@bp.post("/email/verify")
@signed_in
def email_verify_submit() -> Any:
    return _verify_post("email")


@bp.get("/mobile")
@signed_in
def mobile() -> Any:
    return _form_page(account(), "mobile")


@bp.post("/mobile")
@signed_in
def mobile_submit() -> Any:
    return _channel_post("mobile")


@bp.get("/mobile/verify")
@signed_in
def mobile_verify() -> Any:
    return _verify_get("mobile")


@bp.post("/mobile/verify")
@signed_in
def mobile_verify_submit() -> Any:
    return _verify_post("mobile")
