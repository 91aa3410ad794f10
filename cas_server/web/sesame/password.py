""" "Mot de passe oublié": the path chooser, the joker path (UPHF), the SMS path (oZe)
and the new-password page both lead to.

Joker path: number + birth date → joker question (a decoy for everyone who
matches no active account: T1) → new password + charter. SMS path: the
identifier → a 6-digit code to the mobile *on file* (T9), limited tries,
within the daily budget (T8). Neither signs anyone in (T7).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import redirect, url_for
from flask_babel import gettext as _

from ...accounts.i18n import N_
from ...accounts.identity import IdentifierKind, parse_identifier
from ...accounts.model import Account
from ...accounts.passwords import PasswordRejected
from ...accounts.recovery import may_recover
from ...accounts.tokens import Purpose, new_secret
from ...runtime.container import container
from ...runtime.sesame import now, sesame, utcnow
from . import challenge
from .blueprint import bp
from .forms import Form, read_checkbox, read_code, read_identification, read_password
from .pages import (
    code_page,
    expired,
    identifier_kinds,
    joker_page,
    page,
    password_fields,
    path_start,
    too_many,
)
from .runtime import audit, forget, ip_allowed, later, may_text, read_alike, recall, remember
from .steps import (
    RESET_GRANT_KEY,
    StepExpired,
    answer_joker,
    complete_reset,
    current_joker,
    grant_reset,
    granted,
    issue_code,
    joker_locked,
    reset_charter,
    start_joker,
)

SMS_KEY = "sms"


def _disabled(path: str) -> bool:
    return not sesame().settings.path_enabled(path)


@bp.get("/password")
def password() -> Any:
    settings = sesame().settings
    paths = [p for p in settings.password_paths if settings.path_enabled(p)]
    return page("password", paths=paths)


# Joker path -------------------------------------------------------------------


@bp.get("/password/joker")
def password_joker() -> Any:
    if _disabled("joker"):
        return page("disabled", status=404)
    return path_start("joker", kinds=identifier_kinds())


@bp.post("/password/joker")
def password_joker_submit() -> Any:
    s = sesame()
    if _disabled("joker"):
        return page("disabled", status=404)
    if not ip_allowed():
        return too_many()
    form = Form()
    ident = read_identification(form, s.settings.identifier_kinds, utcnow().date())
    if not challenge.verify(form, "password_joker") or ident is None:
        return path_start("joker", form, kinds=identifier_kinds())
    account = s.store.find_by_identifier(ident.kind, ident.value)
    read_alike(account, ident.key)
    found = start_joker(ident, account, "password")
    audit(
        "password_request",
        "joker_real" if found.account else "joker_decoy",
        found.account,
        path="joker",
    )
    return joker_page("sesame.password_joker_answer", found.question)


@bp.post("/password/joker/answer")
def password_joker_answer() -> Any:
    found = None if _disabled("joker") else current_joker("password")
    if found is None:
        return expired()
    if joker_locked(found):
        return too_many()
    form = Form()
    account = answer_joker(found, "password", form)
    if account is None:
        return joker_page("sesame.password_joker_answer", found.question, form)
    grant_reset(account)
    return redirect(url_for("sesame.new_password"), code=303)


# SMS path -------------------------------------------------------------------------


@bp.get("/password/sms")
def password_sms() -> Any:
    if _disabled("sms"):
        return page("disabled", status=404)
    return path_start("sms")


def _send_reset_code(account: Account | None, handle: str, asked_at: float) -> None:
    """In the background (T2): a 6-digit code to the mobile on file, never a
    number from the form (T9); ``account`` None: nobody gets one."""
    s = sesame()
    mobile = account.mobile if account is not None else None
    if account is None or not mobile:
        audit("password_request", "no_sms", None, path="sms")
        return
    code = issue_code(account, Purpose.SMS_CODE, handle, mobile, asked_at)
    text = _(
        "%(name)s: your code is %(code)s (valid %(minutes)s min). Never give it to anyone.",
        name=container().settings.institution_name,
        code=code,
        minutes=int(s.settings.tokens.code_ttl // 60),
    )
    audit("password_request", "sms_sent", account, path="sms")
    s.sms.send(mobile, text)


@bp.post("/password/sms")
def password_sms_submit() -> Any:
    if _disabled("sms"):
        return page("disabled", status=404)
    if not ip_allowed():
        return too_many()
    form = Form()
    login = form.take(parse_identifier, IdentifierKind.LOGIN, form.raw("identifier"))
    if not challenge.verify(form, "password_sms") or login is None:
        return path_start("sms", form)
    account = container().accounts.find_by_login(login)
    read_alike(account, login)
    handle = new_secret()
    # The limits now, for a stand-in when nobody gets a code; the code later (T2, T8).
    sent = may_text(account if may_recover(account) else None, "sms_code", typed=login)
    later(partial(_send_reset_code, account if sent else None, handle, now()), "sms code")
    remember(SMS_KEY, handle)
    return code_page("sesame.password_sms_code", "sms")


@bp.post("/password/sms/code")
def password_sms_code() -> Any:
    s = sesame()
    handle = recall(SMS_KEY)
    if handle is None or _disabled("sms"):
        return expired()
    form = Form()
    code = read_code(form)
    if code is None:
        return code_page("sesame.password_sms_code", "sms", form)
    record = s.tokens.try_code(
        handle, code, Purpose.SMS_CODE, now(), s.settings.tokens.code_attempts
    )
    account = container().accounts.get(record.account_uuid) if record else None
    if account is None or not may_recover(account):
        audit("sms_code", "wrong_or_expired")
        form.error("code", N_("This code is wrong or has expired."))
        return code_page("sesame.password_sms_code", "sms", form)
    forget(SMS_KEY)
    audit("sms_code", "verified", account)
    grant_reset(account)
    return redirect(url_for("sesame.new_password"), code=303)


# New password (after the joker or an SMS code) ---------------------------------------


def _granted() -> tuple[str, Account] | None:
    return granted(RESET_GRANT_KEY, Purpose.RESET_GRANT, may_recover)


def new_password_page(
    account: Any, action: str, form: Form | None = None, violations: Any = None, **extra: Any
) -> Any:
    form = form or Form()
    return page(
        "new_password",
        form,
        action=action,
        charter=reset_charter(account),
        **password_fields(form, account, violations),
        **extra,
    )


@bp.get("/password/new")
def new_password() -> Any:
    found = _granted()
    if found is None:
        return expired()
    return new_password_page(found[1], url_for("sesame.new_password_submit"))


@bp.post("/password/new")
def new_password_submit() -> Any:
    found = _granted()
    if found is None:
        return expired()
    secret, account = found
    action = url_for("sesame.new_password_submit")
    form = Form()
    password = read_password(form)
    charter = reset_charter(account)
    if charter is not None:
        read_checkbox(form, "charter", N_("You must accept the charter to continue."))
    if password is None or not form.ok:
        return new_password_page(account, action, form)
    try:
        complete_reset(account, secret, Purpose.RESET_GRANT, password, charter, path="grant")
    except PasswordRejected as exc:
        return new_password_page(account, action, form, exc.violations)
    except StepExpired:
        return expired()
    forget(RESET_GRANT_KEY)
    return page("password_changed", login=account.login)
