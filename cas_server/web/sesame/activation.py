""" "Activer mon compte": identify, prove the channel on file, then one form.

1. Number + birth date (or an activation code handed out or mailed).
2. Where ``activation_proof`` is on: a 6-digit code to the personal e-mail
   (or mobile) the institution imported; the start page answers the same
   page for everyone (T1), the code goes out in the background (T2).
3. One form, one transaction: personal e-mail and/or mobile, joker question
   and answer, password under the policy (T18), the charter; then the
   login is shown. Nobody is signed in (T7).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import redirect, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.charter import Charter, charter_for
from ...accounts.i18n import N_
from ...accounts.identity import normalize_email, parse_email, parse_mobile
from ...accounts.joker import parse_answer, parse_question
from ...accounts.model import Account
from ...accounts.passwords import PasswordChange, PasswordRejected
from ...accounts.recovery import may_activate
from ...accounts.throttle import Attempt
from ...accounts.tokens import Purpose, digest, new_secret, normalize_activation_code
from ...runtime.container import container
from ...runtime.sesame import now, sesame, utcnow
from . import challenge
from .blueprint import bp
from .forms import Form, read_checkbox, read_code, read_identification, read_password
from .pages import (
    code_page,
    expired,
    identifier_kinds,
    joker_questions,
    page,
    password_fields,
    too_many,
)
from .runtime import (
    audit,
    client_ip,
    even_out,
    forget,
    ip_allowed,
    later,
    may_send,
    may_text,
    read_alike,
    recall,
    remember,
    send_mail,
)
from .steps import StepExpired, confirm_change, grant, granted, issue_code

CODE_KEY = "act_code"
GRANT_KEY = "act"


def _start_page(form: Form | None = None, status: int | None = None) -> Any:
    return page(
        "activate",
        form,
        status,
        kinds=identifier_kinds(),
        by_code=sesame().settings.activation_by_code,
        captcha=challenge.new_challenge("activation", "sesame.activate"),
    )


@bp.get("/activate")
def activate() -> Any:
    if not sesame().settings.activation:
        return page("disabled", status=404)
    return _start_page()


def _channel(account: Account) -> tuple[str, str] | None:
    """The channel on file the code goes to, by the institution's preference."""
    s = sesame()
    for channel in s.settings.activation_channels:
        destination = account.personal_email if channel == "email" else account.mobile
        if destination and (channel == "email" or s.sms.enabled):
            return channel, destination
    return None


def _may_send_code(account: Account | None, channel: tuple[str, str] | None, typed: str) -> bool:
    """The limits of the code's mail or SMS (T8), taken in the request.

    For nobody, or an account with no channel, the same counters for a
    stand-in, as the institution's first channel would take them (T2).
    """
    s = sesame()
    if account is None or channel is None:
        usable = [c for c in s.settings.activation_channels if c == "email" or s.sms.enabled]
        if usable[:1] == ["sms"]:
            return may_text(None, "activation_code", typed=typed)
        return may_send(None, None, "activation_code", typed=typed)
    if channel[0] == "sms":
        return may_text(account, "activation_code", typed=typed)
    return may_send(account, channel[1], "activation_code", typed=typed)


def _send_activation_code(
    account: Account | None, channel: tuple[str, str] | None, handle: str, asked_at: float
) -> None:
    """In the background (T2): the code to the channel on file; nothing for nobody."""
    if account is None:
        return
    if channel is None:
        audit("activation_code", "no_channel", account)
        return
    s = sesame()
    kind, destination = channel
    code = issue_code(account, Purpose.ACTIVATION_CODE, handle, destination, asked_at, channel=kind)
    audit("activation_code", "sent", account, channel=kind)
    minutes = int(s.settings.tokens.code_ttl // 60)
    if kind == "email":
        send_mail("activation_code", destination, code=code, minutes=minutes)
    else:
        s.sms.send(
            destination,
            _("Activation code: %(code)s (valid %(minutes)s min)", code=code, minutes=minutes),
        )


def _grant(account: Account, **data: Any) -> Response:
    grant(account, Purpose.ACTIVATION_GRANT, GRANT_KEY, **data)
    return redirect(url_for("sesame.activate_account"), code=303)


@bp.post("/activate")
def activate_submit() -> Any:
    s = sesame()
    if not s.settings.activation:
        return page("disabled", status=404)
    if not ip_allowed():
        return too_many()
    form = Form()
    ident = read_identification(form, s.settings.identifier_kinds, utcnow().date())
    if not challenge.verify(form, "activation") or ident is None:
        return _start_page(form)
    # Reserved before the facts are compared, atomically: a burst of birth
    # dates gets the limit, no more (issue #11, item 7).
    attempt = Attempt(now())
    if not attempt.reserve(s.joker_throttle, f"activate:{ident.key}"):
        return too_many()
    account = s.store.find_by_identifier(ident.kind, ident.value)
    read_alike(account, ident.key)
    match = may_activate(account) and account is not None and account.birth_date == ident.birth_date
    if match:
        attempt.release()
    else:
        attempt.failed()
        even_out(ident.key, s.settings.limits.window)  # the write a release costs (T2)
    audit("activation_start", "match" if match else "no_match", account if match else None)
    if not s.settings.activation_proof:
        # Without a channel proof the answer has to tell (documented); throttled above.
        if match and account is not None:
            return _grant(account, proven="")
        form.error("identifier", N_("No account to activate matches this information."))
        return _start_page(form)
    handle = new_secret()
    found = account if match else None
    channel = _channel(found) if found is not None else None
    allowed = _may_send_code(found, channel, ident.key)
    # With no channel, the background only audits it.
    to = found if allowed or channel is None else None
    later(partial(_send_activation_code, to, channel, handle, now()), "activation code")
    remember(CODE_KEY, handle)
    return code_page("sesame.activate_verify", "activation")


@bp.post("/activate/code")
def activate_with_code() -> Any:
    """An activation code handed out or mailed: it identifies the account by itself."""
    s = sesame()
    if not (s.settings.activation and s.settings.activation_by_code):
        return page("disabled", status=404)
    if not ip_allowed():
        return too_many()
    form = Form()
    typed = normalize_activation_code(form.raw("activation_code"))
    if not challenge.verify(form, "activation") or not form.ok:
        return _start_page(form)
    attempt = Attempt(now())
    if not attempt.reserve(s.joker_ip_throttle, f"activation-code:{client_ip()}"):
        return too_many()
    account = s.store.find_by_activation_code(digest(typed)) if len(typed) >= 8 else None
    if account is None or not may_activate(account):
        attempt.failed()
        audit("activation_start", "bad_code")
        form.error("activation_code", N_("This activation code is not valid."))
        return _start_page(form)
    attempt.release()
    audit("activation_start", "code", account)
    return _grant(account, proven="code")


@bp.get("/activate/verify")
def activate_verify_page() -> Any:
    if recall(CODE_KEY) is None:
        return expired()
    return code_page("sesame.activate_verify", "activation")


@bp.post("/activate/verify")
def activate_verify() -> Any:
    s = sesame()
    handle = recall(CODE_KEY)
    if handle is None:
        return expired()
    form = Form()
    code = read_code(form)
    if code is None:
        return code_page("sesame.activate_verify", "activation", form)
    record = s.tokens.try_code(
        handle, code, Purpose.ACTIVATION_CODE, now(), s.settings.tokens.code_attempts
    )
    if record is None:
        audit("activation_code", "wrong_or_expired")
        form.error("code", N_("This code is wrong or has expired."))
        return code_page("sesame.activate_verify", "activation", form)
    account = container().accounts.get(record.account_uuid)
    forget(CODE_KEY)
    if account is None or not may_activate(account):
        return expired()
    audit("activation_code", "verified", account)
    return _grant(account, proven=record.destination or "")


def _form_account() -> tuple[str, Account] | None:
    return granted(GRANT_KEY, Purpose.ACTIVATION_GRANT, may_activate)


def _charter(account: Account) -> Charter | None:
    return charter_for(container().charters, account.profile.value)


def _form_page(account: Account, form: Form | None = None, violations: Any = None) -> Any:
    form = form or Form()
    if not form.values:
        form.values.update(personal_email=account.personal_email or "", mobile=account.mobile or "")
    return page(
        "activate_form",
        form,
        account=account,
        questions=joker_questions(),
        charter=_charter(account),
        **password_fields(form, account, violations),
    )


@bp.get("/activate/account")
def activate_account() -> Any:
    found = _form_account()
    if found is None:
        return expired()
    return _form_page(found[1])


@bp.post("/activate/account")
def activate_account_submit() -> Any:
    found = _form_account()
    if found is None:
        return expired()
    secret, account = found
    s = sesame()
    c = container()
    form = Form()
    email = form.take(parse_email, "personal_email", form.raw("personal_email"), optional=True)
    mobile = form.take(parse_mobile, "mobile", form.raw("mobile"), optional=True)
    if form.ok and not email and not mobile:
        form.error("personal_email", N_("Give a personal e-mail address or a mobile number."))
    question = form.take(parse_question, form.raw("joker_question"), s.settings.joker_questions)
    password = read_password(form)
    answer = form.take(
        parse_answer, form.raw("joker_answer"), login=account.login, password=password or ""
    )
    charter = _charter(account)
    if charter is not None:
        read_checkbox(form, "charter", N_("You must accept the charter to activate your account."))
    violations = c.passwords.check(account, password) if password else []
    if not form.ok or violations or question is None or answer is None or password is None:
        return _form_page(account, form, violations)
    record = s.tokens.peek(secret, Purpose.ACTIVATION_GRANT, now())
    proven = str(record.data.get("proven", "")) if record else ""
    answer_hash = c.passwords.hasher(answer)
    when = utcnow()
    try:
        with s.store.transaction() as tx:
            # The step is consumed before the password is written: a directory
            # (LDAP) write cannot be rolled back with the transaction.
            if tx.consume(secret, Purpose.ACTIVATION_GRANT, now()) is None:
                raise StepExpired("activation")
            c.passwords.using(tx).set_password(
                account, password, change=PasswordChange("activation")
            )
            tx.set_channels(
                account.uuid,
                email=email,
                mobile=mobile,
                email_verified_at=when
                if email and normalize_email(email) == normalize_email(proven)
                else None,
                mobile_verified_at=when if mobile and mobile == proven else None,
                now=when,
            )
            tx.set_joker(account.uuid, question, answer_hash, when)
            if charter is not None:
                tx.accept_charter(account.uuid, charter.id, charter.version, when)
            if not tx.activate(account.uuid, when):
                raise StepExpired("activation")
            tx.invalidate_tokens(account.uuid, now())
    except PasswordRejected as exc:
        return _form_page(account, form, exc.violations)
    except StepExpired:
        return expired()
    forget(GRANT_KEY)
    audit("activation", "success", account, email=bool(email), mobile=bool(mobile))
    _confirm(account, email)
    return page("activated", login=account.login, display_name=account.display_name)


def _confirm(account: Account, email: str | None) -> None:
    """The confirmation (T11) to the new address, and a notice to the one on file if it differs."""
    if email:
        confirm_change(account, "activation", to=email)
    old = account.personal_email
    if old and (not email or normalize_email(old) != normalize_email(email)):
        confirm_change(account, "activation", to=old)
