"""The forgotten-password paths that mail a link to the personal address on file.

* ``email`` (ENT77, oZe): identifier or personal e-mail + CAPTCHA → a
  single-use link valid ``link_ttl`` → new password + charter.
* ``temporary`` (ENT Midi-Pyrénées; off by default, T14): the link asks to
  confirm, then a temporary password is mailed; it expires and must change
  at the next sign-in. Requesting changes nothing (T10): only the link does.
* ``facts`` (Metamots): e-mail, names, country, organisation type on the
  request and again with the new password; wrong facts are throttled (T12).

Every request answers the same page (T1); links come from the public URL (T3).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from babel import Locale
from flask import url_for
from flask_babel import gettext as _

from ...accounts.i18n import N_
from ...accounts.identity import parse_email
from ...accounts.model import Account
from ...accounts.passwords import PasswordChange, PasswordRejected
from ...accounts.policy import MaxLength, MinLength
from ...accounts.recovery import (
    ORGANISATION_TYPES,
    Facts,
    facts_match,
    may_recover,
    temporary_password,
)
from ...accounts.throttle import Attempt
from ...accounts.tokens import Purpose, looks_like_secret
from ...runtime.container import container
from ...runtime.sesame import language, now, sesame, utcnow
from ..labels import sort_key
from . import challenge
from .blueprint import bp
from .forms import Form, read_checkbox, read_password, read_text
from .link_mail import LINK_PURPOSES, send_links
from .pages import expired, page, path_start, too_many
from .password import new_password_page
from .runtime import (
    audit,
    client_ip,
    end_sessions,
    even_out,
    ip_allowed,
    read_alike,
    send_mail,
    stand_in,
)
from .steps import StepExpired, complete_reset, reset_charter


def _disabled(path: str) -> bool:
    return not sesame().settings.path_enabled(path)


# Mailed link (email) and temporary password (temporary) ------------------------------


def _request_by_identifier(path: str, template: str) -> Any:
    s = sesame()
    if _disabled(path):
        return page("disabled", status=404)
    if not ip_allowed():
        return too_many()
    form = Form()
    value = read_text(form, "identifier", 254)
    if not challenge.verify(form, f"password_{path}") or value is None:
        return path_start(path, form)
    if path == "email":
        accounts = s.store.find_by_login_or_email(value)
    else:
        found = container().accounts.find_by_login(value)
        accounts = [found] if found is not None else []
    read_alike(accounts, value)
    audit("password_request", "match" if accounts else "no_match", None, path=path)
    send_links(accounts, path, template, value)
    return page("sent", what="password")


@bp.get("/password/email")
def password_email() -> Any:
    return page("disabled", status=404) if _disabled("email") else path_start("email")


@bp.post("/password/email")
def password_email_submit() -> Any:
    return _request_by_identifier("email", "reset_link")


def _link_account(path: str, secret: str) -> Account | None:
    if _disabled(path) or not looks_like_secret(secret):
        return None
    record = sesame().tokens.peek(
        secret, LINK_PURPOSES[path], now(), sesame().settings.tokens.code_attempts
    )
    account = container().accounts.get(record.account_uuid) if record else None
    return account if may_recover(account) else None


@bp.get("/password/reset/<secret>")
def reset_link(secret: str) -> Any:
    account = _link_account("email", secret)
    if account is None:
        return expired()
    return new_password_page(account, url_for("sesame.reset_link", secret=secret))


@bp.post("/password/reset/<secret>")
def reset_link_submit(secret: str) -> Any:
    account = _link_account("email", secret)
    if account is None:
        return expired()
    return _finish_reset(
        account, secret, "email", Form(), url_for("sesame.reset_link", secret=secret)
    )


def _finish_reset(
    account: Account, secret: str, path: str, form: Form, action: str, **extra: Any
) -> Any:
    password = read_password(form)
    charter = reset_charter(account)
    if charter is not None:
        read_checkbox(form, "charter", N_("You must accept the charter to continue."))
    if password is None or not form.ok:
        return new_password_page(account, action, form, **extra)
    try:
        complete_reset(
            account,
            secret,
            LINK_PURPOSES[path],
            password,
            charter,
            path=path,
            max_attempts=sesame().settings.tokens.code_attempts,
        )
    except PasswordRejected as exc:
        return new_password_page(account, action, form, exc.violations, **extra)
    except StepExpired:
        return expired()
    return page("password_changed", login=account.login)


@bp.get("/password/temporary")
def password_temporary() -> Any:
    return page("disabled", status=404) if _disabled("temporary") else path_start("temporary")


@bp.post("/password/temporary")
def password_temporary_submit() -> Any:
    return _request_by_identifier("temporary", "temporary_link")


@bp.get("/password/temporary/<secret>")
def temporary_link(secret: str) -> Any:
    account = _link_account("temporary", secret)
    if account is None:
        return expired()
    return page("temporary_confirm", action=url_for("sesame.temporary_link", secret=secret))


@bp.post("/password/temporary/<secret>")
def temporary_link_submit(secret: str) -> Any:
    """Set a temporary password that must change at the next sign-in and expires (T14)."""
    account = _link_account("temporary", secret)
    if account is None or not account.personal_email:
        return expired()
    c = container()
    s = sesame()
    rules = c.passwords.policy.rules
    min_length = max((r.n for r in rules if isinstance(r, MinLength)), default=12)
    max_length = min((r.n for r in rules if isinstance(r, MaxLength)), default=64)
    temporary = temporary_password(
        lambda pw: not c.passwords.check(account, pw), min_length, max_length
    )
    expires = utcnow() + timedelta(seconds=s.settings.temporary_password_ttl)
    try:
        with s.store.transaction() as tx:
            if tx.consume(secret, Purpose.TEMPORARY_LINK, now()) is None:
                raise StepExpired("temporary")
            c.passwords.using(tx).set_password(
                account,
                temporary,
                change=PasswordChange("temporary", temporary=True, sessions_ended=True),
                must_change=True,
                expires_at=expires,
            )
            tx.invalidate_tokens(account.uuid, now())
    except (StepExpired, PasswordRejected):
        return expired()
    end_sessions(account)
    send_mail(
        "temporary_password",
        account.personal_email,
        password=temporary,
        login=account.login,
        display_name=account.display_name,
        expires=expires,
        ip=client_ip(),
    )
    audit("password_reset", "temporary_mailed", account, path="temporary")
    return page("temporary_sent")


# Personal facts (Metamots) ---------------------------------------------------------------


def countries() -> list[tuple[str, str]]:
    names = Locale.parse(language()).territories
    pairs = [
        (code, name)
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in ("EU", "EZ", "UN", "ZZ", "QO")
    ]
    return sorted(pairs, key=lambda p: sort_key(p[1]))  # "Égypte" after "Danemark"


def organisation_types() -> list[tuple[str, str]]:
    return [(k, _(ORGANISATION_TYPES[k])) for k in sesame().settings.organisation_types]


def _facts_context() -> dict[str, Any]:
    return {
        "countries": countries(),
        "organisation_types": organisation_types(),
        "default_country": sesame().settings.default_country,
    }


def read_facts(form: Form) -> Facts | None:
    email = form.take(parse_email, "email", form.raw("email"))
    given = read_text(form, "given_name")
    family = read_text(form, "family_name")
    country = form.raw("country").upper()
    if country not in dict(countries()):
        form.error("country", N_("Choose a country from the list."))
    kind = form.raw("organisation_type")
    if kind not in sesame().settings.organisation_types:
        form.error("organisation_type", N_("Choose an organisation type from the list."))
    if not form.ok or email is None or given is None or family is None:
        return None
    return Facts(email, given, family, country, kind)


def _facts_locked(key: str) -> bool:
    s = sesame()
    return (
        s.joker_throttle.retry_at(key, now()) is not None
        or s.joker_ip_throttle.retry_at(client_ip(), now()) is not None
    )


def _facts_reserve(key: str) -> Attempt | None:
    """One facts check, reserved on the account and the address before it is made
    (a burst gets the limit, no more); None: refused, check nothing."""
    s = sesame()
    attempt = Attempt(now())
    if attempt.reserve(s.joker_throttle, key) and attempt.reserve(s.joker_ip_throttle, client_ip()):
        return attempt
    attempt.release()
    return None


def _facts_failed(attempt: Attempt, account: Account | None) -> None:
    attempt.failed()
    audit("facts", "mismatch", account)


@bp.get("/password/facts")
def password_facts() -> Any:
    if _disabled("facts"):
        return page("disabled", status=404)
    return path_start("facts", **_facts_context())


@bp.post("/password/facts")
def password_facts_submit() -> Any:
    s = sesame()
    if _disabled("facts"):
        return page("disabled", status=404)
    if not ip_allowed():
        return too_many()
    form = Form()
    facts = read_facts(form)
    if not challenge.verify(form, "password_facts") or facts is None:
        return path_start("facts", form, **_facts_context())
    if s.joker_ip_throttle.retry_at(client_ip(), now()) is not None:
        return too_many()
    chosen: list[Account] = []
    checked = False
    accounts = s.store.find_by_personal_email(facts.email)
    read_alike(accounts, facts.email)
    for account in accounts:
        if not may_recover(account):
            continue
        checked = True
        attempt = _facts_reserve(f"facts:{account.uuid}")
        if attempt is None:
            continue
        if facts_match(account, facts):
            attempt.release()
            chosen.append(account)
        else:
            _facts_failed(attempt, account)
            even_out(facts.email, s.settings.limits.joker_window)  # as a match's release (T2)
    if not checked:
        # Nobody's facts to check: the same reservation, failure and lock for a
        # stand-in of the address, so that an unknown one costs what a known one
        # with wrong facts does (T2) and counts against the address alike (T12).
        attempt = _facts_reserve(f"facts:{stand_in(facts.email)}")
        if attempt is not None:
            _facts_failed(attempt, None)
            even_out(facts.email, s.settings.limits.joker_window)
    send_links(chosen, "facts", "facts_link", facts.email)
    return page("sent", what="password")


@bp.route("/password/facts/<secret>", methods=["GET", "POST"])
def facts_link(secret: str) -> Any:
    from flask import request

    account = _link_account("facts", secret)
    if account is None:
        return expired()
    action = url_for("sesame.facts_link", secret=secret)
    if request.method == "GET":
        return new_password_page(account, action, facts=True, **_facts_context())
    key = f"facts:{account.uuid}"
    if _facts_locked(key):
        return too_many()
    form = Form()
    facts = read_facts(form)
    if facts is not None:
        attempt = _facts_reserve(key)
        if attempt is None:
            return too_many()
        if facts_match(account, facts):
            attempt.release()
        else:
            _facts_failed(attempt, account)
            sesame().tokens.count_attempt(secret, Purpose.FACTS_LINK, now())
            # The facts as a whole (their fieldset), not the e-mail field: the check
            # says no more than "no match", never which fact is wrong (that would
            # let someone holding the link guess one fact at a time).
            form.error("facts", N_("This information does not match the account."))
    if facts is None or not form.ok:
        return new_password_page(account, action, form, facts=True, **_facts_context())
    return _finish_reset(account, secret, "facts", form, action, facts=True, **_facts_context())
