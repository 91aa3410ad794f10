"""The mailed links of the forgotten-password paths: limits now, the mail later (T2).

A start page (``email``, ``temporary``, ``facts`` in :mod:`.links`) calls
:func:`send_links` with whoever it found, nobody included: the per-account
and per-address limits (T8) are taken in the request, for a stand-in of
what was typed when nobody gets a link, so that the request costs the same
either way; issuing the tokens, rendering the mails and their audit events
run after the answer (:func:`.runtime.later`), for everyone alike.
"""

from __future__ import annotations

from functools import partial

from ...accounts.model import Account
from ...accounts.recovery import may_recover
from ...accounts.tokens import Purpose, new_secret
from ...runtime.sesame import now, public_link, sesame
from .runtime import audit, later, may_send, send_mail

LINK_PURPOSES = {
    "email": Purpose.RESET_LINK,
    "temporary": Purpose.TEMPORARY_LINK,
    "facts": Purpose.FACTS_LINK,
}
ENDPOINTS = {
    "email": "sesame.reset_link",
    "temporary": "sesame.temporary_link",
    "facts": "sesame.facts_link",
}


def send_links(accounts: list[Account], path: str, template: str, typed: str) -> None:
    """Take the limits for each account that may get a link (or for a stand-in
    of ``typed``), then queue the links of those within them."""
    action = f"{path}_link"
    eligible = [a for a in accounts if may_recover(a) and a.personal_email]
    chosen = [a for a in eligible if may_send(a, a.personal_email, action, typed=typed)]
    if not eligible:
        may_send(None, None, action, typed=typed)
    later(partial(mail_links, chosen, path, template, now()), action)


def mail_links(accounts: list[Account], path: str, template: str, asked_at: float) -> None:
    """In the background: one token and one mail per account (nothing for nobody)."""
    s = sesame()
    ttl = s.settings.tokens.link_ttl
    for account in accounts:
        address = account.personal_email
        if not address:
            continue
        secret = new_secret()
        s.tokens.issue(
            account.uuid, LINK_PURPOSES[path], secret, now=asked_at, ttl=ttl, destination=address
        )
        # Before the mail: whoever has received it finds the event written.
        audit("password_request", "link_mailed", account, path=path)
        send_mail(
            template,
            address,
            link=public_link(ENDPOINTS[path], secret=secret),
            login=account.login,
            display_name=account.display_name,
            minutes=int(ttl // 60),
        )
