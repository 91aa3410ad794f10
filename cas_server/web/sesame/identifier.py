""" "Identifiants oubliés": the identifier is mailed to the personal address on file.

By number + birth date, or by the personal e-mail. The answer is the same
page for everyone (T1); only where ``identifier_on_screen`` is on can the
identifier be shown, and only after the joker answer (with a decoy question
for everyone else, throttled: T12).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ...accounts.identity import parse_email
from ...accounts.model import Account, Status
from ...runtime.sesame import public_link, sesame, utcnow
from . import challenge
from .blueprint import bp
from .forms import Form, read_identification
from .pages import expired, identifier_kinds, joker_page, page, too_many
from .runtime import audit, ip_allowed, later, may_send, read_alike, send_mail
from .steps import answer_joker, current_joker, joker_locked, start_joker

MAILED_STATUSES = (Status.ACTIVE, Status.NOT_ACTIVATED)


def _start_page(form: Form | None = None, mode: str = "number") -> Any:
    return page(
        "identifier",
        form,
        kinds=identifier_kinds(),
        mode=mode,
        captcha=challenge.new_challenge("identifier", "sesame.identifier"),
    )


def _enabled() -> bool:
    return sesame().settings.identifier_recovery


@bp.get("/identifier")
def identifier() -> Any:
    if not _enabled():
        return page("disabled", status=404)
    return _start_page()


def _mail_identifiers(accounts: list[Account], address: str | None, typed: str) -> None:
    """One mail listing the identifiers of the accounts at that address.

    The limits now (for a stand-in of ``typed`` when nobody is listed), the
    mail later: nobody costs the page what someone does (T2, T8).
    """
    listed = [a for a in accounts if a.status in MAILED_STATUSES] if address else []
    if not may_send(listed[0] if listed else None, address, "identifier", typed=typed):
        listed = []
    later(partial(_send_identifiers, listed, address), "identifier mail")


def _send_identifiers(listed: list[Account], address: str | None) -> None:
    """In the background: the mail, and one audit event per account in it."""
    if not listed or not address:
        return
    for account in listed:
        audit("identifier", "mailed", account)
    send_mail(
        "identifier",
        address,
        accounts=[
            {"login": a.login, "name": a.display_name, "activated": a.status is Status.ACTIVE}
            for a in listed
        ],
        activate_url=public_link("sesame.activate"),
    )


@bp.post("/identifier")
def identifier_submit() -> Any:
    s = sesame()
    if not _enabled():
        return page("disabled", status=404)
    if not ip_allowed():
        return too_many()
    form = Form()
    mode = "email" if form.raw("mode") == "email" else "number"
    if mode == "email":
        email = form.take(parse_email, "personal_email", form.raw("personal_email"))
        if not challenge.verify(form, "identifier") or email is None:
            return _start_page(form, mode)
        accounts = s.store.find_by_personal_email(email)
        read_alike(accounts, email)
        audit("identifier_request", "match" if accounts else "no_match", None, by="email")
        _mail_identifiers(accounts, email, email)
        return page("sent", what="identifier")
    ident = read_identification(form, s.settings.identifier_kinds, utcnow().date())
    if not challenge.verify(form, "identifier") or ident is None:
        return _start_page(form, mode)
    account = s.store.find_by_identifier(ident.kind, ident.value)
    read_alike(account, ident.key)
    match = account is not None and account.birth_date == ident.birth_date
    audit("identifier_request", "match" if match else "no_match", account if match else None)
    matched = [account] if match and account is not None else []
    _mail_identifiers(matched, matched[0].personal_email if matched else None, ident.key)
    on_screen = s.settings.identifier_on_screen
    if on_screen:
        start_joker(ident, account, "identifier")
    return page("sent", what="identifier", show_joker=on_screen)


@bp.get("/identifier/joker")
def identifier_joker_page() -> Any:
    found = current_joker("identifier") if sesame().settings.identifier_on_screen else None
    if found is None:
        return expired()
    return joker_page("sesame.identifier_joker", found.question)


@bp.post("/identifier/joker")
def identifier_joker() -> Any:
    found = current_joker("identifier") if sesame().settings.identifier_on_screen else None
    if found is None:
        return expired()
    if joker_locked(found):
        return too_many()
    form = Form()
    account = answer_joker(found, "identifier", form)
    if account is None:
        return joker_page("sesame.identifier_joker", found.question, form)
    audit("identifier", "shown", account)
    return page("identifier_shown", login=account.login)
